"""What the Airflow DAGs need from coldrec, kept light: no pyspark, torch or mlflow import at module level.

Why here and not in ``dags/``: DAG files only wire tasks; the decisions (which date a run processes, whether the
day's data has landed, which Spark confs a job needs) are logic, tested without Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from coldrec.config import PROJECT_ROOT, Settings, load_settings
from coldrec.paths import table_path

#: Per-run settings overrides travel to spark-submit jobs and Python tasks in this variable (JSON object).
OVERRIDES_ENV = "COLDREC_RUN_OVERRIDES"

JOBS_DIR = Path(os.environ.get("COLDREC_JOBS_DIR", str(PROJECT_ROOT / "jobs")))


def resolve_run_date(
    param_run_date: str | None,
    logical_date: dt.datetime | None,
    run_after: dt.datetime | None = None,
) -> dt.date:
    """The partition a run processes.

    Order: an explicit ``run_date`` param (UI trigger, backfill of one day); else the logical date (scheduled runs,
    where the logical date is the start of the day's data interval, ``airflow dags test DAG DATE`` and backfills);
    else, for a UI trigger without a logical date, the day before ``run_after`` (what a nightly run would process).
    """
    if param_run_date:
        return dt.date.fromisoformat(str(param_run_date)[:10])
    if logical_date is not None:
        return logical_date.date()
    if run_after is not None:
        return run_after.date() - dt.timedelta(days=1)
    raise ValueError("cannot resolve the run date: no run_date param, logical date or run_after")


def run_overrides(params: dict[str, Any] | None) -> dict[str, Any]:
    """Settings overrides from DAG params: the ``overrides`` object plus the shortcut params that map to settings."""
    params = params or {}
    overrides: dict[str, Any] = dict(params.get("overrides") or {})
    if params.get("top_n"):
        overrides["top_n"] = int(params["top_n"])
    return overrides


def settings_from_env_and_run(params: dict[str, Any] | None = None) -> Settings:
    """Settings as a task sees them: environment, then ``COLDREC_RUN_OVERRIDES``, then the run's params."""
    merged: dict[str, Any] = {}
    env_json = os.environ.get(OVERRIDES_ENV)
    if env_json:
        merged.update(json.loads(env_json))
    merged.update(run_overrides(params))
    return load_settings(merged)


def landing_day_path(settings: Settings, run_date: dt.date) -> str:
    return f"{settings.landing_uri.rstrip('/')}/events/date={run_date.isoformat()}"


def landing_day_ready(settings: Settings, run_date: dt.date) -> bool:
    """True when the day's event folder exists and holds at least one non-empty data file.

    Uses pyarrow's filesystem layer so the same check works on a local folder, s3 (s3a:// is mapped) or hdfs.
    """
    from pyarrow import fs

    uri = landing_day_path(settings, run_date)
    if uri.startswith("s3a://"):
        uri = "s3://" + uri.removeprefix("s3a://")
    if "://" not in uri:
        uri = str(Path(uri).resolve())
        filesystem, path = fs.LocalFileSystem(), uri
    else:
        filesystem, path = fs.FileSystem.from_uri(uri)
    info = filesystem.get_file_info(path)
    if info.type != fs.FileType.Directory:
        return False
    for entry in filesystem.get_file_info(fs.FileSelector(path, recursive=True)):
        name = entry.base_name
        if entry.type == fs.FileType.File and entry.size and not name.startswith(("_", ".")):
            return True
    return False


def delta_maven_packages() -> str:
    """Delta's Maven coordinates for the installed pyspark/delta-spark, read from package metadata only."""
    spark_mm = ".".join(metadata.version("pyspark").split(".")[:2])
    delta = metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_mm}_2.13:{delta}"


def spark_job_conf(settings: Settings | None = None) -> dict[str, str]:
    """The ``--conf`` pairs of every ``spark-submit jobs/*.py`` (the same the library builder sets)."""
    settings = settings or load_settings()
    return {
        "spark.jars.ivy": settings.ivy_dir,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.databricks.delta.snapshotPartitions": str(max(2, settings.shuffle_partitions)),
        "spark.ui.showConsoleProgress": "false",
        # spark-submit reads it before the driver JVM starts (a builder setting inside the job comes too late)
        "spark.driver.memory": settings.spark_driver_memory,
        **settings.spark_conf,
    }


def job_path(name: str) -> str:
    return str(JOBS_DIR / name)


#: Default task arguments of every coldrec DAG: retries with exponential back-off, an owner, no e-mail.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "coldrec",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
}

