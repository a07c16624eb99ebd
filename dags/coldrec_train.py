"""
### coldrec train

Trains the cold-start autoencoder and GAN on the newest day with features and interactions up to the run date, logs
the run to MLflow and moves the `champion` alias only when the new models beat it on the validation splits.

Weekly, and triggerable from the Airflow UI with params: `epochs`, `models`, `promote`, `window_days`, `run_date`.
Runs on pool/queue `gpu` (a CUDA worker when the cluster has one; CPU otherwise).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from coldrec import orchestration as orch


@dag(
    dag_id="coldrec_train",
    schedule="0 3 * * 0",
    dagrun_timeout=dt.timedelta(hours=8),
    tags=["coldrec", "training", "gpu", "mlflow"],
    doc_md=__doc__,
    params={
        "run_date": Param(None, type=["null", "string"], format="date", description="train on data up to this day"),
        "epochs": Param(30, type="integer", minimum=1, maximum=1000, description="maximum epochs (early stopping)"),
        "models": Param(
            ["autoencoder", "gan"],
            type="array",
            items={"type": "string", "enum": ["autoencoder", "gan"]},
            description="which models to train",
        ),
        "promote": Param(True, type="boolean", description="move the champion alias if the new models win"),
        "window_days": Param(
            365, type="integer", minimum=1, description="interactions of this many days before run_date"
        ),
        "overrides": Param({}, type="object", description="any other coldrec settings for this run"),
    },
    **orch.DAG_DEFAULTS,
)
def coldrec_train() -> None:
    @task
    def resolve_run(params=None, logical_date=None, dag_run=None) -> dict[str, str]:
        return orch.resolve_run(params, logical_date, getattr(dag_run, "run_after", None))

    @task(pool="gpu", queue="gpu", execution_timeout=dt.timedelta(hours=6))
    def train(run: dict[str, str], params=None) -> dict:
        from coldrec.tasks import train_models_task

        return train_models_task(run["run_date"], run["overrides_json"], params)

    train(resolve_run())


coldrec_train()
