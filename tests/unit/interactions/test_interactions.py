"""gold.interactions: event weights, time decay, window, bots, dislikes, normalization, idempotent writes.

Expected weights are computed by hand below with ``math`` from the rules in the module docstring.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

pytestmark = pytest.mark.spark

D = dt.date(2024, 5, 1)
NOON = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
MIDNIGHT = dt.datetime(2024, 5, 1, 0, tzinfo=dt.UTC)  # start of D: age 1 day at the end of D


def event(user, item, etype, ts, rating=None, is_bot=False, ingest_date=None) -> tuple:
    from coldrec.data.schemas import SILVER_EVENTS

    values = {
        "event_id": f"{user}-{item}-{etype}-{ts.isoformat()}",
        "user_id": user,
        "item_id": item,
        "event_type": etype,
        "ts": ts,
        "rating": rating,
        "session_id": "s",
        "is_bot": is_bot,
        "event_date": ts.date(),
        "ingest_date": ingest_date or ts.date(),
    }
    return tuple(values.get(name) for name in SILVER_EVENTS.fieldNames())


def events_df(spark):
    from coldrec.data.schemas import SILVER_EVENTS

    day = dt.timedelta(days=1)
    rows = [
        event("u1", "i1", "view", NOON),  # age 0.5 d
        event("u1", "i1", "purchase", MIDNIGHT - day),  # age 2 d
        event("u1", "i2", "click", MIDNIGHT),  # age 1 d
        event("u1", "i3", "rating", NOON, rating=2.0),  # dislike: weight 0, pair dropped
        event("u1", "i4", "view", MIDNIGHT - 3 * day),  # 2024-04-28: outside a 3-day lookback
        event("u1", "i5", "view", MIDNIGHT + day),  # after D
        event("bot", "i1", "purchase", NOON, is_bot=True),  # bots excluded
        event("u2", "i1", "rating", NOON + dt.timedelta(hours=6), rating=5.0),  # age 0.25 d, 4 + 2 * 2 = 8
        event("u2", "i2", "rating", MIDNIGHT),  # rating without a value: base weight 4, age 1 d
        event("u2", "i3", "favorite", NOON, ingest_date=D + day),  # arrived after D: a later run's event
        event("u3", "i2", "cart", MIDNIGHT - 2 * day),  # age 3 d
        event("u3", "i2", "rating", NOON, rating=1.0),  # dislike on the same pair: counts as an event, weighs 0
    ]
    return spark.createDataFrame(rows, SILVER_EVENTS)


def decay(age_days: float, half_life: float = 2.0) -> float:
    return math.pow(0.5, age_days / half_life)


RAW = {
    ("u1", "i1"): 1.0 * decay(0.5) + 8.0 * decay(2.0),
    ("u1", "i2"): 2.0 * decay(1.0),
    ("u2", "i1"): 8.0 * decay(0.25),
    ("u2", "i2"): 4.0 * decay(1.0),
    ("u3", "i2"): 4.0 * decay(3.0),
}


def _cfg(**kw):
    from coldrec.config import InteractionsConfig

    return InteractionsConfig(half_life_days=2.0, lookback_days=3, **kw)


def test_weights_decay_window_bots_and_dislikes(spark) -> None:
    from pyspark.sql import functions as F

    from coldrec.interactions import build_interactions

    built = build_interactions(events_df(spark), D, _cfg(normalize_per_user=False))
    rows = built.withColumn("last_epoch", F.col("last_ts").cast("double")).collect()
    got = {(r["user_id"], r["item_id"]): r for r in rows}
    assert set(got) == set(RAW)
    for key, raw in RAW.items():
        assert got[key]["weight"] == pytest.approx(raw, rel=1e-12), key
        assert got[key]["run_date"] == D
    assert got[("u1", "i1")]["n_events"] == 2 and got[("u1", "i1")]["purchased"] is True
    assert got[("u1", "i1")]["last_epoch"] == NOON.timestamp()
    assert got[("u3", "i2")]["n_events"] == 2 and got[("u3", "i2")]["purchased"] is False
    assert got[("u2", "i2")]["n_events"] == 1


def test_per_user_normalization_divides_by_the_users_max(spark) -> None:
    from coldrec.interactions import build_interactions

    got = {(r["user_id"], r["item_id"]): r["weight"] for r in build_interactions(events_df(spark), D, _cfg()).collect()}
    for (user, item), raw in RAW.items():
        top = max(v for (u, _), v in RAW.items() if u == user)
        assert got[(user, item)] == pytest.approx(raw / top, rel=1e-12)
    assert got[("u1", "i1")] == 1.0 and got[("u3", "i2")] == 1.0


def test_custom_event_weights(spark) -> None:
    from coldrec.interactions import build_interactions

    cfg = _cfg(
        normalize_per_user=False,
        event_weights={"view": 0.0, "click": 1.0, "favorite": 1.0, "cart": 1.0, "purchase": 1.0},
    )
    got = {(r["user_id"], r["item_id"]): r["weight"] for r in build_interactions(events_df(spark), D, cfg).collect()}
    assert got[("u1", "i1")] == pytest.approx(decay(2.0), rel=1e-12)  # the view now weighs nothing
    assert got[("u3", "i2")] == pytest.approx(decay(3.0), rel=1e-12)


def test_run_interactions_is_idempotent_and_records_metrics(spark, settings) -> None:
    from coldrec import lake
    from coldrec.config import load_settings
    from coldrec.delta_read import read_delta
    from coldrec.interactions import interactions_exist, run_interactions

    settings = load_settings({"interactions": {"half_life_days": 2.0, "lookback_days": 3}})
    write_silver_events(events_df(spark), settings)
    assert not interactions_exist(spark, settings, D)
    first = run_interactions(spark, settings, D)
    second = run_interactions(spark, settings, D)
    assert first == second == {"pairs": 5.0, "users": 3.0, "items": 2.0, "events": 7.0, "purchased_pairs": 1.0}
    assert interactions_exist(spark, settings, D)
    table = read_delta(lake.table_path(settings, "gold.interactions")).to_pylist()
    assert len(table) == 5
    assert {(r["user_id"], r["item_id"]) for r in table} == set(RAW)
    metrics = read_delta(lake.table_path(settings, "ops.run_metrics")).to_pylist()
    assert {r["metric"]: r["value"] for r in metrics if r["stage"] == "interactions"}["pairs"] == 5.0


def write_silver_events(df, settings) -> None:
    """A plain partitioned Delta write of silver.events (the cleaning job's table, without its constraint commits)."""
    from coldrec import lake

    df.write.format("delta").mode("overwrite").partitionBy("event_date").save(
        lake.table_path(settings, "silver.events")
    )
