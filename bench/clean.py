"""Cleaning job throughput at ~1M and ~5M generated events a day, against a bare JSON -> Delta pass over the same
files, in the same run and the same SparkSession.

For each size a synthetic shop of two days is generated (``coldrec.data.generator``: 1% injected bad lines, bots,
late events, sessions without ids, 5% new users / items over the window; reused when already generated). Day 1 is
cleaned untimed first, so the timed run is a nightly run against a lake that has run before (yesterday's catalog
loaded, tables existing). Then, over day 2's event files:

* **bare**: ``spark.read.json(files).write.format("delta").save(...)``: exactly the baseline the issue names
  (schema inferred, as a plain ``spark.read.json`` does), written to a fresh Delta table;
* **bare+schema** (reference only): the same with the explicit raw schema, no inference pass;
* **coldrec**: :func:`coldrec.clean.clean_days` for day 2: catalog MERGE, parse + validate, quarantine, dedupe,
  bots, sessions, ``silver.events`` / ``silver.rejected`` / ``ops.run_metrics`` commits.

Before anything is timed, both paths run once on a small shop (JIT warm-up), and each size's files are read once
(page cache). The figure is ``ratio_vs_bare`` = coldrec seconds / bare seconds (goal: <= 2); the coldrec phases are
printed too (``catalog`` runs in threads beside ``validate``; ``events`` is written in a thread beside the
catalog's end and ``quarantine``). Last line: one JSON object.

    python bench/clean.py [--sizes 1M,5M] [--workdir bench/out/clean] [--master local[2]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

console = Console(stderr=True)
DAY = dt.date(2025, 1, 6)  # day 1 (cleaned untimed); the timed run is day 2
EVENTS_PER_USER = 8.3  # measured: the generator logs ~8.3 lines per user and day with its defaults
ARRIVAL_SHARE = 0.05  # new users / items over the window: a steady shop, not a launch
SIZES = {"100k": 100_000, "1M": 1_000_000, "5M": 5_000_000}
CLEAN_TABLES = ("silver.items", "silver.users", "silver.events", "silver.rejected", "ops.run_metrics")


def shop(workdir: Path, n_events: int, seed: int, days: int = 2) -> Path:
    """A shop of ``days`` days with about ``n_events`` lines a day (cached by its arguments)."""
    from coldrec.data.generator import generate_shop

    users = max(100, round(n_events / EVENTS_PER_USER))
    items = max(100, users // 20)
    root = workdir / f"shop-{users}u-{items}i-{days}d-s{seed}"
    if (root / "_ground_truth.json").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    with console.status(f"generating {users} users / {items} items, {days} day(s) of ~{n_events:,} events"):
        generate_shop(
            root,
            users=users,
            items=items,
            days=days,
            seed=seed,
            start_date=DAY,
            bad_rate=0.01,
            new_user_share=ARRIVAL_SHARE,
            new_item_share=ARRIVAL_SHARE,
        )
    return root


def timed(label: str, fn) -> float:
    started = time.perf_counter()
    with console.status(label):
        fn()
    seconds = time.perf_counter() - started
    console.print(f"  {label}: {seconds:.1f} s")
    return seconds


def warm_up(spark, root: Path, out: Path) -> None:
    """Run both paths once on a small shop so neither timed side pays the JVM's JIT warm-up."""
    from coldrec.clean import clean_days
    from coldrec.clean.parse import list_files
    from coldrec.config import load_settings

    shutil.rmtree(out, ignore_errors=True)
    files = list_files(spark, str(root / "events" / f"date={DAY.isoformat()}"))
    with console.status("warm-up (untimed)"):
        spark.read.json(files).write.format("delta").mode("overwrite").save(str(out / "bare"))
        clean_days(spark, load_settings({"landing_uri": str(root), "lake_uri": str(out / "lake")}), [DAY])


