"""Injected bad records: each kind the cleaning job must catch, each one recorded with file, line and id.

Why extra lines instead of corrupting real events: the clean event stream then is exactly what the simulator
planted (the statistics tests rely on that), and every bad line has its own identity: a fresh ``event_id`` (or the
original's, for exact duplicates) and a 1-based line number, stored in the ground truth so a test can check that
every single one was rejected for the right reason.

Rate: ``n_bad = rate * n_good / (1 - rate)`` (stochastically rounded) per file, so bad lines are ``rate`` of all
lines in expectation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from coldrec.data.generator.catalog import MS_PER_DAY
from coldrec.data.generator.config import EVENT_BAD_KINDS
from coldrec.data.generator.jsonl import iso
from coldrec.data.generator.vocabulary import UNKNOWN_EVENT_TYPES
from coldrec.data.schemas import EVENT_ID, EVENT_TYPE, ITEM_ID, PRICE, TS, USER_ID

#: far-future timestamps are this many years ahead of the event they copy
FUTURE_YEARS = (1, 30)
#: an exact duplicate is re-sent within this many lines after its original (client retry)
DUPLICATE_WINDOW = 50
_HTML = "<html><head><title>502 Bad Gateway</title></head><body>upstream timed out</body></html>"
_COMPACT = (",", ":")


def bad_count(n_good: int, rate: float, rng: np.random.Generator) -> int:
    """How many bad lines to add to a file of ``n_good`` lines so that they are ``rate`` of all lines."""
    if n_good == 0 or rate <= 0:
        return 0
    expected = rate * n_good / (1 - rate)
    return int(np.floor(expected + rng.random()))


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=_COMPACT)


def _malformed(record: dict[str, Any], id_key: str, rng: np.random.Generator) -> tuple[str, bool]:
    """A line no JSON parser accepts: truncated JSON (most), a key=value log line, or an HTML error page.
    Returns the text and whether the record's id still appears whole in it."""
    style = rng.random()
    if style < 0.7:
        text = _dumps(record)
        text = text[: int(rng.integers(5, len(text) - 1))]
        return text, _dumps({id_key: record[id_key]})[1:-1] in text
    if style < 0.85:
        return ";".join(f"{k}={v}" for k, v in record.items()), True
    return _HTML, False


