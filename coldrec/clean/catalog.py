"""Items and users: validate, quarantine, and upsert into ``silver.items`` / ``silver.users`` (latest record wins).

Which files a run reads: the top-level files of ``landing/items/`` are a full snapshot of the current catalog and are
read on every run; ``landing/items/date=D/`` holds the deltas of day D. Within a run the winner for an id is the
record with the latest effective date (a dated folder's date; the snapshot counts as the run date), then a dated
record over a snapshot one, then the later file name, then the later line.

Why a conditional MERGE instead of a plain upsert: a row is only updated when the incoming record is at least as
recent (``updated_date``) and actually differs. So a rerun changes nothing (idempotent), rerunning an old date never
overwrites newer data, and ``updated_date`` is the run date of the record's last real change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from coldrec import lake
from coldrec.clean import rules as R
from coldrec.clean.parse import RAW, ROW_ORDER, date_in_path, list_files, read_raw
from coldrec.clean.report import DatasetCounts
from coldrec.clean.validate import REASON, validate_items, validate_users
from coldrec.config import Settings
from coldrec.data import schemas as S

UPDATED_DATE = "updated_date"
EFFECTIVE_DATE = "_effective_date"
_DATED = "_dated"
LATEST = "_latest"


@dataclass(frozen=True)
class CatalogKind:
    dataset: str  # "items" / "users": the landing folder and the silver.rejected dataset
    table: str
    key: str
    raw_schema: T.StructType

    def validate(self, raw: DataFrame, settings: Settings) -> DataFrame:
        fn = validate_items if self.dataset == "items" else validate_users
        return fn(raw, settings.clean)


ITEMS = CatalogKind("items", "silver.items", S.ITEM_ID, S.RAW_ITEMS)
USERS = CatalogKind("users", "silver.users", S.USER_ID, S.RAW_USERS)


@dataclass
class CatalogResult:
    """A catalog dataset's outcome: per-date counts, the rejected records (lazy) and the MERGE figures."""

    counts: dict[dt.date, DatasetCounts]
    rejected: DataFrame  # silver.rejected columns
    inserted: int = 0
    updated: int = 0
    cached: DataFrame | None = None  # the persisted validated records; the job unpersists after writing

    def release(self) -> None:
        if self.cached is not None:
            self.cached.unpersist()
            self.cached = None


def catalog_files(spark: SparkSession, settings: Settings, dataset: str, dates: list[dt.date]) -> list[str]:
    root = f"{settings.landing_uri.rstrip('/')}/{dataset}"
    files = list_files(spark, root)
    for day in dates:
        files += list_files(spark, f"{root}/date={day.isoformat()}")
    return files


def with_effective_date(raw: DataFrame, run_date: dt.date) -> DataFrame:
    """Effective date of each record: its ``date=`` folder, or ``run_date`` for the top-level snapshot."""
    folder = date_in_path(F.col(S.SOURCE_FILE))
    return raw.withColumn(_DATED, folder.isNotNull()).withColumn(EFFECTIVE_DATE, F.coalesce(folder, F.lit(run_date)))


def mark_latest(validated: DataFrame, key: str) -> DataFrame:
    """Add ``_latest``: true on the one valid record per key that wins (latest effective date, dated over
    snapshot, later file, later line); rejected records are never latest."""
    order = [F.col(c).desc() for c in (EFFECTIVE_DATE, _DATED, S.SOURCE_FILE, ROW_ORDER)]
    w = Window.partitionBy(F.col(REASON).isNull(), key).orderBy(*order)
    return validated.withColumn(LATEST, F.col(REASON).isNull() & (F.row_number().over(w) == 1))


