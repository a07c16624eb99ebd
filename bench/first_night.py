"""A new shop's first night, timed stage by stage: import + backfill to the shop's first published lists (goal:
<= 10 minutes on 2 cores for ~150k events and a 50k-item catalog), then the ordinary nightly of the next day.

The shop: ``coldrec generate`` with a year of history (365 days from 2025-01-01), ~600 users, a 50,000-item catalog
with titles and descriptions, ~0.75 events per user and day (about 150k event lines; no bots, no bad
lines: a database export has none). Untimed preparation: the generated landing is turned into a shop's CSV export
(``orders.csv``, ``products.csv``, ``customers.csv`` in the shop's own column names).
Then, timed, the README's onboarding:

1. ``coldrec import csv orders.csv ... --items products.csv ... --users customers.csv``;
2. ``coldrec backfill --from FIRST --to LAST-1`` (stage times from its JSON summary): the history cleaned, the
   champion trained and LAST-1's lists published. Import + backfill is the first night, measured against the goal;
3. ``airflow dags test coldrec_nightly LAST`` (per-task seconds from the Airflow metadata DB): the next night, an
   ordinary nightly, what each later night costs (``--no-next-night`` skips it).

The same-run ratio: what publishing the lists costs inside the backfill (its score, gate and publish stages) against
the next night's nightly, which does the same for one more day through Airflow's eight tasks.

Local Spark (``local[2]``) through spark-submit, Airflow and MLflow in SQLite, as in
``tests/integration/test_e2e_nightly.py``.
Settings under test come from the environment (e.g. ``COLDREC_FEATURES__TEXT_ENCODER=tfidf``); the figures of the
runs are in docs/benchmarks.md. On a shared machine, run it niced and read the per-stage times: contention inflates
each of them, and the total most.

    python bench/first_night.py [--keep DIR] [--items 50000] [--users 600] [--days 365] [--rate 0.7]

``--keep DIR`` keeps (and reuses) the generated shop and its CSV export; the timed part always starts from an empty
landing, lake and registry. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
console = Console(stderr=True)
START = dt.date(2025, 1, 1)
GOAL_S = 600.0


def _env(base: Path) -> dict[str, str]:
    from coldrec.local_airflow import fresh_shop_env

    keep = ("COLDREC_FEATURES__", "COLDREC_TRAIN__", "COLDREC_RECOMMEND__", "COLDREC_SIMILARITY__")
    return fresh_shop_env(base, {
        "COLDREC_SPARK_MASTER": "local[2]",
        "COLDREC_SHUFFLE_PARTITIONS": "4",
        "COLDREC_SPARK_DRIVER_MEMORY": "3g",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "PYSPARK_PYTHON": sys.executable,
    }, keep=(*keep, "COLDREC_IVY_DIR", "PYSPARK"))  # fmt: skip


def _run(cmd: list[str], env: dict[str, str], log: Path, timeout: int = 7200) -> tuple[str, float]:
    """Run a command, its stderr to the log; returns (stdout, seconds); fails loudly with the log's tail."""
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=fh, text=True, timeout=timeout)
        seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[1:3]} failed ({proc.returncode}); log {log}:\n{log.read_text()[-3000:]}")
    return proc.stdout, seconds


def prepare_export(work: Path, args: argparse.Namespace, env: dict[str, str], log: Path) -> dict:
    """Generate the shop and write it as a shop's CSV export (untimed); reused with --keep."""
    export = work / "export"
    info_file = export / "info.json"
    if info_file.exists():
        return json.loads(info_file.read_text())
    generated = work / "generated"
    shutil.rmtree(generated, ignore_errors=True)
    cmd = [
        str(BIN / "coldrec"), "generate", "--out", str(generated), "--quiet", "--start-date", START.isoformat(),
        "--users", str(args.users), "--items", str(args.items), "--days", str(args.days),
        "--events-per-user-day", str(args.rate), "--new-item-share", "0.1", "--seed", "7",
        "--bad-rate", "0", "--bots", "0",
    ]  # fmt: skip
    _, seconds = _run(cmd, env, log)
    console.print(f"generated the shop in {seconds:.0f} s")
    events = pd.concat(
        (pd.read_json(f, lines=True, dtype=False) for f in sorted(generated.glob("events/date=*/*.jsonl"))),
        ignore_index=True,
    )
    items = pd.concat(pd.read_json(f, lines=True, dtype=False) for f in sorted(generated.glob("items/**/*.jsonl")))
    users = pd.concat(pd.read_json(f, lines=True, dtype=False) for f in sorted(generated.glob("users/**/*.jsonl")))
    export.mkdir(parents=True, exist_ok=True)
    orders = events.rename(
        columns={"event_id": "event_no", "user_id": "customer_no", "item_id": "sku", "event_type": "action",
                 "ts": "happened_at", "session_id": "visit", "price": "unit_price", "quantity": "qty"}
    )  # fmt: skip
    orders.to_csv(export / "orders.csv", index=False)  # reviews keep their stars (a `rating` column)
    items.drop_duplicates("item_id", keep="last").rename(
        columns={"item_id": "sku", "title": "name", "description": "text", "category_path": "category"}
    ).to_csv(export / "products.csv", index=False)
    users.drop_duplicates("user_id", keep="last").rename(columns={"user_id": "customer_no"}).to_csv(
        export / "customers.csv", index=False
    )
    info = {
        "event_lines": len(events),
        "items": int(items["item_id"].nunique()),
        "users": int(users["user_id"].nunique()),
        "days": args.days,
    }
    info_file.write_text(json.dumps(info))
    return info


