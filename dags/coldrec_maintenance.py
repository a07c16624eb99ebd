"""
### coldrec maintenance

Daily housekeeping of the Delta lake: quarantine and run-metrics retention, then OPTIMIZE (compaction) and VACUUM
(with `COLDREC_PUBLISH__VACUUM_RETENTION_HOURS`) of every coldrec table. Kept apart from the nightly run so that
compaction never delays the lists.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from coldrec import orchestration as orch
from coldrec.airflow_spark import ColdrecSparkSubmitOperator
from coldrec.config import load_settings

SETTINGS = load_settings()


@dag(
    dag_id="coldrec_maintenance",
    schedule="0 5 * * *",
    tags=["coldrec", "maintenance", "delta"],
    doc_md=__doc__,
    params={
        "run_date": Param(None, type=["null", "string"], format="date", description="'today' for retention"),
        "overrides": Param({}, type="object", description="coldrec settings overrides (e.g. retention)"),
    },
    **orch.DAG_DEFAULTS,
)
def coldrec_maintenance() -> None:
    @task
    def resolve_run(params=None, logical_date=None, dag_run=None) -> dict[str, str]:
        return orch.resolve_run(params, logical_date, getattr(dag_run, "run_after", None))

    maintain = ColdrecSparkSubmitOperator(
        task_id="maintain_tables", **orch.spark_task_kwargs("maintain_tables.py", settings=SETTINGS)
    )
    resolve_run() >> maintain


coldrec_maintenance()
