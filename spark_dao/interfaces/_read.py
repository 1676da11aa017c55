"""Read planning and reading of the files interface: the read tasks (file slices packed as Spark
packs them), and reading one file of a task (parquet, csv, json) with the plan's types.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..catalog.model import DataObject
from ..errors import DaoError
from ._fs import _describe, _file_error, _is_object_store, io_errors
from ._schema import _SCHEMA_SAMPLE_FILES, MB, _infer_schema, _parquet_fragment
from .base import ReadTask

OPEN_COST = 4 * MB  # what opening one file is worth, in bytes, when packing read tasks (Spark's default)


# --------------------------------------------------------------------------- read tasks
@dataclass(frozen=True)
class FileSlice:
    rel: str
    row_groups: tuple[int, ...] | None
    partition: tuple[tuple[str, Any], ...]
    size: int = 0  # from the listing: object stores then need no HEAD request to open the file
    #: positions (in the whole file) of rows the table has deleted (Delta deletion vectors)
    deleted: tuple[int, ...] = ()


@dataclass(frozen=True)
class FilesReadPayload:
    format: str
    base: str
    slices: tuple[FileSlice, ...]
    schema: pa.Schema  # output schema (selected columns, partition columns included)
    data_schema: pa.Schema  # types of the columns read from the files
    header: bool = True
    delimiter: str = ","


def _make_tasks(obj, fs, base, fmt, slices_in, split, out_schema, data_schema,
                header, delimiter, columns, deleted=None) -> list[ReadTask]:
    """``deleted``: rel -> positions of deleted rows; such files are read whole (not split)."""
    pieces: list[tuple[FileSlice, int]] = []
    deleted = deleted or {}
    for rel, size, part in slices_in:
        if rel in deleted:
            pieces.append((FileSlice(rel, None, part, size, tuple(deleted[rel])), size))
        elif fmt == "parquet" and size > split:
            path = posixpath.join(base, rel) if rel else base
            try:
                frag = _parquet_fragment(fs, path, size)
                frag.ensure_complete_metadata()
                meta = frag.metadata
            except io_errors() as exc:
                raise _file_error(obj, path, fmt, exc, action="reading") from exc
            group: list[int] = []
            acc = 0
            for i in range(meta.num_row_groups):
                rg = meta.row_group(i).total_byte_size
                if group and acc + rg > split:
                    pieces.append((FileSlice(rel, tuple(group), part, size), acc))
                    group, acc = [], 0
                group.append(i)
                acc += rg
            if group:
                pieces.append((FileSlice(rel, tuple(group), part, size), acc))
        else:
            pieces.append((FileSlice(rel, None, part, size), size))
    # Pack small pieces together (each costs ~4 MB of "open" time, as in Spark).
    tasks: list[ReadTask] = []
    current: list[FileSlice] = []
    acc = 0

    def flush() -> None:
        if current:
            payload = FilesReadPayload(fmt, base, tuple(current), out_schema, data_schema, header, delimiter)
            tasks.append(ReadTask(obj=obj, payload=payload, columns=columns))

    for piece, size in pieces:
        if current and acc + size > split:  # as Spark packs: the open cost counts after the file
            flush()
            current, acc = [], 0
        current.append(piece)
        acc += size + OPEN_COST
    flush()
    return tasks


def _type_mismatch(obj: DataObject, fs, path: str, p: FilesReadPayload,
                   exc: BaseException) -> DaoError | None:
    """A csv/json file whose values do not convert to the type inferred (from the sampled
    files) for a column: a valid file, not a corrupt one. None for any other error."""
    if p.format == "parquet":
        return None
    text = str(exc)
    column = None
    m = re.search(r"In CSV column #(\d+): CSV conversion error", text)
    if p.format == "csv" and m:
        index = int(m.group(1))
        names = p.data_schema.names
        if p.header:
            try:
                names = _infer_schema(fs, path, "csv", header=True, delimiter=p.delimiter,
                                           infer=False, obj=obj).names
            except DaoError:
                return None
        column = names[index] if index < len(names) else None
    m = re.search(r"JSON parse error: Column\(/([^)/]*)[^)]*\) changed from", text)
    if p.format == "json" and m:
        column = m.group(1)
    if column is None or column not in p.data_schema.names:
        return None
    return DaoError(
        f"reading {obj.full_name!r} (store {obj.store_name!r}): {path} does not match the type inferred "
        f"for column {column!r} ({p.data_schema.field(column).type}, from the largest "
        f"{_SCHEMA_SAMPLE_FILES} files): {_describe(exc)}. Declare the column's type in the catalog's "
        "schema, or rewrite the object (mode='overwrite')"
    )


def _read_file(fs, path: str, p: FilesReadPayload, sl: FileSlice, wanted: list[str]):
    if p.format == "parquet" and sl.size and _is_object_store(fs):
        frag = _parquet_fragment(fs, path, sl.size, sl.row_groups)
        present = set(frag.physical_schema.names)
        yield from frag.to_batches(columns=[c for c in wanted if c in present], batch_size=65536,
                                   use_threads=True)
    elif p.format == "parquet":
        import pyarrow.parquet as pq

        with fs.open_input_file(path) as f:
            # on object stores, coalesce each row group's column chunks into few parallel reads
            pf = pq.ParquetFile(f, pre_buffer=_is_object_store(fs))
            present = set(pf.schema_arrow.names)
            cols = [c for c in wanted if c in present]
            row_groups = list(sl.row_groups) if sl.row_groups is not None else None
            if row_groups is None and pf.metadata.num_rows == 0:
                return
            yield from pf.iter_batches(batch_size=65536, row_groups=row_groups, columns=cols, use_threads=True)
    elif p.format == "csv":
        import pyarrow.csv as pcsv

        with fs.open_input_stream(path, compression="detect") as f:
            reader = pcsv.open_csv(
                f,
                read_options=pcsv.ReadOptions(
                    block_size=16 * MB,
                    column_names=None if p.header else p.data_schema.names,
                ),
                parse_options=pcsv.ParseOptions(delimiter=p.delimiter),
                convert_options=pcsv.ConvertOptions(
                    column_types={f.name: f.type for f in p.data_schema if _csv_typed(f.type)},
                    include_columns=wanted,
                    include_missing_columns=True,
                    strings_can_be_null=True,
                ),
            )
            yield from reader
    else:
        import pyarrow.json as pjson

        with fs.open_input_stream(path, compression="detect") as f:
            table = pjson.read_json(
                f,
                parse_options=pjson.ParseOptions(
                    explicit_schema=pa.schema([_json_field(p.data_schema.field(c)) for c in wanted])
                    if wanted else None,
                    unexpected_field_behavior="ignore",
                ),
            )
        yield from table.select([c for c in wanted if c in table.schema.names]).to_batches(max_chunksize=65536) \
            if wanted else table.select([]).to_batches()


def _csv_typed(t: pa.DataType) -> bool:
    # Timestamps are left to pyarrow's inference (naive or with offset) and cast afterwards:
    # asking the CSV parser for a UTC type rejects values without an explicit offset.
    return not pa.types.is_timestamp(t)


def _json_field(f: pa.Field) -> pa.Field:
    # pyarrow's JSON reader cannot parse "2024-01-31" as a date or "1.10" as a decimal (they are how
    # dates and decimals are written): read them as text; conform() casts them to the declared type.
    if pa.types.is_date(f.type) or pa.types.is_decimal(f.type):
        return pa.field(f.name, pa.string())
    return f


def _columns_option(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        cols = [c.strip() for c in value.split(",") if c.strip()]
    else:
        cols = [str(c) for c in value]
    return cols or None


def output_schema(obj: DataObject, full: pa.Schema, columns: list[str] | None) -> pa.Schema:
    """The plan's schema: ``full``, or only ``columns`` (the ``columns`` option) in that order; an
    unknown column is a :class:`DaoError` naming it, with the close match and the columns there are."""
    if columns is None:
        return full
    unknown = [c for c in columns if c not in full.names]
    if unknown:
        from ..errors import did_you_mean

        raise DaoError(
            f"reading {obj.full_name!r} (store {obj.store_name!r}): unknown columns {unknown}."
            f"{did_you_mean(unknown[0], full.names)} Columns: {', '.join(full.names)}"
        )
    return pa.schema([full.field(c) for c in columns])


def drop_deleted(batches, deleted: tuple[int, ...]):
    """The batches of one whole file without the rows at the ``deleted`` positions (sorted)."""
    import numpy as np

    gone = np.asarray(deleted, dtype=np.int64)
    offset = 0
    for batch in batches:
        n = batch.num_rows
        lo, hi = np.searchsorted(gone, offset), np.searchsorted(gone, offset + n)
        if lo == hi:
            yield batch
        else:
            keep = np.ones(n, dtype=bool)
            keep[gone[lo:hi] - offset] = False
            yield batch.filter(pa.array(keep))
        offset += n
