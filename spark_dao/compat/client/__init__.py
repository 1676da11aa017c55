"""The seed's ``client``: :class:`S3Client`, one bucket as an ad-hoc spark_dao store."""

from .s3 import S3Client

__all__ = ["S3Client"]
