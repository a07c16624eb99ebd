"""JSON-lines serialization of event arrays, vectorized with Arrow string kernels.

Why not ``json.dumps`` per event or ``DataFrame.to_json``: a Python call per event caps the generator at tens of
thousands of events per second, and pandas cannot mix a string and a number in ``ts`` nor omit absent keys. Arrow's
``binary_join_element_wise`` glues pre-formatted fragments (a null fragment is skipped, so optional keys simply
disappear) in one C pass, and the resulting string buffer *is* the file content: it is written without copying.
"""

from __future__ import annotations

import datetime as dt
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
    return iso_timestamps(np.asarray([ts_ms], dtype=np.int64))[0].as_py()


def event_lines(batch: EventBatch, event_num: np.ndarray, user_num: np.ndarray, item_num: np.ndarray) -> pa.Array:
    """One JSON object per event, each ending in a newline, keys in contract order, absent optionals omitted.

    ``ts`` is an ISO-8601 string, or epoch millis as a JSON number where the client logs that way.
    """
    q = '"'
    ts_iso = _join(_s(q), iso_timestamps(batch.ts), _s(q))
    ts_text = pc.if_else(pa.array(batch.millis), _ints(batch.ts), ts_iso)
    price = batch.price
    no_price = price < 0
    price_text = _join(
        _s(f',"{PRICE}":'), _ints(price // 100, no_price), _s("."), _TWO.take(pa.array(np.abs(price) % 100))
    )
    qty_text = _join(_s(f',"{QUANTITY}":'), _ints(batch.qty, batch.qty <= 0))
    rating_text = _join(_s(f',"{RATING}":'), _ints(batch.rating.astype(np.int64), batch.rating <= 0))
    session_text = _join(_s(f',"{SESSION_ID}":"s'), _ints(batch.session, batch.session < 0), _s(q))
    return _join(
        _s(f'{{"{EVENT_ID}":"e'),
        _ints(event_num),
        _s(f'","{USER_ID}":"u'),
        _ints(user_num[batch.user]),
        _s(f'","{ITEM_ID}":"i'),
        _ints(item_num[batch.item]),
        _s(f'","{EVENT_TYPE}":"'),
        _TYPES.take(pa.array(batch.etype.astype(np.int64))),
        _s(f'","{TS}":'),
        ts_text,
        session_text,
        price_text,
        qty_text,
        rating_text,
        _s("}\n"),
        skip_nulls=True,
    )


def write_lines(path: Path, lines: pa.Array) -> int:
    """Write a string array whose elements end in newlines; returns bytes written. Zero-copy from Arrow memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if lines.type != pa.string():
        lines = lines.cast(pa.string())
    if lines.null_count:
        raise ValueError("null line")
    with path.open("wb") as fh:
        if not len(lines):
            return 0
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
        data = lines.buffers()[2]
        view = memoryview(data)[offsets[0] : offsets[-1]]
        fh.write(view)
        return len(view)
