"""The lake's disk fills up during a write, and a landing day gets new files while ``clean`` reads it.

Full disk: the ``clean`` task runs as the DAG runs it; once its JVM is up (the first table is being created), the
RLIMIT_FSIZE of its processes is set between the largest Delta commit file and the smallest data file of the run's
first data writes (the catalog's): Delta's small commit files still go through, every data file fails partway with
EFBIG ("File too large"), the error a process meets when its writes cannot go through.
Why not a small tmpfs: mounting needs CAP_SYS_ADMIN, which CI runners and containers often lack, and ``chmod``
does not stop root; a file-size limit needs no privilege and always works. Expected: the task fails (non-zero
exit, the cause in its log), every table is the previous content (no data file of the run was committed; the
half-written ones lie in the table folders, referenced by no commit), and the next run with room
succeeds and equals an uninterrupted run.

Two things the limit must not hit, or the test passes without a data write ever failing (it did, at first):
snappy-java extracts its native library (280 KB) to the temp folder at the first Parquet write, and under the
limit that extraction failed, so every data write failed on ``UnsatisfiedLinkError`` before writing a page; the
library is therefore extracted here beforehand and loaded from there (a JVM that runs when the disk fills has long
loaded it). And the task's log: it is a file, so past the limit the cause could not reach it; the task's output goes
through a pipe, as Airflow captures a task's output.

A landing day that grows while it is read. Semantics (docs/reliability.md): a run cleans the files it listed when
it started (``clean`` lists the day's folder once and reads exactly those paths); a file that arrives later is not
read by that run, and the rerun (Airflow's clear, or the next backfill) reads it, replacing the day's rows, so
nothing is lost and nothing is counted twice. Producers publish a file whole: write it under a hidden name
(``.name`` or ``_name``, which the listing skips) and rename it into place.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest
from killing import TASK_COMMANDS, classify, limit_file_size, run_to_end, same, small_shop, snapshot, task_env
from steps import lake_settings

pytestmark = [pytest.mark.spark]

DAY = dt.date(2026, 11, 3)
#: the previous content's setting: bot rule off (as in test_kill9.py), so silver.events differs from a default run
NO_BOTS = {"COLDREC_CLEAN__BOT_EVENTS_PER_MINUTE": "100000", "COLDREC_CLEAN__BOT_EVENTS_PER_DAY": "10000000"}


@pytest.mark.slow
def test_full_disk_during_clean_fails_cleanly_and_the_next_run_succeeds(tmp_path, figures):
    shop = small_shop(tmp_path / "shop", DAY.isoformat())
    landing, log = shop / "landing", tmp_path / "clean.log"
    jvm = _snappy_extracted(tmp_path / "native")
    # the previous content: the same day cleaned without the bot rule (a complete run whose silver.events differs
    # from the default's), so a failed run that removed or replaced anything would show
    baseline = _fresh_lake(tmp_path / "baseline")
    run_to_end("clean", DAY.isoformat(), baseline, landing, {**jvm, **NO_BOTS}, log)
    base = tmp_path / "full"
    shutil.copytree(baseline, base, symlinks=True)
    # without silver.items, the run's first act is creating it (after the JVM's start, whose jar copies would hit the
    # limit too): the moment the limit is set; the previous content of every other table stays to be checked
    shutil.rmtree(base / "lake" / "silver" / "items")
    before = snapshot(base / "lake")
    run_to_end("clean", DAY.isoformat(), baseline, landing, jvm, log)
    expected = snapshot(baseline / "lake")
    assert not same(before["silver/events"], expected["silver/events"])  # previous and new are told apart
    commits = max(p.stat().st_size for p in (baseline / "lake").rglob("_delta_log/*.json"))
    first_data = min(p.stat().st_size for t in ("silver/items", "silver/users")
                     for p in (baseline / "lake" / t).rglob("*.parquet"))  # fmt: skip
    assert commits < first_data, (commits, first_data)
    limit = (commits + first_data) // 2

    earlier = _unreferenced_data_files(base / "lake")  # files the previous run's commits replaced
    proc, copied = _start_piped("clean", DAY.isoformat(), base, landing, jvm, log)
    while not (base / "lake" / "silver" / "items" / "_delta_log").exists() and proc.poll() is None:
        time.sleep(0.1)  # the JVM is up and silver.items is being created: the lake's data writes are to come
    assert limit_file_size(proc.pid, limit) >= 2  # the Python driver and its JVM
    assert proc.wait(timeout=1800) != 0, "clean succeeded although a write could not go through"
    copied.join(timeout=60)
    text = log.read_text().rsplit("(output through a pipe)", 1)[1]  # this run's output
    assert "File too large" in text, text[-3000:]  # the cause reaches the task's log
    assert "UnsatisfiedLinkError" not in text, text[-3000:]  # a data write failed, not the codec's loading
    leftovers = sorted(set(_unreferenced_data_files(base / "lake")) - set(earlier))
    assert leftovers, "no data file was cut short: the limit never hit a data write"
    assert all(p.stat().st_size <= limit for p in leftovers), leftovers
    now = snapshot(base / "lake")
    states = {t: classify(before.get(t), expected[t], now.get(t)) for t in expected}
    # nothing of the failed run is visible, nothing of the previous run is lost ("none": silver.items, absent before,
    # is at most created empty)
    assert set(states.values()) <= {"previous", "unchanged", "none"}, states
    assert states["silver/events"] == "previous", states

    run_to_end("clean", DAY.isoformat(), base, landing, jvm, log)
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
        note=f"RLIMIT_FSIZE {limit:,} bytes (room for Delta's commit files, not for a data file): the task failed "
        f"with 'File too large', {len(leftovers)} data file(s) cut short and never committed; tables after it: "
        f"{sorted(set(states.values()))}; the next run equals an uninterrupted one",
    )


def _snappy_extracted(to: Path) -> dict[str, str]:
    """JVM options that load snappy-java's native library from a copy extracted here (from the jar pyspark ships)
    instead of extracting it to the temp folder at the first Parquet write, as it does by default."""
    import pyspark

    jar = sorted((Path(pyspark.__file__).parent / "jars").glob("snappy-java-*.jar"))[-1]
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    to.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(jar) as z:
        (to / "libsnappyjava.so").write_bytes(z.read(f"org/xerial/snappy/native/Linux/{arch}/libsnappyjava.so"))
    return {"JDK_JAVA_OPTIONS": f"-Dorg.xerial.snappy.lib.path={to} -Dorg.xerial.snappy.lib.name=libsnappyjava.so"}


def _start_piped(
    task: str, day: str, base: Path, landing: Path, extra: dict[str, str], log: Path
) -> tuple[subprocess.Popen, threading.Thread]:
    """``killing.start``, the output through a pipe copied into ``log`` by a thread (join it after the exit): the
    file-size limit of the task's processes does not apply to a pipe, so the task's last words reach the log."""
    with log.open("a") as fh:
        fh.write(f"\n$ {task} {day} {extra} (output through a pipe)\n")
    proc = subprocess.Popen(
        [*TASK_COMMANDS[task], "--date", day],
        env=task_env(base, landing, extra),
        cwd=base / "home",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def copy() -> None:
        assert proc.stdout is not None
        with log.open("ab") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()

    copied = threading.Thread(target=copy, daemon=True)
    copied.start()
    return proc, copied


def _unreferenced_data_files(lake: Path) -> list[Path]:
    """Data files in the tables' folders that no commit of their table references (a write that failed partway)."""
    from deltalake import DeltaTable

    out = []
    for log_dir in lake.glob("*/*/_delta_log"):
        table = log_dir.parent
        referenced = {Path(u.removeprefix("file://")).resolve() for u in DeltaTable(str(table)).file_uris()}
        out += [p for p in table.rglob("*.parquet") if p.resolve() not in referenced]
    return sorted(out)


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
