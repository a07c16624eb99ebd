"""``coldrec backfill``: a landing folder's history -> the lake as earlier nights would have left it."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import typer

from coldrec.commands._common import LakeOpt, LandingOpt, parse_date, settings_for

if TYPE_CHECKING:
    from coldrec.backfill import BackfillSummary

DATA_QUALITY_EXIT = 3
#: the last day's lists failed the quality gate: the lake is complete, nothing was published
GATE_EXIT = 4


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill)


def backfill(
    first: str = typer.Option(..., "--from", help="first day of the history, YYYY-MM-DD"),
    last: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD: interactions, features, champion are for it"),
    landing: str | None = LandingOpt,
    lake: str | None = LakeOpt,
    max_reject_share: float | None = typer.Option(
        None, "--max-reject-share", min=0, max=1, help="gate per day (COLDREC_CLEAN__MAX_REJECT_SHARE, default 0.05)"
    ),
    publish: bool = typer.Option(
        True, "--publish/--no-publish", help="score, gate and publish --to's lists (the shop's first lists)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON line"),
) -> None:
    """Clean every day --from..--to in one Spark pass, then build interactions, similarities, features and a
    champion model for --to, and publish --to's lists. Afterwards the nightly for the day after --to is an ordinary
    run.

    Idempotent: a rerun leaves every table as it was (a champion is trained only when the registry has none).
    Exit code 3 when a day fails the data-quality gate (the cleaning's figures are printed; nothing after it runs);
    4 when --to's lists fail the quality gate (the lake is complete, nothing is published; see the gate's report).
    """
    from rich.console import Console
    from rich.logging import RichHandler
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from coldrec.backfill import check_range, run_backfill, stages
    from coldrec.clean import DataQualityError
    from coldrec.publish import QualityGateError

    start, end = parse_date(first), parse_date(last)
    try:
        check_range(start, end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    clean = {"max_reject_share": max_reject_share} if max_reject_share is not None else {}
    settings = settings_for(landing, lake, clean=clean)
    console = Console(stderr=True)
    log = logging.getLogger("coldrec")  # coldrec's progress lines above the bars; not py4j's chatter
    log.setLevel(logging.INFO)
    log.addHandler(RichHandler(console=console, show_path=False))
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        days = (end - start).days + 1
        labels = {
            "clean": f"clean {days} day(s) {start}..{end}",
            "interactions": f"interactions of {end}",
            "similarities": f"CF similarities of {end}",
            "features": f"item and user features of {end}",
            "champion": "champion model (trained if the registry has none)",
            "score": f"score every user for {end}",
            "gate": f"quality gate of {end}'s lists",
            "publish": f"publish {end}'s lists to gold.recommendations",
        }
        bars = {name: progress.add_task(f"[dim]{labels[name]}", total=1, start=False) for name in stages(publish)}

        def on_stage(name: str, state: str) -> None:
            if state == "start":
                progress.start_task(bars[name])
                progress.update(bars[name], description=labels[name])
            else:
                progress.update(bars[name], completed=1, description=f"[green]{labels[name]}")
                progress.stop_task(bars[name])

        failure: DataQualityError | QualityGateError | None = None
        try:
            summary = run_backfill(settings, start, end, publish=publish, on_stage=on_stage)
        except (DataQualityError, QualityGateError) as exc:
            summary = exc.summary  # type: ignore[union-attr]
            failure = exc
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), sort_keys=True))
    else:
        _print_summary(summary)
    if failure is not None:
        typer.echo(f"coldrec backfill: {failure}", err=True)
        raise typer.Exit(GATE_EXIT if isinstance(failure, QualityGateError) else DATA_QUALITY_EXIT)


def _print_summary(summary: BackfillSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"coldrec backfill {summary.first_date}..{summary.last_date}", show_header=False)
    table.add_row("days", f"{summary.days} ({summary.days_with_events} with events)")
    table.add_row("events read", f"{summary.input_rows:,}")
    table.add_row("events accepted", f"{summary.accepted:,}")
    table.add_row("events rejected", f"{summary.rejected:,} (see silver.rejected)")
    table.add_row("duplicates removed", f"{summary.duplicates_removed:,}")
    if summary.failed_days:
        table.add_row("[red]days failing the gate", ", ".join(summary.failed_days))
    for name, rows in summary.tables.items():
        scope = "" if name.startswith("silver.") or name == "gold.text_vectors" else f" ({summary.last_date})"
        table.add_row(f"{name}{scope}", f"{rows:,} rows")
    if summary.champion is not None:
        how = "trained now" if summary.champion_trained else "already registered"
        table.add_row("champion", f"coldrec-autoencoder v{summary.champion} ({how})")
    for name, seconds in summary.stage_seconds.items():
        table.add_row(f"time: {name}", f"{seconds:.1f} s")
    table.add_row("time: total", f"{sum(summary.stage_seconds.values()):.1f} s")
    Console().print(table)
