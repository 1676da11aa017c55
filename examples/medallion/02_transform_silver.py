"""Step 2 of the medallion example: clean the raw bronze files into typed, partitioned silver tables.

    python examples/medallion/02_transform_silver.py    # after 01_ingest_bronze.py

bronze.users_raw (csv)   -> silver.users_clean      de-duplicated, rows without email dropped
bronze.events_raw (json) -> silver.events_enriched  de-duplicated, with the user's name added
bronze.orders_raw (csv)  -> silver.orders_clean     de-duplicated by order_id

Silver is Parquet under ``s3://<silver bucket>/datasets/`` (the store's ``prefix``), partitioned as the
catalog says (``year=2025/month=01/day=07/``). With ``SILVER_INTERFACE=DeltaSparkInterface`` (the
catalog's one switch) the same calls write Delta tables there instead.
"""

import json
import os
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, date_format

from spark_dao import DataAccessObject, DataObject, DataStoreRegistry

HERE = Path(__file__).resolve().parent

# Spark: the session of spark-submit or a notebook, or a local one when run with plain python
spark = SparkSession.builder.appName('medallion-silver').config('spark.sql.session.timeZone', 'UTC').getOrCreate()

# Load config (JSON file or dict)
with open(os.environ.get('MEDALLION_CATALOG', HERE / 'catalog.json')) as f:
    config = json.load(f)
dao = DataAccessObject(config)

bronze_store = DataStoreRegistry.get('bronze')
users_raw = DataObject('users_raw', bronze_store)
events_raw = DataObject('events_raw', bronze_store)
orders_raw = DataObject('orders_raw', bronze_store)


def with_date_partitions(df, ts_column):
    """The silver layout's partition columns (catalog: partition_by [year, month, day]) from a timestamp."""
    return (df
        .withColumn('year', date_format(ts_column, 'yyyy'))
        .withColumn('month', date_format(ts_column, 'MM'))
        .withColumn('day', date_format(ts_column, 'dd'))
    )


# Read from bronze using Spark (S3SparkInterface)
users_df = dao.read(
    data_object=users_raw,
    format='csv'
    # S3SparkInterface knows the bucket/path from defaults
)

# Clean it up
users_clean = (users_df
    .dropDuplicates(['id'])  # remove duplicates
    .select('id', 'name', 'email', 'created_at')  # trim columns
    .filter("email IS NOT NULL")  # remove nulls
)

# Write to silver (parquet, partitioned by date)
silver_store = DataStoreRegistry.get('silver')
users_clean_obj = DataObject('users_clean', silver_store)

dao.write(
    data=with_date_partitions(users_clean, 'created_at'),
    data_object=users_clean_obj,
    format='parquet',
    path=f'{silver_store.location}/users_clean/',  # the seed: 's3://my-company-silver/datasets/users_clean/'
    spark_options={'mode': 'overwrite'}
)
# ✅ Cleaned data is now in S3 silver layer, ready for analytics

# Let DAO pick: no format given, the raw files' names say it (events.json -> json, orders.csv -> csv)
events_df = dao.read(data_object=events_raw)
orders_df = dao.read(data_object=orders_raw)

# events with added metadata: the user's name (events of users without a clean record keep a null)
events_enriched = (events_df
    .dropDuplicates(['event_id'])  # the log repeats events
    .join(users_clean.select(col('id').alias('user_id'), col('name').alias('user_name')), 'user_id', 'left')
)
events_enriched_obj = DataObject('events_enriched', silver_store)
dao.write(
    data=with_date_partitions(events_enriched, 'event_ts'),
    data_object=events_enriched_obj,
    format='parquet',
    spark_options={'mode': 'overwrite'}
)

orders_clean = (orders_df
    .dropDuplicates(['order_id'])  # the export repeats orders
    .filter("order_value IS NOT NULL")
)
orders_clean_obj = DataObject('orders_clean', silver_store)
dao.write(
    data=orders_clean,
    data_object=orders_clean_obj,
    format='parquet',
    spark_options={'mode': 'overwrite'}
)
print(f'silver: users_clean, events_enriched, orders_clean -> {silver_store.location}')
