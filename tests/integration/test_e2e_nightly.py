"""End to end: `airflow dags test coldrec_nightly` on a generated shop, read back without Spark; a rerun of the
same date leaves the table identical. The run is shared (session fixture ``e2e_nightly`` in conftest.py) with
tests/dags/test_ui.py, which shows it in the Airflow UI and triggers `coldrec_train` from the UI's form.

Airflow metadata in SQLite, local Spark through spark-submit, MLflow in SQLite: exactly what `make demo` runs.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# In `make test` (CI): the nightly run (and test_ui.py's UI trigger), about 12 minutes on 2 idle cores; the second full
# run of the rerun check (about 5 more) is `slow` (`make test-all`); publish's replaceWhere idempotency is unit-tested.
pytestmark = [pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START = dt.date(2026, 11, 1)
DAYS = 3
RUN_DATE = START + dt.timedelta(days=DAYS - 1)
TOP_N = 10


def _env(base: Path) -> dict[str, str]:
    # A new shop's shell: no AIRFLOW_CONN_* and no PYSPARK_PYTHON; the Spark tasks' master comes from
    # COLDREC_SPARK_MASTER and their Python is the venv's (coldrec.airflow_spark).
    from coldrec.local_airflow import fresh_shop_env

    settings = {
        "COLDREC_SPARK_MASTER": "local[2]",
        "COLDREC_SHUFFLE_PARTITIONS": "2",
        "COLDREC_SPARK_DRIVER_MEMORY": "2g",
        "COLDREC_TOP_N": str(TOP_N),
        "COLDREC_TRAIN__EPOCHS": "4",
    }
    return fresh_shop_env(base, settings)


def _run(cmd: list[str], env: dict[str, str], log: Path, timeout: int) -> subprocess.CompletedProcess:
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        return subprocess.run(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)


def _recommendations(lake: Path):
    from coldrec.delta_read import read_delta

    return read_delta(str(lake / "gold" / "recommendations")).to_pandas()


def build_nightly(base: Path) -> dict:
    """A generated shop's history cleaned, then the nightly DAG run for RUN_DATE under ``base``.

    The run is started now with RUN_DATE as its ``run_date`` param (no past logical date): what `make demo` does, and
    what the UI test (tests/dags/test_ui.py, through the session fixture ``e2e_nightly``) shows as a finished run.
    """
    env = _env(base)
    log = base / "e2e.log"
    (base / "home").mkdir()
    from coldrec.data.generator.shop import generate_shop

    truth = generate_shop(base / "landing", users=400, items=150, days=DAYS, seed=7, start_date=START)
    # history before the run date, as earlier nightly runs would have cleaned it
    until = (RUN_DATE - dt.timedelta(days=1)).isoformat()
    # Airflow's database is migrated while the history is cleaned: one is SQLite and Python, the other a Spark JVM
    with (base / "migrate.log").open("w") as migrate_log:
        migrate = subprocess.Popen([str(BIN / "airflow"), "db", "migrate"], env=env, cwd=ROOT, stdout=migrate_log,
                                   stderr=subprocess.STDOUT)
        try:
            cmd = [str(BIN / "coldrec"), "clean", "--date", START.isoformat(), "--until", until]
            assert _run(cmd, env, log, 900).returncode == 0, log.read_text()[-3000:]
            assert migrate.wait(timeout=600) == 0, (base / "migrate.log").read_text()[-3000:]
        finally:
            if migrate.poll() is None:
                migrate.kill()
    started = time.perf_counter()
    conf = json.dumps({"run_date": RUN_DATE.isoformat()})
    proc = _run([str(BIN / "airflow"), "dags", "test", "coldrec_nightly", "-c", conf], env, log, 1800)
    elapsed = time.perf_counter() - started
    first = _recommendations(base / "lake")
    return {"base": base, "env": env, "log": log, "proc": proc, "first": first, "truth": truth, "seconds": elapsed}


@pytest.fixture(scope="module")
def nightly(e2e_nightly: dict) -> dict:
    return e2e_nightly


def test_nightly_publishes_complete_lists(nightly: dict) -> None:
    import pandas as pd

    from coldrec.delta_read import read_delta

    base, recs = nightly["base"], nightly["first"]
    assert nightly["proc"].returncode == 0, nightly["log"].read_text()[-5000:]
    day = recs[recs["run_date"] == pd.Timestamp(RUN_DATE).date()]
    assert len(day) > 0, "nothing published for the run date"

    events = read_delta(str(base / "lake" / "silver" / "events")).to_pandas()
    users = read_delta(str(base / "lake" / "silver" / "users")).to_pandas()
    window = events[(events["event_date"] >= pd.Timestamp(RUN_DATE - dt.timedelta(days=29)).date()) & ~events["is_bot"]]
    active = set(window["user_id"])
    listed = set(day["user_id"])
    assert len(active & listed) / len(active) >= 0.95

    sizes = day.groupby("user_id").size()
    assert (sizes == TOP_N).all(), sizes.value_counts()
    ranks = day.sort_values(["user_id", "rank"]).groupby("user_id")["rank"].apply(list)
    assert all(r == list(range(1, TOP_N + 1)) for r in ranks)
    assert not day.duplicated(["user_id", "item_id"]).any()

    bought = events[events["event_type"] == "purchase"][["user_id", "item_id"]].drop_duplicates()
    assert day.merge(bought, on=["user_id", "item_id"], how="inner").empty, "purchased items were recommended"

    assert day["source"].str.len().gt(0).all() and day["reason"].str.len().gt(0).all()
    # the champion trained by ensure_champion served: its registry version on every row, its sources in the lists
    assert day["model_version"].str.startswith("coldrec-autoencoder/").all(), day["model_version"].unique()
    assert set(day["source"]) & {"autoencoder", "gan"}, day["source"].value_counts()
    # cold users (no events up to the run date) and cold items (never interacted with) reach the lists
    seen_users = set(events[events["event_date"] <= pd.Timestamp(RUN_DATE).date()]["user_id"])
    cold_users = set(users["user_id"]) - seen_users
    assert cold_users & listed, "no cold user received a list"
    seen_items = set(events[events["event_date"] < pd.Timestamp(RUN_DATE).date()]["item_id"])
    assert (~day["item_id"].isin(seen_items)).any(), "no cold item was recommended"


def _json_rows(stdout: str) -> list[dict]:
    """The JSON array an ``airflow ... -o json`` command printed (log lines such as "[warning ] ..." come first)."""
    line = next(ln for ln in reversed(stdout.splitlines()) if ln.startswith(("[{", "[]")))
    return json.loads(line)


def test_a_logical_date_years_before_today_runs_its_tasks(nightly: dict, tmp_path: Path) -> None:
    """A shop's history is from any year: the DAG has no start date that would turn 1997 into an empty "success".

    Only ``resolve_run`` really runs (the other tasks are marked successful by ``--mark-success-pattern``, so the
    check costs seconds); before the fix the run finished "success" with no task run at all. It runs on a copy of
    the Airflow database, so the run it adds is not among the nightly's runs that the UI test looks at.
    """
    assert nightly["proc"].returncode == 0
    home = Path(nightly["env"]["AIRFLOW_HOME"])
    (tmp_path / "airflow").mkdir()
    shutil.copy(home / "airflow.db", tmp_path / "airflow" / "airflow.db")
    db = f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"
    env = {**nightly["env"], "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db}
    day = "1997-06-01"
    cmd = [str(BIN / "airflow"), "dags", "test", "coldrec_nightly", day, "--mark-success-pattern", "(?!resolve_run$).*"]
    assert _run(cmd, env, nightly["log"], 600).returncode == 0, nightly["log"].read_text()[-3000:]
    listed = [str(BIN / "airflow"), "dags", "list-runs", "coldrec_nightly", "-o", "json"]
    out = subprocess.run(listed, env=env, capture_output=True, text=True, check=True).stdout
    runs = [r for r in _json_rows(out) if str(r["logical_date"]).startswith(day)]
    assert len(runs) == 1 and runs[0]["state"] == "success", runs
    states_cmd = [str(BIN / "airflow"), "tasks", "states-for-dag-run", "coldrec_nightly", runs[0]["run_id"]]
    out = subprocess.run([*states_cmd, "-o", "json"], env=env, capture_output=True, text=True, check=True).stdout
    states = {t["task_id"]: t["state"] for t in _json_rows(out)}
    assert states.get("resolve_run") == "success", states
    assert {"clean", "score", "publish"} <= {k for k, v in states.items() if v == "success"}, states


@pytest.mark.slow
def test_rerun_of_same_date_is_identical(nightly: dict) -> None:
    assert nightly["proc"].returncode == 0
    proc = _run(
        [str(BIN / "airflow"), "dags", "test", "coldrec_nightly", RUN_DATE.isoformat()],
        nightly["env"],
        nightly["log"],
        1800,
    )
    assert proc.returncode == 0, nightly["log"].read_text()[-5000:]
    cols = ["run_date", "user_id", "rank", "item_id", "source", "reason", "model_version"]
    before = nightly["first"].sort_values(["user_id", "rank"])[cols].reset_index(drop=True)
    after = _recommendations(nightly["base"] / "lake").sort_values(["user_id", "rank"])[cols].reset_index(drop=True)
    assert len(after) == len(before)
    assert before.equals(after)
