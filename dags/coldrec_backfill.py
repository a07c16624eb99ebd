"""
### coldrec backfill

Onboards a shop's history, as `coldrec backfill --from D1 --to D2` does: cleans every day `from`..`to` in one
Spark pass, then builds interactions, CF similarities and features of `to`, trains a champion model if the
registry has none, and scores, gates and publishes `to`'s lists (the shop's first lists). Afterwards the nightly for
the day after `to` is an ordinary run.

* **Params**: `from`, `to` (YYYY-MM-DD, required), `overrides` (any coldrec setting for this run).
* **Trigger**: the UI's Trigger form, or
  `airflow dags test coldrec_backfill -c '{"from": "2025-01-01", "to": "2025-12-30"}'`.
* Idempotent: a second run with the same range leaves every table as it was.
* Days without events pass (a history has quiet days); a day whose rejected share is above
  `COLDREC_CLEAN__MAX_REJECT_SHARE` fails the `clean` task (raise it in `overrides` and rerun).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, chain, dag, task

from coldrec import orchestration as orch
from coldrec.airflow_spark import (
    ColdrecSparkSubmitOperator,
    lake_build_operators,
    list_operators,
    recommendations_asset,
)
from coldrec.config import load_settings

SETTINGS = load_settings()


@dag(
    dag_id="coldrec_backfill",
    schedule=None,
    dagrun_timeout=dt.timedelta(hours=12),
    tags=["coldrec", "backfill", "onboarding", "spark"],
    doc_md=__doc__,
    params={
        "from": Param(None, type=["null", "string"], format="date", description="first day of the history"),
        "to": Param(None, type=["null", "string"], format="date", description="last day (features, champion)"),
        "overrides": Param({}, type="object", description="coldrec settings overrides for this run"),
    },
    **orch.DAG_DEFAULTS,
)
def coldrec_backfill() -> None:
    @task
    def resolve_run(params=None) -> dict[str, str]:
        return orch.resolve_backfill(params)

    @task(pool="gpu", queue="gpu", execution_timeout=dt.timedelta(hours=4))
    def ensure_champion(run: dict[str, str]) -> str:
        from coldrec.tasks import ensure_champion as ensure

        return ensure(run["run_date"], run["overrides_json"])

    @task(pool="gpu", queue="gpu", execution_timeout=dt.timedelta(hours=2))
    def score(run: dict[str, str]) -> int:
        from coldrec.tasks import score_users

        return score_users(run["run_date"], run["overrides_json"])

    @task
    def summary(run: dict[str, str], champion: str) -> dict:
        from coldrec.backfill import backfill_summary

        return backfill_summary(run["first_date"], run["run_date"], champion, run["overrides_json"])

    run = resolve_run()
    clean = ColdrecSparkSubmitOperator(task_id="clean", **orch.backfill_clean_kwargs(SETTINGS))
    interactions, similarities, features = lake_build_operators(SETTINGS)
    champion = ensure_champion(run)
    chain(run, clean, interactions, [similarities, features])
    chain(features, champion)
    gate, publish = list_operators(SETTINGS, outlets=[recommendations_asset(SETTINGS)])
    chain([similarities, champion], score(run), gate, publish, summary(run, champion))


coldrec_backfill()
