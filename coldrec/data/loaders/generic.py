"""A shop's own export (CSV or JSON lines) into the raw landing contract, by naming its columns.

Why a column mapping instead of a fixed format: every shop exports differently; saying "user is ``visitorid``, item
is ``itemid``, time is ``timestamp``" is all it takes to reuse the whole pipeline. Values are passed through as raw
strings where the contract keeps them raw (event types, ids): validation and synonym mapping are the cleaning job's
work, so a bad value reaches it and is quarantined with a reason instead of vanishing here. The exceptions are
rows whose time cannot be parsed (they cannot be placed in a day folder): they are counted in the import summary.

Input is read in chunks (``chunk_rows``) so an export larger than memory streams through; each chunk is written to
its day folders (see :class:`~coldrec.data.loaders._landing.LandingWriter` for why that stays deterministic).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from coldrec.data import schemas as S
from coldrec.data.loaders._landing import ImportSummary, LandingWriter, join_groups

Format = Literal["auto", "csv", "jsonl"]
TimeUnit = Literal["auto", "s", "ms", "iso"]

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass
class EventMapping:
    """Which input column feeds which contract field of an event (None: absent in the export)."""

    user_col: str
    item_col: str
    time_col: str | None = None
    event_col: str | None = None
    rating_col: str | None = None
    event_id_col: str | None = None
    session_col: str | None = None
    price_col: str | None = None
    quantity_col: str | None = None
    #: event type for rows without one; None -> "rating" when a rating column is mapped, else "purchase"
    default_event: str | None = None
    #: raw event value -> value written (e.g. {"addtocart": "cart", "transaction": "purchase"})
    event_map: dict[str, str] = field(default_factory=dict)
    time_unit: TimeUnit = "auto"
    time_format: str | None = None
    timezone: str = "UTC"
    #: without a time column: every row on this day, at midnight + its row number in milliseconds (file order kept)
    date: dt.date | None = None


@dataclass
class ItemMapping:
    id_col: str
    title_col: str | None = None
    description_col: str | None = None
    category_col: str | None = None
    category_sep: str = ">"
    brand_col: str | None = None
    price_col: str | None = None
    created_col: str | None = None


@dataclass
class UserMapping:
    id_col: str
    signup_col: str | None = None
    age_col: str | None = None
    gender_col: str | None = None
    country_col: str | None = None
    region_col: str | None = None
    interests_col: str | None = None
    interests_sep: str = "|"


def input_files(path: str | Path, fmt: Format = "auto", exclude: frozenset[Path] = frozenset()) -> list[Path]:
    """The files to read: ``path`` itself, or the matching files of a folder (recursively, sorted by path), minus
    ``exclude`` (the item and user exports when they sit in the same folder)."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist")
    suffixes = {"csv": CSV_SUFFIXES, "jsonl": JSONL_SUFFIXES}.get(fmt, CSV_SUFFIXES + JSONL_SUFFIXES)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in suffixes
        and not p.name.startswith(("_", "."))
        and p.resolve() not in exclude
    )
    if not files:
        raise FileNotFoundError(f"no {'/'.join(suffixes)} files under {root}")
    return files


def file_format(path: Path, fmt: Format) -> Literal["csv", "jsonl"]:
    if fmt != "auto":
        return fmt
    return "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "csv"


def read_chunks(
    path: str | Path,
    fmt: Format = "auto",
    sep: str | None = None,
    chunk_rows: int = 500_000,
    exclude: frozenset[Path] = frozenset(),
) -> Iterator[pd.DataFrame]:
    """Chunks of the input as frames of strings/numbers, files in sorted order, rows in file order."""
    for file in input_files(path, fmt, exclude):
        if file_format(file, fmt) == "jsonl":
            reader = pd.read_json(file, lines=True, dtype=False, convert_dates=False, chunksize=chunk_rows)
        else:
            delimiter = sep or ("\t" if file.suffix.lower() == ".tsv" else ",")
            reader = pd.read_csv(file, sep=delimiter, dtype=str, chunksize=chunk_rows, skipinitialspace=True)
        with reader:
            yield from reader


def read_all(path: str | Path, fmt: Format = "auto", sep: str | None = None) -> pd.DataFrame:
    chunks = list(read_chunks(path, fmt, sep))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


def as_id(values: pd.Series) -> pd.Series:
    """Ids as strings: integers stay integers (JSON numbers parsed as floats lose their ``.0``), blanks become None."""
    if pd.api.types.is_float_dtype(values) and values.dropna().mod(1).eq(0).all():
        values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.astype(object).where(text.notna() & text.ne(""), None)


def as_text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.astype(object).where(text.notna() & text.ne(""), None)


