"""Spark-free Delta reads (coldrec.delta_read): same rows as delta-rs's own reader, and a process that read exits 0."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.fs as pa_fs
import pytest

from coldrec import delta_read
from coldrec.delta_read import arrow_filesystem, read_delta

DAYS = [dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """Three appends (versions 0-2) of one run date each, partitioned by ``run_date``: several files."""
    from deltalake import write_deltalake

    path = tmp_path_factory.mktemp("delta") / "recommendations"
    for i, day in enumerate(DAYS):
        rows = pa.table(
            {
                "run_date": [day] * 3,
                "user_id": [f"u{i}{k}" for k in range(3)],
                "score": [float(10 * i + k) for k in range(3)],
            }
        )
        write_deltalake(str(path), rows, mode="append", partition_by=["run_date"])
    return path


def test_reads_the_same_rows_as_delta_rs(table: Path) -> None:
    from deltalake import DeltaTable

    ours = read_delta(str(table)).sort_by("user_id")
    theirs = DeltaTable(str(table)).to_pyarrow_table().sort_by("user_id")
    assert ours.equals(theirs) and ours.num_rows == 9
    day = read_delta(str(table), partitions=[("run_date", "=", "2026-11-02")], columns=["user_id", "score"])
    assert day.column_names == ["user_id", "score"]
    assert sorted(day.column("user_id").to_pylist()) == ["u10", "u11", "u12"]
    assert day.column("score").to_pylist() == [10.0, 11.0, 12.0]
    first = read_delta(str(table), version=0)  # time travel: the first append only
    assert first.column("run_date").to_pylist() == [DAYS[0]] * 3
    relative = Path(table).relative_to(Path.cwd()) if Path(table).is_relative_to(Path.cwd()) else Path(table)
    assert read_delta(str(relative)).num_rows == 9


def test_filesystem_for_each_kind_of_uri(monkeypatch, tmp_path) -> None:
    local = arrow_filesystem(str(tmp_path))
    assert isinstance(local, pa_fs.SubTreeFileSystem) and local.base_path.rstrip("/") == str(tmp_path)
    assert arrow_filesystem("nosuchscheme://bucket/lake/gold/recommendations") is None  # delta-rs's own then
    seen = []

    def from_uri(uri):  # no network in tests: record what pyarrow would be asked to open
        seen.append(uri)
        return pa_fs.LocalFileSystem(), "/bucket/lake/t"

    fake = SimpleNamespace(FileSystem=SimpleNamespace(from_uri=from_uri), SubTreeFileSystem=pa_fs.SubTreeFileSystem)
    monkeypatch.setattr(delta_read, "pa_fs", fake)
    s3 = arrow_filesystem("s3a://bucket/lake/t")  # Hadoop's s3a is pyarrow's s3
    assert seen == ["s3://bucket/lake/t"] and s3.base_path.rstrip("/") == "/bucket/lake/t"


def test_a_process_that_read_a_table_exits_cleanly(table: Path) -> None:
    """deltalake 1.6 / pyarrow 25 through delta-rs's default file system aborted at exit in about half of such
    processes (exit code 134, "terminate called without an active exception"); eight clean exits in a row would
    happen by chance in under 2% of tries with that reader."""
    code = "import sys; from coldrec.delta_read import read_delta; print(read_delta(sys.argv[1]).num_rows)"
    for _ in range(8):
        done = subprocess.run([sys.executable, "-c", code, str(table)], capture_output=True, text=True, timeout=120)
        assert "terminate called" not in done.stderr
        assert (done.returncode, done.stdout.strip()) == (0, "9"), done.stderr[-2000:]
