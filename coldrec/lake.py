"""The Delta lake: table names, locations, creation with contracts, and idempotent atomic writes.

Why path-based tables: consumers without Spark (delta-rs through DuckDB or Polars) read a table by its location, and
a cluster only changes ``COLDREC_LAKE_URI``. ``silver.events`` lives at ``<lake>/silver/events``.

Every write for a run date is one Delta commit that replaces exactly that date's rows (``replaceWhere``) or upserts
by key (``MERGE``): a rerun gives the same table content, and readers see the old or the new version, never a mix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import types as T

from coldrec.config import Settings
from coldrec.data import schemas as S
from coldrec.paths import table_path


@dataclass(frozen=True)
class TableSpec:
    """A Delta table's contract: schema, partitioning, comment, CHECK constraints and table properties."""

    name: str
    schema: T.StructType
    comment: str
    partition_by: tuple[str, ...] = ()
    checks: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "silver.events",
            S.SILVER_EVENTS,
            "Cleaned behavior events, one row per accepted event; bots flagged (is_bot), never dropped. "
            "Late events sit in their own event_date; ingest_date is the run that read them (reruns replace by it).",
            ("event_date",),
            {
                "event_type_known": "event_type IN ('view','click','favorite','cart','purchase','rating')",
                "rating_range": "rating IS NULL OR (rating >= 1 AND rating <= 5)",
                "price_non_negative": "price IS NULL OR price >= 0",
                "quantity_positive": "quantity IS NULL OR quantity >= 1",
                "event_date_of_ts": "event_date = CAST(ts AS DATE)",
                "not_after_ingest": "event_date <= ingest_date",
            },
            # file statistics only for the columns readers filter on: collecting min/max of every string column
            # (event and session ids, paths) was a sizeable share of the nightly write's CPU
            {"delta.dataSkippingStatsColumns": "ingest_date,user_id,item_id,event_type,ts"},
        ),
        TableSpec(
            "silver.items",
            S.SILVER_ITEMS,
            "Product catalog, one row per item_id (latest record wins).",
            (),
            {"price_non_negative": "price IS NULL OR price >= 0"},
        ),
        TableSpec(
            "silver.users",
            S.SILVER_USERS,
            "Users and their declared attributes, one row per user_id (latest record wins).",
            (),
            {"age_range": "age IS NULL OR (age >= 0 AND age <= 120)"},
        ),
        TableSpec(
            "silver.rejected",
            S.SILVER_REJECTED,
            "Quarantine: every record the cleaning job refused, with the rule that refused it.",
            ("run_date",),
            {
                "reason_named": "length(reason) > 0",
                "dataset_known": "dataset IN ('events','items','users')",
            },
        ),
        TableSpec(
            "gold.interactions",
            S.GOLD_INTERACTIONS,
            "User x item interaction weights (event weights x time decay, per-user normalized), bots excluded.",
            ("run_date",),
            {"weight_positive": "weight > 0"},
        ),
        TableSpec(
            "gold.item_similarity",
            S.SIMILARITY,
            "Item-item similarities, top-K neighbours per item.",
            ("run_date",),
            {"not_self": "id <> neighbor_id", "support_positive": "support >= 1"},
        ),
        TableSpec(
            "gold.user_similarity",
            S.SIMILARITY,
            "User-user similarities, top-K neighbours per user.",
            ("run_date",),
            {"not_self": "id <> neighbor_id", "support_positive": "support >= 1"},
        ),
        TableSpec(
            "gold.similar_items",
            S.SIMILAR_ITEMS,
            "Similar products for item pages, cold items included (content or popularity fallback).",
            ("run_date",),
            {"rank_positive": "rank >= 1"},
        ),
        TableSpec(
            "gold.recommendations",
            S.RECOMMENDATIONS,
            "Per-user top-N recommendations of each nightly run; read the newest run_date or time-travel.",
            ("run_date",),
            {"rank_positive": "rank >= 1", "score_finite": "score = score AND abs(score) < 1e300"},
            {"delta.enableChangeDataFeed": "true"},
        ),
        TableSpec(
            "ops.run_metrics",
            S.RUN_METRICS,
            "Per-run counts, data-quality and evaluation metrics of every stage.",
            ("run_date",),
        ),
    ]
}


