"""The similarity job's input read inside its Spark tasks, straight from the Parquet files of one Delta partition.

Why: the block algorithm's work happens in Python (numpy / numba), so every interaction must reach a Python worker.
Through a DataFrame that costs Spark's row-by-row JVM -> Arrow hand-over, about 1 us per row and core here (10M
interactions: ~5 s of 2 cores, before any similarity work); ``pyarrow`` reads the same Parquet columns in a few
hundred milliseconds. So when a partition's files are plain Parquet -- Delta reader protocol 1, which rules out
deletion vectors and column mapping -- the tasks read them themselves and Spark only distributes the tasks and
carries the shuffles (a few large binary rows per task, cheap for the JVM). Otherwise
(:func:`partition_files` returns None) the job reads through Spark as before; both give the same neighbours.

The driver lists the files with delta-rs (metadata only, no data); the listing is the committed snapshot, so a
concurrent writer cannot hand the job half a commit. Only URIs that pyarrow resolves take this path (local paths,
s3://, gs://, hdfs://); a lake addressed through Hadoop's own schemes (s3a://, as in docker/) is read by Spark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from numba import njit

log = logging.getLogger("coldrec.cf")


def partition_files(table_uri: str, partition_col: str, value: str) -> list[str] | None:
    """Data files of ``partition_col = value`` when they can be read as plain Parquet, else None (delta-rs cannot
    open the table, or its reader protocol > 1: deletion vectors or column mapping may apply)."""
    try:
        from deltalake import DeltaTable

        table = DeltaTable(table_uri)
        protocol = table.protocol()
        if protocol.min_reader_version > 1 or protocol.reader_features:
            log.info("%s: reader protocol %s, reading through Spark", table_uri, protocol.min_reader_version)
            return None
        files = sorted(table.file_uris(file_pruning_predicate=[(partition_col, "=", value)]))
        if files:  # the tasks read with pyarrow: a scheme it does not know (e.g. Hadoop's s3a://) stays with Spark
            pafs.FileSystem.from_uri(files[0])
        return files
    except Exception as exc:  # no table, no delta-rs, a storage it cannot reach: Spark reads it instead
        log.info("%s: not listed by delta-rs (%s), reading through Spark", table_uri, exc)
        return None


def read_columns(files: Sequence[str], columns: Sequence[str]) -> pa.Table:
    """The given columns of the files, one table (chunks combined); strings as ``pa.string()``."""
    if not files:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    tables = [pq.read_table(f, columns=list(columns)) for f in files]
    table = pa.concat_tables(tables).combine_chunks()
    has_nulls = any(column.null_count for column in table.columns)
    return table.drop_null() if has_nulls else table  # drop_null copies every column: only when it must


@njit(cache=True, boundscheck=False)
def _fnv1a_buckets(offsets: np.ndarray, data: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(len(offsets) - 1, np.int32)
    for i in range(len(offsets) - 1):
        h = np.uint64(14695981039346656037)
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * np.uint64(1099511628211)
        out[i] = np.int32(h % np.uint64(n))
    return out


@njit(cache=True, boundscheck=False)
def bucket_order(bucket: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping rows by bucket (stable: rows keep their order within a bucket) and the ``n + 1`` bucket
    boundaries in it: a counting sort, O(rows), where a stable argsort was O(rows log rows)."""
    bounds = np.zeros(n + 1, np.int64)
    for b in bucket:
        bounds[b + 1] += 1
    for b in range(n):
        bounds[b + 1] += bounds[b]
    fill = bounds[:-1].copy()
    order = np.empty(len(bucket), np.int64)
    for i in range(len(bucket)):
        b = bucket[i]
        order[fill[b]] = i
        fill[b] += 1
    return order, bounds


def string_buckets(values: pa.Array, n: int) -> np.ndarray:
    """Bucket ``0..n-1`` of each string: FNV-1a of its UTF-8 bytes mod n (the same in every process)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if len(values) == 0:
        return np.zeros(0, np.int32)
    _, offsets, data = values.buffers()
    offs = np.frombuffer(offsets, np.int32, count=len(values) + 1, offset=4 * values.offset)
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return _fnv1a_buckets(offs, raw, n)


def to_ipc(table: pa.Table) -> bytes:
    """One table as Arrow IPC stream bytes (a shuffle payload)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(payloads: Iterable[pa.Buffer | bytes]) -> pa.Table | None:
    """The tables of several IPC payloads, concatenated (None when there are none)."""
    tables = [pa.ipc.open_stream(p).read_all() for p in payloads]
    return pa.concat_tables(tables).combine_chunks() if tables else None


def entity_counts(files: Sequence[str], entity_col: str) -> pa.Table:
    """``entity, n`` of the files' rows (one task's share of the block plan)."""
    table = read_columns(files, [entity_col])
    counts = pc.value_counts(table.column(entity_col).combine_chunks())
    return pa.table({"entity": counts.field("values"), "n": counts.field("counts")})
