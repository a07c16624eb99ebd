"""The nightly run end to end, as the DAG runs it, on generated shops of ~1M and ~10M events: wall time per task and
in total, and how the total grows with the data (goal: 10M events in at most 20 minutes, growth at most linear).

For each size, a shop of ``--days`` days (default 14) is generated with coldrec's generator (users and items scaled
with the size, the generator's other defaults: 30% of users and 20% of items arrive during the window, bots, 1%
bad lines, late events). The run date D is the last day. Untimed preparation, as earlier nights would have left
the lake: ``coldrec clean --date START --until D-1`` (one Spark pass), then ``coldrec interactions``,
``coldrec features`` and ``coldrec train --epochs E`` for D-1, so the registry holds a champion. Then, timed:

    airflow dags test coldrec_nightly D

with SQLite Airflow metadata in a fresh AIRFLOW_HOME, local Spark through spark-submit on ``local[2]`` (the
``spark_default`` connection), MLflow in SQLite: the environment of ``tests/integration/test_e2e_nightly.py``. The
nightly cleans day D, rebuilds interactions over the lookback window, similarities and features, finds the champion,
scores every user, gates and publishes. Per-task seconds are each task instance's start/end in the Airflow
metadata DB; ``total_s`` is the wall time of ``airflow dags test`` (so it includes Airflow's own start-up and
the hand-over between tasks: ``overhead_s``).

The baseline is the smallest size of the same run: ``growth_ratio`` = (time ratio) / (event ratio) between the
largest and the smallest size (<= 1: at most linear). Last line: one JSON object.

    python bench/nightly.py [--sizes 1m,10m] [--quick] [--keep DIR] [--days 14] [--epochs 3] [--prepare-only]
                            [--nights 1]

``--quick`` is a ~100k-event shop to try it out. ``--keep DIR`` keeps the shops, lakes, logs and Airflow DBs in
DIR and reuses a generated shop and its prepared lake on the next run (the timed run always starts from a copy of
the prepared lake); without it everything lives in a temp folder that is removed at the end. ``--prepare-only``
(with ``--keep``) does the untimed preparation alone, so it can run while the machine is busy with other work. A
preparation cut short (killed, timed out) resumes after its last finished step on the next run with the same
arguments (``DIR/SIZE/preparing.json`` lists the finished steps; each step is idempotent).

``--nights N`` (default 1) runs the nightly DAG on N consecutive days D-N+1 .. D on the same lake (the preparation
stops at D-N instead of D-1; each night gets a fresh Airflow metadata DB), so from the second night on the gate
backtests the previous night's published lists on the day's events and records it in ``ops.run_metrics`` (stage
``gate``). The per-size figures (``total_s``, ``per_task_s``, ...) are the last night's, as with one night; the
key ``nights`` lists every night's run date, times, states and published rows. With ``--keep DIR`` the lake after
the last night stays in ``DIR/SIZE/lake`` (``scripts/published_mix.py`` reads the published mix from it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from coldrec.orchestration import NIGHTLY_TASKS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
console = Console(stderr=True)

START = dt.date(2026, 11, 1)
#: measured with the generator's defaults over 14 days: 6.82 event lines per user and day (bots and bad lines in)
LINES_PER_USER_DAY = 6.82
ITEMS_PER_USER = 0.25  # the generator's default shop (2000 users, 500 items)
SIZES = {"quick": 100_000, "1m": 1_000_000, "10m": 10_000_000}
#: settings for a 2-core box per size: shuffle partitions, driver memory (24 GiB machine, shared)
PROFILES = {
    "quick": {"shuffle_partitions": 2, "driver_memory": "2g"},
    "1m": {"shuffle_partitions": 4, "driver_memory": "3g"},
    "10m": {"shuffle_partitions": 8, "driver_memory": "6g"},
}
TASKS = list(NIGHTLY_TASKS)
GOAL_TOTAL_S = 20 * 60


def env_for(base: Path, profile: dict, epochs: int, master: str) -> dict[str, str]:
    """The environment of ``tests/integration/test_e2e_nightly.py``'s ``_env``, with the size's Spark settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLDREC_", "AIRFLOW", "MLFLOW"))}
    env.update(
        {
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "COLDREC_LANDING_URI": str(base / "landing"),
            "COLDREC_LAKE_URI": str(base / "lake"),
            "COLDREC_HOME": str(base / "home"),
            "COLDREC_SPARK_MASTER": master,
            "COLDREC_SHUFFLE_PARTITIONS": str(profile["shuffle_partitions"]),
            "COLDREC_SPARK_DRIVER_MEMORY": profile["driver_memory"],
            "COLDREC_TRAIN__EPOCHS": str(epochs),
            "MLFLOW_TRACKING_URI": f"sqlite:///{base / 'home' / 'mlflow.db'}",
            "AIRFLOW_HOME": str(base / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": master}),
            "PYSPARK_PYTHON": sys.executable,
        }
    )
    return env


def run_logged(cmd: list[str], env: dict[str, str], log: Path, timeout: int) -> int:
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
    return proc.returncode


def step(label: str, cmd: list[str], env: dict[str, str], log: Path, timeout: int = 7200) -> float:
    started = time.perf_counter()
    with console.status(f"{label} (untimed)"):
        rc = run_logged(cmd, env, log, timeout)
    seconds = time.perf_counter() - started
    if rc != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{label} failed (exit {rc}); log {log}:\n{tail}")
    console.print(f"  {label}: {seconds:.0f} s (untimed)")
    return seconds


def shop_shape(n_events: int, days: int) -> tuple[int, int]:
    users = max(200, round(n_events / (LINES_PER_USER_DAY * days)))
    return users, max(100, round(users * ITEMS_PER_USER))


def count_lines(folder: Path) -> int:
    n = 0
    for path in sorted(folder.rglob("*.jsonl")):
        with path.open("rb") as fh:
            n += sum(chunk.count(b"\n") for chunk in iter(functools.partial(fh.read, 1 << 24), b""))
    return n


def prepare(base: Path, size: str, args: argparse.Namespace, env: dict[str, str], log: Path) -> dict:
    """Generate the shop and leave the lake as earlier nights would have (cached in ``base`` by its arguments)."""
    from coldrec.data.generator.shop import generate_shop

    users, items = shop_shape(SIZES[size], args.days)
    run_date = START + dt.timedelta(days=args.days - args.nights)  # the first night's date
    key = {
        "users": users,
        "items": items,
        "days": args.days,
        "seed": args.seed,
        "epochs": args.epochs,
        "profile": PROFILES[size],
        "master": args.master,
    }
    if args.nights > 1:  # a one-night lake keeps its old key (and its cache)
        key["nights"] = args.nights
    marker = base / "prepared.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("key") == key:
            console.print(f"  reusing the prepared shop and lake in {base}")
            return upgrade_prepared(base, info, env, log)
    # a preparation cut short (killed, timed out) resumes after its last finished step: the steps are idempotent
    progress_file = base / "preparing.json"
    progress = json.loads(progress_file.read_text()) if progress_file.exists() else {}
    if progress.get("key") != key or not (base / "landing").exists():
        for name in ("landing", "lake", "home", "prepared-lake", "airflow"):
            shutil.rmtree(base / name, ignore_errors=True)
        (base / "home").mkdir(parents=True)

        started = time.perf_counter()
        with console.status(
            f"generating {users:,} users x {items:,} items x {args.days} days (~{SIZES[size]:,} events)"
        ):
            truth = generate_shop(
                base / "landing", users=users, items=items, days=args.days, seed=args.seed, start_date=START
            )
        console.print(f"  generated {truth.totals['event_lines']:,} event lines: {time.perf_counter() - started:.0f} s")
        last_day = START + dt.timedelta(days=args.days - 1)  # the last night's date: the timed figures are its
        progress = {
            "key": key,
            "events": truth.totals["event_lines"],
            "events_run_day": count_lines(base / "landing" / "events" / f"date={last_day.isoformat()}"),
            "done": {},
        }
        progress_file.write_text(json.dumps(progress, indent=1))
    else:
        console.print(f"  resuming the preparation in {base} after {list(progress['done']) or 'generation'}")

    prev = (run_date - dt.timedelta(days=1)).isoformat()
    coldrec = str(BIN / "coldrec")
    steps = {
        "clean_history_s": (f"clean {START} .. {prev}", ["clean", "--date", START.isoformat(), "--until", prev]),
        "interactions_s": (f"interactions {prev}", ["interactions", "--date", prev]),
        "features_s": (f"features {prev}", ["features", "--date", prev]),
        "train_s": (
            f"train the champion on {prev} ({args.epochs} epochs)",
            ["train", "--date", prev, "--epochs", str(args.epochs), "--no-progress"],
        ),
    }
    for name, (label, cmd) in steps.items():
        if name in progress["done"]:
            continue
        progress["done"][name] = step(label, [coldrec, *cmd], env, log)
        progress_file.write_text(json.dumps(progress, indent=1))
    prep = progress["done"]
    shutil.move(str(base / "lake"), str(base / "prepared-lake"))
    info = {
        "key": key,
        "run_date": run_date.isoformat(),
        "events": progress["events"],
        "events_run_day": progress["events_run_day"],
        "users": users,
        "items": items,
        "prepare_s": {k: round(v, 1) for k, v in prep.items()},
    }
    marker.write_text(json.dumps(info, indent=1))
    progress_file.unlink()
    return info


def upgrade_prepared(base: Path, info: dict, env: dict[str, str], log: Path) -> dict:
    """Bring a lake prepared by an older coldrec to what earlier nights leave today: since gold.text_vectors
    exists, the previous night's features step has filled it (untimed, like the rest of the preparation)."""
    if (base / "prepared-lake" / "gold" / "text_vectors").exists():
        return info
    prev = (dt.date.fromisoformat(info["run_date"]) - dt.timedelta(days=1)).isoformat()
    shutil.rmtree(base / "lake", ignore_errors=True)
    shutil.move(str(base / "prepared-lake"), str(base / "lake"))
    try:
        seconds = step(f"features {prev} (fills gold.text_vectors)", [str(BIN / "coldrec"), "features", "--date", prev],
                       env, log)  # fmt: skip
    finally:
        shutil.move(str(base / "lake"), str(base / "prepared-lake"))
    info.setdefault("prepare_s", {})["features_text_vectors_s"] = round(seconds, 1)
    (base / "prepared.json").write_text(json.dumps(info, indent=1))
    return info


def task_rows(db: Path) -> dict[str, dict]:
    """task_id -> state, start, end, seconds from the Airflow metadata DB (read-only; the run may be writing)."""
    if not db.exists():
        return {}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute(
                "SELECT task_id, state, start_date, end_date, try_number FROM task_instance "
                "WHERE dag_id = 'coldrec_nightly'"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return {}
    out = {}
    for task_id, state, start, end, tries in rows:
        t0 = dt.datetime.fromisoformat(start) if start else None
        t1 = dt.datetime.fromisoformat(end) if end else None
        seconds = (t1 - t0).total_seconds() if t0 and t1 else None
        out[task_id] = {"state": state, "start": t0, "end": t1, "seconds": seconds, "tries": tries}
    return out


def timed_nightly(
    base: Path,
    info: dict,
    env: dict[str, str],
    log: Path,
    timeout: int,
    run_date: str | None = None,
    fresh: bool = True,
) -> dict:
    """``airflow dags test coldrec_nightly D`` against a fresh copy of the prepared lake (``fresh``; else on the lake
    the previous night left), in a fresh Airflow metadata DB; live task states."""
    run_date = run_date or info["run_date"]
    if fresh:
        shutil.rmtree(base / "lake", ignore_errors=True)
    shutil.rmtree(base / "airflow", ignore_errors=True)
    with console.status("copying the prepared lake; airflow db migrate (untimed)"):
        if fresh:
            shutil.copytree(base / "prepared-lake", base / "lake")
        if run_logged([str(BIN / "airflow"), "db", "migrate"], env, log, 900) != 0:
            raise RuntimeError(f"airflow db migrate failed; see {log}")
    db = base / "airflow" / "airflow.db"
    cmd = [str(BIN / "airflow"), "dags", "test", "coldrec_nightly", run_date]
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
        reported: set[str] = set()
        with console.status("airflow dags test coldrec_nightly") as status:
            while proc.poll() is None:
                elapsed = time.perf_counter() - started
                if elapsed > timeout:
                    proc.kill()
                    proc.wait()
                    break
                rows = task_rows(db)
                done = [t for t in TASKS if rows.get(t, {}).get("state") == "success"]
                for task in TASKS:
                    row = rows.get(task, {})
                    if task not in reported and row.get("state") in ("success", "failed", "up_for_retry"):
                        reported.add(task)
                        seconds = row["seconds"] or 0.0
                        console.print(f"  {task}: {row['state']} in {seconds:.1f} s (at {elapsed:.0f} s)")
                running = [
                    f"{t} ({rows[t]['state']})" for t in TASKS if rows.get(t, {}).get("state") not in (None, "success")
                ]
                status.update(
                    f"airflow dags test coldrec_nightly {run_date}: {elapsed:.0f} s, "
                    f"{len(done)}/{len(TASKS)} tasks done, now: {', '.join(running) or '-'}"
                )
                time.sleep(2)
        total = time.perf_counter() - started
    rows = task_rows(db)
    per_task = {t: round(rows[t]["seconds"], 2) for t in TASKS if rows.get(t, {}).get("seconds") is not None}
    states = {t: rows.get(t, {}).get("state") or "none" for t in TASKS}
    ok = proc.returncode == 0 and all(s == "success" for s in states.values())
    if not ok:
        console.print(f"[red]nightly did not succeed (exit {proc.returncode}): {states}[/red]")
        console.print(log.read_text(errors="replace")[-3000:], markup=False, highlight=False)
    retried = {t: rows[t]["tries"] for t in rows if (rows[t]["tries"] or 0) > 1}
    tasks_sum = sum(per_task.values())
    return {
        "run_date": run_date,
        "total_s": round(total, 2),
        "per_task_s": per_task,
        "tasks_sum_s": round(tasks_sum, 2),
        "overhead_s": round(total - tasks_sum, 2),
        "states": states,
        "retried": retried,
        "ok": ok,
        "exit_code": proc.returncode,
    }


def published_rows(base: Path, run_date: str) -> int | None:
    try:
        from coldrec.delta_read import read_delta

        day = [("run_date", "=", run_date)]
        return read_delta(str(base / "lake" / "gold" / "recommendations"), partitions=day, columns=["user_id"]).num_rows
    except Exception:
        return None


def show_size(size: str, result: dict) -> None:
    table = Table(
        title=f"{size}: {result['events']:,} events ({result['events_run_day']:,} on {result['run_date']}), "
        f"{result['users']:,} users, {result['items']:,} items"
    )
    for col in ("task", "state", "seconds", "share"):
        table.add_column(col, justify="left" if col in ("task", "state") else "right")
    total = result["total_s"]
    for task in TASKS:
        seconds = result["per_task_s"].get(task)
        share = f"{seconds / total:.1%}" if seconds is not None and total else "-"
        table.add_row(task, result["states"][task], "-" if seconds is None else f"{seconds:.1f}", share)
    table.add_row("airflow overhead", "", f"{result['overhead_s']:.1f}", f"{result['overhead_s'] / total:.1%}")
    table.add_row("[bold]total[/bold]", "ok" if result["ok"] else "[red]FAILED[/red]", f"{total:.1f}", "100%")
    console.print(table)


def show_growth(first: dict, last: dict) -> dict:
    event_ratio = last["events"] / first["events"]
    time_ratio = last["total_s"] / first["total_s"]
    table = Table(title=f"growth {first['size']} -> {last['size']} (events x{event_ratio:.2f})")
    for col in ("task", f"{first['size']} s", f"{last['size']} s", "time ratio", "growth (time/events)"):
        table.add_column(col, justify="left" if col == "task" else "right")
    per_task = {}
    for task in [*TASKS, "total"]:
        a = first["total_s"] if task == "total" else first["per_task_s"].get(task)
        b = last["total_s"] if task == "total" else last["per_task_s"].get(task)
        if a is None or b is None:
            continue
        ratio = b / a if a else float("nan")
        per_task[task] = round(ratio, 3)
        table.add_row(task, f"{a:.1f}", f"{b:.1f}", f"{ratio:.2f}", f"{ratio / event_ratio:.3f}")
    console.print(table)
    return {
        "event_ratio": round(event_ratio, 3),
        "time_ratio": round(time_ratio, 3),
        "growth_ratio": round(time_ratio / event_ratio, 3),
        "per_task_time_ratio": per_task,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m", help=f"comma-separated, from {', '.join(SIZES)}")
    parser.add_argument("--quick", action="store_true", help="one ~100k-event shop (same as --sizes quick)")
    parser.add_argument("--keep", default=None, help="keep (and reuse) shops, lakes and logs in this folder")
    parser.add_argument("--days", type=int, default=14, help="days of the shop; the nightly runs the last one")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the (untimed) champion training")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds before a nightly run is killed")
    parser.add_argument(
        "--nights", type=int, default=1, help="consecutive nightly runs on the same lake, ending on the last day"
    )
    parser.add_argument(
        "--prepare-only", action="store_true", help="generate and prepare the shops (with --keep), time nothing"
    )
    args = parser.parse_args()

    sizes = ["quick"] if args.quick else [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {list(SIZES)}")
    if args.nights < 1:
        parser.error("--nights must be at least 1")
    if args.days < args.nights + 1:
        parser.error("--days must be at least --nights + 1 (history + the run dates)")
    if args.prepare_only and not args.keep:
        parser.error("--prepare-only needs --keep DIR (the prepared shops are kept there for the timed run)")

    workdir = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="coldrec-bench-nightly-"))
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(f"work folder: {workdir}{'' if args.keep else ' (removed at the end; --keep DIR to keep it)'}")
    results = []
    try:
        for size in sizes:
            base = workdir / size
            base.mkdir(parents=True, exist_ok=True)
            log = base / "bench.log"
            profile = PROFILES[size]
            env = env_for(base, profile, args.epochs, args.master)
            console.rule(f"{size}: ~{SIZES[size]:,} events, {args.master}, {profile}")
            info = prepare(base, size, args, env, log)
            if args.prepare_only:
                console.print(f"  prepared {size} in {base}: {info['prepare_s']}")
                continue
            first = dt.date.fromisoformat(info["run_date"])
            nights = []
            for night in range(args.nights):
                day = (first + dt.timedelta(days=night)).isoformat()
                if args.nights > 1:
                    console.rule(f"{size}: night {night + 1}/{args.nights}, {day}")
                run = timed_nightly(base, info, env, log, args.timeout, day, fresh=night == 0)
                run["published_rows"] = published_rows(base, day)
                nights.append(run)
                if not run["ok"]:
                    break
            run = nights[-1]
            result = {
                "size": size,
                **{k: info[k] for k in ("events", "events_run_day", "users", "items", "prepare_s")},
                **run,
                "shuffle_partitions": profile["shuffle_partitions"],
                "driver_memory": profile["driver_memory"],
                "log": str(log) if args.keep else None,
            }
            if args.nights > 1:
                result["nights"] = nights
            show_size(size, result)
            results.append(result)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    if args.prepare_only:
        return
    growth = show_growth(results[0], results[-1]) if len(results) > 1 else {}
    last = results[-1]
    summary = {
        "bench": "nightly",
        "master": args.master,
        "cores": os.cpu_count(),
        "days": args.days,
        "sizes": results,
        "growth_ratio": growth.get("growth_ratio"),
        "event_ratio": growth.get("event_ratio"),
        "time_ratio": growth.get("time_ratio"),
        "per_task_time_ratio": growth.get("per_task_time_ratio"),
        "baseline_size": results[0]["size"],
        "goal_total_s_max": GOAL_TOTAL_S,
        "goal_growth_max": 1.0,
        "largest_total_s": last["total_s"],
        "largest_within_goal": bool(last["ok"] and last["total_s"] <= GOAL_TOTAL_S),
        "all_ok": all(r["ok"] for r in results),
    }
    print(json.dumps(summary, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