def _place(n_good: int, keys: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where bad lines go among ``n_good`` good ones, by sort key (good line i has key i and wins ties).

    Returns (order of the bad lines, slot of each bad line = good lines before it, 1-based line of each bad line).
    """
    key = np.asarray(keys, dtype=np.float64)
    order = np.argsort(key, kind="stable")
    slot = np.searchsorted(np.arange(n_good), key, side="right")
    line = np.empty(len(key), dtype=np.int64)
    line[order] = slot[order] + np.arange(len(key)) + 1
    return order, slot, line


def _good_line(index: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """1-based line number of good lines ``index`` once the bad lines (at ``slots``) are in."""
    return index + np.searchsorted(np.sort(slots), index, side="right") + 1


def inject_event_bad_records(
    lines: pa.Array,
    event_num: np.ndarray,
    has_price: np.ndarray,
    ts_ms: np.ndarray,
    rate: float,
    rng: np.random.Generator,
    new_event_id: Callable[[], str],
    file: str,
) -> tuple[list[tuple[int, str]], list[dict[str, Any]]]:
    """Bad event lines to insert among ``lines`` (good, newline-terminated): ``[(slot, text)]`` sorted by slot
    (see :func:`coldrec.data.generator.jsonl.write_lines`), and their ground-truth records."""
    n = len(lines)
    n_bad = bad_count(n, rate, rng)
    if n_bad == 0:
        return [], []
    kinds = rng.choice(len(EVENT_BAD_KINDS), size=n_bad)
    priced = np.flatnonzero(has_price)
    src = rng.integers(0, n, n_bad)
    need_price = np.asarray([EVENT_BAD_KINDS[k] == "negative_price" for k in kinds])
    if need_price.any() and len(priced):
        src[need_price] = priced[rng.integers(0, len(priced), int(need_price.sum()))]
    src_text = lines.take(pa.array(src)).to_pylist()

    texts: list[str] = []
    keys: list[float] = []
    records: list[dict[str, Any]] = []
    for j in range(n_bad):
        kind = EVENT_BAD_KINDS[kinds[j]]
        original = src_text[j].rstrip("\n")
        rec: dict[str, Any] = {"dataset": "events", "kind": kind, "file": file}
        if kind == "duplicate" or (kind == "negative_price" and not len(priced)):
            kind = rec["kind"] = "duplicate"
            texts.append(original)
            keys.append(src[j] + rng.uniform(0.5, min(DUPLICATE_WINDOW, n - src[j])))
            rec["event_id"] = f"e{event_num[src[j]]}"
            rec["original_index"] = int(src[j])
            records.append(rec)
            continue
        record = json.loads(original)
        record[EVENT_ID] = rec["event_id"] = new_event_id()
        if kind == "malformed_json":
            text, has_id = _malformed(record, EVENT_ID, rng)
            rec["raw"] = text
            if not has_id:
                rec["event_id"] = None
        else:
            if kind == "missing_id":
                field = USER_ID if rng.random() < 0.5 else ITEM_ID
                rec["field"] = field
                if rng.random() < 0.5:
                    del record[field]
                else:
                    record[field] = None
            elif kind == "unknown_event_type":
                record[EVENT_TYPE] = rec["event_type"] = UNKNOWN_EVENT_TYPES[
                    int(rng.integers(len(UNKNOWN_EVENT_TYPES)))
                ]
            elif kind == "negative_price":
                record[PRICE] = rec["price"] = -abs(float(record[PRICE]))
            elif kind == "far_future_ts":
                years = int(rng.integers(FUTURE_YEARS[0], FUTURE_YEARS[1] + 1))
                future = int(ts_ms[src[j]]) + years * 365 * MS_PER_DAY + int(rng.integers(0, MS_PER_DAY))
                record[TS] = future if isinstance(record[TS], int) else iso(future)
                rec["ts"] = record[TS]
            text = _dumps(record)
        texts.append(text)
        keys.append(float(rng.uniform(0, n)))
        records.append(rec)

    order, slot, line = _place(n, keys)
    for j, rec in enumerate(records):
        rec["line"] = int(line[j])
        if "original_index" in rec:
            rec["original_line"] = int(_good_line(np.asarray([rec.pop("original_index")]), slot)[0])
    return [(int(slot[j]), texts[j]) for j in order], records


def inject_record_bad_records(
    records: list[dict[str, Any]],
    kinds: tuple[str, ...],
    id_key: str,
    rate: float,
    rng: np.random.Generator,
    new_id: Callable[[], str],
    dataset: str,
    file: str,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Items / users: serialize ``records`` and add bad lines (each a corrupted copy under a fresh id)."""
    lines = [_dumps(r) for r in records]
    n = len(lines)
    n_bad = bad_count(n, rate, rng)
    texts: list[str] = []
    keys: list[float] = []
    truth: list[dict[str, Any]] = []
    for _ in range(n_bad):
        kind = kinds[int(rng.integers(len(kinds)))]
        record = dict(records[int(rng.integers(n))])
        record[id_key] = new_id()
        rec: dict[str, Any] = {"dataset": dataset, "kind": kind, "file": file, id_key: record[id_key]}
        if kind == "malformed_json":
            text, has_id = _malformed(record, id_key, rng)
            rec["raw"] = text
            if not has_id:
                rec[id_key] = None
        elif kind == "missing_id":
            rec[id_key] = None
            if rng.random() < 0.5:
                del record[id_key]
            else:
                record[id_key] = None
            text = _dumps(record)
        elif kind == "negative_price":
            record[PRICE] = rec["price"] = -abs(float(record[PRICE]))
            text = _dumps(record)
        else:
            raise ValueError(f"unknown bad-record kind {kind!r} for {dataset}")
        texts.append(text)
        keys.append(float(rng.uniform(0, n)))
        truth.append(rec)
    order, slot, line = _place(n, keys)
    for j, rec in enumerate(truth):
        rec["line"] = int(line[j])
    out: list[str] = []
    prev = 0
    for j in order:
        out.extend(lines[prev : slot[j]])
        out.append(texts[j])
        prev = slot[j]
    out.extend(lines[prev:])
    return out, truth
