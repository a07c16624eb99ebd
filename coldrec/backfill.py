"""Onboarding a shop's history: the lake as earlier nights would have left it, in one command or one DAG run.

``coldrec backfill --from D1 --to D2`` (and the ``coldrec_backfill`` DAG) run, in order:

1. **clean** every day D1..D2 in one Spark pass (:func:`coldrec.clean.clean_days`, the nightly's cleaning code);
2. **interactions**, **similarities** and **features** of D2 (the nightly's functions for one date);
3. a **champion** model trained on D2 when the registry has none (:func:`coldrec.tasks.ensure_champion_for`);
4. **score**, **gate** and **publish** D2's lists (the nightly's own functions), so a new shop has lists the moment
   its history is in (``--no-publish`` stops after the champion).

After that the nightly for D2 + 1 is an ordinary run: it cleans its own day, rebuilds its window over the cleaned
history, finds the champion and the cached text vectors, and publishes.

Why the backfill publishes D2 itself: a new shop's first lists then cost one Spark application (one JVM start and
one read of each table) instead of the backfill's plus a nightly's eight, whose fixed costs dominate a small shop's
night (docs/benchmarks.md, "First night"); and D2's lists are what the night after D2 would have published.

Why not "the nightly once per history day": a year is 365 runs of every step, where only the cleaning has to see
each day; interactions, similarities and features of a date are computed from the whole cleaned window anyway, and
the lists of past days are never read. Why quiet days pass: a history has days without events (holidays, a shop
closed on Sundays, a sparse export); the nightly's ``min_events`` gate is meant for a night whose delivery failed,
so the backfill sets it to 0 (a day whose rejected share is too high still fails the gate, and stops the backfill
after the cleaning, naming the days).

Idempotent: every step replaces exactly what it writes (the days' ``ingest_date`` rows, D2's partitions, the text
vector cache only grows by texts it lacks, a champion is trained only when none exists), so a rerun leaves every
table's content as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from coldrec.config import Settings, load_settings

log = logging.getLogger(__name__)

#: the stages of a backfill, in order (the CLI's progress and the summary use these names)
STAGES = ("clean", "interactions", "similarities", "features", "champion")
#: the stages that publish D2's lists (skipped with ``publish=False``)
LIST_STAGES = ("score", "gate", "publish")

#: tables whose D2 partition a backfill writes (row counts in the summary)
DATED_TABLES = (
    "gold.interactions",
    "gold.item_similarity",
    "gold.user_similarity",
    "gold.similar_items",
    "gold.item_features",
    "gold.user_features",
    "gold.recommendations",
)
#: tables the backfill fills as a whole (row counts of the full table)
WHOLE_TABLES = ("silver.items", "silver.users", "gold.text_vectors")

#: clean settings of a backfill: history may have days without events (see the module doc)
HISTORY_CLEAN_OVERRIDES: dict[str, Any] = {"min_events": 0}


@dataclass
class BackfillSummary:
    """What a backfill did: the range, the cleaning's counts, the tables it left, the champion, time per stage."""

    first_date: str
    last_date: str
    days: int
    days_with_events: int = 0
    input_rows: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates_removed: int = 0
    failed_days: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    champion: str | None = None
    champion_trained: bool = False
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def history_settings(settings: Settings) -> Settings:
    """``settings`` with the backfill's clean rules (quiet days pass the gate)."""
    clean = settings.clean.model_copy(update=HISTORY_CLEAN_OVERRIDES)
    return settings.model_copy(update={"clean": clean})


def stages(publish: bool) -> tuple[str, ...]:
    """The stages a backfill runs, in order."""
    return (*STAGES, *LIST_STAGES) if publish else STAGES


def check_range(first: dt.date, last: dt.date) -> None:
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")


def add_clean_counts(summary: BackfillSummary, reports: list) -> None:
    """Sum the cleaning reports (:class:`coldrec.clean.report.CleanReport`) of the range into the summary."""
    summary.days_with_events = sum(1 for r in reports if r.input_rows)
    summary.input_rows = sum(r.input_rows for r in reports)
    summary.accepted = sum(r.accepted for r in reports)
    summary.rejected = sum(r.rejected for r in reports)
    summary.duplicates_removed = sum(r.duplicates_removed for r in reports)
    summary.failed_days = [r.run_date.isoformat() for r in reports if not r.gate_passed]


def table_rows(settings: Settings, last: dt.date) -> dict[str, int]:
    """Rows of ``last``'s partition of each dated table and of each whole table (Spark-free: delta-rs + pyarrow);
    a table that does not exist counts 0."""
    from coldrec.delta_read import delta_dataset
    from coldrec.paths import table_path

    out: dict[str, int] = {}
    for name in (*WHOLE_TABLES, *DATED_TABLES):
        partitions = [("run_date", "=", last.isoformat())] if name in DATED_TABLES else None
        try:
            out[name] = int(delta_dataset(table_path(settings, name), partitions=partitions).count_rows())
        except Exception as exc:  # a missing table (e.g. user_similarity switched off) is a 0, not a failure
            if "not a Delta table" not in str(exc) and "No files in log segment" not in str(exc):
                log.debug("counting %s failed: %s", name, exc)
            out[name] = 0
    return out


