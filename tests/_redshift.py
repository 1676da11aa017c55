"""Helpers of the Redshift tests: a fresh schema and temp prefix per test, on the session's server."""

from __future__ import annotations

import uuid
from typing import Any

REDSHIFT_ROLE = "arn:aws:iam::123456789012:role/dao-redshift"


def redshift_store(server: Any, s3_endpoint: str, bucket: str, **extra: Any) -> dict[str, Any]:
    """A ``redshift`` store entry for a new, empty schema; staging under ``s3://<bucket>/rs-temp/``."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    conn = server.connect()
    try:
        conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
        conn.commit()
    finally:
        conn.close()
    return {"interface": "redshift", **server.store_config(), "schema": schema,
            "s3_temp_dir": f"s3://{bucket}/rs-temp/", "iam_role_arn": REDSHIFT_ROLE,
            "endpoint_url": s3_endpoint, "region": "us-east-1", "access_key": "testing", "secret_key": "testing",
            **extra}


def temp_keys(s3_client: Any, bucket: str, prefix: str = "rs-temp/") -> list[str]:
    """Every object under the staging prefix."""
    out: list[str] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(out)
