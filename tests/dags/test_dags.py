"""DAG integrity: every DAG imports without errors, is documented, retries, and parses without heavy imports.

Parsing happens in a subprocess so the check of imported modules sees only what the DAG files pulled in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PARSE = textwrap.dedent(
    """
    import json, socket, sys, time
    def no_network(*a, **k):
        raise RuntimeError("network access while parsing DAGs")
    socket.socket.connect = no_network
    socket.create_connection = no_network
    t = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "seconds": time.perf_counter() - t, "dags": {}}
    for dag in bag.dags.values():
        out["dags"][dag.dag_id] = {
            "tags": sorted(dag.tags),
            "doc_md": bool(dag.doc_md),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "params": sorted(dag.params.keys()),
            "timetable": type(dag.timetable).__name__,
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "upstream": sorted(t.upstream_task_ids),
                    "pool": t.pool,
                    "queue": t.queue,
                    "type": type(t).__name__,
                    "outlets": [getattr(o, "name", str(o)) for o in t.outlets],
                }
                for t in dag.tasks
            },
        }
    heavy = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("pyspark", "torch", "mlflow", "delta")})
    out["heavy_modules"] = heavy
    print("JSON" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/never-used.db",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-c", PARSE, str(ROOT / "dags")], env=env, capture_output=True, text=True, timeout=300
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(line[4:])
    out["db_created"] = (home / "never-used.db").exists()
    return out


def test_dags_import_without_errors(parsed: dict) -> None:
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == {"coldrec_nightly", "coldrec_train", "coldrec_maintenance", "coldrec_backfill"}


def test_parsing_imports_nothing_heavy_and_touches_no_db(parsed: dict) -> None:
    assert parsed["heavy_modules"] == []
    assert not parsed["db_created"]
    assert parsed["seconds"] < 60


@pytest.mark.parametrize("dag_id", ["coldrec_nightly", "coldrec_train", "coldrec_maintenance", "coldrec_backfill"])
def test_every_dag_is_documented_tagged_and_retries(parsed: dict, dag_id: str) -> None:
    dag = parsed["dags"][dag_id]
    assert "coldrec" in dag["tags"] and len(dag["tags"]) >= 2
    assert dag["doc_md"]
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    assert all(t["retries"] >= 2 for t in dag["tasks"].values())


def test_nightly_task_graph(parsed: dict) -> None:
    dag = parsed["dags"]["coldrec_nightly"]
    tasks = dag["tasks"]
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert set(dag["params"]) == {"run_date", "top_n", "overrides"}
    expected_upstream = {
        "resolve_run": [],
        "wait_for_landing": ["resolve_run"],
        "clean": ["wait_for_landing"],
        "interactions": ["clean"],
        "similarities": ["interactions"],
        "features": ["interactions"],
        "ensure_champion": ["features", "resolve_run"],
        "score": ["ensure_champion", "resolve_run", "similarities"],
        "evaluate_and_gate": ["score"],
        "publish": ["evaluate_and_gate"],
    }
    assert {k: v["upstream"] for k, v in tasks.items()} == expected_upstream
    spark_tasks = {k for k, v in tasks.items() if v["type"] == "ColdrecSparkSubmitOperator"}
    assert spark_tasks == {"clean", "interactions", "similarities", "features", "evaluate_and_gate", "publish"}
    assert all(tasks[t]["pool"] == "spark" for t in spark_tasks)
    assert tasks["score"]["queue"] == "gpu" and tasks["score"]["pool"] == "gpu"
    assert tasks["ensure_champion"]["queue"] == "gpu"
    assert tasks["publish"]["outlets"] == ["coldrec.gold.recommendations"]
    # coldrec.orchestration.NIGHTLY_TASKS (read by bench/nightly.py and the UI test) lists them all, upstreams first
    from coldrec.orchestration import NIGHTLY_TASKS

    assert sorted(NIGHTLY_TASKS) == sorted(tasks)
    assert all(NIGHTLY_TASKS.index(up) < NIGHTLY_TASKS.index(t) for t in tasks for up in tasks[t]["upstream"])


def test_train_dag_params_and_gpu_queue(parsed: dict) -> None:
    dag = parsed["dags"]["coldrec_train"]
    assert {"epochs", "models", "promote", "window_days", "run_date"} <= set(dag["params"])
    assert dag["tasks"]["train"]["queue"] == "gpu" and dag["tasks"]["train"]["pool"] == "gpu"
    assert dag["tasks"]["train"]["upstream"] == ["resolve_run"]


def test_maintenance_runs_the_maintenance_job(parsed: dict) -> None:
    tasks = parsed["dags"]["coldrec_maintenance"]["tasks"]
    assert tasks["maintain_tables"]["type"] == "ColdrecSparkSubmitOperator"
    assert tasks["maintain_tables"]["upstream"] == ["resolve_run"]


def test_backfill_task_graph(parsed: dict) -> None:
    """The nightly's Spark jobs for the range's last day after one cleaning pass, the champion, then the last day's
    lists scored, gated and published as the nightly does, and a summary."""
    dag = parsed["dags"]["coldrec_backfill"]
    tasks = dag["tasks"]
    assert dag["timetable"] == "NullTimetable"  # manual only: triggered with its range
    assert set(dag["params"]) == {"from", "to", "overrides"}
    expected_upstream = {
        "resolve_run": [],
        "clean": ["resolve_run"],
        "interactions": ["clean"],
        "similarities": ["interactions"],
        "features": ["interactions"],
        "ensure_champion": ["features", "resolve_run"],
        "score": ["ensure_champion", "resolve_run", "similarities"],
        "evaluate_and_gate": ["score"],
        "publish": ["evaluate_and_gate"],
        "summary": ["ensure_champion", "publish", "resolve_run"],
    }
    assert {k: v["upstream"] for k, v in tasks.items()} == expected_upstream
    spark_tasks = {k for k, v in tasks.items() if v["type"] == "ColdrecSparkSubmitOperator"}
    assert spark_tasks == {"clean", "interactions", "similarities", "features", "evaluate_and_gate", "publish"}
    assert tasks["score"]["pool"] == "gpu"
    assert all(tasks[t]["pool"] == "spark" for t in spark_tasks)
    assert tasks["ensure_champion"]["queue"] == "gpu" and tasks["ensure_champion"]["pool"] == "gpu"


def test_backfill_range_resolution() -> None:
    """from/to -> the cleaning's range and the date the later steps are built for; quiet days pass the gate."""
    from coldrec.orchestration import resolve_backfill

    run = resolve_backfill(
        {"from": "2025-01-06", "to": "2025-03-31", "overrides": {"clean": {"max_reject_share": 0.2}}}
    )
    assert run["first_date"] == "2025-01-06" and run["run_date"] == "2025-03-31"
    assert json.loads(run["overrides_json"]) == {"clean": {"max_reject_share": 0.2, "min_events": 0}}
    with pytest.raises(ValueError, match="before"):
        resolve_backfill({"from": "2025-03-31", "to": "2025-01-06"})
    with pytest.raises(ValueError, match="'from' and 'to'"):
        resolve_backfill({"from": "2025-03-31"})
