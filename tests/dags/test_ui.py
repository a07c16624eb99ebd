"""`coldrec ui`: the local Airflow UI's set-up (unit tests) and the real thing in headless Chromium.

The browser test starts `coldrec ui` on the state of the end-to-end nightly run (session fixture ``e2e_nightly``),
logs in with the credentials it printed, shows the `coldrec_nightly` grid with that finished run, fills the
`coldrec_train` trigger form, checks through the REST API that the run it started used the form's params and
succeeded, then stops `coldrec ui` with SIGINT (a Ctrl-C) and checks that no Airflow process is left.
Screenshots go to the test's temp dir and, when set, to ``$COLDREC_TEST_ARTIFACTS/ui``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from coldrec import local_airflow as la
from coldrec.config import load_settings
from coldrec.orchestration import NIGHTLY_TASKS
from tests.dags.browser import Chromium, chromium_binary

BIN = Path(sys.executable).parent
TRAIN_PARAMS = ("run_date", "epochs", "models", "promote", "window_days", "overrides")


# --- set-up, without starting Airflow --------------------------------------------------------------------------


def test_airflow_env_points_at_the_state_and_keeps_configured_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default under test is the state's SQLite file
    settings = load_settings(
        {"landing_uri": str(tmp_path / "in"), "lake_uri": str(tmp_path / "lake"), "home": str(tmp_path / "h")}
    )
    env = la.airflow_env(settings, {"PATH": "/usr/bin", "AIRFLOW__CORE__LOAD_EXAMPLES": "True"})
    assert env["AIRFLOW_HOME"] == str(tmp_path / "h" / "airflow")
    assert env["COLDREC_LAKE_URI"] == str(tmp_path / "lake")
    assert env["COLDREC_LANDING_URI"] == str(tmp_path / "in")
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'h' / 'mlflow.db'}"
    assert "AIRFLOW_CONN_SPARK_DEFAULT" not in env  # Spark tasks fall back to COLDREC_SPARK_MASTER
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"  # forced: the UI shows the project's DAGs only
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(Path(__file__).resolve().parents[2] / "dags")
    assert env["PATH"].split(os.pathsep) == [str(BIN), "/usr/bin"]  # airflow and spark-submit of this venv
    # a configured connection, home or interpreter wins over the defaults
    mine = {"PATH": f"{BIN}:/bin", "AIRFLOW_CONN_SPARK_DEFAULT": "spark://m:7077", "AIRFLOW_HOME": "/x"}
    env = la.airflow_env(settings, mine)
    assert env["AIRFLOW_CONN_SPARK_DEFAULT"] == "spark://m:7077" and env["AIRFLOW_HOME"] == "/x"
    assert env["PATH"] == f"{BIN}:/bin"


def test_fresh_shop_env_drops_the_developers_configuration(tmp_path: Path) -> None:
    mine = {
        "PATH": f"{BIN}:/usr/bin",
        "HOME": "/home/dev",
        "COLDREC_LAKE_URI": "/my/lake",
        "COLDREC_TRAIN__EPOCHS": "9",
        "MLFLOW_TRACKING_URI": "http://mine",
        "AIRFLOW_CONN_SPARK_DEFAULT": "spark://m:7077",
        "PYSPARK_PYTHON": "py",
    }
    env = la.fresh_shop_env(tmp_path, {"COLDREC_TOP_N": "5"}, keep=("COLDREC_TRAIN__",), environ=mine)
    assert env["HOME"] == "/home/dev" and env["PATH"] == f"{BIN}:/usr/bin"
    assert env["COLDREC_LAKE_URI"] == str(tmp_path / "lake") and env["COLDREC_HOME"] == str(tmp_path / "home")
    assert env["COLDREC_LANDING_URI"] == str(tmp_path / "landing") and env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    assert env["COLDREC_TOP_N"] == "5" and env["COLDREC_TRAIN__EPOCHS"] == "9"  # given, and kept
    assert "AIRFLOW_CONN_SPARK_DEFAULT" not in env and "PYSPARK_PYTHON" not in env
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(Path(__file__).resolve().parents[2] / "dags")


def test_export_lines_survive_a_shell_round_trip() -> None:
    env = {"A_JSON": '{"conn_type": "spark", "host": "local[2]"}', "B_SPACE": "a b's", "SAME": "1"}
    lines = la.export_lines(env, {"SAME": "1"})
    assert [ln.split("=")[0] for ln in lines] == ["export A_JSON", "export B_SPACE"]
    script = "\n".join(lines) + '\nprintf "%s\\n%s" "$A_JSON" "$B_SPACE"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, env={}).stdout
    assert out == f"{env['A_JSON']}\n{env['B_SPACE']}"


def test_ui_env_binds_loopback_unless_configured(tmp_path: Path) -> None:
    base = {"AIRFLOW_HOME": str(tmp_path)}
    env = la.ui_env(base, load_settings())
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "8080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(str(tmp_path))
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) >= 30  # a busy small machine answers slowly
    env = la.ui_env(base, load_settings({"ui": {"host": "0.0.0.0", "port": 9001, "all_admins": True}}))
    assert env["AIRFLOW__API__HOST"] == "0.0.0.0" and env["AIRFLOW__API__PORT"] == "9001"
    # tasks reach a wildcard-bound server on loopback
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:9001/execution/"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "True"


def test_ensure_passwords_keeps_known_users_and_adds_the_missing_ones(tmp_path: Path) -> None:
    path = tmp_path / "passwords.json"
    path.write_text(json.dumps({"admin": "kept-password", "old": "x"}))
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(path),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin, viewer:viewer",
    }
    first = la.ensure_passwords(env)
    assert first["admin"] == "kept-password"
    assert set(first) == {"admin", "viewer"} and len(first["viewer"]) >= 12
    assert json.loads(path.read_text()) == {"admin": "kept-password", "old": "x", "viewer": first["viewer"]}
    assert path.stat().st_mode & 0o777 == 0o600
    assert la.ensure_passwords(env) == first  # idempotent


def test_ui_command_passes_host_port_and_login_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from coldrec.cli import app

    seen = []
    monkeypatch.setattr(la, "run_ui", lambda settings, echo: seen.append(settings.ui) or 0)
    monkeypatch.setenv("COLDREC_UI__PORT", "8123")
    result = CliRunner().invoke(app, ["ui"])
    assert result.exit_code == 0, result.output
    assert (seen[-1].host, seen[-1].port, seen[-1].all_admins) == ("127.0.0.1", 8123, False)
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--port", "9000", "--all-admins"])
    assert result.exit_code == 0, result.output
    assert (seen[-1].host, seen[-1].port, seen[-1].all_admins) == ("0.0.0.0", 9000, True)


# --- the UI in a browser ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, method: str, path: str, token: str | None, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"{url}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def _wait(what: str, check, timeout: float, log: Path, interval: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; coldrec ui said:\n{log.read_text()[-3000:]}")


def _processes_with_env(key: str, value: str) -> list[int]:
    """Live processes whose environment has ``key=value`` (Linux /proc): the UI's children, wherever they went."""
    needle = f"{key}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# Airflow 3.3's grid: one cell per task and run, ``id="grid-<run_id>-<task_id>"``.
