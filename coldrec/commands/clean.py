"""``coldrec clean``: raw landing files of a run date (or a range) -> silver.events / items / users / rejected."""

from __future__ import annotations

import json
import logging
from typing import Literal

import typer

from coldrec.commands._common import DateOpt, LakeOpt, LandingOpt, parse_date, settings_for

DATA_QUALITY_EXIT = 3


def register(app: typer.Typer) -> None:
    app.command("clean")(clean)


def clean(
    date: str = DateOpt,
    until: str | None = typer.Option(None, "--until", help="backfill: last run date (inclusive), one Spark pass"),
    landing: str | None = LandingOpt,
    lake: str | None = LakeOpt,
    max_reject_share: float | None = typer.Option(
        None,
        "--max-reject-share",
        min=0,
        max=1,
        help="gate: max rejected share of a day (COLDREC_CLEAN__MAX_REJECT_SHARE, default 0.05)",
    ),
    unknown_items: Literal["keep", "quarantine"] | None = typer.Option(
        None, "--unknown-items", help="events whose item is not in silver.items: keep or quarantine"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON report per date instead of a table"),
) -> None:
    """Validate, quarantine, deduplicate, flag bots and sessionize --date's events; upsert items and users.

    Exit code 3 when a date fails the data-quality gate (quarantine and metrics are still written).
    """
    from rich.console import Console
    from rich.logging import RichHandler

    from coldrec.clean import DataQualityError, clean_days
    from coldrec.clean.job import date_range
    from coldrec.spark import build_spark

    start = parse_date(date)
    end = parse_date(until) if until else start
    overrides = {"max_reject_share": max_reject_share, "unknown_item_policy": unknown_items}
    settings = settings_for(landing, lake, clean={k: v for k, v in overrides.items() if v is not None})
    console = Console(stderr=True)
    log = logging.getLogger("coldrec")  # progress of coldrec only, not py4j's connection chatter
    log.setLevel(logging.INFO)
    log.addHandler(RichHandler(console=console, show_path=False))
    spark = build_spark("coldrec-clean", settings)
    failure: DataQualityError | None = None
    try:
        with console.status(f"cleaning {start}..{end}"):
            reports = clean_days(spark, settings, date_range(start, end))
    except DataQualityError as exc:
        failure, reports = exc, exc.reports
    finally:
        spark.stop()
    if as_json:
        for report in reports:
            typer.echo(json.dumps(report.to_dict(), sort_keys=True, default=str))
    else:
        _print_table(reports)
    if failure is not None:
        typer.echo(f"coldrec clean: {failure}", err=True)  # one unwrapped line, for logs and grep
        raise typer.Exit(DATA_QUALITY_EXIT)


def _print_table(reports: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="coldrec clean")
    columns = ("date", "input", "accepted", "rejected", "duplicates", "late", "bot users", "gate")
    for name in columns:
        table.add_column(name, justify="left" if name in ("date", "gate") else "right")
    for r in reports:
        gate = "passed" if r.gate_passed else "[red]FAILED[/red]"
        table.add_row(
            r.run_date.isoformat(),
            *(str(v) for v in (r.input_rows, r.accepted, r.rejected, r.duplicates_removed, r.late_events, r.bot_users)),
            gate,
        )
    Console().print(table)
    for r in reports:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(r.rejected_by_reason.items()) if v)
        if reasons:
            Console().print(f"{r.run_date} rejected: {reasons}")