def import_cmd(export: Path) -> list[str]:
    return [
        str(BIN / "coldrec"), "import", "csv", str(export / "orders.csv"),
        "--user-col", "customer_no", "--item-col", "sku", "--time-col", "happened_at", "--event-col", "action",
        "--event-id-col", "event_no", "--rating-col", "rating", "--session-col", "visit", "--price-col", "unit_price",
        "--quantity-col", "qty",
        "--items", str(export / "products.csv"), "--item-id-col", "sku", "--item-title-col", "name",
        "--item-description-col", "text", "--item-category-col", "category", "--item-brand-col", "brand",
        "--item-price-col", "price", "--item-created-col", "created_at",
        "--users", str(export / "customers.csv"), "--user-id-col", "customer_no", "--user-signup-col", "signup_ts",
        "--user-age-col", "age", "--user-gender-col", "gender", "--user-country-col", "country",
        "--user-region-col", "region",
    ]  # fmt: skip


def nightly_task_seconds(airflow_home: Path) -> dict[str, float]:
    con = sqlite3.connect(f"file:{airflow_home / 'airflow.db'}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute(
            "SELECT task_id, start_date, end_date FROM task_instance WHERE dag_id = 'coldrec_nightly'"
        ).fetchall()
    finally:
        con.close()
    out = {}
    for task_id, start, end in rows:
        if start and end:
            out[task_id] = round((dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds(), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep and reuse the generated shop and export here")
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rate", type=float, default=0.75, help="human events per user and day")
    parser.add_argument("--next-night", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the ordinary nightly of the last day")  # fmt: skip
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="coldrec-first-night-"))
    work.mkdir(parents=True, exist_ok=True)
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    (run / "home").mkdir(parents=True)
    env, log = _env(run), work / "first_night.log"
    info = prepare_export(work, args, env, log)
    last = START + dt.timedelta(days=args.days - 1)
    console.print(f"shop: {info}; work folder {work}; log {log}")

    out, import_s = _run(import_cmd(work / "export"), env, log)
    console.print(f"import: {import_s:.1f} s")
    backfill = [str(BIN / "coldrec"), "backfill", "--from", START.isoformat(), "--to", str(last - dt.timedelta(1))]
    out, backfill_s = _run([*backfill, "--json"], env, log)
    summary = json.loads(out.strip().splitlines()[-1])
    console.print(f"backfill: {backfill_s:.1f} s {summary['stage_seconds']}")
    total = import_s + backfill_s
    nightly_s, tasks = 0.0, {}
    if args.next_night:
        _run([str(BIN / "airflow"), "db", "migrate"], env, log)
        _, nightly_s = _run([str(BIN / "airflow"), "dags", "test", "coldrec_nightly", last.isoformat()], env, log)
        tasks = nightly_task_seconds(run / "airflow")
        console.print(f"next nightly: {nightly_s:.1f} s {tasks}")
    lists_s = sum(summary["stage_seconds"].get(k, 0.0) for k in ("score", "gate", "publish"))

    title = f"first night: {info['event_lines']:,} event lines, {info['items']:,} items, {info['days']} days"
    table = Table(title=title)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("share of the first night", justify="right")
    rows = [("import", import_s)]
    rows += [(f"backfill: {k}", v) for k, v in summary["stage_seconds"].items()]
    rows += [("backfill: start-up, summary", backfill_s - sum(summary["stage_seconds"].values()))]
    for name, seconds in rows:
        table.add_row(name, f"{seconds:.1f}", f"{seconds / total:.0%}")
    table.add_row("first night: lists published", f"{total:.1f}",
                  f"goal {GOAL_S:.0f} s: {'met' if total <= GOAL_S else 'missed'}")  # fmt: skip
    for name, seconds in sorted(tasks.items(), key=lambda kv: -kv[1]):
        table.add_row(f"next nightly: {name}", f"{seconds:.1f}", "")
    if tasks:
        table.add_row("next nightly: Airflow overhead", f"{nightly_s - sum(tasks.values()):.1f}", "")
        table.add_row("next nightly: total", f"{nightly_s:.1f}", f"{nightly_s / lists_s:.1f}x the backfill's lists")
    console.print(table)
    result = {
        "bench": "first_night",
        **info,
        "accepted": summary["accepted"],
        "rejected": summary["rejected"],
        "import_s": round(import_s, 1),
        "backfill_s": round(backfill_s, 1),
        "backfill_stages_s": summary["stage_seconds"],
        "lists_in_backfill_s": round(lists_s, 1),
        "next_nightly_s": round(nightly_s, 1),
        "next_nightly_tasks_s": tasks,
        "next_nightly_vs_backfill_lists": round(nightly_s / lists_s, 2) if tasks and lists_s else None,
        "published_rows": summary["tables"].get("gold.recommendations", 0),
        "total_s": round(total, 1),
        "goal_s": GOAL_S,
        "within_goal": total <= GOAL_S,
        "text_encoder": os.environ.get("COLDREC_FEATURES__TEXT_ENCODER", "default"),
        "train_epochs": os.environ.get("COLDREC_TRAIN__EPOCHS", "default"),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 1),
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
