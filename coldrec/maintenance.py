"""Table maintenance: compaction (OPTIMIZE), file clean-up (VACUUM) and retention of quarantine and run metrics.

Why a task of its own: nightly writes add small files and old versions; compacting and vacuuming on a separate
schedule keeps readers fast without slowing the nightly run, and retention keeps audit tables bounded.
"""

from __future__ import annotations

import datetime as dt
import logging

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

import coldrec.features.tables
import coldrec.publish  # noqa: F401 - registers the staging table
from coldrec import lake
from coldrec.config import Settings

log = logging.getLogger(__name__)

#: (table, date column, settings field holding the retention in days)
RETENTION = (
    ("silver.rejected", "run_date", "quarantine_retention_days"),
    ("ops.run_metrics", "run_date", "run_metrics_retention_days"),
)


def apply_retention(spark: SparkSession, settings: Settings, today: dt.date) -> dict[str, int]:
    """Delete rows older than their table's retention; returns deleted row counts per table."""
    deleted: dict[str, int] = {}
    for name, column, field in RETENTION:
        if not lake.table_exists(spark, settings, name):
            continue
        cutoff = today - dt.timedelta(days=getattr(settings.publish, field))
        table = DeltaTable.forPath(spark, lake.table_path(settings, name))
        before = table.toDF().count()
        table.delete(f"{column} < '{cutoff.isoformat()}'")
        deleted[name] = before - table.toDF().count()
    return deleted


def optimize_and_vacuum(spark: SparkSession, settings: Settings) -> dict[str, dict[str, float]]:
    """OPTIMIZE (bin-packing compaction) then VACUUM every existing coldrec table; returns files removed/added."""
    out: dict[str, dict[str, float]] = {}
    if settings.publish.vacuum_retention_hours < 168:
        # Delta refuses a retention under 7 days unless told that the configured value is deliberate.
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    for name in sorted(lake.TABLES):
        if not lake.table_exists(spark, settings, name):
            continue
        table = DeltaTable.forPath(spark, lake.table_path(settings, name))
        metrics = lake.single_row(
            table.optimize().executeCompaction().select("metrics.numFilesAdded", "metrics.numFilesRemoved")
        )
        table.vacuum(float(settings.publish.vacuum_retention_hours))
        out[name] = {"files_added": float(metrics[0] or 0), "files_removed": float(metrics[1] or 0)}
        log.info("maintained %s: %s", name, out[name])
    return out


def run_maintenance(spark: SparkSession, settings: Settings, today: dt.date) -> dict[str, float]:
    """Retention, then compaction and vacuum; records what it did in ops.run_metrics (stage 'maintenance')."""
    deleted = apply_retention(spark, settings, today)
    compacted = optimize_and_vacuum(spark, settings)
    metrics: dict[str, float] = {f"deleted.{k}": float(v) for k, v in deleted.items()}
    metrics.update({f"files_removed.{k}": v["files_removed"] for k, v in compacted.items()})
    lake.record_metrics(spark, settings, today, "maintenance", metrics)
    return metrics
