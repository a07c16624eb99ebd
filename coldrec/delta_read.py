"""Spark-free reads of the lake's Delta tables into Arrow: delta-rs for the log, pyarrow's own file systems for data.

Why not ``DeltaTable(uri).to_pyarrow_table()`` as it comes: by default delta-rs hands pyarrow a ``PyFileSystem`` that
calls back into its Rust object store through Python, and with deltalake 1.6 / pyarrow 25 a process that read a
table that way aborts *at exit* about half the time ("terminate called without an active exception", exit code
134), after the read itself succeeded. Measured here (2026-12-05), a process reading ``silver.items`` (5 files) and
exiting: 11 of 12 aborted; the same process sleeping 0.3 s before exiting: 0 of 12; the same read through pyarrow's
native file system for the table's URI: 0 of 36 over three tables. It is a race at shutdown, so it hits processes
that exit soon after reading (a consumer's script, a check, a benchmark's last step: ``bench/nightly.py`` printed
it); ``coldrec train``, which reads first and trains for a while, exited 0 in 4 of 4 runs either way. A script that
exits 134 after doing its work is a failure to whoever runs it, so every Spark-free read in coldrec goes through
:func:`read_delta` / :func:`delta_dataset`. Which files make up the snapshot (and the protocol checks: no
deletion vectors, no column mapping) still comes from delta-rs; only the Parquet reads change hands.

Where pyarrow has no file system for the URI's scheme, delta-rs's own is used. Hadoop's ``s3a://`` (the lake URI
Spark uses in ``docker/``) is read as ``s3://``; both read the ``AWS_*`` variables (``AWS_ENDPOINT_URL`` for MinIO).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs

#: URI schemes that name the same store under another client's spelling
_SCHEME_ALIASES = {"s3a://": "s3://"}


def arrow_filesystem(table_uri: str) -> pa_fs.FileSystem | None:
    """pyarrow's native file system rooted at the table's folder, or None when pyarrow cannot open that URI."""
    uri = table_uri
    for alias, scheme in _SCHEME_ALIASES.items():
        if uri.startswith(alias):
            uri = scheme + uri.removeprefix(alias)
    try:
        if "://" not in uri:
            return pa_fs.SubTreeFileSystem(str(Path(uri).resolve()), pa_fs.LocalFileSystem())
        raw, root = pa_fs.FileSystem.from_uri(uri)
    except (pa.ArrowException, ValueError, OSError):
        return None
    return pa_fs.SubTreeFileSystem(root, raw)


def delta_dataset(
    table_uri: str,
    *,
    version: int | None = None,
    partitions: list[tuple[str, str, Any]] | None = None,
) -> ds.Dataset:
    """The table's snapshot (the latest, or ``version``) as a pyarrow Dataset; ``partitions`` prunes files by
    partition values (delta-rs's tuple filters, e.g. ``[("run_date", "=", "2026-11-07")]``)."""
    from deltalake import DeltaTable

    table = DeltaTable(table_uri, version=version)
    return table.to_pyarrow_dataset(file_pruning_predicate=partitions, filesystem=arrow_filesystem(table_uri))


def read_delta(
    table_uri: str,
    *,
    columns: list[str] | None = None,
    partitions: list[tuple[str, str, Any]] | None = None,
    filter: ds.Expression | None = None,
    version: int | None = None,
) -> pa.Table:
    """The table (or its ``partitions``, ``columns``, rows matching ``filter``) as one Arrow table."""
    return delta_dataset(table_uri, version=version, partitions=partitions).to_table(columns=columns, filter=filter)
