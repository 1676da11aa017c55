"""Step 1 of the medallion example: upload the raw deliveries to the bronze layer, as received.

    python examples/medallion/01_ingest_bronze.py      # S3 from the catalog's env variables (README.md)

Each day's export (``sample_data/2025-01-07/users.csv``, ``events.json``, ``orders.csv``) lands
unchanged under ``s3://<bronze bucket>/<object>/<day>/``: no parsing, no schema (bronze = raw).
"""

import json
import os
from pathlib import Path

from spark_dao import DataAccessObject, DataObject, DataStoreRegistry

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / 'sample_data'
DAYS = ('2025-01-07', '2025-01-08')

# Load config (JSON file or dict)
with open(os.environ.get('MEDALLION_CATALOG', HERE / 'catalog.json')) as f:
    config = json.load(f)

# One line: DAO is ready
dao = DataAccessObject(config)

# Get the bronze store and create a data object
bronze_store = DataStoreRegistry.get('bronze')
users_raw = DataObject('users_raw', bronze_store)
events_raw = DataObject('events_raw', bronze_store)
orders_raw = DataObject('orders_raw', bronze_store)

# Upload a CSV file to S3 (uses S3Boto3Interface under the hood)
# (the seed writes 's3://my-company-bronze/users_raw/2025-01-07/': the bucket comes from the catalog here,
# so the same script runs on MinIO and on your own AWS bucket)
for day in DAYS:
    with open(SAMPLE / day / 'users.csv', 'rb') as f:
        dao.write(
            data_object=users_raw,
            data=f,
            path=f'{bronze_store.location}/users_raw/{day}/'
        )
    # the JSON event log and the orders export of the same day, the same way
    with open(SAMPLE / day / 'events.json', 'rb') as f:
        dao.write(data_object=events_raw, data=f, path=f'{bronze_store.location}/events_raw/{day}/')
    with open(SAMPLE / day / 'orders.csv', 'rb') as f:
        dao.write(data_object=orders_raw, data=f, path=f'{bronze_store.location}/orders_raw/{day}/')
    print(f'bronze: {day} users.csv, events.json, orders.csv -> {bronze_store.location}')
# ✅ File is now in S3 bronze layer