def register_table(spec: TableSpec) -> None:
    """Add a table contract defined by another module (e.g. feature tables whose columns depend on config)."""
    TABLES[spec.name] = spec


#: (table path, contract) pairs already brought up to their contract by this process
_ENSURED: set[tuple[str, str]] = set()


def forget_checked_tables() -> None:
    """Make the next :func:`ensure_table` of every table run its full check again, as in a new process (the
    benchmarks time what a nightly task, a process of its own, pays)."""
    _ENSURED.clear()


def _contract_holds(path: str, spec: TableSpec) -> bool:
    """Whether the table at ``path`` already has its contract's columns (names, in order), partitioning,
    properties and constraints (by name, as the full check adds them), read from the Delta log with delta-rs:
    metadata only, tens of milliseconds and no Spark job. False when unsure (no table, a storage delta-rs cannot
    reach, any difference): the full check then runs and repairs what it can."""
    try:
        from deltalake import DeltaTable as LogTable

        table = LogTable(path)
        meta = table.metadata()
        columns = [f.name for f in table.schema().fields]
    except Exception:
        return False
    config = meta.configuration
    constraints = {k.removeprefix("delta.constraints.").lower() for k in config if k.startswith("delta.constraints.")}
    return (
        columns == spec.schema.fieldNames()
        and list(meta.partition_columns) == list(spec.partition_by)
        and all(config.get(k) == v for k, v in spec.properties.items())
        and {c.lower() for c in spec.checks} <= constraints
    )


@contextmanager
def ensured_meanwhile(spark: SparkSession, settings: Settings, *names: str) -> Iterator[None]:
    """Run :func:`ensure_table` for ``names`` in a thread while the block runs (e.g. while a job computes what
    will be written): its driver-side Delta commands then overlap with that work instead of preceding the write,
    whose own ``ensure_table`` finds the check done. An error of the check is raised after the block; when the
    block itself fails, its error is the one that propagates."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="coldrec-ensure") as pool:
        checked = pool.submit(lambda: [ensure_table(spark, settings, name) for name in names])
        try:
            yield
        except BaseException:
            checked.exception()  # wait for the thread, keep the block's error
            raise
        checked.result()


def _add_missing_columns(spark: SparkSession, path: str, spec: TableSpec, table: DeltaTable) -> None:
    """A table created by an older version gets the contract's newer nullable columns (e.g. ``silver.rejected``'s
    ``raw_bytes``), added in the contract's order after its own: one ``ALTER TABLE ... ADD COLUMNS``, existing
    rows read null there. Without it the next write, which selects the contract's columns, would fail."""
    have = set(table.toDF().schema.fieldNames())
    missing = [f for f in spec.schema.fields if f.name not in have and f.nullable]
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")


def ensure_table(spark: SparkSession, settings: Settings, name: str) -> DeltaTable:
    """Create the table with its contract if it does not exist yet; return it.

    Constraints are added after creation because Delta's builder has no CHECK API; adding an existing one is
    skipped so the call is idempotent. A table created by an older version gets the contract's table properties
    that it lacks or holds with another value (one ``ALTER TABLE ... SET TBLPROPERTIES``).

    The full check (about 0.5-1 s of Delta commands) runs only where the Delta log, read with delta-rs, shows the
    contract is not in place yet (:func:`_contract_holds`), and at most once per table and contract in a process;
    later calls only confirm that the table is still there, which every write of a nightly run would otherwise pay
    again.
    """
    spec = TABLES[name]
    path = table_path(settings, name)
    memo = (path, repr(spec))
    if memo in _ENSURED and DeltaTable.isDeltaTable(spark, path):
        return DeltaTable.forPath(spark, path)
    if _contract_holds(path, spec):  # the usual case in a new process: the log says all is in place
        _ENSURED.add(memo)
        return DeltaTable.forPath(spark, path)
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(spec.schema).comment(spec.comment)
    if spec.partition_by:
        builder = builder.partitionedBy(*spec.partition_by)
    for key, value in spec.properties.items():
        builder = builder.property(key, value)
    table = builder.execute()
    _add_missing_columns(spark, path, spec, table)
    properties = single_row(table.detail().select("properties"))["properties"]
    drifted = {k: v for k, v in spec.properties.items() if properties.get(k) != v}
    if drifted:
        assignments = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(drifted.items()))
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({assignments})")
    existing = {k.removeprefix("delta.constraints.").lower() for k in properties if k.startswith("delta.constraints.")}
    for cname, expr in spec.checks.items():
        if cname.lower() not in existing:
            spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT {cname} CHECK ({expr})")
    _ENSURED.add(memo)
    return table


