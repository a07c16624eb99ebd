"""User features ("user portrait"): declared demographics, behavior aggregates, and a KMeans cluster id.

Two arrays, because the models treat them differently:

- ``demographics`` (known for a brand-new user): age band one-hot, [age z-score, has-age], gender, country, region,
  declared interests (multi-hot), [tenure z-score = log1p(days since sign-up), has-sign-up];
- ``behavior`` (derived from the history; all zeros for a cold user): share of interaction weight per top
  category, [price level = weighted mean within-category price percentile, has-price], activity z-scores
  [log1p events, log1p items, log1p purchased items], [recency z-score = log1p(days since last interaction)],
  has-history flag.

Training zeroes ``behavior`` together with the history when it simulates a cold user (DropoutNet), so the model never
leans on information a new user cannot have. ``cluster_id`` is a KMeans cluster over both arrays (k chosen by
silhouette among ``kmeans_k_candidates`` unless fixed), kept as a column for segment reports; it is not fed to the
networks, which see its inputs directly. ``segment`` = gender|age band is what segment popularity groups by.
"""

from __future__ import annotations

import datetime as dt
import json
from itertools import pairwise

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from coldrec.config import FeaturesConfig
from coldrec.data import schemas as S
from coldrec.features.clusters import assign_clusters, choose_k
from coldrec.features.common import (
    FLOAT_ARRAY,
    UNKNOWN,
    as_interactions,
    multi_hot,
    one_hot_fixed,
    resolve_as_of,
    standardize,
    top_category,
    vocabularies,
    vocabulary,
    with_layout,
    with_price_percentile,
)

USER_FEATURE_COLUMNS = (
    S.USER_ID,
    "segment",
    "age_band",
    "cluster_id",
    "has_history",
    "demographics",
    "behavior",
)


