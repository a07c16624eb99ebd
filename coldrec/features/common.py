"""Building blocks shared by the item and user feature transforms: vocabularies, one-hot blocks, standardization,
category levels, price percentiles, and the events-or-interactions normalizer.

Why explicit vocabularies (collected, then ``CountVectorizerModel.from_vocabulary``): Spark's own fitting orders
tied terms arbitrarily, and a feature column must mean the same thing on every rerun of the same day. A vocabulary
is tiny (capped at ``max_vocab``), so collecting it is fine; the vectors themselves never leave Spark.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from pyspark.ml.feature import CountVectorizerModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from coldrec.data import schemas as S
from coldrec.lake import single_row

FLOAT_ARRAY = T.ArrayType(T.FloatType())
UNKNOWN = "unknown"


def empty_float_array() -> Column:
    return F.array().cast(FLOAT_ARRAY)


def vocabularies(df: DataFrame, array_cols: list[str], min_count: int, max_vocab: int) -> dict[str, list[str]]:
    """For each ``array<string>`` column: the values held by at least ``min_count`` rows, most frequent first (ties by
    value), at most ``max_vocab`` of them. All columns in one Spark job (one explode of (column, value) pairs)."""
    if not array_cols:
        return {}
    pairs = F.explode(F.concat(*[F.transform(F.array_distinct(F.col(c)), _tag_with(c)) for c in array_cols]))
    counts = (
        df.select(*[F.coalesce(F.col(c), F.array().cast(T.ArrayType(T.StringType()))).alias(c) for c in array_cols])
        .select(pairs.alias("p"))
        .select("p.c", "p.v")
        .where(F.col("v").isNotNull() & (F.length("v") > 0))
        .groupBy("c", "v")
        .count()
        .where(F.col("count") >= min_count)
    )
    ranked = counts.withColumn(
        "rank", F.row_number().over(Window.partitionBy("c").orderBy(F.desc("count"), F.asc("v")))
    ).where(F.col("rank") <= max_vocab)
    out: dict[str, list[str]] = {c: [] for c in array_cols}
    for row in sorted(ranked.collect(), key=lambda r: (r["c"], r["rank"])):
        out[row["c"]].append(row["v"])
    return out


def _tag_with(column: str) -> Callable[[Column], Column]:
    """A one-argument lambda for F.transform: a two-argument one (``lambda v, c=c``) gets the element's index."""
    return lambda v: F.struct(F.lit(column).alias("c"), v.alias("v"))


def vocabulary(df: DataFrame, array_col: str, min_count: int, max_vocab: int) -> list[str]:
    """:func:`vocabularies` of one column."""
    return vocabularies(df, [array_col], min_count, max_vocab)[array_col]


def multi_hot(df: DataFrame, array_col: str, out_col: str, vocab: list[str]) -> DataFrame:
    """``out_col``: binary ``array<float>`` over ``vocab`` (values outside it are dropped); empty when no vocab."""
    if not vocab:
        return df.withColumn(out_col, empty_float_array())
    tmp = f"__{out_col}_vec"
    model = CountVectorizerModel.from_vocabulary(vocab, inputCol=array_col, outputCol=tmp, binary=True)
    filled = df.withColumn(array_col, F.coalesce(F.col(array_col), F.array().cast(T.ArrayType(T.StringType()))))
    return model.transform(filled).withColumn(out_col, vector_to_array(F.col(tmp), "float32")).drop(tmp)


def one_hot_fixed(value: Column, labels: list[str]) -> Column:
    """Binary ``array<float>`` over a fixed list of labels (no data-dependent vocabulary: stable dimensions)."""
    return F.array(*[F.when(value == F.lit(lab), F.lit(1.0)).otherwise(F.lit(0.0)) for lab in labels]).cast(FLOAT_ARRAY)


def standardize(df: DataFrame, cols: list[str], where: Column | None = None) -> DataFrame:
    """Replace each numeric column by its z-score (mean/std over the rows matching ``where``; nulls become 0).

    Why z-scores: the networks see these beside 0/1 indicators; a raw count of 500 would dominate them.
    """
    if not cols:
        return df
    base = df if where is None else df.where(where)
    aggs = []
    for c in cols:
        aggs += [F.avg(c).alias(f"{c}__m"), F.stddev_pop(c).alias(f"{c}__s")]
    stats = single_row(base.agg(*aggs))
    out = df
    for c in cols:
        mean = stats[f"{c}__m"] or 0.0
        std = stats[f"{c}__s"] or 0.0
        scale = std if std > 1e-12 else 1.0
        out = out.withColumn(c, F.coalesce((F.col(c) - F.lit(mean)) / F.lit(scale), F.lit(0.0)))
    return out


def category_levels(path: Column, n_levels: int) -> list[Column]:
    """Prefixes of ``category_path`` for levels 1..n: "Sports", "Sports>Shoes", "Sports>Shoes>Running" (null when the
    path is shorter). Whitespace around separators is ignored."""
    parts = F.transform(F.split(F.coalesce(path, F.lit("")), F.lit(S.CATEGORY_SEP), -1), lambda p: F.trim(p))
    parts = F.filter(parts, lambda p: F.length(p) > 0)
    return [
        F.when(F.size(parts) >= k, F.array_join(F.slice(parts, 1, k), S.CATEGORY_SEP)).otherwise(F.lit(None))
        for k in range(1, n_levels + 1)
    ]


