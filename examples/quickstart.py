"""Quickstart: a small medallion pipeline on the embedded default catalog (local folders).

    python examples/quickstart.py            # uses conf/catalog.yaml; data lands in conf/data/

bronze (raw csv/json uploaded as delivered) -> silver (clean parquet, partitioned; the second day
upserted by key) -> gold (aggregates), every step by catalog name only: no paths, no formats, no
Spark options in the pipeline code.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

import spark_dao  # noqa: E402


def land_raw_files(dao: spark_dao.DataAccessObject) -> None:
    """Bronze ingestion: upload the sample deliveries as received (raw files, no parsing)."""
    for name in ("users_raw", "events_raw"):
        dao.delete(f"bronze.{name}")
        infos = dao.upload(ROOT / "examples" / "sample_data" / name, f"bronze.{name}")
        print(f"landed {len(infos)} raw files in bronze.{name}: {', '.join(i.key for i in infos)}")


def main(catalog: str = str(ROOT / "conf" / "catalog.yaml")) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("spark_dao").setLevel(logging.INFO)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("spark_dao quickstart")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark_dao.register(spark, catalog=catalog)
    dao = spark_dao.DataAccessObject(catalog, spark=spark)

    # 1. bronze: raw files land as delivered
    land_raw_files(dao)

    # 2. silver: the first delivery is loaded whole (deduped, rows without email dropped) ...
    def clean(users):
        return users.dropDuplicates(["id"]).filter("email IS NOT NULL").select(
            "id", "name", "email", "country", "created_at", "updated_at"
        )

    day1 = dao.read("bronze.users_raw", path="users_raw/2025-01-07")
    clean(day1).write.format("dao").mode("overwrite").save("silver.users_clean")
    # ... and the next day's delivery is upserted: keys and order_by come from the catalog
    day2 = dao.read("bronze.users_raw", path="users_raw/2025-01-08")
    merged = dao.upsert(clean(day2), "silver.users_clean")
    print(f"silver.users_clean upsert: {merged.rows_updated} updated, {merged.rows_inserted} inserted, "
          f"{merged.files_rewritten} file(s) rewritten")

    # events, enriched with the user's country, partitioned by day (from the catalog)
    events = spark.read.format("dao").load("bronze.events_raw")
    users_silver = spark.read.format("dao").load("silver.users_clean").select(F.col("id").alias("user_id"), "country")
    enriched = events.join(users_silver, "user_id", "left").withColumn("day", F.to_date("event_ts"))
    enriched.write.format("dao").mode("overwrite").save("silver.events")

    # a late correction for one day: dynamic partition overwrite replaces only that day
    fix = enriched.filter("day = '2025-01-08'").withColumn("amount", F.round(F.col("amount") * 1.1, 2))
    (fix.write.format("dao").mode("overwrite").option("partitionOverwriteMode", "dynamic").save("silver.events"))

    # 3. gold: aggregates for BI
    ev = spark.read.format("dao").load("silver.events")
    purchases = ev.filter("event_type = 'purchase'")
    users_agg = purchases.groupBy("user_id").agg(
        F.count("*").alias("total_purchases"),
        F.round(F.avg("amount"), 2).alias("avg_order_value"),
        F.max("event_ts").alias("last_purchase_ts"),
    )
    result = dao.write(users_agg, "gold.users_agg", mode="overwrite")
    print(f"gold.users_agg: {result.rows_written} rows in {result.files_added} file(s)")
    sales = purchases.groupBy("day", "country").agg(F.round(F.sum("amount"), 2).alias("revenue"), F.count("*").alias("orders"))
    dao.write(sales, "gold.sales_daily", mode="overwrite")

    # Show the results: Spark, with partition pruning, and the same data through pandas.
    print("\nsilver.users_clean:")
    spark.read.format("dao").load("silver.users_clean").orderBy("id").show(5, truncate=False)
    print("silver.events per day (2025-01-08 amounts corrected by the partition overwrite):")
    ev.groupBy("day").agg(F.count("*").alias("events"), F.round(F.sum("amount"), 2).alias("amount")).orderBy("day").show()
    print("gold.sales_daily for DE only (reads just the country=DE partition):")
    spark.read.format("dao").load("gold.sales_daily").filter("country = 'DE'").orderBy("day").show()
    pdf = dao.read("gold.users_agg", engine="pandas").sort_values("total_purchases", ascending=False)
    print("gold.users_agg through pandas (no Spark involved):")
    print(pdf.head(5).to_string(index=False))
    print("\nobjects:", ", ".join(dao.list()))
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
