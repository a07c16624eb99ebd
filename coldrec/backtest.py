"""The nightly backtest: how yesterday's published lists did on today's positive events, overall and by segment.

Why segments: the overall HitRate/NDCG of a shop's lists is carried by its heavy users and best sellers; cold start
(new items, new users, categories a user has never touched) is what coldrec exists for, and an overall figure can
rise while every cold segment is starved. Each segment is measured on the same lists and the same day:

- ``backtest_new_item_hit_rate``: of today's positive (user, item) pairs on *new* items (created within
  ``recommend.new_item_days`` up to the lists' date; items without ``created_at`` by their first event), the share
  that was in the user's top-k. Pair level, like the offline cold-item hit rate.
- ``backtest_new_user_hit_rate``: HitRate@k over the evaluated users whose first event lies within
  ``recommend.new_user_days`` up to the lists' date (or later: a user seen first today).
- ``backtest_cross_category_hit_rate``: of today's positive pairs in a top-level category in which the user had no
  event before today, the share in the top-k.

Each rate comes with its denominator (``..._pairs`` / ``..._users``); a rate whose segment is empty is left out
(not 0: nothing was measured). All transforms are DataFrame -> DataFrame; only one aggregate row per figure is
collected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from coldrec.data import schemas as S
from coldrec.lake import single_row


def positives(day_events: DataFrame) -> DataFrame:
    """Distinct (user, item) pairs with a non-bot cart/purchase/favorite event or a rating >= 4."""
    positive = (
        F.col(S.EVENT_TYPE).isin("cart", "purchase", "favorite")
        | ((F.col(S.EVENT_TYPE) == "rating") & (F.col(S.RATING) >= 4))
    ) & ~F.col(S.IS_BOT)
    return day_events.where(positive).select(S.USER_ID, S.ITEM_ID).distinct()


def new_items(items: DataFrame, events: DataFrame, as_of: dt.date, days: int) -> DataFrame:
    """Items new on ``as_of``: ``created_at`` within the ``days`` up to it; without ``created_at``, the first event
    (any type, bots excluded) within that window or later. One column, ``item_id``."""
    start = F.lit(as_of - dt.timedelta(days=days - 1))
    first_seen = events.where(~F.col(S.IS_BOT)).groupBy(S.ITEM_ID).agg(F.min(S.EVENT_DATE).alias("first_seen"))
    dated = items.select(S.ITEM_ID, F.to_date(S.CREATED_AT).alias("created")).join(first_seen, S.ITEM_ID, how="full")
    born = F.coalesce(F.col("created"), F.col("first_seen"))
    created_ok = F.col("created").isNull() | (F.col("created") <= F.lit(as_of))
    return dated.where((born >= start) & created_ok).select(S.ITEM_ID).distinct()


def new_users(events: DataFrame, as_of: dt.date, days: int) -> DataFrame:
    """Users whose first non-bot event is within the ``days`` up to ``as_of``, or later. One column, ``user_id``."""
    start = F.lit(as_of - dt.timedelta(days=days - 1))
    first = events.where(~F.col(S.IS_BOT)).groupBy(S.USER_ID).agg(F.min(S.EVENT_DATE).alias("first"))
    return first.where(F.col("first") >= start).select(S.USER_ID)


def top_category(items: DataFrame) -> DataFrame:
    """``item_id, category``: the category path cut at the first level where the catalog's items differ (a
    catalog-wide root such as "All" says nothing), as the offline harness and the nightly lists define it."""
    levels = items.select(S.ITEM_ID, F.split(F.col(S.CATEGORY_PATH), S.CATEGORY_SEP, -1).alias("levels"))
    depth = single_row(levels.agg(F.max(F.size("levels")).alias("d")))["d"] or 0
    if depth <= 0:
        return levels.select(S.ITEM_ID, F.lit(None).cast("string").alias("category"))
    trimmed = [F.trim(F.element_at("levels", j + 1)) for j in range(depth)]
    distinct = single_row(levels.agg(*[F.countDistinct(t).alias(f"l{j}") for j, t in enumerate(trimmed)]))
    level = next((j for j in range(depth) if distinct[f"l{j}"] > 1), depth - 1)
    cut = F.concat_ws(S.CATEGORY_SEP, F.slice("levels", 1, level + 1))
    return levels.select(S.ITEM_ID, F.when(F.size("levels") > level, cut).alias("category"))


@dataclass
class Segments:
    """What the segment figures need: new items and users, each item's top category, and the categories each user
    had events in before the day (``user_id, category``)."""

    new_items: DataFrame
    new_users: DataFrame
    item_category: DataFrame
    known_categories: DataFrame


def segments_for(
    items: DataFrame, events: DataFrame, lists_date: dt.date, day: dt.date, new_item_days: int, new_user_days: int
) -> Segments:
    """The segments of the backtest of ``lists_date``'s lists on ``day``'s events (history: events before ``day``)."""
    cats = top_category(items)
    before = events.where((F.col(S.EVENT_DATE) < F.lit(day)) & ~F.col(S.IS_BOT)).select(S.USER_ID, S.ITEM_ID)
    known = before.join(cats, S.ITEM_ID, how="inner").where(F.col("category").isNotNull())
    return Segments(
        new_items=new_items(items, events.where(F.col(S.EVENT_DATE) <= F.lit(day)), lists_date, new_item_days),
        new_users=new_users(events.where(F.col(S.EVENT_DATE) <= F.lit(day)), lists_date, new_user_days),
        item_category=cats,
        known_categories=known.select(S.USER_ID, "category").distinct(),
    )


def backtest(previous_lists: DataFrame, day_events: DataFrame, k: int, segments: Segments | None = None) -> dict[
        str, float]:  # fmt: skip
    """HitRate@k and NDCG@k of ``previous_lists`` over the users with a list and a positive in ``day_events``,
    and, with ``segments``, the cold-start figures described in the module docstring.

    This is the one evaluation that uses real future behaviour, so it is the metric the gate compares from run to
    run.
    """
    truth = positives(day_events)
    top = previous_lists.where(F.col("rank") <= k).select(S.USER_ID, S.ITEM_ID, "rank")
    users = truth.select(S.USER_ID).distinct().join(top.select(S.USER_ID).distinct(), on=S.USER_ID, how="inner")
    pairs = truth.join(users, on=S.USER_ID, how="inner").join(top, on=[S.USER_ID, S.ITEM_ID], how="left")
    pairs = pairs.withColumn("hit", F.col("rank").isNotNull().cast("double"))
    # ideal DCG of a user with m positives = sum_{i=1..min(m,k)} 1/log2(i+1); computed from a tiny rank table
    ranks = previous_lists.sparkSession.range(1, k + 1).select(
        F.col("id").cast("int").alias("i"), (1.0 / F.log2(F.col("id") + 1)).alias("g")
    )
    per_user = pairs.groupBy(S.USER_ID).agg(
        F.count("*").alias("n_truth"),
        F.max("hit").alias("hit"),
        F.sum(F.when(F.col("hit") > 0, 1.0 / F.log2(F.col("rank") + 1)).otherwise(0.0)).alias("dcg"),
    )
    idcg = (
        per_user.join(ranks, on=F.col("i") <= F.least(F.col("n_truth"), F.lit(k)), how="inner")
        .groupBy(S.USER_ID)
        .agg(F.sum("g").alias("idcg"))
    )
    per_user = per_user.join(idcg, on=S.USER_ID, how="inner")
    row = single_row(
        per_user.agg(
            F.count("*").alias("users"),
            F.avg("hit").alias("hit_rate"),
            F.avg(F.col("dcg") / F.col("idcg")).alias("ndcg"),
        )
    )
    out = {
        "backtest_users": float(row["users"] or 0),
        "backtest_hit_rate": float(row["hit_rate"] or 0.0),
        "backtest_ndcg": float(row["ndcg"] or 0.0),
    }
    if segments is not None:
        out.update(_segment_figures(pairs, per_user, segments))
    return out


def _segment_figures(pairs: DataFrame, per_user: DataFrame, seg: Segments) -> dict[str, float]:
    new_item = pairs.join(seg.new_items.withColumn("_new", F.lit(True)), S.ITEM_ID, how="left")
    cat = new_item.join(seg.item_category, S.ITEM_ID, how="left")
    known = seg.known_categories.withColumn("_known", F.lit(True))
    cat = cat.join(known, [S.USER_ID, "category"], how="left")
    is_cross = F.col("category").isNotNull() & F.col("_known").isNull()
    pair_row = single_row(
        cat.agg(
            F.sum(F.when(F.col("_new"), 1).otherwise(0)).alias("new_pairs"),
            F.sum(F.when(F.col("_new"), F.col("hit")).otherwise(0.0)).alias("new_hits"),
            F.sum(F.when(is_cross, 1).otherwise(0)).alias("cross_pairs"),
            F.sum(F.when(is_cross, F.col("hit")).otherwise(0.0)).alias("cross_hits"),
        )
    )
    user_row = single_row(
        per_user.join(seg.new_users, S.USER_ID, how="inner").agg(
            F.count("*").alias("n"), F.avg("hit").alias("hit_rate")
        )
    )
    out = {
        "backtest_new_item_pairs": float(pair_row["new_pairs"] or 0),
        "backtest_cross_category_pairs": float(pair_row["cross_pairs"] or 0),
        "backtest_new_users": float(user_row["n"] or 0),
    }
    if pair_row["new_pairs"]:
        out["backtest_new_item_hit_rate"] = float(pair_row["new_hits"]) / pair_row["new_pairs"]
    if pair_row["cross_pairs"]:
        out["backtest_cross_category_hit_rate"] = float(pair_row["cross_hits"]) / pair_row["cross_pairs"]
    if user_row["n"]:
        out["backtest_new_user_hit_rate"] = float(user_row["hit_rate"])
    return out
