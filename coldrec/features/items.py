"""Item features: everything known about an item before anybody interacted with it, as one dense float vector.

Blocks of ``features`` (in order; widths depend on the vocabularies of the day, logged by the job):

- ``category_l1`` .. ``category_lN``: one-hot of each prefix of ``category_path`` (every level, so "Running" shares
  its "Sports" and "Sports>Shoes" columns with its siblings);
- ``brand``: one-hot of the (lower-cased) brand;
- ``price_bucket``: one-hot of the log-price quantile bucket *within the top-level category*, plus ``price`` =
  [z-score of log price within the category, has-price flag];
- ``age``: [z-score of log1p(days since created_at), has-created_at flag];
- ``text``: the title + description vector of the configured :class:`~coldrec.features.text.TextEncoder`.

Why no behavior (popularity) in the vector: the content encoder must embed a cold item exactly like a warm one;
a popularity column would be zero for every cold item and teach the model that "zero" means "unpopular". The
item's interaction count is kept beside the vector (``n_users``) for consumers that want it.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from coldrec.config import FeaturesConfig
from coldrec.data import schemas as S
from coldrec.features.common import (
    FLOAT_ARRAY,
    UNKNOWN,
    as_interactions,
    category_levels,
    multi_hot,
    one_hot_fixed,
    resolve_as_of,
    top_category,
    vocabularies,
    with_layout,
    with_price_percentile,
)
from coldrec.features.text import TextEncoder, attach_text_vectors, item_text, make_text_encoder
from coldrec.lake import single_row

ITEM_FEATURE_COLUMNS = (
    S.ITEM_ID,
    "top_category",
    S.CATEGORY_PATH,
    "price_bucket",
    "age_days",
    "n_users",
    "text_encoder",
    "features",
)


def build_item_features(
    items: DataFrame,
    events_or_interactions: DataFrame,
    cfg: FeaturesConfig,
    *,
    as_of: dt.date | None = None,
    encoder: TextEncoder | None = None,
    text_vectors: DataFrame | None = None,
) -> DataFrame:
    """One row per item of ``items`` (silver.items shape): ``item_id, top_category, category_path, price_bucket,
    age_days, n_users, text_encoder, features`` (``features``: ``array<float>``, same length on every row).

    ``events_or_interactions`` (events or gold.interactions, train split only) gives ``n_users`` and the default
    ``as_of`` (newest interaction); pass ``as_of`` = the run date in the nightly job. ``text_vectors``
    (``text_hash, vector`` of ``encoder``, see :func:`coldrec.features.text.encode_missing_texts`) replaces running
    the encoder by a lookup; without it every text is encoded.

    The feature vector is the concatenation, in this order, of the blocks the steps below add (their names and
    widths go to the column's layout metadata): category levels, brand, price bucket, numeric (price, age), text.
    """
    encoder = encoder or make_text_encoder(cfg)
    inter = as_interactions(events_or_interactions)
    as_of = resolve_as_of(as_of, inter, items, S.CREATED_AT)
    blocks: list[tuple[str, int]] = []
    arrays: list[str] = []
    df = _category_and_brand(_base_items(items, cfg.category_levels), cfg, blocks, arrays)
    df = _price(df, cfg.price_buckets, blocks, arrays)
    df = _age_and_numeric(df, as_of, blocks, arrays)
    df = _text(df, encoder, text_vectors, blocks, arrays)
    popularity = inter.where(F.col("weight") > 0).groupBy(S.ITEM_ID).agg(F.countDistinct(S.USER_ID).alias("n_users"))
    out = df.join(popularity, on=S.ITEM_ID, how="left").select(
        S.ITEM_ID,
        F.col("top_category"),
        F.coalesce(F.col(S.CATEGORY_PATH), F.lit(UNKNOWN)).alias(S.CATEGORY_PATH),
        F.col("price_bucket"),
        F.col("age_days"),
        F.coalesce(F.col("n_users"), F.lit(0)).cast("long").alias("n_users"),
        F.lit(encoder.name).alias("text_encoder"),
        F.concat(*[F.col(a) for a in arrays]).cast(FLOAT_ARRAY).alias("features"),
    )
    return with_layout(out, "features", blocks, as_of=as_of.isoformat(), text_encoder=encoder.name)


def _base_items(items: DataFrame, n_levels: int) -> DataFrame:
    """One row per item with typed price / created_at, a normalized brand and the top-level category."""
    base = items.dropDuplicates([S.ITEM_ID]).select(
        S.ITEM_ID,
        S.TITLE,
        S.DESCRIPTION,
        S.CATEGORY_PATH,
        F.lower(F.trim(F.col(S.BRAND))).alias(S.BRAND),
        F.col(S.PRICE).cast("double").alias(S.PRICE),
        F.col(S.CREATED_AT).cast("timestamp").alias(S.CREATED_AT),
    )
    return base.withColumn("top_category", top_category(base, n_levels))


def _category_and_brand(
    df: DataFrame, cfg: FeaturesConfig, blocks: list[tuple[str, int]], arrays: list[str]
) -> DataFrame:
    """Multi-hot blocks of every category level and of the brand (vocabularies cut by min count / max size)."""
    n_levels = cfg.category_levels
    for k, level in enumerate(category_levels(F.col(S.CATEGORY_PATH), n_levels), start=1):
        df = df.withColumn(f"__l{k}", F.array(level))
    df = df.withColumn("__brand", F.array(F.col(S.BRAND)))
    vocabs = vocabularies(df, [*[f"__l{k}" for k in range(1, n_levels + 1)], "__brand"], cfg.min_count, cfg.max_vocab)
    for k in range(1, n_levels + 1):
        vocab = vocabs[f"__l{k}"]
        df = multi_hot(df, f"__l{k}", f"__cat{k}", vocab)
        blocks.append((f"category_l{k}", len(vocab)))
        arrays.append(f"__cat{k}")
    brand_vocab = vocabs["__brand"]
    df = multi_hot(df, "__brand", "__brand_vec", brand_vocab)
    blocks.append(("brand", len(brand_vocab)))
    arrays.append("__brand_vec")
    return df


def _price(df: DataFrame, n_b: int, blocks: list[tuple[str, int]], arrays: list[str]) -> DataFrame:
    """Price: quantile bucket (one-hot block) and z-score of the log price, both within the top-level category.

    Adds the ``price`` block's width here; its two values (z-score, has-price) join the numeric array later."""
    df = with_price_percentile(df, "top_category", "__price_pct")
    # least/greatest skip nulls in Spark: guard explicitly so "no price" stays null instead of the top bucket
    bucket = F.least(F.floor(F.col("__price_pct") * n_b), F.lit(n_b - 1))
    df = df.withColumn("price_bucket", F.when(F.col("__price_pct").isNotNull(), bucket).cast("int"))
    cat_w = Window.partitionBy("top_category").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    log_price = F.when(F.col(S.PRICE) >= 0, F.log1p(F.col(S.PRICE)))
    df = df.withColumn("__lp", log_price)
    std = F.stddev_pop("__lp").over(cat_w)
    df = df.withColumn(
        "__price_z",
        F.coalesce((F.col("__lp") - F.avg("__lp").over(cat_w)) / F.when(std > 1e-12, std).otherwise(1.0), F.lit(0.0)),
    )
    bucket_labels = [str(b) for b in range(n_b)]
    df = df.withColumn("__bucket_vec", one_hot_fixed(F.col("price_bucket").cast("string"), bucket_labels))
    blocks += [("price_bucket", n_b), ("price", 2)]
    arrays.append("__bucket_vec")
    return df


def _age_and_numeric(df: DataFrame, as_of: dt.date, blocks: list[tuple[str, int]], arrays: list[str]) -> DataFrame:
    """Age since created_at (log days, standardized over the catalog), then the numeric array: price z-score,
    has-price, age z-score, has-created-at."""
    age = F.greatest(F.datediff(F.lit(as_of), F.to_date(S.CREATED_AT)), F.lit(0)).cast("double")
    df = df.withColumn("age_days", F.when(F.col(S.CREATED_AT).isNotNull(), age)).withColumn(
        "__log_age", F.log1p("age_days")
    )
    stats = single_row(df.agg(F.avg("__log_age").alias("m"), F.stddev_pop("__log_age").alias("s")))
    mean, scale = (stats["m"] or 0.0), (stats["s"] if (stats["s"] or 0) > 1e-12 else 1.0)
    df = df.withColumn("__age_z", F.coalesce((F.col("__log_age") - F.lit(mean)) / F.lit(scale), F.lit(0.0)))
    blocks.append(("age", 2))
    df = df.withColumn(
        "__numeric",
        F.array(
            F.col("__price_z"),
            F.col("__lp").isNotNull().cast("double"),
            F.col("__age_z"),
            F.col(S.CREATED_AT).isNotNull().cast("double"),
        ).cast(FLOAT_ARRAY),
    )
    arrays.append("__numeric")
    return df


def _text(
    df: DataFrame,
    encoder: TextEncoder,
    text_vectors: DataFrame | None,
    blocks: list[tuple[str, int]],
    arrays: list[str],
) -> DataFrame:
    """Title + description through the encoder, or looked up in the cached ``text_vectors``."""
    df = df.withColumn("__text", item_text(S.TITLE, S.DESCRIPTION))
    if text_vectors is None:
        df = encoder.transform(df, "__text", "__text_vec")
    else:
        df = attach_text_vectors(df, "__text", "__text_vec", text_vectors, encoder.dim)
    blocks.append((f"text_{encoder.name}", encoder.dim))
    arrays.append("__text_vec")
    return df
