"""The Spark-free consumer example reads the newest complete run through delta-rs with DuckDB and with Polars."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from coldrec.data import schemas as S

pytestmark = pytest.mark.spark
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "read_recommendations.py"


def _example():
    spec = importlib.util.spec_from_file_location("read_recommendations", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_latest_run_read_without_spark(spark, settings) -> None:
    from coldrec import lake

    d1, d2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
    rows = [
        (d1, "u1", 1, "old", 1.0, "popular", "popular now", "v1"),
        (d2, "u1", 1, "i1", 0.9, "cf", "because you bought X", "v2"),
        (d2, "u1", 2, "i2", 0.5, "content", "new in Shoes", "v2"),
        (d2, "u2", 1, "i3", 0.7, "popular", "popular with shoppers like you", "v2"),
    ]
    df = spark.createDataFrame(rows, S.RECOMMENDATIONS)
    for day in (d1, d2):
        lake.overwrite_partition(df.where(df.run_date == day), settings, "gold.recommendations", day)

    example = _example()
    for engine in ("duckdb", "polars"):
        latest = example.latest_lists(settings.lake_uri, engine=engine)
        assert latest["item_id"].to_list() == ["i1", "i2", "i3"], engine
        assert latest["user_id"].to_list() == ["u1", "u1", "u2"]
        assert str(latest["run_date"].max()) == "2026-11-02"
        older = example.latest_lists(settings.lake_uri, run_date="2026-11-01", engine=engine)
        assert older["item_id"].to_list() == ["old"]
    # time travel: the version written by the first run's commit holds only the first run
    from deltalake import DeltaTable

    history = DeltaTable(lake.table_path(settings, "gold.recommendations")).history()
    first_write = min(h["version"] for h in history if h["operation"] == "WRITE")
    first = example.latest_lists(settings.lake_uri, version=first_write)
    assert first["item_id"].to_list() == ["old"]
