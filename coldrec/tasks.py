"""The Python tasks of the DAGs: one function per task, each resolving settings for the run and calling coldrec.

Why not in the DAG files: they only wire; these functions are importable and testable without Airflow, and they
import the heavy libraries (pyspark, torch, mlflow) only when a task runs, never when a DAG is parsed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from coldrec.config import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def _settings(overrides_json: str | None) -> Settings:
    overrides = json.loads(overrides_json) if overrides_json else {}
    return load_settings(overrides)


def ensure_champion_for(settings: Settings, run_date: dt.date) -> tuple[str, bool]:
    """Make sure a champion model exists: train one on the run date's data if the registry has none.

    Returns the champion's registry version and whether it was trained now (the backfill's summary says so).
    """
    from coldrec.models.pipeline import run_training
    from coldrec.models.tracking import champion_version

    version = champion_version(settings)
    if version is not None:
        log.info("champion coldrec-autoencoder version %s exists; no training needed", version)
        return str(version), False
    log.info("no champion in %s: training one on the data of %s", settings.tracking_uri, run_date)
    forced = settings.model_copy(update={"train": settings.train.model_copy(update={"promote": True})})
    run_training(forced, run_date, show_progress=False)
    version = champion_version(settings)
    if version is None:
        raise RuntimeError("training finished but no champion was registered")
    return str(version), True


def ensure_champion(run_date: str, overrides_json: str | None = None) -> str:
    """The nightly's task: a champion before scoring (see :func:`ensure_champion_for`); returns its version."""
    return ensure_champion_for(_settings(overrides_json), dt.date.fromisoformat(run_date))[0]


def score_users(run_date: str, overrides_json: str | None = None) -> int:
    """Score every known user with the champion models and stage the lists for the quality gate."""
    from coldrec.spark import build_spark

    settings = _settings(overrides_json)
    spark = build_spark("coldrec-score", settings)
    try:
        return stage_lists(spark, settings, dt.date.fromisoformat(run_date))
    finally:
        spark.stop()


def stage_lists(spark: SparkSession, settings: Settings, day: dt.date) -> int:
    """Score every known user for ``day`` and stage the lists for the gate (the nightly's ``score`` task and the
    backfill's ``score`` stage); returns the rows staged."""
    from pyspark.sql import functions as F

    from coldrec import lake
    from coldrec.publish import STAGE_TABLE
    from coldrec.recommend.nightly import score_all_users

    lake.overwrite_partition(score_all_users(spark, settings, day), settings, STAGE_TABLE, day)
    return lake.read_table(spark, settings, STAGE_TABLE).where(F.col("run_date") == F.lit(day)).count()


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
