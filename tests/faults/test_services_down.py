"""Services down: MLflow unreachable during ``ensure_champion`` and ``score``, and a landing day that is missing.

Decision (docs/reliability.md): no local cache of the champion. An unreachable registry fails the task with
:class:`RegistryUnavailableError`, a message that names the registry, and Airflow's retries try again; before this
suite, "MLflow down" read as "no champion": ``ensure_champion`` went on to train a new model and ``score`` silently
published lists without the learned models.
"""

from __future__ import annotations

import ast
import datetime as dt
import socket
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unreachable_mlflow(tmp_path, monkeypatch):
    """Settings whose MLflow is a closed loopback port (nothing listens), with MLflow's HTTP retries off."""
    from coldrec.config import load_settings

    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setenv("COLDREC_MLFLOW_URI", f"http://127.0.0.1:{port}")
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI to os.environ: recorded here, so teardown removes it
    # instead of leaking the closed port into later tests
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("COLDREC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLDREC_LAKE_URI", str(tmp_path / "lake"))
    return load_settings()


def test_ensure_champion_fails_clearly_and_trains_nothing_when_mlflow_is_down(unreachable_mlflow, monkeypatch, figures):
    import coldrec.models.pipeline as pipeline
    from coldrec.models.tracking import RegistryUnavailableError
    from coldrec.tasks import ensure_champion

    trained = []
    monkeypatch.setattr(pipeline, "run_training", lambda *a, **k: trained.append(a))
    started = time.perf_counter()
    with pytest.raises(RegistryUnavailableError, match=r"127\.0\.0\.1:\d+.*Airflow retries"):
        ensure_champion("2026-11-03")
    assert trained == []  # "down" was not mistaken for "no champion"
    assert time.perf_counter() - started < 60
    figures(
        "MLflow unreachable (ensure_champion, score)",
        runs=2,
        points=2,
        unit="task calls",
        lost=0,
        partial=0,
        reruns_identical="n/a",
        note="both fail with RegistryUnavailableError naming the registry; no training, no lists without the models",
    )


def test_scoring_refuses_to_go_on_without_the_champion_when_mlflow_is_down(unreachable_mlflow):
    from coldrec.models.tracking import RegistryUnavailableError
    from coldrec.recommend.nightly import _champion

    with pytest.raises(RegistryUnavailableError):
        _champion(unreachable_mlflow)


def test_missing_landing_day_is_not_ready_until_a_data_file_arrives(tmp_path):
    from coldrec.config import load_settings
    from coldrec.orchestration import landing_day_ready

    settings = load_settings({"landing_uri": str(tmp_path / "landing")})
    day = dt.date(2026, 11, 3)
    assert not landing_day_ready(settings, day)  # no folder
    folder = tmp_path / "landing" / "events" / f"date={day}"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0000.jsonl.crc").write_text("x")
    (folder / "part-0000.jsonl").write_text("")
    assert not landing_day_ready(settings, day)  # markers, hidden and empty files are not a day
    (folder / "part-0000.jsonl").write_text('{"event_id": "e1"}\n')
    assert landing_day_ready(settings, day)


def test_the_landing_sensor_gives_up_with_a_timeout():
    """The sensor waits (reschedule mode: no worker slot held) and fails after a finite timeout, which Airflow
    reports as a sensor timeout on that task, rather than waiting forever."""
    tree = ast.parse((ROOT / "dags" / "coldrec_nightly.py").read_text())
    sensors = [
        d for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "wait_for_landing"
        for d in node.decorator_list if isinstance(d, ast.Call) and ast.unparse(d.func) == "task.sensor"
    ]  # fmt: skip
    assert len(sensors) == 1
    kwargs = {k.arg: ast.literal_eval(k.value) if not isinstance(k.value, ast.BinOp) else eval(ast.unparse(k.value), {})
              for k in sensors[0].keywords}  # fmt: skip
    assert kwargs["mode"] == "reschedule"
    assert 0 < kwargs["poke_interval"] < kwargs["timeout"] <= 24 * 3600
