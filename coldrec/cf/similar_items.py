"""``gold.similar_items``: the "similar products" list of every item page, cold items included.

The list of item i is the first ``n`` distinct items, never i itself, of:

1. its CF neighbours (``gold.item_similarity``: already filtered by min co-support, best first), source ``cf``;
2. its content neighbours, when given (the features issue provides them), source ``content``;
3. the most popular items (distinct users in the run's interactions), source ``popular``.

So an item with enough support gets a CF list, and an item with too little (a pair needs ``min_support`` common
users to be a neighbour at all) or none (a new catalog item) is completed from content, then popularity.
Scores keep their source's scale: similarity for cf/content, popularity share (users / top item's users) for popular.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from coldrec.data import schemas as S

SOURCES = ("cf", "content", "popular")


def item_popularity(interactions: DataFrame) -> DataFrame:
    """``item_id, score``: distinct users per item over the top item's count (in (0, 1])."""
    users = interactions.groupBy(S.ITEM_ID).agg(F.countDistinct(S.USER_ID).alias("users"))
    top = users.agg(F.max("users").alias("top"))  # one row
    return users.crossJoin(F.broadcast(top)).select(S.ITEM_ID, (F.col("users") / F.col("top")).alias("score"))


def similar_items(
    cf_neighbors: DataFrame,
    popularity: DataFrame,
    content: DataFrame | None = None,
    *,
    items: DataFrame | None = None,
    n: int = 20,
) -> DataFrame:
    """Top-``n`` similar items per item: ``item_id, rank, neighbor_id, score, source``.

    ``cf_neighbors`` / ``content``: ``item_id, neighbor_id, score``; ``popularity``: ``item_id, score``; ``items``:
    the items that get a list (default: every item of the inputs). Work is linear in items: each item meets at most
    ``2n + 1`` popular candidates (enough to fill n slots after dropping itself and its CF / content neighbours).
    """
    sources = [(cf_neighbors, 0, "cf")]
    if content is not None:
        sources.append((content, 1, "content"))
    parts = [
        df.select(
            F.col(S.ITEM_ID).cast("string").alias(S.ITEM_ID),
            F.col("neighbor_id").cast("string").alias("neighbor_id"),
            F.col("score").cast("double").alias("score"),
            F.lit(priority).alias("priority"),
            F.lit(name).alias("source"),
        )
        for df, priority, name in sources
    ]
    candidates = reduce(DataFrame.unionByName, parts)
    if items is None:
        items = popularity.select(S.ITEM_ID)
        for df, _, _ in sources:
            items = items.unionByName(df.select(S.ITEM_ID))
    items = items.select(F.col(S.ITEM_ID).cast("string").alias(S.ITEM_ID)).distinct()
    top_popular = (
        popularity.orderBy(F.col("score").desc(), F.col(S.ITEM_ID).asc())
        .limit(2 * n + 1)
        .select(F.col(S.ITEM_ID).alias("neighbor_id"), F.col("score").cast("double").alias("score"))
    )
    popular = items.crossJoin(F.broadcast(top_popular)).select(
        S.ITEM_ID, "neighbor_id", "score", F.lit(2).alias("priority"), F.lit("popular").alias("source")
    )
    candidates = candidates.unionByName(popular).where(F.col(S.ITEM_ID) != F.col("neighbor_id"))
    best_first = [F.col("priority").asc(), F.col("score").desc(), F.col("neighbor_id").asc()]
    deduped = candidates.withColumn(
        "_dup", F.row_number().over(Window.partitionBy(S.ITEM_ID, "neighbor_id").orderBy(*best_first))
    ).where(F.col("_dup") == 1)
    ranked = deduped.withColumn("rank", F.row_number().over(Window.partitionBy(S.ITEM_ID).orderBy(*best_first)))
    return ranked.where(F.col("rank") <= n).select(
        S.ITEM_ID, F.col("rank").cast("int").alias("rank"), "neighbor_id", "score", "source"
    )
