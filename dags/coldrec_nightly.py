"""
### coldrec nightly

Cleans the day's behaviour logs, rebuilds interactions, CF similarities and features, scores every known user
with the champion models, gates the lists on quality and publishes them to `gold.recommendations`.

* **Run date**: the `run_date` param when given, else the logical date (a scheduled run's logical date is the
  start of the day it processes; `airflow dags test coldrec_nightly 2026-11-01` processes 2026-11-01), else the day
  before the trigger.
* **Params**: `run_date`, `top_n`, `overrides` (any coldrec setting, e.g. `{"clean": {"max_reject_share": 0.1}}`).
* **Backfill**: `airflow backfill create --dag-id coldrec_nightly --from-date 2026-11-01 --to-date 2026-11-07`.
* Spark tasks run `jobs/*.py` on the `spark_default` connection's master when it is configured, else on
  `COLDREC_SPARK_MASTER` (`local[*]` by default), never a silent `yarn`.
* No start date: any logical date a shop's data has runs its tasks (`airflow dags test coldrec_nightly 2025-03-01`).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, chain, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from coldrec import orchestration as orch
from coldrec.airflow_spark import (
    ColdrecSparkSubmitOperator,
    lake_build_operators,
    list_operators,
    recommendations_asset,
)
from coldrec.config import load_settings

SETTINGS = load_settings()
RECOMMENDATIONS = recommendations_asset(SETTINGS)


@dag(
    dag_id="coldrec_nightly",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    dagrun_timeout=dt.timedelta(hours=6),
    tags=["coldrec", "nightly", "spark", "gpu"],
    doc_md=__doc__,
    params={
        "run_date": Param(None, type=["null", "string"], format="date", description="day to process (YYYY-MM-DD)"),
        "top_n": Param(None, type=["null", "integer"], minimum=1, description="list length (default: COLDREC_TOP_N)"),
        "overrides": Param({}, type="object", description="coldrec settings overrides for this run"),
    },
    **orch.DAG_DEFAULTS,
)
def coldrec_nightly() -> None:
    @task
    def resolve_run(params=None, logical_date=None, dag_run=None) -> dict[str, str]:
        return orch.resolve_run(params, logical_date, getattr(dag_run, "run_after", None))

    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def wait_for_landing(run: dict[str, str]) -> bool:
        return orch.landing_day_ready(load_settings(), dt.date.fromisoformat(run["run_date"]))

    @task(pool="gpu", queue="gpu", execution_timeout=dt.timedelta(hours=2))
    def ensure_champion(run: dict[str, str]) -> str:
        from coldrec.tasks import ensure_champion as ensure

        return ensure(run["run_date"], run["overrides_json"])

    @task(pool="gpu", queue="gpu", execution_timeout=dt.timedelta(hours=2))
    def score(run: dict[str, str]) -> int:
        from coldrec.tasks import score_users

        return score_users(run["run_date"], run["overrides_json"])

    run = resolve_run()
    clean = ColdrecSparkSubmitOperator(task_id="clean", **orch.spark_task_kwargs("clean_events.py", settings=SETTINGS))
    interactions, similarities, features = lake_build_operators(SETTINGS)
    gate, publish = list_operators(SETTINGS, outlets=[RECOMMENDATIONS])
    chain(run, wait_for_landing(run), clean, interactions, [similarities, features])
    champion = ensure_champion(run)
    chain(features, champion)
    scored = score(run)
    chain([similarities, champion], scored, gate, publish)


coldrec_nightly()
