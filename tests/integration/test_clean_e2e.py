"""The cleaning job from the outside: ``spark-submit jobs/clean_events.py`` on a generated day with the output read
back by ``deltalake`` (no Spark), the ``coldrec clean`` command's gate exit code, and MovieLens-100K with zero
rejects. Expected values come from the generator's files + ground truth and MovieLens' own files, in plain Python.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAY = dt.date(2025, 1, 7)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _expected_event_ids(root: Path, day: dt.date, truth) -> set[str]:
    """Event ids of the day's good lines: every line of the day's files minus the injected non-duplicate bad ones
    (duplicates repeat an original's id, so the set of ids is the set of distinct accepted events)."""
    bad = {(r["file"], r["line"]) for r in truth.bad_records if r["kind"] != "duplicate"}
    ids = set()
    for path in sorted((root / "events" / f"date={day.isoformat()}").glob("*.jsonl")):
        rel = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if line.strip() and (rel, number) not in bad:
                ids.add(json.loads(line)["event_id"])
    return ids


@pytest.mark.slow
def test_spark_submit_job_on_a_generated_day_read_back_without_spark(settings):
    from deltalake import DeltaTable

    from coldrec import lake
    from coldrec.data.generator import generate_shop
    from coldrec.delta_read import read_delta
    from coldrec.spark import submit_conf

    root = Path(settings.landing_uri)
    truth = generate_shop(root, users=200, items=80, days=2, seed=11, bad_rate=0.02, start_date="2025-01-06")
    conf = {**submit_conf(settings), "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1"}
    cmd = [str(BIN / "spark-submit"), "--master", "local[2]", "--driver-memory", "1g"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [str(PROJECT / "jobs" / "clean_events.py"), "--date", DAY.isoformat()]
    cmd += ["--landing", settings.landing_uri, "--lake", settings.lake_uri]
    done = subprocess.run(cmd, cwd=PROJECT, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])

    expected_ids = _expected_event_ids(root, DAY, truth)
    bad_events = [r for r in truth.bad_records if r["dataset"] == "events" and f"date={DAY}" in r["file"]]
    n_dups = sum(1 for r in bad_events if r["kind"] == "duplicate")
    assert report["accepted"] == len(expected_ids)
    assert report["rejected"] == len(bad_events) - n_dups and report["duplicates_removed"] == n_dups

    events = DeltaTable(lake.table_path(settings, "silver.events"))
    assert events.metadata().partition_columns == ["event_date"]
    table = read_delta(lake.table_path(settings, "silver.events"))
    assert set(table.column("event_id").to_pylist()) == expected_ids
    assert table.num_rows == len(expected_ids)
    assert set(table.column("ingest_date").to_pylist()) == {DAY}
    late_ids = {r["event_id"] for r in truth.late_events if f"date={DAY}" in r["file"]}
    dates = dict(zip(table.column("event_id").to_pylist(), table.column("event_date").to_pylist(), strict=True))
    assert late_ids and all(dates[i] == DAY - dt.timedelta(days=1) for i in late_ids)
    assert {t for t in table.column("event_type").to_pylist()} <= {
        "view",
        "click",
        "favorite",
        "cart",
        "purchase",
        "rating",
    }

    # quarantine: the day's injected bad lines of events, items and users (all under date=DAY folders)
    rejected = read_delta(lake.table_path(settings, "silver.rejected")).to_pylist()
    expected_bad = [r for r in truth.bad_records if r["kind"] != "duplicate" and f"date={DAY}" in r["file"]]
    assert sorted((r["dataset"], r["source_file"].rsplit("/", 3)[-3]) for r in rejected) == sorted(
        (r["dataset"], r["file"].split("/")[0]) for r in expected_bad
    )
    metrics = read_delta(lake.table_path(settings, "ops.run_metrics")).to_pylist()
    clean = {m["metric"]: m["value"] for m in metrics if m["stage"] == "clean" and m["run_date"] == DAY}
    assert clean["input_rows"] == clean["accepted"] + clean["rejected"] + clean["duplicates_removed"]
    assert clean["accepted"] == len(expected_ids)


@pytest.mark.slow
def test_cli_gate_failure_exit_code_and_quarantine(settings):
    from coldrec import lake
    from coldrec.delta_read import read_delta

    folder = Path(settings.landing_uri) / "events" / "date=2026-11-01"
    folder.mkdir(parents=True)
    good = {"event_id": "a", "user_id": "u", "item_id": "i", "event_type": "view", "ts": "2026-11-01T10:00:00Z"}
    folder.joinpath("part-00000.jsonl").write_text(json.dumps(good) + "\nnot json\nnot json either\n")
    done = subprocess.run(
        [str(BIN / "coldrec"), "clean", "--date", "2026-11-01", "--json"],
        cwd=PROJECT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 3, done.stderr[-4000:]
    assert "data-quality gate failed" in done.stderr and "2/3 records rejected" in done.stderr
    report = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])
    assert (report["gate_passed"], report["input_rows"], report["rejected"]) == (False, 3, 2)
    rejected = read_delta(lake.table_path(settings, "silver.rejected")).to_pylist()
    assert sorted(r["raw"] for r in rejected) == ["not json", "not json either"]
    assert not Path(lake.table_path(settings, "silver.events")).exists() or (
        read_delta(lake.table_path(settings, "silver.events")).num_rows == 0
    )


@pytest.mark.slow
@pytest.mark.spark
def test_movielens_100k_cleans_with_zero_rejects(spark, settings, movielens_dir):
    from coldrec import lake
    from coldrec.clean import clean_days
    from coldrec.data.loaders import import_movielens_100k

    import_movielens_100k(movielens_dir, settings.landing_uri)
    days = sorted(
        dt.date.fromisoformat(p.name.removeprefix("date="))
        for p in (Path(settings.landing_uri) / "events").iterdir()
        if p.name.startswith("date=")
    )
    reports = clean_days(spark, settings, days)  # every day of the data set in one backfill pass

    n_ratings = sum(1 for line in (movielens_dir / "u.data").read_text().splitlines() if line.strip())
    n_users = sum(1 for line in (movielens_dir / "u.user").read_text(encoding="latin-1").splitlines() if line)
    n_items = sum(1 for line in (movielens_dir / "u.item").read_text(encoding="latin-1").splitlines() if line)
    assert sum(r.rejected for r in reports) == 0
    assert sum(r.items.rejected + r.users.rejected for r in reports) == 0
    assert sum(r.input_rows for r in reports) == sum(r.accepted for r in reports) == n_ratings == 100_000
    assert sum(r.duplicates_removed for r in reports) == 0
    assert lake.read_table(spark, settings, "silver.rejected").count() == 0
    assert lake.read_table(spark, settings, "silver.items").count() == n_items == 1682
    assert lake.read_table(spark, settings, "silver.users").count() == n_users == 943
    events = lake.read_table(spark, settings, "silver.events")
    assert events.count() == 100_000
    assert events.where("event_type <> 'rating' OR rating IS NULL").count() == 0