def informative_level(items: DataFrame, n_levels: int) -> int:
    """The shallowest category level (1-based) with at least two distinct values (MovieLens paths all start with
    "Movies", so its level 1 says nothing); 1 when none has two."""
    levels = category_levels(F.col(S.CATEGORY_PATH), n_levels)
    row = single_row(items.select(*[F.countDistinct(lv).alias(f"l{k + 1}") for k, lv in enumerate(levels)]))
    for k in range(1, n_levels + 1):
        if (row[f"l{k}"] or 0) >= 2:
            return k
    return 1


def top_category(items: DataFrame, n_levels: int) -> Column:
    """The item's category at the informative level (see :func:`informative_level`), ``unknown`` when absent."""
    level = informative_level(items, n_levels)
    return F.coalesce(category_levels(F.col(S.CATEGORY_PATH), level)[level - 1], F.lit(UNKNOWN))


def with_price_percentile(items: DataFrame, group_col: str, out_col: str = "price_pct") -> DataFrame:
    """``out_col``: the item's log-price percentile (0..1) within its group (e.g. top category); null without price.

    Ranking within the category is what "expensive" means to a shopper: a 50 EUR book is pricey, a 50 EUR TV is not.
    """
    has_price = F.col(S.PRICE).isNotNull() & (F.col(S.PRICE) >= 0)
    w = Window.partitionBy(group_col, "__has_price").orderBy(F.col("__log_price").asc(), F.col(S.ITEM_ID).asc())
    return (
        items.withColumn("__has_price", has_price)
        .withColumn("__log_price", F.when(has_price, F.log1p(F.col(S.PRICE))))
        .withColumn(out_col, F.when(F.col("__has_price"), F.percent_rank().over(w)))
        .drop("__has_price", "__log_price")
    )


def as_interactions(df: DataFrame) -> DataFrame:
    """Normalize events (silver.events shape) or interactions (gold.interactions shape) to one row per user x item:
    ``user_id, item_id, weight, n_events, purchased, last_ts``.

    The evaluation harness passes train-split events, the nightly run ``gold.interactions``; both mean the same here.
    Bot events are dropped when the column is present.
    """
    cols = set(df.columns)
    if "weight" in cols:
        return df.select(
            S.USER_ID,
            S.ITEM_ID,
            F.col("weight").cast("double").alias("weight"),
            (F.col("n_events") if "n_events" in cols else F.lit(1)).cast("long").alias("n_events"),
            (F.col("purchased") if "purchased" in cols else F.lit(False)).cast("boolean").alias("purchased"),
            (F.col("last_ts") if "last_ts" in cols else F.lit(None)).cast("timestamp").alias("last_ts"),
        )
    if S.IS_BOT in cols:
        df = df.where(~F.coalesce(F.col(S.IS_BOT), F.lit(False)))
    is_purchase = F.col(S.EVENT_TYPE) == F.lit("purchase") if S.EVENT_TYPE in cols else F.lit(False)
    ts = F.col(S.TS).cast("timestamp") if S.TS in cols else F.lit(None).cast("timestamp")
    return df.groupBy(S.USER_ID, S.ITEM_ID).agg(
        F.count(F.lit(1)).cast("double").alias("weight"),
        F.count(F.lit(1)).cast("long").alias("n_events"),
        F.max(is_purchase).alias("purchased"),
        F.max(ts).alias("last_ts"),
    )


def resolve_as_of(as_of: dt.date | None, interactions: DataFrame, fallback: DataFrame, fallback_col: str) -> dt.date:
    """The reference date of recency/age features: the run date when given, else the newest interaction (the
    evaluation harness: the end of its train split), else the newest ``fallback_col`` value, else today."""
    if as_of is not None:
        return as_of
    newest = single_row(interactions.agg(F.max("last_ts")))[0]
    if newest is None:
        newest = single_row(fallback.agg(F.max(F.col(fallback_col).cast("timestamp"))))[0]
    if newest is None:
        return dt.datetime.now(dt.UTC).date()
    return newest.date() if isinstance(newest, dt.datetime) else newest


def with_layout(df: DataFrame, col: str, blocks: list[tuple[str, int]], **extra: object) -> DataFrame:
    """Attach the block layout ``[(name, width), ...]`` of an array column as column metadata (logged by the job
    and the training run; the Delta write drops it, the dimensions stay)."""
    meta = {"blocks": [[name, int(width)] for name, width in blocks], **extra}
    return df.withColumn(col, F.col(col).alias(col, metadata={"coldrec": json.dumps(meta)}))


def layout_of(df: DataFrame, col: str) -> dict[str, Any]:
    raw = df.schema[col].metadata.get("coldrec")
    return json.loads(raw) if raw else {}
