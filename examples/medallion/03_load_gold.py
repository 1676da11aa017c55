"""Step 3 of the medallion example: aggregate silver into analytics tables in Redshift (gold).

    python examples/medallion/03_load_gold.py           # after 02_transform_silver.py

silver.users_clean + silver.orders_clean -> gold.users_agg        (user_id metrics: the seed's aggregation)
silver.orders_clean                      -> gold.sales_daily_agg  (date, region, revenue, orders)

The load stages Parquet under the gold store's ``s3_temp_dir`` and runs one Redshift transaction
(COPY from a manifest, then the overwrite), so a failed load leaves the tables as they were.
"""

import json
import os
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_dao import DataAccessObject, DataObject, DataStoreRegistry

HERE = Path(__file__).resolve().parent

# Spark: the session of spark-submit or a notebook, or a local one when run with plain python
spark = SparkSession.builder.appName('medallion-gold').config('spark.sql.session.timeZone', 'UTC').getOrCreate()

# Load config (JSON file or dict)
with open(os.environ.get('MEDALLION_CATALOG', HERE / 'catalog.json')) as f:
    config = json.load(f)
dao = DataAccessObject(config)

silver_store = DataStoreRegistry.get('silver')
users_clean_obj = DataObject('users_clean', silver_store)
orders_clean_obj = DataObject('orders_clean', silver_store)

# Read from silver
users_clean_data = dao.read(
    data_object=users_clean_obj,
    format='parquet'
)
orders_clean_data = dao.read(data_object=orders_clean_obj, format='parquet')

# One row per purchase: each clean user with the value and time of their orders
# (the columns the aggregation below reads: id, order_value, created_at)
users_clean_data = users_clean_data.select('id').join(
    orders_clean_data.select(F.col('user_id').alias('id'), 'order_value', 'created_at'), 'id'
)

# Aggregate: compute user metrics
from pyspark.sql.functions import col, count, avg, max  # noqa: E402, F401, I001  (the seed's import, as written)

users_agg = (users_clean_data
    .groupBy('id')
    .agg(
        count('*').alias('total_purchases'),
        avg('order_value').alias('avg_order_value'),
        max('created_at').alias('last_purchase_date')
    )
)

# Write to Redshift (gold layer)
gold_store = DataStoreRegistry.get('gold')
users_agg_obj = DataObject('users_agg', gold_store)

dao.write(
    data=users_agg,
    data_object=users_agg_obj,
    format='parquet',  # or spark's native write
    spark_options={'mode': 'overwrite'}  # re-runnable: replaces the table's rows in one transaction
)
# ✅ Aggregated metrics now live in Redshift for BI teams

# Daily sales rollup by region
sales_daily_agg = (orders_clean_data
    .groupBy(F.to_date('created_at').alias('date'), 'region')
    .agg(F.round(F.sum('order_value'), 2).alias('revenue'), count('*').alias('orders'))
)
dao.write(
    data=sales_daily_agg,
    data_object=DataObject('sales_daily_agg', gold_store),
    format='parquet',
    spark_options={'mode': 'overwrite'}
)
print('gold: users_agg, sales_daily_agg -> Redshift')