def _as_of(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select the contract's columns in order, cast to its types: the select is the contract."""
    from pyspark.sql import functions as F

    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def overwrite_partition(
    df: DataFrame,
    settings: Settings,
    name: str,
    partition_value: dt.date | str,
    partition_col: str | None = None,
) -> None:
    """Replace exactly one partition (e.g. a run date) in one atomic commit; other partitions stay untouched."""
    spark = df.sparkSession
    spec = TABLES[name]
    col = partition_col or spec.partition_by[0]
    ensure_table(spark, settings, name)
    value = partition_value.isoformat() if isinstance(partition_value, dt.date) else str(partition_value)
    (
        _as_of(df, spec.schema)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"{col} = '{value}'")
        .save(table_path(settings, name))
    )


def overwrite_where(df: DataFrame, settings: Settings, name: str, predicate: str) -> None:
    """Replace the rows matching ``predicate`` (e.g. a range of dates) in one atomic commit."""
    spark = df.sparkSession
    spec = TABLES[name]
    ensure_table(spark, settings, name)
    (
        _as_of(df, spec.schema)
        .write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", predicate)
        .save(table_path(settings, name))
    )


def append(df: DataFrame, settings: Settings, name: str) -> None:
    """Add rows in one commit (for tables whose writer has already excluded what is there, e.g. a cache)."""
    spark = df.sparkSession
    spec = TABLES[name]
    ensure_table(spark, settings, name)
    _as_of(df, spec.schema).write.format("delta").mode("append").save(table_path(settings, name))


def merge_upsert(df: DataFrame, settings: Settings, name: str, keys: list[str]) -> None:
    """Upsert rows by key in one MERGE commit (latest record wins); ``df`` must be unique on ``keys``."""
    spark = df.sparkSession
    spec = TABLES[name]
    table = ensure_table(spark, settings, name)
    cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    (
        table.alias("t")
        .merge(_as_of(df, spec.schema).alias("s"), cond)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def read_table(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    return spark.read.format("delta").load(table_path(settings, name))


def table_exists(spark: SparkSession, settings: Settings, name: str) -> bool:
    return DeltaTable.isDeltaTable(spark, table_path(settings, name))


def single_row(df: DataFrame) -> Row:
    """The one row of a global aggregate or a command's result: ``first()`` typed as present, failing loudly if not."""
    row = df.first()
    if row is None:
        raise ValueError("expected a row, the DataFrame is empty")
    return row


def record_metrics(
    spark: SparkSession,
    settings: Settings,
    run_date: dt.date,
    stage: str,
    metrics: Mapping[str, float | int | None],
    detail: dict[str, str] | None = None,
) -> None:
    """Replace this stage's metrics for the run date in ``ops.run_metrics`` (idempotent per run date and stage)."""
    detail = detail or {}
    rows = [
        (run_date, stage, key, None if value is None else float(value), detail.get(key))
        for key, value in sorted(metrics.items())
    ]
    df = spark.createDataFrame(rows, S.RUN_METRICS)
    overwrite_where(df, settings, "ops.run_metrics", f"run_date = '{run_date.isoformat()}' AND stage = '{stage}'")