def _grid_cells_js(run_id: str, tasks: tuple[str, ...]) -> str:
    ids = json.dumps([f"grid-{run_id}-{t}" for t in tasks])
    return f"{ids}.every(id => document.getElementById(id) !== null)"


def _run_state_js(run_id: str) -> str:
    """The state the run's own page shows: in its header, the run id's line is followed by the state's name (Airflow
    3.3); ``dag-run-state`` is the details tab's badge, where a version shows it."""
    return (
        "(() => { const e = document.querySelector('[data-testid=dag-run-state]');"
        " if (e) return e.innerText.trim().toLowerCase();"
        f" const m = document.body.innerText.match(new RegExp({json.dumps(re.escape(run_id))} + '\\n([A-Za-z]+)\\n'));"
        " return m && m[1].toLowerCase(); })()"
    )


# React inputs take a value through the native setter plus the events a user's typing would fire.
SET_VALUE = """(sel, v) => { const e = document.querySelector(sel);
  Object.getOwnPropertyDescriptor(Object.getPrototypeOf(e), 'value').set.call(e, v);
  e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));
  return e.value; }"""


# `slow` (make test-all) for now: it passed once against a finished nightly state (875 s on a loaded machine) but not
# yet in a fresh-clone CI run, where the grid's run badge was not found in time.
@pytest.mark.slow
@pytest.mark.spark
def test_ui_in_chromium_shows_the_nightly_and_triggers_training(e2e_nightly: dict, tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        message = "Chromium not found: install Debian's `chromium` package (apt-get install -y chromium) for this test"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run it)")
        pytest.skip(message)
    assert e2e_nightly["proc"].returncode == 0, e2e_nightly["log"].read_text()[-3000:]
    shots = tmp_path / "screenshots"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **e2e_nightly["env"],
        "COLDREC_UI__PORT": str(port),
        # only the form's run: unpausing on trigger must not also start the weekly schedule's latest interval
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    airflow_home = env["AIRFLOW_HOME"]
    log = tmp_path / "coldrec-ui.log"
    with log.open("w") as out:
        ui = subprocess.Popen(
            [str(BIN / "coldrec"), "ui"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        printed = _wait(
            "the URL and login",
            lambda: re.search(r"login \(user / password\): admin / (\S+)", log.read_text()),
            900,
            log,
        )
        assert f"Airflow UI: {url}" in log.read_text()
        password = printed.group(1)
        token = _api(url, "POST", "/auth/token", None, {"username": "admin", "password": password})["access_token"]
        _wait(
            "both DAGs in the API",
            lambda: _api(url, "GET", "/api/v2/dags?dag_id_pattern=coldrec", token)["total_entries"] >= 2,
            300,
            log,
        )
        # the fixture's run (other e2e tests may have added runs of other dates to the same metadata DB)
        runs = _api(url, "GET", "/api/v2/dags/coldrec_nightly/dagRuns", token)["dag_runs"]
        mine = [r for r in runs if r["conf"] == {"run_date": "2026-11-03"}]
        assert len(mine) == 1 and mine[0]["state"] == "success", runs
        nightly_run = mine[0]["dag_run_id"]
        # a run of now that processed 2026-11-03 (the param), not a run dated in the past: the UI shows its real age
        started = dt.datetime.fromisoformat(mine[0]["start_date"].replace("Z", "+00:00"))
        logical = dt.datetime.fromisoformat(mine[0]["logical_date"].replace("Z", "+00:00"))
        assert dt.timedelta(0) <= started - logical < dt.timedelta(hours=1), mine[0]

        with Chromium(binary, tmp_path / "chromium") as page:
            # log in with the printed credentials
            page.goto(f"{url}/")
            page.wait_for("!!document.querySelector('input[name=password]')", 180, "the login form")
            page.screenshot(shots / "01-login.png")
            page.type_into("input[name=username]", "admin")
            page.type_into("input[name=password]", password)
            page.click_text("Sign in")
            page.wait_for("!location.pathname.startsWith('/auth/')", 120, "the redirect after login")

            # the nightly's grid with its finished run
            page.goto(f"{url}/dags/coldrec_nightly")
            page.wait_for(_grid_cells_js(nightly_run, NIGHTLY_TASKS), 180, "a grid cell per task of the nightly run")
            assert "coldrec_nightly" in page.eval("document.body.innerText")
            page.screenshot(shots / "02-nightly-grid.png")
            # the run's own page says it succeeded (the header's "latest run" may be another test's run of the DB)
            page.goto(f"{url}/dags/coldrec_nightly/runs/{urllib.request.quote(nightly_run, safe='')}")
            state = page.wait_for(_run_state_js(nightly_run), 120, "the nightly run's state on its page")
            assert state == "success", state

            # the training DAG's trigger form with its params
            page.goto(f"{url}/dags/coldrec_train")
            page.wait_for(
                "[...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Trigger')", 180, "Trigger"
            )
            page.click_text("Trigger")
            labels = page.wait_for(
                "(() => { const l = [...document.querySelectorAll('[role=dialog] label')].map(e => e.innerText.trim());"
                f" return {json.dumps(list(TRAIN_PARAMS))}.every(p => l.some(x => x.startsWith(p))) && l; }})()",
                120,
                "the params of coldrec_train in the form",
            )
            assert "epochs *" in [label.replace("\n", " ") for label in labels]
            page.eval(f"({SET_VALUE})('#element_run_date', '2026-11-03')")
            epochs = page.eval(
                "document.getElementById('number-input:element_epochs:inc').getAttribute('aria-controls')"
            )
            page.type_into(f"[id='{epochs}']", "2")
            page.eval(f"({SET_VALUE})('#element_models', 'autoencoder')")
            page.eval("document.querySelector('input[name=element_promote]').click()")
            page.wait_for("document.querySelector('input[name=element_promote]').checked === false", 30, "promote off")
            page.screenshot(shots / "03-train-trigger-form.png")
            page.eval("document.querySelector('[data-testid=trigger-dag-submit]').click()")
            href = page.wait_for("location.pathname.includes('/dags/coldrec_train/runs/') && location.href", 120)
            train_run = urllib.request.unquote(href.split("/runs/")[1].split("/")[0].split("?")[0])

            # the run the form started: its params, then its outcome, as the REST API reports them
            run = _api(url, "GET", f"/api/v2/dags/coldrec_train/dagRuns/{train_run}", token)
            assert run["triggered_by"] == "ui" and run["triggering_user_name"] == "admin"
            assert run["conf"]["run_date"] == "2026-11-03" and run["conf"]["epochs"] == 2
            assert run["conf"]["models"] == ["autoencoder"] and run["conf"]["promote"] is False
            path = f"/api/v2/dags/coldrec_train/dagRuns/{train_run}"
            state = _wait(
                "the triggered training run to finish",
                lambda: (s := _api(url, "GET", path, token)["state"]) in ("success", "failed") and s,
                1500,
                log,
                interval=10,
            )
            assert state == "success", (Path(airflow_home) / "logs").as_posix()
            xcom = _api(url, "GET", f"{path}/taskInstances/train/xcomEntries/return_value", token)["value"]
            value = xcom if isinstance(xcom, dict) else json.loads(xcom)
            assert value["epochs_max"] == 2 and value["models"] == ["autoencoder"] and value["promoted"] is False
            page.goto(f"{url}/dags/coldrec_train/runs/{train_run}")
            page.wait_for("document.body.innerText.includes('train')", 120, "the training run's page")
            time.sleep(3)  # let the grid's state colours settle before the picture
            page.screenshot(shots / "04-train-run.png")
    finally:
        # Ctrl-C: coldrec ui stops every Airflow process it started, and nothing with its AIRFLOW_HOME survives
        os.kill(ui.pid, signal.SIGINT)
        try:
            code = ui.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            code = None
        left = _processes_with_env("AIRFLOW_HOME", airflow_home)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        artifacts = os.environ.get("COLDREC_TEST_ARTIFACTS")
        if artifacts and shots.exists():
            shutil.copytree(shots, Path(artifacts) / "ui", dirs_exist_ok=True)
    assert code == 0, log.read_text()[-3000:]
    assert "stopped." in log.read_text()
    assert left == [], f"processes left after Ctrl-C: {left}"
    assert sorted(p.name for p in shots.iterdir()) == [
        "01-login.png",
        "02-nightly-grid.png",
        "03-train-trigger-form.png",
        "04-train-run.png",
    ]
