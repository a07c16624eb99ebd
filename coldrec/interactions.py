"""From cleaned events to the user x item interaction weights of a run date (``gold.interactions``).

For run date D, with ``cfg = COLDREC_INTERACTIONS__*``:

* events with ``D - lookback_days < event_date <= D`` and ``is_bot = false`` (bots stay in silver for audit only),
  ingested on or before D (``ingest_date <= D``: an event that arrives late belongs to the runs after it arrived, so
  a rerun of D reads exactly what the first run read);
* event weight: ``cfg.event_weights[event_type]`` (view 1 < click 2 < favorite 3 < cart 4 < purchase 8 by default);
  a rating r weighs ``rating_weight_base + rating_weight_slope * (r - 3)`` (3 -> 4, 4 -> 6, 5 -> 8) and a rating
  <= 2 is a dislike that weighs 0; a rating event without a value weighs ``rating_weight_base``; unknown types 0;
* time decay: ``weight * 0.5 ** (age_days / half_life_days)``, age measured from the END of D (D+1 00:00 UTC), so a
  rerun of D gives the same weights whenever it runs (never ``now()``);
* per (user, item): ``raw = sum of decayed weights``; pairs with ``raw = 0`` (only dislikes) are dropped;
* per-user normalization (``normalize_per_user``): ``weight = raw / max(raw over the user's items)``, so every user's
  strongest item weighs 1 and a heavy buyer does not outweigh a light one in the similarities;
* ``n_events`` counts the pair's events in the window (dislikes included), ``purchased`` is true when one of them is
  a purchase, ``last_ts`` is the latest.

Why normalize by the max rather than the L2 norm: weights stay interpretable (1 = the user's favourite) and cosine is
scale-free per column anyway; the Pearson variant of :mod:`coldrec.cf.similarity` removes each user's mean on top.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from coldrec import lake
from coldrec.config import InteractionsConfig, Settings
from coldrec.data import schemas as S

SECONDS_PER_DAY = 86_400.0
INGEST_DATE = "ingest_date"


def event_weight(cfg: InteractionsConfig) -> Column:
    """The undecayed weight of one event, from its type (and rating)."""
    rating = F.col(S.RATING)
    rating_weight = (
        F.when(rating.isNull(), F.lit(cfg.rating_weight_base))
        .when(rating <= 2, F.lit(0.0))
        .otherwise(F.lit(cfg.rating_weight_base) + F.lit(cfg.rating_weight_slope) * (rating - F.lit(3.0)))
    )
    expr = F.when(F.col(S.EVENT_TYPE) == "rating", rating_weight)
    for event_type, weight in sorted(cfg.event_weights.items()):
        if event_type != "rating":
            expr = expr.when(F.col(S.EVENT_TYPE) == event_type, F.lit(float(weight)))
    return expr.otherwise(F.lit(0.0)).cast("double")


def window_start(run_date: dt.date, cfg: InteractionsConfig) -> dt.date:
    """First event date inside the lookback window of ``run_date`` (the window holds ``lookback_days`` days)."""
    return run_date - dt.timedelta(days=cfg.lookback_days - 1)


def decay_reference(run_date: dt.date) -> dt.datetime:
    """The instant ages are measured from: the end of the run date, UTC."""
    return dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def build_interactions(events: DataFrame, run_date: dt.date, cfg: InteractionsConfig) -> DataFrame:
    """``silver.events`` rows -> ``gold.interactions`` rows of ``run_date`` (pure transform, see module docstring)."""
    end_epoch = decay_reference(run_date).timestamp()
    age_days = F.greatest(F.lit(0.0), (F.lit(end_epoch) - F.col(S.TS).cast("double")) / F.lit(SECONDS_PER_DAY))
    decayed = event_weight(cfg) * F.pow(F.lit(0.5), age_days / F.lit(cfg.half_life_days))
    in_window = (
        (F.col(S.EVENT_DATE) >= F.lit(window_start(run_date, cfg)))
        & (F.col(S.EVENT_DATE) <= F.lit(run_date))
        & ~F.col(S.IS_BOT)
    )
    if INGEST_DATE in events.columns:  # late events ingested after D belong to later runs: reruns of D stay equal
        in_window = in_window & (F.col(INGEST_DATE) <= F.lit(run_date))
    pairs = (
        events.where(in_window)
        .select(S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, S.TS, decayed.alias("w"))
        .groupBy(S.USER_ID, S.ITEM_ID)
        .agg(
            F.sum("w").alias("raw"),
            F.count(F.lit(1)).alias("n_events"),
            F.bool_or(F.col(S.EVENT_TYPE) == "purchase").alias("purchased"),
            F.max(S.TS).alias("last_ts"),
        )
        .where(F.col("raw") > 0)
    )
    weight = F.col("raw")
    if cfg.normalize_per_user:
        weight = weight / F.max("raw").over(Window.partitionBy(S.USER_ID))
    out = pairs.select(
        F.lit(run_date).cast("date").alias(S.RUN_DATE),
        S.USER_ID,
        S.ITEM_ID,
        weight.alias("weight"),
        F.col("n_events").cast("long").alias("n_events"),
        "purchased",
        "last_ts",
    )
    return out.where(F.col("weight") > 0)  # a decay that underflows to 0 (tiny half-life) is no interaction


def read_interactions(spark: SparkSession, settings: Settings, run_date: dt.date) -> DataFrame:
    """The run date's partition of ``gold.interactions``."""
    return lake.read_table(spark, settings, "gold.interactions").where(F.col(S.RUN_DATE) == F.lit(run_date))


def interactions_exist(spark: SparkSession, settings: Settings, run_date: dt.date) -> bool:
    return lake.table_exists(spark, settings, "gold.interactions") and bool(
        read_interactions(spark, settings, run_date).limit(1).count()
    )


def run_interactions(spark: SparkSession, settings: Settings, run_date: dt.date) -> dict[str, float]:
    """Read ``silver.events``, write the run date's ``gold.interactions`` partition (one atomic, idempotent commit),
    record its counts in ``ops.run_metrics``; return them."""
    if not lake.table_exists(spark, settings, "silver.events"):
        raise FileNotFoundError(
            f"silver.events not found at {lake.table_path(settings, 'silver.events')}: run `coldrec clean` first"
        )
    events = lake.read_table(spark, settings, "silver.events")
    built = build_interactions(events, run_date, settings.interactions)
    lake.overwrite_partition(built, settings, "gold.interactions", run_date)
    written = read_interactions(spark, settings, run_date)
    row = lake.single_row(
        written.agg(
            F.count(F.lit(1)).alias("pairs"),
            F.countDistinct(S.USER_ID).alias("users"),
            F.countDistinct(S.ITEM_ID).alias("items"),
            F.coalesce(F.sum("n_events"), F.lit(0)).alias("events"),
            F.coalesce(F.sum(F.col("purchased").cast("long")), F.lit(0)).alias("purchased_pairs"),
        )
    )
    metrics = {name: float(row[name]) for name in ("pairs", "users", "items", "events", "purchased_pairs")}
    lake.record_metrics(spark, settings, run_date, "interactions", metrics)
    return metrics
