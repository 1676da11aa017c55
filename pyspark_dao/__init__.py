"""Auto-registration: PySpark registers any top-level ``pyspark_*`` module's ``DefaultSource``.

With spark-dao installed, ``spark.read.format("dao")`` works without calling ``spark_dao.register``;
the catalog then comes from ``.option("catalog", "conf/catalog.yaml")`` or ``SPARK_DAO_CATALOG``.
"""

from spark_dao.engines.spark import DaoDataSource as DefaultSource

__all__ = ["DefaultSource"]
