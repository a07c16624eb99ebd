"""Print what `make demo` produced: task outcomes, Delta tables, a few users' lists, the evaluation, the MLflow run.

Exits non-zero when the run did not publish its lists, so `make demo` never reports success it did not have.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from coldrec.config import load_settings
from coldrec.paths import table_path

console = Console()


def task_states(dag_id: str = "coldrec_nightly") -> list[dict]:
    """Task instances (state, start, end) of the DAG's newest run, from the Airflow metadata DB.

    Why the DB and not the log: the log's wording changes between Airflow releases; the CLI's JSON does not.
    """
    def cli(*args: str) -> list[dict]:
        out = subprocess.run(["airflow", *args, "-o", "json"], capture_output=True, text=True, check=False)
        rows = [line for line in out.stdout.splitlines() if line.startswith("[{")]  # warnings share stdout
        return json.loads(rows[-1]) if out.returncode == 0 and rows else []

    runs = cli("dags", "list-runs", dag_id)
    if not runs:
        return []
    newest = max(runs, key=lambda r: r.get("start_date") or r.get("run_after") or "")
    tasks = cli("tasks", "states-for-dag-run", dag_id, newest["run_id"])
    return sorted(tasks, key=lambda t: t.get("start_date") or "9999")


def show_task_states(tasks: list[dict]) -> None:
    table = Table(title="coldrec_nightly tasks (newest run)")
    for col in ("task", "state", "seconds"):
        table.add_column(col)
    for t in tasks:
        seconds = ""
        if t.get("start_date") and t.get("end_date"):
            delta = dt.datetime.fromisoformat(t["end_date"]) - dt.datetime.fromisoformat(t["start_date"])
            seconds = f"{delta.total_seconds():.0f}"
        table.add_row(t["task_id"], str(t["state"]), seconds)
    console.print(table)


def show_tables(settings) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable

    table = Table(title=f"Delta tables under {settings.lake_uri}")
    for col in ("table", "rows", "version", "path"):
        table.add_column(col)
    for name in [
        "silver.events",
        "silver.items",
        "silver.users",
        "silver.rejected",
        "gold.interactions",
        "gold.item_similarity",
        "gold.user_similarity",
        "gold.similar_items",
        "gold.user_features",
        "gold.item_features",
        "gold.recommendations",
        "ops.run_metrics",
    ]:
        path = table_path(settings, name)
        try:
            delta = DeltaTable(path)
        except Exception:  # not produced by this run
            continue
        actions = pa.table(delta.get_add_actions(flatten=True))  # arro3 -> pyarrow through the C stream interface
        rows = sum(n or 0 for n in actions.column("num_records").to_pylist()) if actions.num_rows else 0
        table.add_row(name, f"{rows:,}", str(delta.version()), path)
    console.print(table)


def show_lists(settings, run_date: str) -> bool:
    import duckdb

    from coldrec.delta_read import delta_dataset

    try:
        recs = delta_dataset(table_path(settings, "gold.recommendations"))
    except Exception:
        console.print("[red]gold.recommendations does not exist: nothing was published[/red]")
        return False
    con = duckdb.connect()
    con.register("recs", recs)
    n = con.execute("SELECT count(*) FROM recs WHERE run_date = CAST(? AS DATE)", [run_date]).fetchone()[0]
    if n == 0:
        console.print(f"[red]no published lists for {run_date}[/red]")
        return False
    # one user per source mix: a warm CF user, a cold (feature-only) user, and whoever else comes first
    users = [
        r[0]
        for r in con.execute(
            "SELECT user_id FROM (SELECT user_id, min(source) s, row_number() OVER (PARTITION BY min(source) "
            "ORDER BY user_id) k FROM recs WHERE run_date = CAST(? AS DATE) GROUP BY user_id) WHERE k = 1 LIMIT 3",
            [run_date],
        ).fetchall()
    ]
    for user in users:
        t = Table(title=f"top-N for user {user} ({run_date})")
        for col in ("rank", "item", "score", "source", "reason"):
            t.add_column(col)
        for rank, item, score, source, reason in con.execute(
            "SELECT rank, item_id, score, source, reason FROM recs WHERE run_date = CAST(? AS DATE) AND user_id = ? "
            "ORDER BY rank LIMIT 10",
            [run_date, user],
        ).fetchall():
            t.add_row(str(rank), item, f"{score:.4f}", source, reason)
        console.print(t)
    mix = con.execute(
        "SELECT source, count(*) n, count(DISTINCT user_id) users FROM recs WHERE run_date = CAST(? AS DATE) "
        "GROUP BY source ORDER BY n DESC",
        [run_date],
    ).fetchall()
    console.print("sources: " + ", ".join(f"{s}={n} rows/{u} users" for s, n, u in mix))
    return True


def show_metrics(settings, run_date: str) -> None:
    import duckdb

    from coldrec.delta_read import delta_dataset

    try:
        metrics = delta_dataset(table_path(settings, "ops.run_metrics"))
    except Exception:
        return
    con = duckdb.connect()
    con.register("m", metrics)
    t = Table(title=f"ops.run_metrics for {run_date} (quality gate, evaluation, counts)")
    for col in ("stage", "metric", "value"):
        t.add_column(col)
    for stage, metric, value in con.execute(
        "SELECT stage, metric, value FROM m WHERE run_date = CAST(? AS DATE) ORDER BY stage, metric", [run_date]
    ).fetchall():
        t.add_row(stage, metric, "" if value is None else f"{value:.4g}")
    console.print(t)
    report = Path(settings.home) / "reports" / run_date / "quality_gate.md"
    if report.exists():
        console.print(f"quality-gate report: {report}")


def show_mlflow(settings) -> None:
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=settings.tracking_uri)
        for name in ("coldrec-autoencoder", "coldrec-gan"):
            try:
                mv = client.get_model_version_by_alias(name, "champion")
            except Exception:
                continue
            run = client.get_run(mv.run_id)
            shown = {k: round(v, 4) for k, v in sorted(run.data.metrics.items())[:8]}
            console.print(f"MLflow {name}@champion: version {mv.version}, run {mv.run_id}, metrics {json.dumps(shown)}")
        ui = "mlflow ui --host 127.0.0.1 --backend-store-uri ..."
        console.print(f"MLflow tracking URI: {settings.tracking_uri}  (UI: {ui})")
    except Exception as exc:  # the summary must not hide the pipeline's result behind a display problem
        console.print(f"[yellow]MLflow summary unavailable: {exc}[/yellow]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-date")
    parser.add_argument("--log", type=Path)
    parser.add_argument("--tasks-only", action="store_true")
    args = parser.parse_args()
    if args.tasks_only:
        tasks = task_states()
        show_task_states(tasks)
        failed = [t["task_id"] for t in tasks if t["state"] != "success"]
        if failed or not tasks:
            where = f"at {', '.join(failed)}" if failed else "before any task ran"
            console.print(f"[red]the nightly run failed {where}; see {args.log}[/red]")
            sys.exit(1)
        return
    settings = load_settings()
    show_tables(settings)
    ok = show_lists(settings, args.run_date)
    show_metrics(settings, args.run_date)
    show_mlflow(settings)
    console.print(f"Read the lists without Spark: python examples/read_recommendations.py --lake {settings.lake_uri}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
