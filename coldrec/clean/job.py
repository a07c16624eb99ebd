"""The cleaning job: one run date (or a backfill of several) from the landing folder into the silver tables.

Order of work for run dates ``D1..Dn`` (one date is the nightly case):

1. items and users, each in its own thread beside the events: validate, MERGE the latest valid records (with
   ``unknown_item_policy=quarantine`` the events wait for the items, which that rule checks against);
2. events of ``events/date=Di/``: parse + validate in one pass, persisted, counted per (date, reason);
3. the data-quality gate per date, from those counts, *before* anything is written to ``silver.events``;
4. ``silver.events``: dates that passed, deduplicated, bots flagged, sessionized, one commit replacing
   ``ingest_date IN (passed dates)``; the accepted / late / bot counts are observed while the rows stream into the
   write (no read-back; a backfill of many dates counts them afterwards by one group-by over the committed rows),
   and the write runs in a thread beside step 5;
5. ``silver.rejected``: every rejected record of the run (events, items, users), one commit replacing those dates,
   once the catalog threads are done;
6. ``ops.run_metrics`` (stage ``clean``): the counts of every date, one commit; then a :class:`DataQualityError`
   if any date failed.

Why the catalog runs beside the events: a MERGE of a few thousand changed records is mostly driver-side latency
(a handful of small Spark jobs and a commit), which overlaps well with parsing a day of events; the events gate does
not depend on the catalog. If a catalog thread fails after the events were written, the job fails before the
quarantine and the metrics commit, and the retry (a rerun of the date, idempotent) writes everything again.

Why ``ingest_date`` and not ``event_date`` decides what a rerun replaces: a late event found in day D's folder
belongs to its own (earlier) ``event_date``, which other runs also write. Replacing "the rows that run D produced"
(``ingest_date = D``) makes a rerun of D give the same table content whatever ran in between, and never touches rows
another run wrote. Each of the writes above is a single Delta commit (atomic), so a reader never sees half a run;
a failed gate leaves the previous content of that date's rows in place.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from coldrec import lake
from coldrec.clean import rules as R
from coldrec.clean.bots import bot_flag, burst
from coldrec.clean.catalog import ITEMS, USERS, CatalogKind, CatalogResult, clean_catalog, to_rejected
from coldrec.clean.dedupe import fill_event_id, remove_duplicates
from coldrec.clean.parse import FILE_KEY, INGEST_DATE, file_key, file_keys, list_files_with_sizes, read_raw
from coldrec.clean.report import STAGE, CleanReport, DataQualityError, check_gate
from coldrec.clean.sessionize import filled_session_id, session_start
from coldrec.clean.timeline import cluster_by_user, timeline
from coldrec.clean.validate import REASON, validate_events
from coldrec.config import Settings
from coldrec.data import schemas as S

log = logging.getLogger("coldrec.clean")
_BYTES_PER_PARTITION = 64 * 1024 * 1024
_FIRST = "_first_of_timeline"  # curate_events marks each user's first event of a run (counts bot users)
_T = TypeVar("_T")


def events_folder(settings: Settings, day: dt.date) -> str:
    return f"{settings.landing_uri.rstrip('/')}/events/date={day.isoformat()}"


def _date_list(dates: list[dt.date]) -> str:
    return ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(dates))


def read_events(spark: SparkSession, files_by_day: Mapping[dt.date, list[str]]) -> DataFrame:
    """Raw events of each run date's files, tagged with that date (``ingest_date``).

    One read of every file, whatever the number of days, then each file's day from a small broadcast table
    (file -> day). Why not one read per day with the day as a literal: a backfill of a year unioned 364 scans into
    one plan; planning and the task binaries grew with the days (a year's history did not get past validation in
    54 minutes, where 60 days took 15) while a single scan costs what the events cost.
    """
    day_of = {path: day for day, files in files_by_day.items() for path in files}
    if not day_of:
        return read_raw(spark, [], S.RAW_EVENTS).withColumn(INGEST_DATE, F.lit(None).cast(T.DateType()))
    raw = read_raw(spark, sorted(day_of), S.RAW_EVENTS)
    jvm: Any = spark._jvm
    conf = spark._jsc.hadoopConfiguration()

    def spelled(path: str) -> str:
        """As ``_metadata.file_path`` spells a file Spark reads: its file system's own path for it, URL-encoded
        (``file:/tmp/x`` for ``/tmp/x``; ``makeQualified(...).toUri()`` would say ``file:///tmp/x``)."""
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        listed = hadoop_path.getFileSystem(conf).getFileStatus(hadoop_path).getPath().toString()
        return str(jvm.org.apache.hadoop.fs.Path(listed).toUri().toString())  # as file_keys spells a listed file

    schema = T.StructType(
        [T.StructField(S.SOURCE_FILE, T.StringType(), nullable=False), T.StructField(INGEST_DATE, T.DateType())]
    )
    days = spark.createDataFrame([(spelled(p), d) for p, d in sorted(day_of.items())], schema)
    return raw.join(F.broadcast(days), on=S.SOURCE_FILE, how="left").select(*raw.columns, INGEST_DATE)


def with_source_file(frame: DataFrame, paths: DataFrame) -> DataFrame:
    """Swap ``_file_key`` for the ``source_file`` path (``paths``: :func:`coldrec.clean.parse.file_keys`)."""
    return frame.join(F.broadcast(paths), on=FILE_KEY, how="left").drop(FILE_KEY)


def known_items(spark: SparkSession, settings: Settings) -> DataFrame:
    """Item ids of ``silver.items`` (empty when there is no catalog yet)."""
    if lake.table_exists(spark, settings, "silver.items"):
        return lake.read_table(spark, settings, "silver.items").select(S.ITEM_ID)
    return spark.createDataFrame([], T.StructType([T.StructField(S.ITEM_ID, T.StringType())]))


def _right_sized(df: DataFrame, total_bytes: int, parallelism: int) -> DataFrame:
    """Merge the partitions of many small files (a backfill reads one file per day) before caching, so each later
    pass over the cache runs a few tasks instead of one per file; large inputs keep Spark's own split."""
    target = max(parallelism, -(-total_bytes // _BYTES_PER_PARTITION))
    return df.coalesce(target) if df.rdd.getNumPartitions() > target else df


def curate_events(validated: DataFrame, paths: DataFrame, settings: Settings) -> DataFrame:
    """Accepted records -> ``silver.events`` rows: ids filled, duplicates removed, bots flagged, sessions filled.

    ``validated`` carries the 64-bit ``_file_key`` instead of the file path (a path is ~100 bytes per row, the
    largest field of an event): it rides through the shuffle and the sorts (as the timeline's last tie-breaker) and
    ``paths`` gives the path back at the end. The output also has ``_first_of_timeline`` (a user's first event of a
    run, for counting bot users while writing); the table write drops it.
    """
    cfg = settings.clean
    columns = [f.name for f in S.SILVER_EVENTS.fields if f.name != S.IS_BOT]
    keyed = [FILE_KEY if c == S.SOURCE_FILE else c for c in columns]
    accepted = fill_event_id(validated.filter(F.col(REASON).isNull())).select(*keyed)
    compact = accepted.withColumnRenamed(FILE_KEY, S.SOURCE_FILE)
    deduped = remove_duplicates(cluster_by_user(compact))
    # bots and sessions in two window operators over the one sorted timeline: offsets first, then the frames
    marked = deduped.select(
        "*",
        burst(cfg.bot_events_per_minute, cfg.bot_events_per_day).alias("_burst"),
        session_start(cfg.session_gap_minutes).alias("_start"),
        F.lag(S.TS).over(timeline()).isNull().alias(_FIRST),
    )
    curated = marked.select(
        *[F.col(c) for c in columns if c not in (S.SESSION_ID, S.SOURCE_FILE)],
        filled_session_id(F.col("_start")).alias(S.SESSION_ID),
        bot_flag(F.col("_burst")).alias(S.IS_BOT),
        F.col(S.SOURCE_FILE).alias(FILE_KEY),
        _FIRST,
    )
    return with_source_file(curated, paths)


#: the most run dates whose counts are observed during the write: the observation evaluates 4 aggregates per date on
#: every row (rows x dates), which made a year's backfill spend minutes in it; more dates are counted afterwards by
#: one group-by over the committed rows (:func:`count_written`)
OBSERVE_MAX_DATES = 7

_WRITTEN_FIGURES = ("accepted", "late", "bot_events", "bot_users")


def observe_written(events: DataFrame, dates: list[dt.date]) -> tuple[DataFrame, Observation | None]:
    """Count, per run date, the rows the ``silver.events`` write commits (accepted, late, bot events and users)
    as they stream through the write: no read-back of the table afterwards. ``None`` (no observation) for more than
    :data:`OBSERVE_MAX_DATES` dates: :func:`count_written` then counts them."""
    if len(dates) > OBSERVE_MAX_DATES:
        return events, None
    exprs = []
    bot = F.col(S.IS_BOT)
    for i, day in enumerate(dates):
        on = F.col(INGEST_DATE) == F.lit(day)
        exprs += [
            F.count_if(on).alias(f"accepted_{i}"),
            F.count_if(on & (F.col(S.EVENT_DATE) < F.col(INGEST_DATE))).alias(f"late_{i}"),
            F.count_if(on & bot).alias(f"bot_events_{i}"),
            F.count_if(on & bot & F.col(_FIRST)).alias(f"bot_users_{i}"),
        ]
    observation = Observation("clean_events_written")
    return events.observe(observation, *exprs), observation


def count_written(spark: SparkSession, settings: Settings, dates: list[dt.date]) -> dict[str, int]:
    """The figures of :func:`observe_written` (same keys) from one group-by over the rows committed for ``dates``;
    a user is flagged a bot for a whole run (timeline), so distinct bot users are the bot timelines' first rows."""
    bot = F.col(S.IS_BOT)
    rows = (
        lake.read_table(spark, settings, "silver.events")
        .where(F.col(INGEST_DATE).isin(dates))
        .groupBy(INGEST_DATE)
        .agg(
            F.count(F.lit(1)).alias("accepted"),
            F.count_if(F.col(S.EVENT_DATE) < F.col(INGEST_DATE)).alias("late"),
            F.count_if(bot).alias("bot_events"),
            F.count_distinct(F.when(bot, F.col(S.USER_ID))).alias("bot_users"),
        )
        .collect()  # one row per run date
    )
    counted = {row[INGEST_DATE]: row for row in rows}
    out: dict[str, int] = {}
    for i, day in enumerate(dates):
        row = counted.get(day)
        for figure in _WRITTEN_FIGURES:
            out[f"{figure}_{i}"] = int(row[figure]) if row is not None else 0
    return out


@contextmanager
def uncompressed_cache(spark: SparkSession) -> Iterator[None]:
    """Build the caches materialized inside the block without columnar compression.

    Why: the validated events are cached for one job and read three times (curate, quarantine, counts); on 2 cores
    compressing them cost more CPU than reading the smaller cache saved (persist + count 5.7 s -> 4.0 s at 1M
    events). Memory stays bounded: the cache is MEMORY_AND_DISK, so a day too large for memory spills to disk.
    """
    key = "spark.sql.inMemoryColumnarStorage.compressed"
    before = spark.conf.get(key, "true") or "true"
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _timed(phases: dict[str, float], name: str, fn: Callable[..., _T], *args: Any) -> _T:
    started = time.perf_counter()
    try:
        return fn(*args)
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - started


def _settle(pending: Future | None) -> Any:
    """Wait for a background task in a ``finally``: its result, or None when it failed (on the normal path its error
    was already raised through ``result()``; after a failure elsewhere, that failure is the one to report)."""
    if pending is None:
        return None
    try:
        return pending.result()
    except Exception:
        return None


def _release(pending: Future) -> None:
    """Wait for a catalog thread and drop its cached frames."""
    result = _settle(pending)
    if result is not None:
        result.release()


def _clean_catalog(spark: SparkSession, settings: Settings, kind: CatalogKind, dates: list[dt.date]) -> CatalogResult:
    """One catalog dataset; its MERGE figures are filed under the run's last date."""
    result = clean_catalog(spark, settings, kind, dates)
    last = result.counts[max(dates)]
    last.inserted, last.updated = result.inserted, result.updated
    return result


def _count_validation(validated: DataFrame, reports: dict[dt.date, CleanReport], paths: DataFrame) -> None:
    """Counts per (date, reason); also checks that every row's file key names a listed file (so no record can
    leave the job without its ``source_file``)."""
    no_session = F.col(S.SESSION_ID).isNull().alias("_no_session")
    grouped = validated.groupBy(INGEST_DATE, REASON, no_session, FILE_KEY).count().collect()
    unknown = {row[FILE_KEY] for row in grouped} - {row[FILE_KEY] for row in paths.collect()}
    if unknown:
        raise RuntimeError(f"clean: {len(unknown)} file key(s) of the rows read match no listed file")
    for row in grouped:
        report, reason, n = reports[row[INGEST_DATE]], row[REASON], int(row["count"])
        if reason == R.BLANK_LINE:
            report.blank_lines += n
            continue
        report.input_rows += n
        if reason is None:
            report.events_without_session += n if row["_no_session"] else 0
        else:
            report.rejected_by_reason[reason] = report.rejected_by_reason.get(reason, 0) + n


def _file_written(reports: dict[dt.date, CleanReport], dates: list[dt.date], observed: dict[str, int]) -> None:
    """Accepted, late and bot figures of the committed rows (see :func:`observe_written`)."""
    for i, day in enumerate(dates):
        report = reports[day]
        report.accepted, report.late_events = int(observed[f"accepted_{i}"]), int(observed[f"late_{i}"])
        report.bot_events, report.bot_users = int(observed[f"bot_events_{i}"]), int(observed[f"bot_users_{i}"])
        report.duplicates_removed = report.valid - report.accepted


def write_metrics(spark: SparkSession, settings: Settings, reports: list[CleanReport]) -> None:
    """All dates' metrics in one commit replacing stage ``clean`` of those dates in ``ops.run_metrics``."""
    rows = []
    for report in reports:
        details = report.details()
        rows += [(report.run_date, STAGE, k, v, details.get(k)) for k, v in sorted(report.metrics().items())]
    frame = spark.createDataFrame(rows, S.RUN_METRICS)
    predicate = f"stage = '{STAGE}' AND run_date IN ({_date_list([r.run_date for r in reports])})"
    lake.overwrite_where(frame, settings, "ops.run_metrics", predicate)


def _event_files(
    spark: SparkSession, settings: Settings, reports: dict[dt.date, CleanReport]
) -> tuple[dict[dt.date, list[str]], int]:
    """The landing event files of each run date (recorded in its report) and their total size in bytes."""
    files_by_day: dict[dt.date, list[str]] = {}
    total_bytes = 0
    for day, report in reports.items():
        day_files = list_files_with_sizes(spark, events_folder(settings, day))
        report.input_files = len(day_files)
        files_by_day[day] = [path for path, _ in day_files]
        total_bytes += sum(size for _, size in day_files)
    return files_by_day, total_bytes


def _validated_events(
    spark: SparkSession, settings: Settings, files_by_day: dict[dt.date, list[str]], total_bytes: int
) -> tuple[DataFrame, DataFrame]:
    """(the parsed and validated events, keyed by file and persisted; the file keys' paths)."""
    files = [path for day_files in files_by_day.values() for path in day_files]
    log.info("clean: validating %d event files (%.1f MB)", len(files), total_bytes / 1e6)
    paths = file_keys(spark, files)
    catalog_ids = known_items(spark, settings) if settings.clean.unknown_item_policy == "quarantine" else None
    validated = validate_events(read_events(spark, files_by_day), settings.clean, catalog_ids)
    validated = validated.withColumn(FILE_KEY, file_key(F.col(S.SOURCE_FILE))).drop(S.SOURCE_FILE)
    return _right_sized(validated, total_bytes, spark.sparkContext.defaultParallelism).persist(), paths


def _start_events_write(
    pool: ThreadPoolExecutor,
    phases: dict[str, float],
    settings: Settings,
    validated: DataFrame,
    paths: DataFrame,
    passed: list[dt.date],
) -> tuple[Future | None, Observation | None]:
    """Curate the dates that passed the gate and start replacing their ``silver.events`` rows in a thread, beside
    the quarantine commit (two tables, two commits, whose driver-side latencies overlap)."""
    if not passed:
        return None, None
    log.info("clean: writing silver.events for %d date(s)", len(passed))
    curated = curate_events(validated.filter(F.col(INGEST_DATE).isin(passed)), paths, settings)
    events, written = observe_written(curated, passed)
    predicate = f"{INGEST_DATE} IN ({_date_list(passed)})"
    writing = pool.submit(_timed, phases, "events", lake.overwrite_where, events, settings, "silver.events", predicate)
    return writing, written


def _catalog_results(
    pending: list[Future], reports: dict[dt.date, CleanReport], phases: dict[str, float]
) -> list[CatalogResult]:
    """Wait for the items and users MERGEs and put their counts in the reports."""
    waited = time.perf_counter()
    catalogs = [p.result() for p in pending]
    phases["catalog_wait"] = time.perf_counter() - waited
    phases["catalog"] = max(phases.get("catalog_items", 0.0), phases.get("catalog_users", 0.0))
    for day, report in reports.items():
        report.items, report.users = catalogs[0].counts[day], catalogs[1].counts[day]
    return catalogs


def _quarantine(
    settings: Settings,
    phases: dict[str, float],
    validated: DataFrame,
    paths: DataFrame,
    catalogs: list[CatalogResult],
    dates: list[dt.date],
) -> None:
    """Replace the run dates' rows of ``silver.rejected`` with every rejected event, item and user record."""
    rejected = to_rejected(with_source_file(validated, paths), "events", INGEST_DATE)
    for catalog in catalogs:
        rejected = rejected.unionByName(catalog.rejected)
    predicate = f"{S.RUN_DATE} IN ({_date_list(dates)})"
    _timed(phases, "quarantine", lake.overwrite_where, rejected, settings, "silver.rejected", predicate)


def _finish(spark: SparkSession, settings: Settings, reports: dict[dt.date, CleanReport]) -> list[CleanReport]:
    """Record the metrics, check the counts balance, and raise when a date failed its gate."""
    write_metrics(spark, settings, list(reports.values()))
    ordered = [reports[d] for d in sorted(reports)]
    for report in ordered:
        if not report.balanced:  # a bug, not bad data: some record left without a name
            raise RuntimeError(f"clean {report.run_date}: counts do not balance: {report.to_dict()}")
        log.info(
            "clean %s: input=%d accepted=%d rejected=%d duplicates=%d gate=%s",
            report.run_date, report.input_rows, report.accepted, report.rejected, report.duplicates_removed,
            "passed" if report.gate_passed else "FAILED",
        )  # fmt: skip
    failed = [r for r in ordered if not r.gate_passed]
    if failed:
        message = "data-quality gate failed, nothing written to silver.events for: " + "; ".join(
            f"{r.run_date}: {r.gate_message}" for r in failed
        )
        raise DataQualityError(message, ordered)
    return ordered


def clean_days(spark: SparkSession, settings: Settings, dates: list[dt.date]) -> list[CleanReport]:
    """Clean the given run dates in one pass (a backfill gives exactly what running each date alone would give).

    Raises :class:`DataQualityError` after writing when any date failed the gate (see the module doc).
    """
    if not dates:
        raise ValueError("no run dates given")
    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz != "UTC":
        raise ValueError(f"the cleaning job needs spark.sql.session.timeZone=UTC (got {tz}); use coldrec.spark")
    dates = sorted(set(dates))
    started = time.perf_counter()
    reports = {day: CleanReport(run_date=day) for day in dates}
    phases: dict[str, float] = {}
    log.info("clean %s..%s: items and users", dates[0], dates[-1])
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="coldrec-clean") as pool:
        # the catalog MERGEs are mostly driver-side Delta work: they overlap with each other and with the events
        pending = [
            pool.submit(_timed, phases, f"catalog_{kind.dataset}", _clean_catalog, spark, settings, kind, dates)
            for kind in (ITEMS, USERS)
        ]
        if settings.clean.unknown_item_policy == "quarantine":  # the events check needs this run's items: wait
            pending[0].result()
        files_by_day, total_bytes = _event_files(spark, settings, reports)
        validated, paths = _validated_events(spark, settings, files_by_day, total_bytes)
        writing: Future | None = None
        try:
            with uncompressed_cache(spark):  # the count materializes the cache
                _timed(phases, "validate", _count_validation, validated, reports, paths)
            for day, report in reports.items():
                check_gate(report, settings.clean, events_folder(settings, day))
            passed = [d for d, r in reports.items() if r.gate_passed]
            writing, written = _start_events_write(pool, phases, settings, validated, paths, passed)
            catalogs = _catalog_results(pending, reports, phases)
            log.info("clean: quarantining %d records", sum(r.rejected for r in reports.values()))
            _quarantine(settings, phases, validated, paths, catalogs, dates)
            if writing is not None:
                writing.result()
                counts = written.get if written is not None else count_written(spark, settings, passed)
                _file_written(reports, passed, counts)
        finally:
            _settle(writing)
            validated.unpersist()
            for p in pending:
                _release(p)

    elapsed = time.perf_counter() - started
    for report in reports.values():
        report.seconds = elapsed
        report.phase_seconds = dict(phases)
    return _finish(spark, settings, reports)


def run_clean(spark: SparkSession, settings: Settings, run_date: dt.date) -> CleanReport:
    """Clean one run date: ``landing/events/date=<run_date>/`` (+ items/users) into the silver tables."""
    return clean_days(spark, settings, [run_date])[0]


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
