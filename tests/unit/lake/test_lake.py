"""Delta round trip: written by Spark through coldrec.lake, read back by ``deltalake`` (delta-rs, no Spark).

This is how consumers without Spark (DuckDB, Polars) see the tables: the values, the table comment, the partitioning
and the CHECK constraints written by Spark must all be visible to another Delta implementation, and a write that
breaks a constraint must leave the table exactly as it was.
"""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.spark

D1 = dt.date(2024, 3, 1)
D2 = dt.date(2024, 3, 2)


def _recs(spark, run_date: dt.date, rows: list[tuple]):
    from coldrec.data import schemas as S

    return spark.createDataFrame([(run_date, *r) for r in rows], S.RECOMMENDATIONS)


def _read(path: str, version: int | None = None):
    from deltalake import DeltaTable

    from coldrec.delta_read import read_delta

    table = DeltaTable(path, version=version)
    frame = read_delta(path, version=version).to_pandas()
    frame = frame.sort_values(["run_date", "user_id", "rank"]).reset_index(drop=True)
    return table, frame


def test_round_trip_values_comment_and_constraints(spark, settings) -> None:
    from coldrec import lake

    rows_d1 = [
        ("u1", 1, "i9", 0.75, "cf", "because you bought i3", "v1"),
        ("u1", 2, "i4", 0.5, "popular", "popular in Shoes", "v1"),
        ("u2", 1, "i7", 0.25, "content", "like i2", "v1"),
    ]
    lake.overwrite_partition(_recs(spark, D1, rows_d1), settings, "gold.recommendations", D1)
    path = lake.table_path(settings, "gold.recommendations")
    assert path == f"{settings.lake_uri}/gold/recommendations"

    table, frame = _read(path)
    meta = table.metadata()
    assert meta.description == lake.TABLES["gold.recommendations"].comment
    assert meta.partition_columns == ["run_date"]
    config = meta.configuration
    assert config["delta.constraints.rank_positive"] == "rank >= 1"
    assert config["delta.enableChangeDataFeed"] == "true"
    assert [
        (r.run_date, r.user_id, int(r.rank), r.item_id, float(r.score), r.source, r.reason, r.model_version)
        for r in frame.itertuples()
    ] == [(D1, *r) for r in rows_d1]

    # a row breaking CHECK (rank >= 1) fails the whole write; delta-rs still sees the same version and rows
    version = table.version()
    bad = _recs(spark, D1, [("u3", 0, "i1", 0.1, "cf", "x", "v1"), ("u4", 1, "i2", 0.2, "cf", "y", "v1")])
    with pytest.raises(Exception, match=r"(?i)CHECK constraint|rank_positive"):
        lake.overwrite_partition(bad, settings, "gold.recommendations", D1)
    table_after, frame_after = _read(path)
    assert table_after.version() == version
    assert frame_after.equals(frame)


def test_partition_overwrite_is_idempotent_and_isolated(spark, settings) -> None:
    from coldrec import lake

    day1 = [("u1", 1, "i1", 1.0, "cf", "r", "v1")]
    day2 = [("u1", 1, "i2", 2.0, "cf", "r", "v1"), ("u2", 1, "i3", 3.0, "gan", "r", "v1")]
    lake.overwrite_partition(_recs(spark, D1, day1), settings, "gold.recommendations", D1)
    lake.overwrite_partition(_recs(spark, D2, day2), settings, "gold.recommendations", D2)
    path = lake.table_path(settings, "gold.recommendations")
    _, first = _read(path)
    # rerun of day 2 with the same rows: same content; a changed day 2 leaves day 1 untouched
    lake.overwrite_partition(_recs(spark, D2, day2), settings, "gold.recommendations", D2)
    _, rerun = _read(path)
    assert rerun.equals(first)
    lake.overwrite_partition(
        _recs(spark, D2, [("u9", 1, "i9", 9.0, "cf", "r", "v2")]), settings, "gold.recommendations", D2
    )
    table, changed = _read(path)
    assert changed[["run_date", "user_id", "item_id"]].values.tolist() == [[D1, "u1", "i1"], [D2, "u9", "i9"]]
    # time travel with delta-rs: the version before the last write still has the old day 2
    _, previous = _read(path, version=table.version() - 1)
    assert previous.equals(first)


def test_an_older_table_gets_the_contracts_properties_and_stats_only_where_listed(spark, settings) -> None:
    """A table made before a property joined its contract (here: silver.events' statistics columns) is brought up
    to it by ensure_table, once; files written afterwards carry min/max statistics only for the listed columns."""
    from delta.tables import DeltaTable as SparkTable
    from deltalake import DeltaTable

    from coldrec import lake
    from coldrec.data import schemas as S

    spec = lake.TABLES["silver.events"]
    path = lake.table_path(settings, "silver.events")
    SparkTable.create(spark).location(path).addColumns(spec.schema).partitionedBy(*spec.partition_by).execute()
    lake.ensure_table(spark, settings, "silver.events")
    version = DeltaTable(path).version()
    lake.ensure_table(spark, settings, "silver.events")  # nothing drifted any more: no new commit
    table = DeltaTable(path)
    assert table.version() == version
    config = table.metadata().configuration
    listed = spec.properties["delta.dataSkippingStatsColumns"]
    assert config["delta.dataSkippingStatsColumns"] == listed
    assert "delta.constraints.not_after_ingest" in config

    ts = dt.datetime(2024, 3, 1, 10)
    row = ("e1", "u1", "i1", "view", ts, None, "s1", None, None, False, "f.jsonl", D1, D1)
    frame = spark.createDataFrame([row], S.SILVER_EVENTS)
    lake.overwrite_where(frame, settings, "silver.events", f"ingest_date = DATE'{D1.isoformat()}'")
    actions = DeltaTable(path).get_add_actions(flatten=True).column_names
    with_min = {name.removeprefix("min.") for name in actions if name.startswith("min.")}
    assert with_min == set(listed.split(","))


def test_ensure_table_checks_once_per_process_but_recreates_a_removed_table(spark, settings) -> None:
    """The contract check runs once per table in a process (later writes skip ~1 s of Delta commands), and in a
    new process only where the Delta log shows drift; a table removed since then is created again, with its
    constraints."""
    import shutil

    from deltalake import DeltaTable

    from coldrec import lake

    path = lake.table_path(settings, "gold.item_similarity")
    lake.ensure_table(spark, settings, "gold.item_similarity")
    version = DeltaTable(path).version()
    sc = spark.sparkContext

    def jobs_of_ensure(group: str) -> list[int]:
        """Spark jobs that one ensure_table call ran (the full check runs at least one)."""
        sc.setJobGroup(group, "ensure_table")
        try:
            lake.ensure_table(spark, settings, "gold.item_similarity")
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)
        return sc.statusTracker().getJobIdsForGroup(group)

    assert jobs_of_ensure("ensure-again") == []
    assert DeltaTable(path).version() == version
    lake.forget_checked_tables()  # as in a new process: the Delta log shows the contract in place, no Spark job
    assert jobs_of_ensure("ensure-forgotten") == []
    spark.sql(f"ALTER TABLE delta.`{path}` DROP CONSTRAINT not_self")  # a drifted table: the full check repairs it
    lake.forget_checked_tables()
    assert jobs_of_ensure("ensure-drifted") != []
    assert "delta.constraints.not_self" in DeltaTable(path).metadata().configuration
    shutil.rmtree(path)
    lake.ensure_table(spark, settings, "gold.item_similarity")
    config = DeltaTable(path).metadata().configuration
    assert {"delta.constraints.not_self", "delta.constraints.support_positive"} <= set(config)