#: What every coldrec DAG is declared with besides its own id, schedule, timeout, tags and params (``@dag(...,
#: **DAG_DEFAULTS)``): one run at a time, no catch-up of missed intervals, the task defaults above.
DAG_DEFAULTS: dict[str, Any] = {"catchup": False, "max_active_runs": 1, "default_args": DEFAULT_ARGS}

#: A task's view of its run: ``{{ RUN.run_date }}`` in templated fields.
RUN_DATE_TEMPLATE = "{{ ti.xcom_pull(task_ids='resolve_run')['run_date'] }}"
OVERRIDES_TEMPLATE = "{{ ti.xcom_pull(task_ids='resolve_run')['overrides_json'] }}"


def resolve_run(params: dict[str, Any] | None, logical_date: Any, run_after: Any) -> dict[str, str]:
    """The run's date and settings overrides as the first task of a DAG computes them (pushed to XCom)."""
    run_date = resolve_run_date((params or {}).get("run_date"), logical_date, run_after)
    return {"run_date": run_date.isoformat(), "overrides_json": json.dumps(run_overrides(params), sort_keys=True)}


def spark_task_kwargs(script: str, *extra_args: str, settings: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments of a SparkSubmitOperator running ``jobs/<script>`` for the run date.

    The master comes from the ``spark_default`` connection (local by default; yarn, k8s or a standalone cluster by
    changing the connection only); locations and per-run overrides come from the COLDREC_* environment.
    """
    settings = settings or load_settings()
    return {
        "application": job_path(script),
        "conn_id": "spark_default",
        "packages": delta_maven_packages(),
        "conf": spark_job_conf(settings),
        "application_args": ["--date", RUN_DATE_TEMPLATE, *extra_args],
        "env_vars": {OVERRIDES_ENV: OVERRIDES_TEMPLATE},
        "name": f"coldrec-{script.removesuffix('.py')}",
        "pool": "spark",
    }


#: the nightly DAG's task ids in run order (a topological order of dags/coldrec_nightly.py, checked against the
#: parsed DAG by tests/dags/test_dags.py): what progress displays, benches and the UI test list
NIGHTLY_TASKS = (
    "resolve_run",
    "wait_for_landing",
    "clean",
    "interactions",
    "similarities",
    "features",
    "ensure_champion",
    "score",
    "evaluate_and_gate",
    "publish",
)


def asset_uri(settings: Settings, table: str) -> str:
    """An Airflow Asset URI for a lake table (file:// locally, the object store's scheme on a cluster)."""
    path = table_path(settings, table)
    return path if "://" in path else f"file://{path}"


# ------------------------------------------------------------------------------------------------------------------
# The backfill DAG (coldrec_backfill): a range of days instead of one run date
# ------------------------------------------------------------------------------------------------------------------
#: the range's first day in templated fields (the last day is ``run_date``: the date the later steps are built for)
FIRST_DATE_TEMPLATE = "{{ ti.xcom_pull(task_ids='resolve_run')['first_date'] }}"


def resolve_backfill(params: dict[str, Any] | None) -> dict[str, str]:
    """The backfill DAG's first task: ``from``/``to`` params -> ``first_date``, ``run_date`` (= ``to``) and the
    overrides (the run's own plus the backfill's clean rules, see :mod:`coldrec.backfill`)."""
    from coldrec.backfill import HISTORY_CLEAN_OVERRIDES, check_range

    params = params or {}
    if not params.get("from") or not params.get("to"):
        raise ValueError("coldrec_backfill needs the params 'from' and 'to' (YYYY-MM-DD)")
    first = dt.date.fromisoformat(str(params["from"])[:10])
    last = dt.date.fromisoformat(str(params["to"])[:10])
    check_range(first, last)
    overrides = run_overrides(params)
    overrides["clean"] = {**HISTORY_CLEAN_OVERRIDES, **overrides.get("clean", {})}
    return {
        "first_date": first.isoformat(),
        "run_date": last.isoformat(),
        "overrides_json": json.dumps(overrides, sort_keys=True),
    }


def backfill_clean_kwargs(settings: Settings | None = None) -> dict[str, Any]:
    """SparkSubmitOperator kwargs of the backfill's cleaning: ``jobs/clean_events.py --date FIRST --until LAST``."""
    kwargs = spark_task_kwargs("clean_events.py", settings=settings)
    kwargs["application_args"] = ["--date", FIRST_DATE_TEMPLATE, "--until", RUN_DATE_TEMPLATE]
    return kwargs
