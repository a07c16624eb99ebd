"""Contracts of the two feature tables, registered with the lake on import.

Layout for fast PyTorch reads: one row per entity and run date, the vectors as fixed-length ``array<float>``
columns. Arrow reads such a column as one flat float buffer plus offsets, so the loader reshapes it into an
``[n, d]`` matrix without touching a Python object per row (see :mod:`coldrec.features.loader`).
"""

from __future__ import annotations

from pyspark.sql import types as T

from coldrec import lake
from coldrec.data import schemas as S
from coldrec.data.schemas import _f

FLOAT_ARRAY = T.ArrayType(T.FloatType())

GOLD_ITEM_FEATURES = T.StructType(
    [
        _f(S.RUN_DATE, T.DateType(), False),
        _f(S.ITEM_ID, T.StringType(), False),
        _f("top_category", T.StringType(), False, "category at the first level with two or more values"),
        _f(S.CATEGORY_PATH, T.StringType(), False),
        _f("price_bucket", T.IntegerType(), True, "log-price quantile bucket within the top category"),
        _f("age_days", T.DoubleType(), True, "days since created_at at the run date"),
        _f("n_users", T.LongType(), False, "users who interacted (kept out of the content vector)"),
        _f("text_encoder", T.StringType(), False, "tfidf or minilm"),
        _f("features", FLOAT_ARRAY, False, "category levels, brand, price bucket, price, age, text vector"),
    ]
)

GOLD_USER_FEATURES = T.StructType(
    [
        _f(S.RUN_DATE, T.DateType(), False),
        _f(S.USER_ID, T.StringType(), False),
        _f("segment", T.StringType(), False, "gender|age band (segment popularity)"),
        _f("age_band", T.StringType(), False),
        _f("cluster_id", T.IntegerType(), False, "KMeans user portrait (k recorded in ops.run_metrics)"),
        _f("has_history", T.BooleanType(), False),
        _f("demographics", FLOAT_ARRAY, False, "age band, age, gender, country, region, interests, tenure"),
        _f("behavior", FLOAT_ARRAY, False, "category shares, price level, activity, recency; zeros when cold"),
    ]
)

ITEM_FEATURES = lake.TableSpec(
    "gold.item_features",
    GOLD_ITEM_FEATURES,
    "Item content feature vectors per run date (cold items included), for the models and content neighbours.",
    ("run_date",),
    {"n_users_non_negative": "n_users >= 0", "features_not_empty": "size(features) > 0"},
)

USER_FEATURES = lake.TableSpec(
    "gold.user_features",
    GOLD_USER_FEATURES,
    "User portrait per run date: demographics, behavior aggregates and KMeans cluster (cold users included).",
    ("run_date",),
    {"cluster_non_negative": "cluster_id >= 0"},
)

TEXT_VECTORS = lake.TableSpec(
    "gold.text_vectors",
    T.StructType(
        [
            _f("encoder", T.StringType(), False, "text encoder name (only corpus-independent encoders are cached)"),
            _f("text_hash", T.StringType(), False, "SHA-256 of the item text (title + ' ' + description)"),
            _f("vector", FLOAT_ARRAY, False, "the encoder's vector of that text"),
        ]
    ),
    "Cache of text vectors by text hash: the nightly feature step encodes only texts it has not seen before.",
    ("encoder",),
    {"vector_not_empty": "size(vector) > 0"},
)

lake.register_table(ITEM_FEATURES)
lake.register_table(TEXT_VECTORS)
lake.register_table(USER_FEATURES)