def to_rejected(validated: DataFrame, dataset: str, run_date_col: str) -> DataFrame:
    """Rejected records in the ``silver.rejected`` shape (blank lines are not records and are left out)."""
    return validated.filter(F.col(REASON).isNotNull() & (F.col(REASON) != R.BLANK_LINE)).select(
        F.col(run_date_col).alias(S.RUN_DATE),
        F.lit(dataset).alias("dataset"),
        F.col(REASON).alias("reason"),
        # a quarantine a consumer cannot read is no quarantine: the text is made valid UTF-8 (pyarrow, pandas and
        # Polars refuse a string column that is not) and the exact bytes ride beside it
        F.make_valid_utf8(F.col(RAW)).alias("raw"),
        F.when(F.col(REASON) != R.UNREADABLE_FILE, F.col(RAW).cast(T.BinaryType())).alias("raw_bytes"),
        F.col(S.SOURCE_FILE),
    )


def upsert_latest(latest: DataFrame, settings: Settings, kind: CatalogKind) -> tuple[int, int]:
    """Conditional MERGE (see module doc); returns (inserted, updated) from the commit's metrics.

    The first load into an empty table is a plain append (same result, one commit, no join against nothing).
    """
    spark = latest.sparkSession
    spec = lake.TABLES[kind.table]
    table = lake.ensure_table(spark, settings, kind.table)
    source = latest.withColumn(UPDATED_DATE, F.col(EFFECTIVE_DATE)).select(
        [F.col(f.name).cast(f.dataType).alias(f.name) for f in spec.schema.fields]
    )
    if table.toDF().isEmpty():
        source.write.format("delta").mode("append").save(lake.table_path(settings, kind.table))
        last = table.history(1).select("operationMetrics").first()
        return int(((last["operationMetrics"] or {}) if last else {}).get("numOutputRows", 0)), 0
    content = [name for name in spec.schema.fieldNames() if name not in (kind.key, UPDATED_DATE)]
    changed = " OR ".join(f"NOT (t.{c} <=> s.{c})" for c in content)
    metrics = lake.single_row(
        table.alias("t")
        .merge(source.alias("s"), f"t.{kind.key} = s.{kind.key}")
        .whenMatchedUpdateAll(condition=f"s.{UPDATED_DATE} >= t.{UPDATED_DATE} AND ({changed})")
        .whenNotMatchedInsertAll()
        .execute()  # one row of the MERGE's own counts: no read of the table's history afterwards
    )
    return int(metrics["num_inserted_rows"]), int(metrics["num_updated_rows"])


def clean_catalog(spark: SparkSession, settings: Settings, kind: CatalogKind, dates: list[dt.date]) -> CatalogResult:
    """Read, validate and upsert one catalog dataset for the run dates; rejected records are returned, not written
    (the job writes all quarantine rows of a run in one commit)."""
    last = max(dates)
    files = catalog_files(spark, settings, kind.dataset, dates)
    # validate_* keep the contract columns and source_file; the effective date is derived from source_file after
    validated = with_effective_date(kind.validate(read_raw(spark, files, kind.raw_schema), settings), last)
    counts = {day: DatasetCounts() for day in dates}
    result = CatalogResult(counts=counts, rejected=to_rejected(validated, kind.dataset, EFFECTIVE_DATE))
    if not files:
        return result
    validated = result.cached = mark_latest(validated, kind.key).persist()
    result.rejected = to_rejected(validated, kind.dataset, EFFECTIVE_DATE)
    for row in validated.groupBy(EFFECTIVE_DATE, REASON, LATEST).count().collect():
        target = counts.setdefault(row[EFFECTIVE_DATE], DatasetCounts())
        reason, n = row[REASON], int(row["count"])
        if reason == R.BLANK_LINE:
            continue
        target.input_rows += n
        if reason is not None:
            target.rejected_by_reason[reason] = n
            continue
        target.accepted += n
        target.superseded += 0 if row[LATEST] else n  # replaced by a later record of the same id
    if any(c.accepted for c in counts.values()):
        latest = validated.filter(F.col(LATEST))
        result.inserted, result.updated = upsert_latest(latest, settings, kind)
    return result
