"""The lake's disk fills up during a write, and a landing day gets new files while ``clean`` reads it.

Full disk: the ``clean`` task runs as the DAG runs it; once its JVM is up (the first table is being created), the
RLIMIT_FSIZE of its processes is set to half the largest data file an uninterrupted run writes, so the data writes
fail with EFBIG ("File too large"), the error a process meets when its writes cannot go through.
Why not a small tmpfs: mounting needs CAP_SYS_ADMIN, which CI runners and containers often lack, and ``chmod``
does not stop root; a file-size limit needs no privilege and always works. Expected: the task fails (non-zero
exit, the cause in its log), every table is the previous content, and the next run with room
succeeds and equals an uninterrupted run.

A landing day that grows while it is read. Semantics (docs/reliability.md): a run cleans the files it listed when
it started (``clean`` lists the day's folder once and reads exactly those paths); a file that arrives later is not
read by that run, and the rerun (Airflow's clear, or the next backfill) reads it, replacing the day's rows, so
nothing is lost and nothing is counted twice. Producers publish a file whole: write it under a hidden name
(``.name`` or ``_name``, which the listing skips) and rename it into place.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from killing import classify, limit_file_size, run_to_end, small_shop, snapshot, start
from steps import lake_settings

pytestmark = [pytest.mark.spark]

DAY = dt.date(2026, 11, 3)


@pytest.mark.slow
def test_full_disk_during_clean_fails_cleanly_and_the_next_run_succeeds(tmp_path, figures):
    shop = small_shop(tmp_path / "shop", DAY.isoformat())
    landing, log = shop / "landing", tmp_path / "clean.log"
    baseline = _fresh_lake(tmp_path / "baseline")
    run_to_end("clean", DAY.isoformat(), baseline, landing, {}, log)
    expected = snapshot(baseline / "lake")
    largest = max(p.stat().st_size for p in (baseline / "lake").rglob("*.parquet"))

    base = _fresh_lake(tmp_path / "full")
    before = snapshot(base / "lake")
    proc = start("clean", DAY.isoformat(), base, landing, {}, log)
    while not list((base / "lake").glob("*/*/_delta_log")) and proc.poll() is None:
        time.sleep(0.1)  # the JVM is up and the first table is being created: its data writes are to come
    assert limit_file_size(proc.pid, largest // 2) >= 2  # the Python driver and its JVM
    assert proc.wait(timeout=1800) != 0, "clean succeeded although a write could not go through"
    assert "File too large" in log.read_text(), log.read_text()[-3000:]  # the cause reaches the task's log
    now = snapshot(base / "lake")
    states = [classify(before.get(t), expected[t], now.get(t)) for t in expected]
    assert "partial" not in states and "new" not in states, states  # nothing of the failed run is visible

    run_to_end("clean", DAY.isoformat(), base, landing, {}, log)
    after = snapshot(base / "lake")
    assert all(classify(None, expected[t], after.get(t)) in ("new", "unchanged") for t in expected)
    figures(
        "full disk during a write (clean)",
        runs=2,
        points=1,
        unit="failed write",
        lost=0,
        partial=0,
        reruns_identical="yes",
        note=f"RLIMIT_FSIZE {largest // 2:,} bytes (half the largest data file): the task failed with 'File too "
        f"large'; tables after it: {sorted(set(states))}; the next run equals an uninterrupted one",
    )


def _fresh_lake(to: Path) -> Path:
    """A fresh lake and home beside the shared landing."""
    (to / "lake").mkdir(parents=True)
    (to / "home").mkdir()
    return to


def _late_events(n: int, users: list[str], items: list[str]) -> str:
    rows = [{"event_id": f"late-{i:04d}", "user_id": users[i % len(users)], "item_id": items[i % len(items)],
             "event_type": "view", "ts": f"{DAY.isoformat()}T21:{i // 60:02d}:{i % 60:02d}Z"}
            for i in range(n)]  # fmt: skip
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_a_landing_file_that_arrives_during_clean_waits_for_the_rerun(spark, tmp_path, monkeypatch, figures):
    import coldrec.clean.job as job
    from coldrec.data.generator.shop import generate_shop
    from coldrec.delta_read import read_delta

    generate_shop(tmp_path / "landing", users=80, items=30, days=1, seed=5, start_date=DAY)
    settings = lake_settings(tmp_path)
    folder = tmp_path / "landing" / "events" / f"date={DAY}"
    listed = job.list_files_with_sizes
    arrived: list[Path] = []

    def list_then_a_file_arrives(spark_, path):
        files = listed(spark_, path)
        if path.rstrip("/").endswith(f"date={DAY}") and not arrived:  # published whole: hidden name, then rename
            hidden = folder / ".part-late.jsonl.tmp"
            hidden.write_text(_late_events(40, [f"late-u{i}" for i in range(8)], [f"late-i{i}" for i in range(5)]))
            hidden.rename(folder / "part-late.jsonl")
            arrived.append(folder / "part-late.jsonl")
        return files

    monkeypatch.setattr(job, "list_files_with_sizes", list_then_a_file_arrives)
    first = job.run_clean(spark, settings, DAY)
    events = read_delta(f"{settings.lake_uri}/silver/events").to_pandas()
    assert arrived and first.input_files == len(list(folder.glob("[!._]*"))) - 1
    assert not events["event_id"].str.startswith("late-").any()  # not read by the run that listed before it
    monkeypatch.setattr(job, "list_files_with_sizes", listed)

    second = job.run_clean(spark, settings, DAY)  # the rerun: the late file is read, the day replaced
    again = read_delta(f"{settings.lake_uri}/silver/events").to_pandas()
    late = again[again["event_id"].str.startswith("late-")]
    assert sorted(late["event_id"]) == [f"late-{i:04d}" for i in range(40)]  # nothing lost
    assert not again["event_id"].duplicated().any()  # nothing counted twice
    assert set(events["event_id"]) | set(late["event_id"]) == set(again["event_id"])
    assert second.accepted == first.accepted + 40 and second.input_files == first.input_files + 1
    figures(
        "landing file arriving during clean",
        runs=2,
        points=40,
        unit="late records",
        lost=0,
        partial=0,
        reruns_identical="n/a",
        note=f"the run that listed before the file arrived cleaned {first.accepted} events without it; the rerun "
        f"{second.accepted} = {first.accepted} + 40, each event once",
    )
