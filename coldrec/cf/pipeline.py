"""The similarity step of a run date: ``gold.interactions`` -> ``gold.item_similarity``, ``gold.user_similarity``,
``gold.similar_items`` (each one atomic ``replaceWhere`` commit of the run date, so a rerun replaces, never adds)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from rich.console import Console

from coldrec import lake
from coldrec.cf.files import partition_files
from coldrec.cf.similar_items import item_popularity, similar_items
from coldrec.cf.similarity import (
    SimilarityParams,
    SimilarityResult,
    item_similarity,
    user_similarity,
    with_run_columns,
)
from coldrec.config import Settings
from coldrec.data import schemas as S
from coldrec.interactions import interactions_exist, read_interactions, run_interactions
from coldrec.spark import job_description

console = Console(stderr=True)


def similarity_to_table(
    settings: Settings,
    compute: Callable[..., SimilarityResult],
    inter: DataFrame,
    params: SimilarityParams,
    files: list[str] | None,
    table: str,
    run_date: dt.date,
) -> dict[str, float]:
    """One side's neighbours (``compute`` = item_similarity / user_similarity) into the run date's partition of
    ``table``; returns the run's stats. The table's contract check runs beside the block plan's Spark job (see
    :func:`coldrec.lake.ensured_meanwhile`)."""
    with lake.ensured_meanwhile(inter.sparkSession, settings, table):
        result = compute(inter, params, files)
    try:
        lake.overwrite_partition(with_run_columns(result.neighbors, params.metric, run_date), settings, table, run_date)
        return result.stats
    finally:
        result.release()


def _catalog_items(spark: SparkSession, settings: Settings) -> DataFrame | None:
    if lake.table_exists(spark, settings, "silver.items"):
        return lake.read_table(spark, settings, "silver.items").select(S.ITEM_ID)
    return None


def run_similarities(spark: SparkSession, settings: Settings, run_date: dt.date) -> dict[str, float]:
    """Compute and write the run date's similarity tables; builds ``gold.interactions`` first when it is missing.

    Returns (and records in ``ops.run_metrics``, stage ``similarity``) sizes, the cost-model work and timings.
    """
    cfg = settings.similarity
    metrics: dict[str, float] = {}
    if not interactions_exist(spark, settings, run_date):
        console.log(f"[similarity] gold.interactions has no {run_date} partition: building it")
        metrics.update({f"interactions_{k}": v for k, v in run_interactions(spark, settings, run_date).items()})
    inter = read_interactions(spark, settings, run_date).select(S.USER_ID, S.ITEM_ID, "weight")
    # the tasks read the partition's Parquet files themselves when they are plain Parquet (see coldrec.cf.files)
    files = partition_files(lake.table_path(settings, "gold.interactions"), S.RUN_DATE, run_date.isoformat())

    sides = [("item", "gold.item_similarity", item_similarity)]
    if cfg.user_user:
        sides.append(("user", "gold.user_similarity", user_similarity))
    for side, table, fn in sides:
        params = SimilarityParams.from_config(cfg, side, seed=settings.seed)  # type: ignore[arg-type]
        console.log(f"[similarity] {side}-{side} {params.metric}, top {params.k}, cap {params.cap}")
        started = time.perf_counter()
        with job_description(spark, f"coldrec similarities: {side}-{side} {params.metric}"):
            stats = similarity_to_table(settings, fn, inter, params, files, table, run_date)
        metrics.update({f"{side}_{k}": v for k, v in stats.items()})
        metrics[f"{side}_seconds"] = round(time.perf_counter() - started, 3)
        console.log(f"[similarity] {table} written in {metrics[f'{side}_seconds']} s (work {stats['work']:.3g})")

    cf = (
        lake.read_table(spark, settings, "gold.item_similarity")
        .where(F.col(S.RUN_DATE) == F.lit(run_date))
        .select(F.col("id").alias(S.ITEM_ID), "neighbor_id", F.col("similarity").alias("score"))
    )
    popularity = item_popularity(inter)
    catalog = _catalog_items(spark, settings)
    items = None if catalog is None else catalog.unionByName(popularity.select(S.ITEM_ID))
    lists = similar_items(cf, popularity, None, items=items, n=cfg.similar_items_n)
    lake.overwrite_partition(lists.withColumn(S.RUN_DATE, F.lit(run_date)), settings, "gold.similar_items", run_date)
    counts = (
        lake.read_table(spark, settings, "gold.similar_items")
        .where(F.col(S.RUN_DATE) == F.lit(run_date))
        .groupBy("source")
        .count()
        .collect()
    )
    for row in counts:
        metrics[f"similar_items_{row['source']}"] = float(row["count"])
    console.log(f"[similarity] gold.similar_items written ({ {r['source']: r['count'] for r in counts} })")
    lake.record_metrics(spark, settings, run_date, "similarity", metrics)
    return metrics
