"""Scratch (bench/, not a test): pyarrow-level ways to write one parquet file to moto S3.

    .venv/bin/python bench/_s3_write_variants.py 3000000

Isolates the cost of the dataset writer dao uses (``write_dataset(use_threads=False)``, with
directory markers) from parquet encoding and from the upload itself.
"""

import gc
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from bench_s3 import FAKE_AWS_ENV, MotoS3, events_table, s3_client  # noqa: E402


def main() -> None:
    os.environ.update(FAKE_AWS_ENV)
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    table = events_table(rows)
    fmt = ds.ParquetFileFormat()
    opts = fmt.make_write_options(compression="snappy")
    with MotoS3() as srv:
        s3_client(srv.endpoint).create_bucket(Bucket="wvar")
        host = srv.endpoint.split("://")[1]
        fs = pafs.S3FileSystem(endpoint_override=host, scheme="http", region="us-east-1",
                               access_key="testing", secret_key="testing")

        def write_dataset(threads: bool, base: str = "wvar/a", filesystem=fs, **kw):
            return lambda: ds.write_dataset(
                table, base_dir=base, filesystem=filesystem, format=fmt, file_options=opts,
                basename_template="p-{i}.parquet", existing_data_behavior="overwrite_or_ignore",
                use_threads=threads, max_rows_per_group=1 << 20, min_rows_per_group=128 * 1024, **kw)

        def write_table_stream() -> None:
            with fs.open_output_stream("wvar/b/p.parquet") as f:
                pq.write_table(table, f, compression="snappy")

        def encode_only() -> None:
            pq.write_table(table, pa.BufferOutputStream(), compression="snappy")

        def dataset_local() -> None:
            d = tempfile.mkdtemp()
            try:
                write_dataset(False, d, pafs.LocalFileSystem())()
            finally:
                shutil.rmtree(d)

        ops = {
            "write_dataset use_threads=False (dao today)": write_dataset(False),
            "write_dataset use_threads=False create_dir=False": write_dataset(False, create_dir=False),
            "write_dataset use_threads=True preserve_order": write_dataset(True, preserve_order=True),
            "write_dataset threads+order+create_dir=False": write_dataset(True, preserve_order=True, create_dir=False),
            "pq.write_table -> S3 output stream": write_table_stream,
            "encode only (pq.write_table -> memory)": encode_only,
            "write_dataset to local disk (tmp)": dataset_local,
        }
        times: dict[str, list[float]] = {k: [] for k in ops}
        for rnd in range(4):
            for k, fn in ops.items():
                gc.collect()
                t0 = time.perf_counter()
                fn()
                if rnd:
                    times[k].append(time.perf_counter() - t0)
        for k, v in times.items():
            print(f"{k:50s} best {min(v):.2f}s median {statistics.median(v):.2f}s")


if __name__ == "__main__":
    main()