_TZ_SUFFIX = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def parse_times(values: pd.Series, unit: TimeUnit = "auto", fmt: str | None = None, tz: str = "UTC") -> pd.Series:
    """Parse a time column to tz-aware UTC; unparseable values become NaT.

    ``auto``: numbers are epoch seconds or milliseconds (milliseconds when their median exceeds 1e11, i.e. after
    1973 in millis / year 5138 in seconds), anything else a date string (ISO-8601 unless ``fmt``). Strings with an
    offset (``Z``, ``+02:00``) are converted to UTC; naive strings are read in ``tz``.
    """
    text = values.astype("string").str.strip()
    text = text.where(text.ne(""), pd.NA)
    numeric = pd.to_numeric(text, errors="coerce") if unit != "iso" else pd.Series(np.nan, index=text.index)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    is_num = numeric.notna()
    if unit in ("s", "ms"):
        is_num = text.notna()
    if is_num.any():
        epoch_unit = unit if unit in ("s", "ms") else ("ms" if numeric[is_num].abs().median() > 1e11 else "s")
        out[is_num] = pd.to_datetime(numeric[is_num], unit=epoch_unit, utc=True, errors="coerce")
    is_str = text.notna() & ~is_num
    if is_str.any():
        fmt = fmt or "ISO8601"
        aware = is_str & text.str.contains(_TZ_SUFFIX, regex=True).fillna(False)
        naive = is_str & ~aware
        if aware.any():
            out[aware] = pd.to_datetime(text[aware], format=fmt, errors="coerce", utc=True)
        if naive.any():
            local = pd.to_datetime(text[naive], format=fmt, errors="coerce")
            if isinstance(local.dtype, pd.DatetimeTZDtype):  # the format itself carried a zone (%z)
                out[naive] = local.dt.tz_convert("UTC")
            else:
                out[naive] = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    return out


def map_events(chunk: pd.DataFrame, m: EventMapping, row_offset: int = 0) -> tuple[pd.DataFrame, int]:
    """One input chunk -> contract events (``ts`` as datetime). Returns (events, rows dropped for unparseable time)."""
    _require(chunk, [m.user_col, m.item_col, m.time_col, m.event_col, m.rating_col, m.event_id_col, m.session_col,
                     m.price_col, m.quantity_col], "events")  # fmt: skip
    out = pd.DataFrame(index=chunk.index)
    if m.event_id_col:
        out[S.EVENT_ID] = as_id(chunk[m.event_id_col])
    out[S.USER_ID] = as_id(chunk[m.user_col])
    out[S.ITEM_ID] = as_id(chunk[m.item_col])
    default_event = m.default_event or ("rating" if m.rating_col else "purchase")
    if m.event_col:
        raw = as_text(chunk[m.event_col])
        mapped = raw.map(m.event_map).where(raw.isin(m.event_map.keys()), raw) if m.event_map else raw
        out[S.EVENT_TYPE] = mapped.where(mapped.notna(), default_event)
    else:
        out[S.EVENT_TYPE] = default_event
    if m.time_col:
        out[S.TS] = parse_times(chunk[m.time_col], m.time_unit, m.time_format, m.timezone)
    else:
        if m.date is None:
            raise ValueError("without --time-col, pass --date YYYY-MM-DD: the day the export's events belong to")
        start = pd.Timestamp(m.date, tz="UTC")
        millis = np.arange(row_offset, row_offset + len(chunk), dtype="int64")
        out[S.TS] = start + pd.to_timedelta(millis, unit="ms")
    if m.rating_col:
        out[S.RATING] = pd.to_numeric(chunk[m.rating_col], errors="coerce")
    if m.session_col:
        out[S.SESSION_ID] = as_id(chunk[m.session_col])
    if m.price_col:
        out[S.PRICE] = pd.to_numeric(chunk[m.price_col], errors="coerce")
    if m.quantity_col:
        out[S.QUANTITY] = pd.to_numeric(chunk[m.quantity_col], errors="coerce").round().astype("Int64")
    bad_time = out[S.TS].isna()
    return out.loc[~bad_time], int(bad_time.sum())