def run_size(spark, name: str, root: Path, out: Path) -> dict:
    from coldrec import lake
    from coldrec.clean import clean_days
    from coldrec.clean.parse import list_files
    from coldrec.config import load_settings
    from coldrec.data import schemas as S

    day = DAY + dt.timedelta(days=1)
    files = list_files(spark, str(root / "events" / f"date={day.isoformat()}"))
    work = out / name
    shutil.rmtree(work, ignore_errors=True)
    settings = load_settings({"landing_uri": str(root), "lake_uri": str(work / "lake")})
    for table in CLEAN_TABLES:
        lake.ensure_table(spark, settings, table)
    with console.status(f"{name}: cleaning day 1 (untimed: the lake has run before)"):
        clean_days(spark, settings, [DAY])
    n_lines = spark.read.text(files).count()  # untimed: the timed passes start from a warm page cache
    console.print(f"[bold]{name}[/bold]: day 2 has {n_lines:,} lines in {len(files)} file(s)")

    bare = timed(
        "bare read.json -> delta",
        lambda: spark.read.json(files).write.format("delta").mode("overwrite").save(str(work / "bare")),
    )
    bare_schema = timed(
        "bare read.json(schema) -> delta",
        lambda: (
            spark.read.schema(S.RAW_EVENTS)
            .json(files)
            .write.format("delta")
            .mode("overwrite")
            .save(str(work / "bare-schema"))
        ),
    )
    reports: list = []
    lake.forget_checked_tables()  # a nightly clean is a process of its own: it pays the tables' contract checks
    coldrec = timed("coldrec clean", lambda: reports.extend(clean_days(spark, settings, [day])))
    report = reports[0]
    assert report.input_rows + report.blank_lines == n_lines and report.balanced
    result = {
        "events": report.input_rows,
        "catalog_rows": report.items.input_rows + report.users.input_rows,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "duplicates_removed": report.duplicates_removed,
        "bot_users": report.bot_users,
        "coldrec_s": round(coldrec, 2),
        "bare_s": round(bare, 2),
        "bare_schema_s": round(bare_schema, 2),
        "events_per_s": round(report.input_rows / coldrec),
        "bare_events_per_s": round(report.input_rows / bare),
        "ratio_vs_bare": round(coldrec / bare, 3),
        "ratio_vs_bare_schema": round(coldrec / bare_schema, 3),
        "coldrec_phases_s": {name: round(value, 1) for name, value in sorted(report.phase_seconds.items())},
    }
    console.print(
        f"  {name}: coldrec {result['events_per_s']:,} events/s, bare {result['bare_events_per_s']:,} events/s, "
        f"ratio {result['ratio_vs_bare']} (vs bare+schema {result['ratio_vs_bare_schema']})"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,5M", help=f"comma-separated, from {', '.join(SIZES)}")
    parser.add_argument("--workdir", default="bench/out/clean", help="generated shops and lakes (kept for reuse)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from coldrec.config import load_settings
    from coldrec.spark import build_spark

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {list(SIZES)}")
    roots = {name: shop(workdir, SIZES[name], args.seed) for name in sizes}

    settings = load_settings(
        {"spark_master": args.master, "spark_driver_memory": args.driver_memory, "home": str(workdir / "home")}
    )
    spark = build_spark("coldrec-bench-clean", settings, extra_conf={"spark.ui.enabled": "false"})
    cores = spark.sparkContext.defaultParallelism
    results = {}
    try:
        warm_up(spark, shop(workdir, SIZES["100k"], args.seed, days=1), workdir / "warmup")
        for name in sizes:
            results[name] = run_size(spark, name, roots[name], workdir / "runs")
    finally:
        spark.stop()
    last = results[sizes[-1]]
    summary = {
        "bench": "clean",
        "master": args.master,
        "cores": cores,
        "shuffle_partitions": settings.shuffle_partitions,
        "sizes": results,
        "events_per_s": last["events_per_s"],
        "ratio_vs_bare": last["ratio_vs_bare"],
        "ratio_vs_bare_schema": last["ratio_vs_bare_schema"],
        "size": sizes[-1],
        "goal_ratio_max": 2.0,
    }
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
