"""Catalog files that live elsewhere than a local folder: ``s3://bucket/conf/catalog.yaml`` (read
with boto3's default credential chain: instance profile, environment, ``~/.aws``; the endpoint from
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``) and Databricks' ``dbfs:/...`` (its ``/dbfs`` mount).

    SPARK_DAO_CATALOG=s3://my-company-conf/spark_dao/catalog.yaml spark-submit job.py
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import CatalogError, require

_S3_URL = re.compile(r"^s3[an]?://([^/]+)/(.+)$")


def is_remote(source: str) -> bool:
    return bool(re.match(r"^s3[an]?://", source))


def local_path(source: str) -> Path:
    """``dbfs:/conf/c.yaml`` -> ``/dbfs/conf/c.yaml`` (Databricks' FUSE mount); other paths unchanged."""
    if source.startswith("dbfs:/"):
        return Path("/dbfs") / source[len("dbfs:/"):].lstrip("/")
    return Path(source).expanduser()


def fetch_s3(url: str) -> str:
    """The text of the catalog object at ``url``; a :class:`CatalogError` naming it otherwise."""
    m = _S3_URL.match(url)
    if not m:
        raise CatalogError(f"catalog location {url!r} is not an S3 object URL; write s3://bucket/path/catalog.yaml")
    require("boto3", "s3")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = m.group(1), m.group(2)
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "error"))
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise CatalogError(f"catalog file not found: {url} ({code})") from None
        raise CatalogError(f"cannot read the catalog {url}: S3 said {code}; check the credentials (instance "
                           "profile, AWS_PROFILE or AWS_ACCESS_KEY_ID) and the bucket policy") from None
    except BotoCoreError as exc:
        raise CatalogError(f"cannot read the catalog {url}: {type(exc).__name__}: {exc}") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{url}: the file is not UTF-8 text (invalid byte at offset {exc.start}); "
                           "save it as UTF-8") from None
