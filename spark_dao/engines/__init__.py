"""Drivers over the Arrow contract: ``spark`` (the ``dao`` data source) and ``local`` (in-process).

Engines never import a backend library; ``spark`` imports pyspark, so import it lazily.
"""
