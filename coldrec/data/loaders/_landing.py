"""Writing the raw landing contract from pandas frames: events per UTC day, items and users as snapshots.

Why one writer for every loader: the contract (``events/date=YYYY-MM-DD/part-00000.jsonl``, ``items/part-00000.jsonl``,
``users/part-00000.jsonl``, ISO-8601 UTC timestamps) must be spelled identically whether the data came from the
synthetic shop, MovieLens, Amazon or a shop's own export, so the cleaning job sees one format.

Idempotence: the first time a run writes a day it replaces that day's folder; later chunks of the same run append.
A rerun on the same input therefore produces byte-identical files, and days the input does not touch are left alone.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from coldrec.data import schemas as S

#: Raw contract columns, in the order they are written (absent optional columns are simply not written).
EVENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in S.RAW_EVENTS.fields)
ITEM_COLUMNS: tuple[str, ...] = tuple(f.name for f in S.RAW_ITEMS.fields)
USER_COLUMNS: tuple[str, ...] = tuple(f.name for f in S.RAW_USERS.fields)

PART_FILE = "part-00000.jsonl"
MANIFEST_FILE = "_coldrec_import.json"


def iso_utc(ts: pd.Series) -> pd.Series:
    """ISO-8601 UTC strings (``1997-12-04T15:55:49Z``; ``.mmm`` only on rows with sub-second time); NaT -> None.

    Decided per row, so the text of an event never depends on which other rows share its chunk. Vectorized with
    numpy's C ``datetime_as_string`` (pandas' ``strftime`` formats row by row in Python).
    """
    utc = to_utc(ts).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    missing = np.isnat(utc)
    sub_second = (utc.astype("int64") % 1_000_000_000 != 0) & ~missing
    text = np.datetime_as_string(utc, unit="s")
    if sub_second.any():
        text = np.where(sub_second, np.datetime_as_string(utc, unit="ms"), text)
    out = pd.Series(np.char.add(text, "Z"), index=ts.index, dtype=object)
    return out.where(~missing, None)


def utc_day(ts: pd.Series) -> pd.Series:
    """The UTC calendar day (``YYYY-MM-DD``) of each timestamp, vectorized."""
    utc = to_utc(ts).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return pd.Series(np.datetime_as_string(utc, unit="D"), index=ts.index)


def join_groups(keys: pd.Series, values: pd.Series, sep: str) -> pd.Series:
    """``sep.join`` of ``values`` per key, keeping the values' order; indexed by key in first-appearance order.

    Why not ``groupby().agg(sep.join)``: that calls Python once per group; this builds one Arrow list array from
    offsets and joins every list in C++ (``binary_join``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, uniques = pd.factorize(keys, sort=False)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(uniques))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype("int32")
    lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.to_numpy(dtype=object)[order], pa.string()))
    joined = pc.binary_join(lists, sep).to_numpy(zero_copy_only=False)
    return pd.Series(joined, index=pd.Index(uniques, name=keys.name), dtype=object)


def to_utc(ts: pd.Series) -> pd.Series:
    """A datetime column as tz-aware UTC (naive values are taken as UTC)."""
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.to_datetime(ts, utc=True)
    return ts.dt.tz_convert("UTC")


@dataclass
class LandingFrames:
    """The three raw datasets as pandas frames (timestamps as tz-aware datetimes), before writing."""

    events: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame


@dataclass
class ImportSummary:
    """What an import wrote; also saved as ``_coldrec_import.json`` at the landing root for provenance."""

    source: str
    path: str
    out: str
    events: int = 0
    days: int = 0
    first_day: str | None = None
    last_day: str | None = None
    items: int = 0
    users: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


class LandingWriter:
    """Writes frames that follow the raw contract into a landing folder.

    ``write_events`` may be called once per input chunk: a day folder is replaced the first time this writer sees the
    day and appended to afterwards, so chunked imports stay deterministic and memory stays bounded by the chunk.
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self._days_started: set[str] = set()
        self.events_written = 0

    @property
    def days(self) -> list[str]:
        return sorted(self._days_started)

    def write_events(self, events: pd.DataFrame, ts_col: str = S.TS) -> int:
        """Write events (``ts`` as a datetime column) into ``events/date=YYYY-MM-DD/``, one file per UTC day."""
        if events.empty:
            return 0
        ts = to_utc(events[ts_col])
        frame = events.assign(**{ts_col: iso_utc(ts)})
        columns = [c for c in EVENT_COLUMNS if c in frame.columns]
        day = utc_day(ts)
        for value, group in frame[columns].groupby(day, sort=True):
            self._append(self.out / "events" / f"date={value}", str(value), group)
        self.events_written += len(frame)
        return len(frame)

    def _append(self, folder: Path, day: str, rows: pd.DataFrame) -> None:
        if day not in self._days_started:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            self._days_started.add(day)
        with open(folder / PART_FILE, "a", encoding="utf-8") as fh:
            fh.write(_jsonl(rows))

    def write_items(self, items: pd.DataFrame) -> int:
        """Write the item catalog snapshot ``items/part-00000.jsonl`` (``created_at`` as a datetime column)."""
        frame = items.copy()
        if S.CREATED_AT in frame.columns:
            frame[S.CREATED_AT] = iso_utc(frame[S.CREATED_AT])
        return self._snapshot("items", frame[[c for c in ITEM_COLUMNS if c in frame.columns]])

    def write_users(self, users: pd.DataFrame) -> int:
        """Write the user snapshot ``users/part-00000.jsonl`` (``signup_ts`` as a datetime column)."""
        frame = users.copy()
        if S.SIGNUP_TS in frame.columns:
            frame[S.SIGNUP_TS] = iso_utc(frame[S.SIGNUP_TS])
        return self._snapshot("users", frame[[c for c in USER_COLUMNS if c in frame.columns]])

    def _snapshot(self, name: str, frame: pd.DataFrame) -> int:
        folder = self.out / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.jsonl"):  # a snapshot replaces the previous snapshot, not dated deltas
            old.unlink()
        (folder / PART_FILE).write_text(_jsonl(frame), encoding="utf-8")
        return len(frame)

    def write_manifest(self, summary: ImportSummary) -> None:
        summary.days = len(self._days_started)
        summary.first_day = self.days[0] if self._days_started else None
        summary.last_day = self.days[-1] if self._days_started else None
        summary.events = self.events_written
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / MANIFEST_FILE).write_text(summary.to_json() + "\n", encoding="utf-8")


def _jsonl(frame: pd.DataFrame) -> str:
    """JSON lines (pandas' C encoder, no per-row Python); missing values become ``null``."""
    if frame.empty:
        return ""
    text = frame.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
    return text if text.endswith("\n") else text + "\n"
