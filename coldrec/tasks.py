"""The Python tasks of the DAGs: one function per task, each resolving settings for the run and calling coldrec.

Why not in the DAG files: they only wire; these functions are importable and testable without Airflow, and they
import the heavy libraries (pyspark, torch, mlflow) only when a task runs, never when a DAG is parsed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from coldrec.config import Settings, load_settings

log = logging.getLogger(__name__)


def _settings(overrides_json: str | None) -> Settings:
    overrides = json.loads(overrides_json) if overrides_json else {}
    return load_settings(overrides)


def ensure_champion(run_date: str, overrides_json: str | None = None) -> str:
    """Make sure a champion model exists before scoring: train one on the run's data if the registry has none.

    Returns the champion's registry version (the one the score task will load).
    """
    from coldrec.models.pipeline import run_training
    from coldrec.models.tracking import champion_version

    settings = _settings(overrides_json)
    version = champion_version(settings)
    if version is not None:
        log.info("champion coldrec-autoencoder version %s exists; no training needed", version)
        return str(version)
    log.info("no champion in %s: training one on the data of %s", settings.tracking_uri, run_date)
    forced = settings.model_copy(update={"train": settings.train.model_copy(update={"promote": True})})
    run_training(forced, dt.date.fromisoformat(run_date), show_progress=False)
    version = champion_version(settings)
    if version is None:
        raise RuntimeError("training finished but no champion was registered")
    return str(version)


def score_users(run_date: str, overrides_json: str | None = None) -> int:
    """Score every known user with the champion models and stage the lists for the quality gate."""
    from coldrec import lake
    from coldrec.publish import STAGE_TABLE
    from coldrec.recommend.nightly import score_all_users
    from coldrec.spark import build_spark

    settings = _settings(overrides_json)
    day = dt.date.fromisoformat(run_date)
    spark = build_spark("coldrec-score", settings)
    try:
        lists = score_all_users(spark, settings, day)
        lake.overwrite_partition(lists, settings, STAGE_TABLE, day)
        return lake.read_table(spark, settings, STAGE_TABLE).where(f"run_date = '{run_date}'").count()
    finally:
        spark.stop()


def train_models_task(run_date: str, overrides_json: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
    """The training DAG's task: train on the run date's data with the UI's params; returns the MLflow outcome."""
    from coldrec.models.pipeline import newest_training_date, run_training

    params = params or {}
    train_overrides: dict[str, Any] = {}
    if params.get("epochs"):
        train_overrides["epochs"] = int(params["epochs"])
    if params.get("models"):
        train_overrides["models"] = list(params["models"])
    if params.get("promote") is not None:
        train_overrides["promote"] = bool(params["promote"])
    overrides = json.loads(overrides_json) if overrides_json else {}
    if train_overrides:
        overrides["train"] = {**overrides.get("train", {}), **train_overrides}
    if params.get("window_days"):
        overrides["interactions"] = {**overrides.get("interactions", {}), "lookback_days": int(params["window_days"])}
    settings = load_settings(overrides)
    requested = dt.date.fromisoformat(run_date)
    data_date = newest_training_date(settings, requested)
    if data_date != requested:
        log.warning("nothing to train on for %s: training on the newest complete day, %s", requested, data_date)
    log.info("training on %s with %s", data_date, settings.train.model_dump())
    _, summary = run_training(settings, data_date, show_progress=False)
    summary = {k: v for k, v in summary.items() if isinstance(v, str | int | float | bool) or v is None}
    return {
        **summary,
        "epochs_max": settings.train.epochs,
        "models": list(settings.train.models),
        "promoted": bool(summary.get("autoencoder_promoted", False)),
        "requested_date": requested.isoformat(),
    }