def clean_counts_from_metrics(settings: Settings, first: dt.date, last: dt.date) -> list:
    """The cleaning reports of D1..D2 rebuilt from ``ops.run_metrics`` (stage ``clean``): how the DAG's summary
    task, which did not run the cleaning itself, gets the same counts as the command."""
    from coldrec.clean.report import CleanReport
    from coldrec.delta_read import read_delta
    from coldrec.paths import table_path

    t = read_delta(
        table_path(settings, "ops.run_metrics"),
        partitions=[("run_date", ">=", first.isoformat()), ("run_date", "<=", last.isoformat())],
        columns=["run_date", "stage", "metric", "value"],
    )
    reports: dict[dt.date, CleanReport] = {}
    columns = (t.column(c).to_pylist() for c in ("run_date", "stage", "metric", "value"))
    for day, stage, metric, value in zip(*columns, strict=True):
        if stage != "clean" or value is None:
            continue
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])
        report = reports.setdefault(day, CleanReport(run_date=day))
        if metric in ("input_rows", "accepted", "duplicates_removed"):
            setattr(report, metric, int(value))
        elif metric == "rejected":
            report.rejected_by_reason["all"] = int(value)
        elif metric == "gate_passed":
            report.gate_passed = bool(value)
    return [reports[d] for d in sorted(reports)]


def summarize(settings: Settings, first: dt.date, last: dt.date, champion: str | None = None) -> BackfillSummary:
    """The summary of a finished backfill from what it left in the lake (the DAG's last task)."""
    summary = BackfillSummary(first.isoformat(), last.isoformat(), (last - first).days + 1, champion=champion)
    add_clean_counts(summary, clean_counts_from_metrics(settings, first, last))
    summary.tables = table_rows(settings, last)
    return summary


def run_backfill(
    settings: Settings,
    first: dt.date,
    last: dt.date,
    *,
    publish: bool = True,
    on_stage: Callable[[str, str], None] | None = None,
) -> BackfillSummary:
    """Clean D1..D2, then interactions, similarities, features and a champion for D2, then (``publish``) score,
    gate and publish D2's lists (see the module doc).

    ``on_stage(name, "start" | "done")`` reports progress. Raises :class:`coldrec.clean.DataQualityError` (with
    ``summary`` attached) when a day fails the cleaning's gate: nothing after the cleaning runs then; and
    :class:`coldrec.publish.QualityGateError` (with ``summary``) when D2's lists fail the quality gate: the lake is
    then complete up to the staged lists and nothing is published.
    """
    from coldrec.cf.pipeline import run_similarities
    from coldrec.clean import DataQualityError, clean_days
    from coldrec.clean.job import date_range
    from coldrec.features.job import run_features
    from coldrec.interactions import run_interactions
    from coldrec.publish import QualityGateError, publish_recommendations, run_gate
    from coldrec.spark import build_spark
    from coldrec.tasks import ensure_champion_for, stage_lists

    check_range(first, last)
    settings = history_settings(settings)
    summary = BackfillSummary(first.isoformat(), last.isoformat(), (last - first).days + 1)
    notify = on_stage or (lambda name, state: None)

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        notify(name, "start")
        started = time.perf_counter()
        try:
            return fn()
        finally:
            summary.stage_seconds[name] = round(time.perf_counter() - started, 1)
            notify(name, "done")

    spark = build_spark("coldrec-backfill", settings)
    try:
        try:
            reports = stage("clean", lambda: clean_days(spark, settings, date_range(first, last)))
        except DataQualityError as exc:
            add_clean_counts(summary, exc.reports)
            exc.summary = summary  # type: ignore[attr-defined]
            raise
        add_clean_counts(summary, reports)
        stage("interactions", lambda: run_interactions(spark, settings, last))
        stage("similarities", lambda: run_similarities(spark, settings, last))
        stage("features", lambda: run_features(spark, settings, last))
        # training records its figures through Spark: the session still open is reused, not a second JVM start
        version, trained = stage("champion", lambda: ensure_champion_for(settings, last))
        summary.champion, summary.champion_trained = version, trained
        if publish:
            stage("score", lambda: stage_lists(spark, settings, last))
            try:
                stage("gate", lambda: run_gate(spark, settings, last))
            except QualityGateError as exc:
                summary.tables = table_rows(settings, last)
                exc.summary = summary  # type: ignore[attr-defined]
                raise
            stage("publish", lambda: publish_recommendations(spark, settings, last))
    finally:
        spark.stop()
    summary.tables = table_rows(settings, last)
    return summary


def backfill_summary(
    first_date: str, last_date: str, champion: str | None = None, overrides_json: str | None = None
) -> dict[str, Any]:
    """The backfill DAG's last task: what the backfill left in the lake (days, events, tables), logged and returned."""
    settings = load_settings(json.loads(overrides_json) if overrides_json else {})
    summary = summarize(settings, dt.date.fromisoformat(first_date), dt.date.fromisoformat(last_date), champion)
    log.info("backfill %s..%s: %s", first_date, last_date, json.dumps(summary.to_dict(), sort_keys=True))
    return summary.to_dict()
