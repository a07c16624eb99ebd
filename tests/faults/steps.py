"""The nightly's steps called in-process, in the DAG's order, on one SparkSession (no Airflow, no spark-submit).

Why in-process: the fault tests run the same ``coldrec`` functions the DAG tasks call, many times over, on 2 cores;
a JVM per step would cost more than the steps themselves.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from coldrec.config import Settings, load_settings

STEPS = ("clean", "interactions", "similarities", "features", "score", "gate", "publish")


def lake_settings(base: Path, **overrides: Any) -> Settings:
    """Settings with this test's own landing, lake, home and (empty) MLflow store: no champion, so score runs on
    cf, content and popularity, as a first nightly does."""
    (base / "home").mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "landing_uri": str(base / "landing"),
        "lake_uri": str(base / "lake"),
        "home": str(base / "home"),
        "mlflow_uri": f"sqlite:///{base / 'home' / 'mlflow.db'}",
        "shuffle_partitions": 1,
        "top_n": 10,
        "recommend": {"device": "cpu"},
    }
    return load_settings({**values, **overrides})


def run_step(spark, settings: Settings, step: str, day: dt.date) -> Any:
    """One nightly step for ``day``: what the DAG task of that name calls."""
    if step == "clean":
        from coldrec.clean.job import run_clean

        return run_clean(spark, settings, day)
    if step == "interactions":
        from coldrec.interactions import run_interactions

        return run_interactions(spark, settings, day)
    if step == "similarities":
        from coldrec.cf.pipeline import run_similarities

        return run_similarities(spark, settings, day)
    if step == "features":
        from coldrec.features.job import run_features

        return run_features(spark, settings, day)
    if step == "score":
        from coldrec import lake
        from coldrec.publish import STAGE_TABLE
        from coldrec.recommend.nightly import score_all_users

        lake.overwrite_partition(score_all_users(spark, settings, day), settings, STAGE_TABLE, day)
        return None
    if step == "gate":
        from coldrec.publish import run_gate

        return run_gate(spark, settings, day)
    if step == "publish":
        from coldrec.publish import publish_recommendations

        return publish_recommendations(spark, settings, day)
    raise ValueError(f"unknown step {step}")


def run_nightly(spark, settings: Settings, day: dt.date, steps: tuple[str, ...] = STEPS) -> dict[str, Any]:
    return {step: run_step(spark, settings, step, day) for step in steps}