def age_band_labels(bounds: list[int]) -> list[str]:
    """``[18, 25, 35]`` -> ``["<18", "18-24", "25-34", "35+", "unknown"]``."""
    labels = [f"<{bounds[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in pairwise(bounds)]
    labels.append(f"{bounds[-1]}+")
    return [*labels, UNKNOWN]


def age_band(age: Column, bounds: list[int]) -> Column:
    labels = age_band_labels(bounds)
    expr = F.when(age.isNull(), F.lit(UNKNOWN))
    for bound, label in zip(bounds, labels, strict=False):
        expr = expr.when(age < bound, F.lit(label))
    return expr.otherwise(F.lit(labels[-2]))


def _demographics(users: DataFrame, cfg: FeaturesConfig, as_of: dt.date) -> tuple[DataFrame, list[tuple[str, int]]]:
    bands = age_band_labels(cfg.age_bands)
    df = (
        users.dropDuplicates([S.USER_ID])
        .select(
            S.USER_ID,
            F.col(S.AGE).cast("double").alias("__age"),
            F.upper(F.trim(F.col(S.GENDER))).alias("__gender"),
            F.upper(F.trim(F.col(S.COUNTRY))).alias("__country"),
            F.trim(F.col(S.REGION)).alias("__region"),
            F.transform(F.col(S.INTERESTS), lambda v: F.lower(F.trim(v))).alias("__interests"),
            F.col(S.SIGNUP_TS).cast("timestamp").alias("__signup"),
        )
        .withColumn("__age", F.when((F.col("__age") >= 0) & (F.col("__age") <= 120), F.col("__age")))
        .withColumn("__gender", F.when(F.length("__gender") > 0, F.col("__gender")))
        .withColumn("age_band", age_band(F.col("__age"), cfg.age_bands))
        .withColumn("segment", F.concat_ws("|", F.coalesce(F.col("__gender"), F.lit("?")), F.col("age_band")))
        .withColumn("__has_age", F.col("__age").isNotNull().cast("double"))
        .withColumn(
            "__tenure",
            F.when(
                F.col("__signup").isNotNull(),
                F.log1p(F.greatest(F.datediff(F.lit(as_of), F.to_date("__signup")), F.lit(0))),
            ),
        )
        .withColumn("__has_signup", F.col("__signup").isNotNull().cast("double"))
    )
    df = standardize(df, ["__age", "__tenure"])
    blocks: list[tuple[str, int]] = [("age_band", len(bands)), ("age", 2)]
    arrays = ["__band_vec", "__age_vec"]
    df = df.withColumn("__band_vec", one_hot_fixed(F.col("age_band"), bands)).withColumn(
        "__age_vec", F.array(F.col("__age"), F.col("__has_age")).cast(FLOAT_ARRAY)
    )
    for name in ("gender", "country", "region"):
        df = df.withColumn(f"__{name}_arr", F.array(F.col(f"__{name}")))
    names = ["__gender_arr", "__country_arr", "__region_arr", "__interests"]
    vocabs = vocabularies(df, names, cfg.min_count, cfg.max_vocab)
    for name in ("gender", "country", "region"):
        vocab = vocabs[f"__{name}_arr"]
        df = multi_hot(df, f"__{name}_arr", f"__{name}_vec", vocab)
        blocks.append((name, len(vocab)))
        arrays.append(f"__{name}_vec")
    vocab = vocabs["__interests"]
    df = multi_hot(df, "__interests", "__interests_vec", vocab)
    blocks += [("interests", len(vocab)), ("tenure", 2)]
    df = df.withColumn("__tenure_vec", F.array(F.col("__tenure"), F.col("__has_signup")).cast(FLOAT_ARRAY))
    arrays += ["__interests_vec", "__tenure_vec"]
    out = df.select(
        S.USER_ID, "segment", "age_band", F.concat(*[F.col(a) for a in arrays]).cast(FLOAT_ARRAY).alias("demographics")
    )
    return out, blocks


def _behavior(
    interactions: DataFrame, items: DataFrame, cfg: FeaturesConfig, as_of: dt.date
) -> tuple[DataFrame, list[tuple[str, int]]]:
    catalog = items.dropDuplicates([S.ITEM_ID]).select(S.ITEM_ID, S.CATEGORY_PATH, F.col(S.PRICE).cast("double"))
    catalog = catalog.withColumn("__top", top_category(catalog, cfg.category_levels))
    catalog = with_price_percentile(catalog, "__top", "__price_pct").select(S.ITEM_ID, "__top", "__price_pct")
    cats = vocabulary(catalog.withColumn("__top_arr", F.array("__top")), "__top_arr", 1, cfg.max_vocab)

    # an item with no catalog row (events may reference items the catalog has not listed yet) falls in the same
    # ``unknown`` category as a catalog item without a category path: a null here would become a null map key below
    joined = (
        interactions.where(F.col("weight") > 0)
        .join(catalog, on=S.ITEM_ID, how="left")
        .withColumn("__top", F.coalesce(F.col("__top"), F.lit(UNKNOWN)))
    )
    per_cat = joined.groupBy(S.USER_ID, "__top").agg(F.sum("weight").alias("__w"))
    user_w = Window.partitionBy(S.USER_ID).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    total = F.sum("__w").over(user_w)
    shares = (
        per_cat.withColumn("__share", F.col("__w") / total)
        .groupBy(S.USER_ID)
        .agg(F.map_from_entries(F.collect_list(F.struct(F.col("__top"), F.col("__share")))).alias("__shares"))
    )
    priced_weight = F.sum(F.when(F.col("__price_pct").isNotNull(), F.col("weight")))
    agg = joined.groupBy(S.USER_ID).agg(
        (F.sum(F.col("weight") * F.col("__price_pct")) / priced_weight).alias("__price_level"),
        F.log1p(F.sum("n_events")).alias("__events"),
        F.log1p(F.countDistinct(S.ITEM_ID)).alias("__items"),
        F.log1p(F.sum(F.col("purchased").cast("int"))).alias("__purchases"),
        F.log1p(
            F.when(
                F.max("last_ts").isNotNull(),
                F.greatest(F.datediff(F.lit(as_of), F.to_date(F.max("last_ts"))), F.lit(0)),
            )
        ).alias("__recency"),
    )
    df = agg.join(shares, on=S.USER_ID, how="left")
    df = standardize(df, ["__events", "__items", "__purchases", "__recency"])
    cat_arr = F.array(*[F.coalesce(F.col("__shares")[F.lit(c)], F.lit(0.0)) for c in cats]) if cats else F.array()
    out = df.select(
        S.USER_ID,
        F.concat(
            cat_arr.cast(FLOAT_ARRAY),
            F.array(
                F.coalesce(F.col("__price_level"), F.lit(0.0)),
                F.col("__price_level").isNotNull().cast("double"),
                F.col("__events"),
                F.col("__items"),
                F.col("__purchases"),
                F.col("__recency"),
                F.lit(1.0),
            ).cast(FLOAT_ARRAY),
        ).alias("behavior"),
    )
    blocks = [("category_share", len(cats)), ("price_level", 2), ("activity", 3), ("recency", 1), ("has_history", 1)]
    return out, blocks


def build_user_features(
    users: DataFrame,
    interactions: DataFrame,
    items: DataFrame,
    cfg: FeaturesConfig,
    *,
    as_of: dt.date | None = None,
    seed: int = 42,
) -> DataFrame:
    """One row per user of ``users`` (silver.users shape) or with an interaction: ``user_id, segment, age_band,
    cluster_id, has_history, demographics, behavior`` (both ``array<float>``, fixed lengths).

    ``interactions``: gold.interactions or events (train split only in the evaluation harness); ``items``: the
    catalog (silver.items shape) for categories and prices. ``as_of`` (the run date) anchors tenure and recency; by
    default the newest interaction.
    """
    inter = as_interactions(interactions)
    as_of = resolve_as_of(as_of, inter, users, S.SIGNUP_TS)
    known = users.select(S.USER_ID, S.AGE, S.GENDER, S.COUNTRY, S.REGION, S.INTERESTS, S.SIGNUP_TS)
    # users seen only in the interactions (no profile row) still get a row: unknown demographics, real behavior
    only_active = inter.select(S.USER_ID).distinct().join(known.select(S.USER_ID), on=S.USER_ID, how="left_anti")
    everyone = known.unionByName(only_active, allowMissingColumns=True)
    demo, demo_blocks = _demographics(everyone, cfg, as_of)
    behavior, behavior_blocks = _behavior(inter, items, cfg, as_of)
    width = sum(w for _, w in behavior_blocks)
    zeros = F.array_repeat(F.lit(0.0).cast("float"), width)
    df = demo.join(behavior, on=S.USER_ID, how="left").select(
        S.USER_ID,
        "segment",
        "age_band",
        F.col("behavior").isNotNull().alias("has_history"),
        "demographics",
        F.coalesce(F.col("behavior"), zeros).cast(FLOAT_ARRAY).alias("behavior"),
    )
    df = df.withColumn("__vec_arr", F.concat("demographics", "behavior")).cache()
    k, silhouettes, centres = choose_k(df, cfg, seed)
    if centres is not None:
        clustered = assign_clusters(df, centres, "__vec_arr", "cluster_id")
    else:
        clustered = df.withColumn("cluster_id", F.lit(0))
    meta = {"k": k, "silhouette": {str(kk): v for kk, v in silhouettes.items()}, "as_of": as_of.isoformat()}
    out = clustered.select(
        S.USER_ID,
        "segment",
        "age_band",
        F.col("cluster_id").cast("int").alias("cluster_id", metadata={"coldrec": json.dumps(meta)}),
        "has_history",
        "demographics",
        "behavior",
    )
    out = with_layout(out, "demographics", demo_blocks)
    return with_layout(out, "behavior", behavior_blocks)
