"""JSON-lines serialization of event arrays, vectorized with Arrow string kernels.

Why not ``json.dumps`` per event or ``DataFrame.to_json``: a Python call per event caps the generator at tens of
thousands of events per second, and pandas cannot mix a string and a number in ``ts`` nor omit absent keys. Arrow's
``binary_join_element_wise`` glues pre-formatted fragments (a null fragment is skipped, so optional keys simply
disappear) in one C pass, and the resulting string buffer *is* the file content: it is written without copying.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from coldrec.data.generator.catalog import MS_PER_DAY
from coldrec.data.generator.events import TYPE_NAMES, EventBatch
from coldrec.data.schemas import (
    EVENT_ID,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    QUANTITY,
    RATING,
    SESSION_ID,
    TS,
    USER_ID,
)

_TWO = pa.array([f"{i:02d}" for i in range(100)])
_THREE = pa.array([f"{i:03d}" for i in range(1000)])
_TYPES = pa.array(list(TYPE_NAMES))
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_DT = dt.datetime(1970, 1, 1)


@lru_cache(maxsize=256)
def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.string())


def _ints(values: np.ndarray, absent: np.ndarray | None = None) -> pa.Array:
    """Decimal strings of an int array; null where ``absent``."""
    arr = pa.array(values, mask=absent) if absent is not None else pa.array(values)
    return pc.cast(arr, pa.string())


def _join(*parts: pa.Array | pa.Scalar, skip_nulls: bool = False) -> pa.Array:
    return pc.binary_join_element_wise(*parts, _s(""), null_handling="skip" if skip_nulls else "emit_null")


def iso_timestamps(ts_ms: np.ndarray) -> pa.Array:
    """``2025-01-06T14:03:59.120Z`` for epoch millis (UTC), from lookup tables instead of strftime."""
    day_num = ts_ms // MS_PER_DAY
    days, inverse = np.unique(day_num, return_inverse=True)
    dates = pa.array([(_EPOCH + dt.timedelta(days=int(d))).isoformat() for d in days])
    rem = ts_ms - day_num * MS_PER_DAY
    return _join(
        dates.take(pa.array(inverse)),
        _s("T"),
        _TWO.take(pa.array(rem // 3_600_000)),
        _s(":"),
        _TWO.take(pa.array(rem // 60_000 % 60)),
        _s(":"),
        _TWO.take(pa.array(rem // 1000 % 60)),
        _s("."),
        _THREE.take(pa.array(rem % 1000)),
        _s("Z"),
    )


def iso(ts_ms: int) -> str:
    """One epoch-millis value as the same ISO-8601 text the vectorized writer produces."""
    stamp = _EPOCH_DT + dt.timedelta(milliseconds=int(ts_ms))
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{stamp.microsecond // 1000:03d}Z"


def iso_list(ts_ms: np.ndarray) -> list[str]:
    """Many epoch-millis values as ISO-8601 strings (vectorized)."""
    if not len(ts_ms):
        return []
    return iso_timestamps(np.asarray(ts_ms, dtype=np.int64)).to_pylist()


def _null_where(values: pa.Array, absent: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(absent), pa.scalar(None, pa.string()), values) if absent.any() else values


@lru_cache(maxsize=1)
def _clock_table() -> pa.Array:
    """The text "HH:MM:SS." for every second of a day (86,400 short strings, built once)."""
    sec = np.arange(86_400)
    two = [_TWO.take(pa.array(part)) for part in (sec // 3600, sec // 60 % 60, sec % 60)]
    return _join(two[0], _s(":"), two[1], _s(":"), two[2], _s("."))


_MILLIS_Z = pa.array([f'{i:03d}Z"' for i in range(1000)])
_CENTS = pa.array([f".{i:02d}" for i in range(100)])
_MAX_QTY = 99
_QTY = pa.array([None] + [f',"{QUANTITY}":{q}' for q in range(1, _MAX_QTY + 1)], type=pa.string())
_RATINGS = pa.array([None] + [f',"{RATING}":{r}' for r in range(1, 6)], type=pa.string())


class EventFormatter:
    """Turns :class:`EventBatch` arrays into JSON lines. Built once per shop: user and item id fragments are
    pre-rendered tables, so a line is assembled from ~11 fragments with one ``binary_join_element_wise`` call
    (``null_handling="skip"`` is both what makes absent keys vanish and Arrow's fastest join path)."""

    def __init__(self, user_num: np.ndarray, item_num: np.ndarray):
        self.users = _join(_s(f'","{USER_ID}":"u'), _ints(user_num))
        self.items = _join(_s(f'","{ITEM_ID}":"i'), _ints(item_num))
        self.types = pa.array([f'","{EVENT_TYPE}":"{name}","{TS}":' for name in TYPE_NAMES])

    def lines(self, batch: EventBatch, event_num: np.ndarray) -> pa.Array:
        """One JSON object per event, each ending in a newline, keys in contract order, absent optionals omitted.

        ``ts`` is an ISO-8601 string, or epoch millis as a JSON number where the client logs that way.
        """
        if not len(batch):
            return pa.array([], type=pa.string())
        ts = batch.ts
        day_num = ts // MS_PER_DAY
        days, inverse = np.unique(day_num, return_inverse=True)
        dates = pa.array([f'"{(_EPOCH + dt.timedelta(days=int(d))).isoformat()}T' for d in days])
        rem = ts - day_num * MS_PER_DAY
        ts_iso = _join(
            dates.take(pa.array(inverse)),
            _clock_table().take(pa.array(rem // 1000)),
            _MILLIS_Z.take(pa.array(rem % 1000)),
            skip_nulls=True,
        )
        ts_text = pc.if_else(pa.array(batch.millis), _ints(ts), ts_iso)
        session_text = _null_where(
            _join(_s(f',"{SESSION_ID}":"s'), _ints(batch.session), _s('"'), skip_nulls=True), batch.session < 0
        )
        price = np.maximum(batch.price, 0)
        price_text = _null_where(
            _join(_s(f',"{PRICE}":'), _ints(price // 100), _CENTS.take(pa.array(price % 100)), skip_nulls=True),
            batch.price < 0,
        )
        qty = pa.array(np.clip(batch.qty, 0, _MAX_QTY).astype(np.int64))
        rating = pa.array(np.clip(batch.rating, 0, 5).astype(np.int64))
        return _join(
            _s(f'{{"{EVENT_ID}":"e'),
            _ints(event_num),
            self.users.take(pa.array(batch.user)),
            self.items.take(pa.array(batch.item)),
            self.types.take(pa.array(batch.etype.astype(np.int64))),
            ts_text,
            session_text,
            price_text,
            _QTY.take(qty),
            _RATINGS.take(rating),
            _s("}\n"),
            skip_nulls=True,
        )


def write_lines(path: Path, lines: pa.Array, inserts: list[tuple[int, str]] | None = None) -> int:
    """Write a string array whose elements end in newlines, zero-copy from Arrow memory, with extra lines
    ``inserts`` = [(slot, text)] (sorted by slot; ``slot`` good lines precede each). Returns bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if lines.type != pa.string():
        lines = lines.cast(pa.string())
    if lines.null_count:
        raise ValueError("null line")
    written = 0
    with path.open("wb") as fh:
        if len(lines):
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
            data = memoryview(lines.buffers()[2])
        prev = 0
        for slot, text in [*(inserts or []), (len(lines), None)]:
            if slot > prev:
                written += fh.write(data[offsets[prev] : offsets[slot]])
                prev = slot
            if text is not None:
                written += fh.write((text + "\n").encode())
    return written
