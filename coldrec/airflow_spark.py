"""The Spark-submit operator of coldrec's DAGs: Airflow's own, with coldrec's settings as the fallback.

Why a subclass: Airflow's ``SparkSubmitHook`` falls back to ``--master yarn`` when the ``spark_default``
connection is absent, so a new shop that set nothing (or only ``COLDREC_SPARK_MASTER``) got
"When running with master 'yarn' either HADOOP_CONF_DIR or YARN_CONF_DIR must be set" instead of local Spark.
Here a configured connection still wins; without one the master is ``COLDREC_SPARK_MASTER`` (``local[*]`` by
default). And the job's Python is the interpreter the task runs in (the project's venv) unless ``PYSPARK_PYTHON`` /
``PYSPARK_DRIVER_PYTHON`` say otherwise, so spark-submit never starts a bare system ``python3`` without numpy.

Imported by DAG files at parse time: only Airflow and coldrec.config, no pyspark.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset

from coldrec.config import Settings, load_settings
from coldrec.orchestration import asset_uri, spark_task_kwargs


def connection_exists(hook: SparkSubmitHook, conn_id: str) -> bool:
    """True when Airflow can resolve ``conn_id`` (metadata DB, ``AIRFLOW_CONN_*`` or a secrets backend)."""
    try:
        hook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException, or a task-SDK lookup error: both mean "not configured"
        return False
    return True


def python_confs(master: str, deploy_mode: str | None, env: dict[str, str] | None = None) -> dict[str, str]:
    """Spark confs naming the driver's and (local) executors' Python, unless the environment already names one.

    The driver runs where the task runs (client mode), so it gets this interpreter; executors get it only on a
    local master, where they run on this machine too (a cluster's executors have their own images and paths).
    """
    env = dict(os.environ) if env is None else env
    confs: dict[str, str] = {}
    if deploy_mode != "cluster" and not (env.get("PYSPARK_DRIVER_PYTHON") or env.get("PYSPARK_PYTHON")):
        confs["spark.pyspark.driver.python"] = sys.executable
    if master.startswith("local") and not env.get("PYSPARK_PYTHON"):
        confs["spark.pyspark.python"] = sys.executable
    return confs


def localize(hook: SparkSubmitHook, conn_id: str) -> SparkSubmitHook:
    """Give ``hook`` coldrec's master when ``conn_id`` is not configured, and this interpreter for Python.

    Touches the hook's resolved connection (``_connection``) and the flags derived from it, as the hook's own
    ``__init__`` computes them; ``tests/dags/test_airflow_spark.py`` pins the resulting spark-submit command.
    """
    connection: dict[str, Any] = hook._connection
    if not connection_exists(hook, conn_id):
        master = load_settings().spark_master
        hook.log.info("No Airflow connection %r: using COLDREC_SPARK_MASTER=%s (not yarn)", conn_id, master)
        connection["master"] = master
        hook._is_yarn = "yarn" in master
        hook._is_yarn_cluster_mode = hook._is_yarn and connection["deploy_mode"] == "cluster"
        hook._is_kubernetes = "k8s" in master
        hook._should_track_driver_status = hook._resolve_should_track_driver_status()
    conf = dict(hook._conf or {})
    for key, value in python_confs(connection["master"], connection["deploy_mode"]).items():
        conf.setdefault(key, value)
    hook._conf = conf
    return hook


class ColdrecSparkSubmitOperator(SparkSubmitOperator):
    """``SparkSubmitOperator`` whose master falls back to ``COLDREC_SPARK_MASTER`` and whose Python is the task's."""

    def _get_hook(self) -> SparkSubmitHook:
        return localize(super()._get_hook(), self._conn_id)


def lake_build_operators(settings: Settings) -> tuple[ColdrecSparkSubmitOperator, ...]:
    """The ``interactions``, ``similarities`` and ``features`` tasks that follow cleaning in the nightly and the
    backfill DAGs (the caller chains them: interactions first, then the other two)."""
    jobs = (("interactions", "build_interactions.py"), ("similarities", "compute_similarities.py"),
            ("features", "build_features.py"))  # fmt: skip
    return tuple(
        ColdrecSparkSubmitOperator(task_id=task_id, **spark_task_kwargs(script, settings=settings))
        for task_id, script in jobs
    )


def list_operators(settings: Settings, outlets: list[Any]) -> tuple[ColdrecSparkSubmitOperator, ...]:
    """The ``evaluate_and_gate`` and ``publish`` tasks that follow scoring in the nightly and the backfill DAGs
    (the caller chains them: gate, then publish; ``outlets`` name the published table's asset)."""
    gate = ColdrecSparkSubmitOperator(
        task_id="evaluate_and_gate", **spark_task_kwargs("materialize_topn.py", "--gate-only", settings=settings)
    )
    publish = ColdrecSparkSubmitOperator(
        task_id="publish", outlets=outlets,
        **spark_task_kwargs("materialize_topn.py", "--publish-only", settings=settings),
    )  # fmt: skip
    return gate, publish


def recommendations_asset(settings: Settings) -> Asset:
    """The published lists as an Airflow asset: the outlet of both DAGs' ``publish`` tasks (one name, one URI)."""
    return Asset(name="coldrec.gold.recommendations", uri=asset_uri(settings, "gold.recommendations"))
