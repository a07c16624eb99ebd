"""Shared fixtures: one session-scoped local SparkSession with Delta, temp lake/landing dirs, the real data sets.

Why one session: starting a JVM costs seconds; delta-io's own Python tests reuse one session with the UI off and few
shuffle partitions, and so do we. Each test gets its own lake folder, so tests never see each other's tables.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    from coldrec.config import load_settings
    from coldrec.spark import build_spark

    warehouse = tmp_path_factory.mktemp("warehouse")
    settings = load_settings({"spark_master": "local[2]", "shuffle_partitions": 1, "spark_driver_memory": "2g"})
    session = build_spark(
        "coldrec-tests",
        settings,
        extra_conf={
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.default.parallelism": "2",
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.sql.adaptive.enabled": "false",
        },
    )
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at a fresh landing/lake/home under this test's temp dir (also exported as COLDREC_*)."""
    from coldrec.config import load_settings

    env = {
        "COLDREC_LANDING_URI": str(tmp_path / "landing"),
        "COLDREC_LAKE_URI": str(tmp_path / "lake"),
        "COLDREC_HOME": str(tmp_path / "home"),
        "COLDREC_SHUFFLE_PARTITIONS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    os.makedirs(tmp_path / "home", exist_ok=True)
    return load_settings()


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data set {name} not found at {path} (it lives in ../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    return _shared("movielens-100k")


@pytest.fixture(scope="session")
def beauty_dir() -> Path:
    return _shared("amazon-beauty")


@pytest.fixture(scope="session")
def e2e_nightly(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real nightly DAG run on a generated shop, shared by the end-to-end and the UI tests (minutes to build)."""
    from tests.test_e2e_nightly import build_nightly

    return build_nightly(tmp_path_factory.mktemp("e2e"))
