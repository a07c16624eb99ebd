"""``coldrec import ...``: public data sets and a shop's own export into the raw landing contract."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coldrec.commands._common import parse_date, settings_for

if TYPE_CHECKING:
    from coldrec.data.loaders import ImportSummary


class TimeUnit(StrEnum):
    auto = "auto"
    s = "s"
    ms = "ms"
    iso = "iso"


class InputFormat(StrEnum):
    auto = "auto"
    csv = "csv"
    jsonl = "jsonl"


#: ``--out``: the landing folder every importer writes (default ``None``: COLDREC_LANDING_URI)
OutDir = Annotated[str | None, typer.Option("--out", help="landing folder to write (default: COLDREC_LANDING_URI)")]
#: An optional column of the export; typer names the flag after the parameter (``item_title_col``:
#: ``--item-title-col``). Default ``None``: the export has no such column.
Column = Annotated[str | None, typer.Option()]


def _out_dir(out: str | None) -> str:
    return out or settings_for().landing_uri


def _report(summary: ImportSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"coldrec import {summary.source}", show_header=False)
    for key in ("out", "events", "days", "first_day", "last_day", "items", "users"):
        table.add_row(key, str(getattr(summary, key)))
    for key, value in summary.skipped.items():
        table.add_row(f"skipped: {key}", str(value))
    Console().print(table)


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        raw, sep, canonical = value.partition("=")
        if not sep or not raw or not canonical:
            raise typer.BadParameter(f"{flag} expects RAW=CANONICAL, got {value!r}")
        out[raw.strip()] = canonical.strip()
    return out


imp = typer.Typer(
    help="Import public data sets or a shop's export into the raw landing contract (events per day, items, users).",
    no_args_is_help=True,
)


@imp.command("movielens-100k")
def movielens_100k(
    path: Path = typer.Argument(..., exists=True, file_okay=False, help="the ml-100k folder (u.data, u.user, u.item)"),
    out: OutDir = None,
) -> None:
    """MovieLens 100K: ratings -> rating events, users with age/gender/occupation/region, movies with genres."""
    from coldrec.data.loaders import import_movielens_100k

    _report(import_movielens_100k(path, _out_dir(out)))


@imp.command("amazon-s3rec")
def amazon_s3rec(
    path: Path = typer.Argument(..., exists=True, help="folder with <Name>.txt + <Name>_item2attributes.json"),
    out: OutDir = None,
    name: str | None = typer.Option(None, "--name", help="data set name when the folder holds several"),
    end_date: str = typer.Option(
        "2014-07-01", "--end-date", help="day every synthesized sequence ends on (the format has no timestamps)"
    ),
    brand_heuristic: bool = typer.Option(
        True,
        "--brand-heuristic/--no-brand-heuristic",
        help="take a first attribute that never recurs later as brand",
    ),
) -> None:
    """Amazon 5-core, S3-Rec format: ordered sequences -> purchases with synthesized, order-preserving times."""
    from coldrec.data.loaders import import_amazon_s3rec

    _report(import_amazon_s3rec(path, _out_dir(out), name, parse_date(end_date), brand_heuristic))


@imp.command("csv")
def csv_export(
    path: Path = typer.Argument(..., exists=True, help="event export: a CSV/JSON-lines file or a folder of them"),
    out: OutDir = None,
    user_col: str = typer.Option(..., "--user-col", help="column holding the user id"),
    item_col: str = typer.Option(..., "--item-col", help="column holding the item id"),
    time_col: str | None = typer.Option(None, "--time-col", help="event time (epoch s/ms or date string)"),
    event_col: str | None = typer.Option(None, "--event-col", help="event type (view, cart, purchase, ...)"),
    rating_col: str | None = typer.Option(None, "--rating-col", help="explicit rating"),
    default_event: str | None = typer.Option(
        None, "--default-event", help="type of rows without one (default: rating with --rating-col, else purchase)"
    ),
    event_map: list[str] | None = typer.Option(
        None, "--event-map", help="RAW=CANONICAL event type, repeatable (e.g. addtocart=cart)"
    ),
    event_id_col: str | None = typer.Option(None, "--event-id-col", help="event id (else the cleaner hashes one)"),
    session_col: Column = None,
    price_col: Column = None,
    quantity_col: Column = None,
    time_unit: TimeUnit = typer.Option(TimeUnit.auto, "--time-unit", help="how --time-col is encoded"),
    time_format: str | None = typer.Option(None, "--time-format", help="strftime format of date strings"),
    timezone: str = typer.Option("UTC", "--timezone", help="zone of naive date strings"),
    date: str | None = typer.Option(None, "--date", help="without --time-col: the day all events belong to"),
    fmt: InputFormat = typer.Option(InputFormat.auto, "--format", help="input format (auto: by file suffix)"),
    sep: str | None = typer.Option(None, "--sep", help="CSV delimiter (default , or tab for .tsv)"),
    items: Path | None = typer.Option(None, "--items", exists=True, help="item export (CSV/JSON lines)"),
    item_id_col: str | None = typer.Option(None, "--item-id-col", help="item id in --items (default: --item-col)"),
    item_title_col: Column = None,
    item_description_col: Column = None,
    item_category_col: Column = None,
    category_sep: str = typer.Option(">", "--category-sep", help="level separator of the category column"),
    item_brand_col: Column = None,
    item_price_col: Column = None,
    item_created_col: Column = None,
    users: Path | None = typer.Option(None, "--users", exists=True, help="user export (CSV/JSON lines)"),
    user_id_col: str | None = typer.Option(None, "--user-id-col", help="user id in --users (default: --user-col)"),
    user_signup_col: Column = None,
    user_age_col: Column = None,
    user_gender_col: Column = None,
    user_country_col: Column = None,
    user_region_col: Column = None,
    user_interests_col: Column = None,
    interests_sep: str = typer.Option("|", "--interests-sep", help="separator of interests in a CSV cell"),
    chunk_rows: int = typer.Option(500_000, "--chunk-rows", min=1, help="rows per streamed chunk"),
) -> None:
    """A shop's own export (CSV or JSON lines): name the columns, get the raw landing contract."""
    # Long because a typer command's signature is the list of its flags; the body only maps them.
    from coldrec.data.loaders import EventMapping, ItemMapping, UserMapping, import_table

    if time_col is None and date is None:
        raise typer.BadParameter("without --time-col, pass --date YYYY-MM-DD (the day the events belong to)")
    mapping = EventMapping(
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        event_col=event_col,
        rating_col=rating_col,
        event_id_col=event_id_col,
        session_col=session_col,
        price_col=price_col,
        quantity_col=quantity_col,
        default_event=default_event,
        event_map=_pairs(event_map, "--event-map"),
        time_unit=time_unit.value,
        time_format=time_format,
        timezone=timezone,
        date=parse_date(date) if date else None,
    )
    item_mapping = ItemMapping(
        id_col=item_id_col or item_col,
        title_col=item_title_col,
        description_col=item_description_col,
        category_col=item_category_col,
        category_sep=category_sep,
        brand_col=item_brand_col,
        price_col=item_price_col,
        created_col=item_created_col,
    )
    user_mapping = UserMapping(
        id_col=user_id_col or user_col,
        signup_col=user_signup_col,
        age_col=user_age_col,
        gender_col=user_gender_col,
        country_col=user_country_col,
        region_col=user_region_col,
        interests_col=user_interests_col,
        interests_sep=interests_sep,
    )
    summary = _with_progress(
        import_table,
        path,
        _out_dir(out),
        mapping,
        items_path=items,
        items=item_mapping,
        users_path=users,
        users=user_mapping,
        fmt=fmt.value,
        sep=sep,
        chunk_rows=chunk_rows,
    )
    _report(summary)


def _with_progress(import_fn: Callable[..., ImportSummary], *args: Any, **kwargs: Any) -> ImportSummary:
    """Run an importer with a spinner that counts the event rows read so far."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()) as progress:
        task = progress.add_task("reading events: 0 rows", total=None)
        seen = [0]

        def advance(rows: int) -> None:
            seen[0] += rows
            progress.update(task, description=f"reading events: {seen[0]:,} rows")

        return import_fn(*args, on_chunk=advance, **kwargs)


def register(app: typer.Typer) -> None:
    app.add_typer(imp, name="import")
