"""``coldrec generate``: write a synthetic shop (raw input contract + ground truth) into a landing folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from coldrec.commands._common import parse_date, settings_for

if TYPE_CHECKING:
    from rich.console import Console

    from coldrec.data.generator.truth import GroundTruth


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)


def generate(
    users: int = typer.Option(2000, "--users", min=1, help="users on the last day (initial + arrivals)"),
    items: int = typer.Option(500, "--items", min=1, help="items on the last day (initial catalog + arrivals)"),
    days: int = typer.Option(7, "--days", min=1, help="days of events, one events/date=D/ folder each"),
    seed: int | None = typer.Option(None, "--seed", min=0, help="random seed (default: COLDREC_SEED)"),
    out: str | None = typer.Option(None, "--out", help="landing folder to write (default: COLDREC_LANDING_URI)"),
    start_date: str = typer.Option("2025-01-06", "--start-date", help="first day, YYYY-MM-DD"),
    bad_rate: float = typer.Option(0.01, "--bad-rate", min=0.0, max=0.49, help="share of injected bad lines"),
    bots: int = typer.Option(3, "--bots", min=0, help="bot accounts (bursts of hundreds of events per minute)"),
    events_per_user_day: float = typer.Option(
        7.0, "--events-per-user-day", min=0.01, help="mean human events per user and day"
    ),
    new_user_share: float = typer.Option(0.3, "--new-user-share", min=0.0, max=1.0, help="users arriving in-window"),
    new_item_share: float = typer.Option(0.2, "--new-item-share", min=0.0, max=1.0, help="items arriving in-window"),
    late_share: float = typer.Option(0.002, "--late-share", min=0.0, max=1.0, help="events delivered a day late"),
    demographic_strength: float = typer.Option(
        1.0, "--demographic-strength", min=0.0, help="scale of the demographic -> taste effects (0 = none)"
    ),
    chunk_events: int = typer.Option(
        250_000, "--chunk-events", min=1000, max=5_000_000, help="events per chunk / part file"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace events/, items/, users/ of a previous shop"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar or summary"),
) -> None:
    """Generate a realistic synthetic shop: category tree, items with text, users with demographics, a week of
    sessions with a view -> cart -> purchase funnel, cold users and items every day, bots and bad records.

    Writes events/date=D/part-*.jsonl, items/date=D/, users/date=D/ and _ground_truth.json (the planted structure).
    Same arguments -> byte-identical files.
    """
    from rich.console import Console

    from coldrec.data.generator import generate_shop

    settings = settings_for(landing=out)
    target = out or settings.landing_uri
    console = Console(stderr=True, quiet=quiet)
    try:
        truth = generate_shop(
            target,
            users=users,
            items=items,
            days=days,
            seed=settings.seed if seed is None else seed,
            start_date=parse_date(start_date),
            bad_rate=bad_rate,
            bots=bots,
            events_per_user_day=events_per_user_day,
            new_user_share=new_user_share,
            new_item_share=new_item_share,
            late_share=late_share,
            demographic_strength=demographic_strength,
            chunk_events=chunk_events,
            overwrite=overwrite,
            progress=not quiet,
            console=console,
        )
    except FileExistsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--out") from exc
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    if not quiet:
        _print_summary(console, truth, target)


def _print_summary(console: Console, truth: GroundTruth, target: str) -> None:
    """One row per generated day, then the totals and where the ground truth is."""
    from rich.table import Table

    table = Table(title=f"synthetic shop in {target}", show_lines=False)
    table.add_column("date", no_wrap=True)
    for column in ("events", "bad", "bots", "new users", "new items", "repriced"):
        table.add_column(column, justify="right")
    for day in truth.days:
        table.add_row(
            day["date"],
            f"{day['event_lines']:,}",
            f"{day['bad_event_lines']:,}",
            f"{day['bot_events']:,}",
            f"{len(day['new_users']):,}",
            f"{len(day['new_items']):,}",
            f"{len(day['price_updates']):,}",
        )
    console.print(table)
    bad = {dataset: sum(kinds.values()) for dataset, kinds in truth.bad_record_counts.items()}
    console.print(
        f"{truth.totals['event_lines']:,} event lines, {truth.totals['users']:,} users, {truth.totals['items']:,} "
        f"items; bad lines {bad}; ground truth: {target}/_ground_truth.json"
    )
