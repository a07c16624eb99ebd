"""The DAGs' spark-submit: COLDREC_SPARK_MASTER when no ``spark_default`` connection exists, and the task's Python.

Each case builds the real spark-submit command line (``SparkSubmitHook._build_spark_submit_command``) in a fresh
interpreter whose environment holds no ``AIRFLOW_CONN_*`` unless the case sets one, as a new shop's shell would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coldrec.airflow_spark import python_confs

BUILD = """
import json, sys
from coldrec.airflow_spark import ColdrecSparkSubmitOperator
op = ColdrecSparkSubmitOperator(task_id="t", application="jobs/x.py", conn_id="spark_default", conf={"a": "b"})
hook = op._get_hook()
print("JSON" + json.dumps({"cmd": hook._build_spark_submit_command("jobs/x.py"), "exe": sys.executable}))
"""


def spark_submit_command(tmp_path: Path, **env: str) -> tuple[list[str], str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "PYSPARK_", "COLDREC_"))}
    base.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path}/airflow.db",
        **env,
    )
    proc = subprocess.run([sys.executable, "-c", BUILD], env=base, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(line[4:])
    return out["cmd"], out["exe"]


def arg_after(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def confs(cmd: list[str]) -> dict[str, str]:
    pairs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--conf"]
    return dict(p.split("=", 1) for p in pairs)


@pytest.mark.parametrize("master", [None, "local[2]"])
def test_no_connection_uses_coldrec_spark_master_and_this_python(tmp_path: Path, master: str | None) -> None:
    env = {"COLDREC_SPARK_MASTER": master} if master else {}
    cmd, exe = spark_submit_command(tmp_path, **env)
    assert arg_after(cmd, "--master") == (master or "local[*]")  # the setting's default, never yarn
    assert confs(cmd) == {"a": "b", "spark.pyspark.python": exe, "spark.pyspark.driver.python": exe}


def test_a_configured_connection_still_wins(tmp_path: Path) -> None:
    conn = json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1:7077"})
    cmd, exe = spark_submit_command(tmp_path, AIRFLOW_CONN_SPARK_DEFAULT=conn, COLDREC_SPARK_MASTER="local[2]")
    assert arg_after(cmd, "--master") == "spark://127.0.0.1:7077"
    # a cluster's executors keep their own Python; the client-mode driver runs here, with this interpreter
    assert confs(cmd) == {"a": "b", "spark.pyspark.driver.python": exe}


def test_pyspark_python_in_the_environment_is_left_to_spark(tmp_path: Path) -> None:
    cmd, _ = spark_submit_command(tmp_path, PYSPARK_PYTHON="/opt/py/bin/python")
    assert arg_after(cmd, "--master") == "local[*]"
    assert confs(cmd) == {"a": "b"}


def test_python_confs_by_master_and_deploy_mode() -> None:
    exe = sys.executable
    assert python_confs("local[4]", None, {}) == {"spark.pyspark.driver.python": exe, "spark.pyspark.python": exe}
    assert python_confs("yarn", "cluster", {}) == {}
    assert python_confs("yarn", "client", {}) == {"spark.pyspark.driver.python": exe}
    assert python_confs("local", None, {"PYSPARK_DRIVER_PYTHON": "/x"}) == {"spark.pyspark.python": exe}