def map_items(frame: pd.DataFrame, m: ItemMapping) -> pd.DataFrame:
    """Item export -> contract items (``created_at`` as datetime); the last row of a repeated id wins."""
    _require(frame, [m.id_col, m.title_col, m.description_col, m.category_col, m.brand_col, m.price_col,
                     m.created_col], "items")  # fmt: skip
    out = pd.DataFrame({S.ITEM_ID: as_id(frame[m.id_col])})
    out[S.TITLE] = as_text(frame[m.title_col]) if m.title_col else None
    out[S.DESCRIPTION] = as_text(frame[m.description_col]) if m.description_col else None
    if m.category_col:
        levels = as_text(frame[m.category_col]).astype("string").str.split(m.category_sep, regex=False)
        # trim every level and drop empty ones: "Sports / Shoes/" -> "Sports>Shoes"
        parts = levels.explode().str.strip().replace("", pd.NA).dropna()
        joined = join_groups(pd.Series(parts.index, index=parts.index), parts, S.CATEGORY_SEP)
        out[S.CATEGORY_PATH] = joined.reindex(out.index).astype(object).where(lambda s: s.notna(), None)
    else:
        out[S.CATEGORY_PATH] = None
    out[S.BRAND] = as_text(frame[m.brand_col]) if m.brand_col else None
    out[S.PRICE] = pd.to_numeric(frame[m.price_col], errors="coerce") if m.price_col else np.nan
    out[S.CREATED_AT] = parse_times(frame[m.created_col]) if m.created_col else pd.NaT
    out = out[out[S.ITEM_ID].notna()]
    return out.drop_duplicates(S.ITEM_ID, keep="last").reset_index(drop=True)


def map_users(frame: pd.DataFrame, m: UserMapping) -> pd.DataFrame:
    """User export -> contract users (``signup_ts`` as datetime); the last row of a repeated id wins."""
    _require(frame, [m.id_col, m.signup_col, m.age_col, m.gender_col, m.country_col, m.region_col,
                     m.interests_col], "users")  # fmt: skip
    out = pd.DataFrame({S.USER_ID: as_id(frame[m.id_col])})
    out[S.SIGNUP_TS] = parse_times(frame[m.signup_col]) if m.signup_col else pd.NaT
    out[S.AGE] = pd.to_numeric(frame[m.age_col], errors="coerce").round().astype("Int64") if m.age_col else pd.NA
    out[S.GENDER] = as_text(frame[m.gender_col]) if m.gender_col else None
    out[S.COUNTRY] = as_text(frame[m.country_col]) if m.country_col else None
    out[S.REGION] = as_text(frame[m.region_col]) if m.region_col else None
    if m.interests_col:
        raw = frame[m.interests_col]
        is_list = raw.map(type).eq(list)  # JSON lines may already hold arrays
        text = as_text(raw.where(~is_list, None)).astype("string")
        sep = re.escape(m.interests_sep)
        # trim around separators and drop empty entries ("a | |b|" -> "a|b") with column-wide regexes, then split
        text = text.str.replace(rf"\s*{sep}\s*", m.interests_sep, regex=True).str.strip()
        text = text.str.replace(rf"(?:{sep})+", m.interests_sep, regex=True).str.strip(m.interests_sep)
        split = text.where(text.ne(""), pd.NA).str.split(m.interests_sep, regex=False)
        out[S.INTERESTS] = raw.where(is_list, split).astype(object)
        out[S.INTERESTS] = out[S.INTERESTS].where(out[S.INTERESTS].notna(), None)
    else:
        out[S.INTERESTS] = None
    out = out[out[S.USER_ID].notna()]
    return out.drop_duplicates(S.USER_ID, keep="last").reset_index(drop=True)


def _require(frame: pd.DataFrame, columns: list[str | None], what: str) -> None:
    missing = [c for c in columns if c and c not in frame.columns]
    if missing:
        raise KeyError(f"{what}: column(s) {missing} not in the input; it has {list(frame.columns)}")


def import_table(
    path: str | Path,
    out: str | Path,
    events: EventMapping,
    items_path: str | Path | None = None,
    items: ItemMapping | None = None,
    users_path: str | Path | None = None,
    users: UserMapping | None = None,
    fmt: Format = "auto",
    sep: str | None = None,
    chunk_rows: int = 500_000,
    on_chunk: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Stream an event export into the landing; optionally an item and a user export as snapshots."""
    writer = LandingWriter(out)
    summary = ImportSummary(source="csv", path=str(Path(path).resolve()), out=str(Path(out).resolve()))
    bad_time = 0
    offset = 0
    side_files = frozenset(Path(p).resolve() for p in (items_path, users_path) if p is not None)
    for chunk in read_chunks(path, fmt, sep, chunk_rows, exclude=side_files):
        mapped, dropped = map_events(chunk, events, offset)
        offset += len(chunk)
        bad_time += dropped
        writer.write_events(mapped)
        if on_chunk is not None:
            on_chunk(len(chunk))
    summary.skipped = {"missing_or_unparseable_time": bad_time}
    if items_path is not None:
        summary.items = writer.write_items(map_items(read_all(items_path, fmt, sep), items or ItemMapping("item_id")))
    if users_path is not None:
        summary.users = writer.write_users(map_users(read_all(users_path, fmt, sep), users or UserMapping("user_id")))
    summary.notes = [f"columns: {events}"]
    if items is not None and items_path is not None:
        summary.notes.append(f"items: {items}")
    if users is not None and users_path is not None:
        summary.notes.append(f"users: {users}")
    writer.write_manifest(summary)
    return summary
