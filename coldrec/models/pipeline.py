"""The nightly training step: the day's feature matrices + gold.interactions -> trained, logged, registered models.

Reads through delta-rs (no JVM on the GPU worker); Spark is started only to record the run's figures in
``ops.run_metrics`` (optional, on by default) or when delta-rs cannot read a table (importing pyspark starts no JVM).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from deltalake import DeltaTable
from pyspark.sql import functions as F

from coldrec import lake
from coldrec.config import Settings
from coldrec.data import schemas as S
from coldrec.delta_read import read_delta
from coldrec.features.loader import FeatureMatrices, load_feature_matrices
from coldrec.models import tracking
from coldrec.models.data import ColdStartData, TrainedModels
from coldrec.models.training import train_models
from coldrec.paths import table_path
from coldrec.spark import build_spark


def read_interactions(settings: Settings, run_date: dt.date) -> pa.Table:
    """``user_id, item_id, weight`` of gold.interactions for the run date (delta-rs, Spark as a fallback)."""
    columns = [S.USER_ID, S.ITEM_ID, "weight"]
    try:
        day = [(S.RUN_DATE, "=", run_date.isoformat())]
        return read_delta(table_path(settings, "gold.interactions"), partitions=day, columns=columns)
    except Exception:  # a table feature delta-rs cannot read: go through Spark
        spark = build_spark("coldrec-train-read", settings)
        df = lake.read_table(spark, settings, "gold.interactions").where(F.col(S.RUN_DATE) == F.lit(run_date))
        return df.select(*columns).toArrow()


def newest_training_date(settings: Settings, up_to: dt.date) -> dt.date:
    """The newest run date <= ``up_to`` with both feature tables and gold.interactions written.

    Why: the weekly training DAG runs on its own schedule; its logical date need not be a day the nightly run has
    processed yet (or ever, on a shop that started later), so it trains on the freshest complete data before it.
    """

    def dates(name: str) -> set[str]:
        try:
            parts = DeltaTable(table_path(settings, name)).partitions()
        except Exception:  # the table does not exist yet
            return set()
        return {p[S.RUN_DATE] for p in parts if p.get(S.RUN_DATE) and p[S.RUN_DATE] <= up_to.isoformat()}

    common = dates("gold.user_features") & dates("gold.item_features") & dates("gold.interactions")
    if not common:
        raise LookupError(
            f"no run date <= {up_to} has features and interactions (run the nightly DAG, or `coldrec features`)"
        )
    return dt.date.fromisoformat(max(common))


def interaction_matrix(interactions: pa.Table, user_ids: np.ndarray, item_ids: np.ndarray) -> sp.csr_matrix:
    """Align (user_id, item_id, weight) rows to the feature matrices' sorted ids; unknown ids are dropped."""
    users = np.asarray(interactions.column(S.USER_ID).to_numpy(zero_copy_only=False)).astype(str)
    items = np.asarray(interactions.column(S.ITEM_ID).to_numpy(zero_copy_only=False)).astype(str)
    weights = interactions.column("weight").to_numpy(zero_copy_only=False).astype(np.float32)
    uid = np.asarray(user_ids).astype(str)
    iid = np.asarray(item_ids).astype(str)
    rows = np.searchsorted(uid, users)
    cols = np.searchsorted(iid, items)
    ok = (rows < uid.size) & (cols < iid.size)
    ok[ok] &= (uid[rows[ok]] == users[ok]) & (iid[cols[ok]] == items[ok])
    X = sp.csr_matrix((weights[ok], (rows[ok], cols[ok])), shape=(uid.size, iid.size), dtype=np.float32)
    X.sum_duplicates()
    return X


def cold_start_data(features: FeatureMatrices, X: sp.csr_matrix) -> ColdStartData:
    return ColdStartData(
        X=X,
        user_features=features.user_features,
        item_features=features.item_features,
        item_category=features.item_category,
        user_history_columns=features.user_history_columns,
        user_segment=features.user_segment,
        user_ids=features.user_ids,
        item_ids=features.item_ids,
    )


def _feature_layout(settings: Settings, run_date: dt.date) -> dict[str, Any]:
    """The feature job's recorded layout (ops.run_metrics detail), for the run's artifacts; empty when unreadable."""
    try:
        t = read_delta(
            table_path(settings, "ops.run_metrics"),
            partitions=[(S.RUN_DATE, "=", run_date.isoformat())],
            columns=["stage", "metric", "detail"],
        )
        out = {}
        stages, metrics, details = (t.column(c).to_pylist() for c in ("stage", "metric", "detail"))
        for stage, metric, detail in zip(stages, metrics, details, strict=True):
            if stage == "features" and detail:
                out[metric] = json.loads(detail)
        return out
    except Exception:
        return {}


def run_training(
    settings: Settings, run_date: dt.date, *, record_metrics: bool = True, show_progress: bool = True
) -> tuple[TrainedModels, dict[str, Any]]:
    """Train both models on the run date's data, log to MLflow, register, apply the champion rule.

    Returns the models and a summary (versions, promotion, validation figures, seconds).
    """
    t0 = time.perf_counter()
    features = load_feature_matrices(settings, run_date)
    X = interaction_matrix(read_interactions(settings, run_date), features.user_ids, features.item_ids)
    data = cold_start_data(features, X)
    layout = _feature_layout(settings, run_date)
    extra = {"config/feature_layout.json": layout} if layout else {}

    def finish(models: TrainedModels, train_data: ColdStartData, validation: Any) -> None:
        tracking.finish_training_run(
            models, settings, train_data, validation, category_names=features.category_names, extra_artifacts=extra
        )

    models = train_models(
        data,
        settings.train,
        None,
        log_to_mlflow=True,
        settings=settings,
        show_progress=show_progress,
        run_name=f"train {run_date.isoformat()}",
        run_tags={"run_date": run_date.isoformat()},
        finish=finish,
    )
    summary: dict[str, Any] = {
        "run_date": run_date.isoformat(),
        "users": int(data.n_users),
        "items": int(data.n_items),
        "interactions": int(X.nnz),
        "cold_user_choice": models.cold_user_choice,
        **{k: v for k, v in models.mlflow.items()},
        **{k: float(v) for k, v in models.validation.items()},
        "seconds": time.perf_counter() - t0,
    }
    if record_metrics:
        spark = build_spark("coldrec-train-metrics", settings)
        numeric = {k: float(v) for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        numeric["autoencoder_promoted"] = float(bool(models.mlflow.get("autoencoder_promoted")))
        lake.record_metrics(spark, settings, run_date, "train", numeric, {"cold_user_choice": models.cold_user_choice})
    return models, summary
