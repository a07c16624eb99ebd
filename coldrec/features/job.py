"""The nightly feature step: silver.items / silver.users / gold.interactions of a run date -> the two feature tables.

I/O lives here and only here; :func:`build_item_features` and :func:`build_user_features` stay pure transforms that
the evaluation harness reuses on public data sets.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from coldrec import lake
from coldrec.config import Settings
from coldrec.data import schemas as S
from coldrec.features import tables  # noqa: F401 - registers the feature tables with the lake
from coldrec.features.common import layout_of
from coldrec.features.items import build_item_features
from coldrec.features.text import TextEncoder, encode_missing_texts, item_text, make_text_encoder
from coldrec.features.users import build_user_features

log = logging.getLogger(__name__)


def _read_or_empty(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    if lake.table_exists(spark, settings, name):
        return lake.read_table(spark, settings, name)
    return spark.createDataFrame([], lake.TABLES[name].schema)


def refresh_text_vectors(
    spark: SparkSession, settings: Settings, items: DataFrame, encoder: TextEncoder
) -> tuple[DataFrame, dict[str, float]]:
    """Encode the catalog texts ``gold.text_vectors`` lacks, append them (one commit), return the encoder's vectors.

    A rerun finds every text cached and encodes nothing; an edited title or description is a new text and gets a
    new vector (the old one stays, harmless, for items that still carry it).
    """
    table = "gold.text_vectors"
    lake.ensure_table(spark, settings, table)
    cached = lake.read_table(spark, settings, table).where(F.col("encoder") == encoder.name)
    texts = items.select(item_text(S.TITLE, S.DESCRIPTION).alias("text"))
    n_texts = texts.distinct().count()
    new = encode_missing_texts(texts, "text", cached, encoder).persist()
    try:
        n_new = new.count()  # encodes the missing texts once; the append writes the persisted vectors
        log.info("features: %d distinct item texts, %d to encode with %s", n_texts, n_new, encoder.name)
        if n_new:
            lake.append(new, settings, table)
    finally:
        new.unpersist()
    vectors = lake.read_table(spark, settings, table).where(F.col("encoder") == encoder.name)
    return vectors, {"texts_encoded": float(n_new), "texts_cached": float(n_texts - n_new)}


def run_features(spark: SparkSession, settings: Settings, run_date: dt.date) -> dict[str, float]:
    """Build and write both feature tables for ``run_date`` (idempotent: one replaceWhere commit each) and record
    counts, widths and the chosen KMeans k in ``ops.run_metrics`` (stage ``features``). Returns those metrics."""
    t0 = time.perf_counter()
    cfg = settings.features
    items = _read_or_empty(spark, settings, "silver.items")
    users = _read_or_empty(spark, settings, "silver.users")
    interactions = _read_or_empty(spark, settings, "gold.interactions").where(F.col(S.RUN_DATE) == F.lit(run_date))
    if items.limit(1).count() == 0:
        raise LookupError("silver.items is empty or missing: run `coldrec clean` first")

    encoder = make_text_encoder(cfg)
    text_vectors, text_counts = (None, {}) if not encoder.cacheable else refresh_text_vectors(spark, settings, items,
                                                                                              encoder)  # fmt: skip
    item_df = build_item_features(items, interactions, cfg, as_of=run_date, encoder=encoder, text_vectors=text_vectors)
    item_df = item_df.withColumn(S.RUN_DATE, F.lit(run_date))
    item_layout = layout_of(item_df, "features")
    item_df = item_df.cache()
    lake.overwrite_partition(item_df, settings, "gold.item_features", run_date)

    user_df = build_user_features(users, interactions, items, cfg, as_of=run_date, seed=settings.seed)
    user_df = user_df.withColumn(S.RUN_DATE, F.lit(run_date))
    cluster_meta = json.loads(user_df.schema["cluster_id"].metadata.get("coldrec", "{}"))
    demo_layout, behavior_layout = layout_of(user_df, "demographics"), layout_of(user_df, "behavior")
    user_df = user_df.cache()
    lake.overwrite_partition(user_df, settings, "gold.user_features", run_date)

    counts = lake.single_row(
        user_df.agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("has_history").cast("int")).alias("warm"))
    )
    metrics: dict[str, float] = {
        "items": float(item_df.count()),
        "users": float(counts["n"]),
        "users_with_history": float(counts["warm"] or 0),
        "item_feature_dim": float(sum(w for _, w in item_layout.get("blocks", []))),
        "user_feature_dim": float(
            sum(w for _, w in demo_layout.get("blocks", [])) + sum(w for _, w in behavior_layout.get("blocks", []))
        ),
        "kmeans_k": float(cluster_meta.get("k", 0)),
        **text_counts,
        "seconds": time.perf_counter() - t0,
    }
    silhouettes = cluster_meta.get("silhouette", {})
    if silhouettes:
        metrics["kmeans_silhouette"] = float(silhouettes[str(cluster_meta["k"])])
    detail = {
        "item_feature_dim": json.dumps(item_layout),
        "user_feature_dim": json.dumps({"demographics": demo_layout, "behavior": behavior_layout}),
        "kmeans_k": json.dumps(cluster_meta),
    }
    lake.record_metrics(spark, settings, run_date, "features", metrics, detail)
    item_df.unpersist()
    user_df.unpersist()
    return metrics
