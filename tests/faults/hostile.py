"""A seeded generator of hostile landing files: one day of events, items and users in every shape a broken export
or an attacker can produce, with a manifest of what each record was (its kind, its id, its exact bytes).

Why a seeded generator and not hypothesis: hypothesis is not a dependency of the project; a seeded generator gives
the same 10,000+ records on every run, so a failure is reproducible from the seed alone.

Every record carries a unique id (``event_id``, ``item_id``, ``user_id``) except the deliberate exact duplicates,
so the test can follow each one into the silver tables or the quarantine without trusting the job's counters.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

EVENT_KINDS = (
    "valid",
    "extra_fields",
    "duplicate_exact",
    "invalid_utf8",
    "truncated_json",
    "not_an_object",
    "wrong_types",
    "field_100kb",
    "controls_and_nul_in_ids",
    "missing_fields",
    "nan_infinity_absurd",
    "impossible_or_far_ts",
    "duplicate_keys",
    "deep_nesting",
    "metacharacter_ids",
)
#: ids a consumer must get back unchanged (SQL, JSON, path and shell metacharacters)
METACHARACTER_IDS = (
    "u'; DROP TABLE silver.events; --",
    'u"},{"user_id":"x',
    "../../etc/passwd",
    "u/with/slashes\\and\\backslashes",
    "u%00%2e%2e",
    "u`$(rm -rf /)`",
    "u\tTAB\r\nCRLF",
    "u*?[a-z]{1}|&;<>",
    "Ǆé日本\U0001f600",
)


@dataclass
class Record:
    dataset: str  # events / items / users
    kind: str
    key: str | None  # the id it was written with (None: the line cannot say)
    raw: bytes  # the exact line, without its newline
    file: str


@dataclass
class HostileDay:
    root: Path
    day: dt.date
    records: list[Record] = field(default_factory=list)
    #: files that are not record-per-line text: name -> kind ("gzip_corrupt", "binary", "empty")
    special_files: dict[str, str] = field(default_factory=dict)
    csv_ids: list[str] = field(default_factory=list)

    def kinds(self) -> set[tuple[str, str]]:
        return {(r.dataset, r.kind) for r in self.records} | {("events", k) for k in self.special_files.values()}


def _iso(day: dt.date, ms: int) -> str:
    t = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


class _Writer:
    def __init__(self, rng: random.Random, day: dt.date) -> None:
        self.rng, self.day, self.n = rng, day, 0

    def event(self, key: str, **over: object) -> dict:
        self.n += 1
        etype = self.rng.choice(["view", "click", "cart", "purchase", "rating"])
        rec: dict = {
            "event_id": key,
            "user_id": f"u{self.rng.randrange(400):04d}",
            "item_id": f"i{self.rng.randrange(250):04d}",
            "event_type": etype,
            "ts": _iso(self.day, self.n * 4_000 + self.rng.randrange(4_000)),  # unique: no content duplicates
            "price": round(self.rng.uniform(1, 500), 2),
            "quantity": 1,
        }
        if etype == "rating":
            rec["rating"] = float(self.rng.randint(1, 5))
        rec.update(over)
        return rec

    def hostile_event(self, kind: str, key: str) -> bytes:
        rng = self.rng
        rec = self.event(key)
        if kind in ("valid", "duplicate_exact"):
            return _dumps(rec)
        if kind == "extra_fields":
            return _dumps({**rec, "unexpected": {"nested": [1, 2, {"x": None}]}, "Event_ID": "shadow", "": 0})
        if kind == "invalid_utf8":
            good = _dumps(rec)
            at = good.index(b'"user_id": "') + len(b'"user_id": "')
            return good[:at] + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]) + good[at:]
        if kind == "truncated_json":
            good = _dumps(rec)
            return good[: rng.randrange(1, len(good) - 1)]
        if kind == "not_an_object":
            return rng.choice([b"[1, 2, 3]", b"42", b'"just a string"', b"null", b"true", b"[]", b"{}x"]) + (
                f" {key}".encode() if rng.random() < 0.5 else b""
            )
        if kind == "wrong_types":
            field_, value = rng.choice([("rating", "five"), ("quantity", "many"), ("price", "cheap"),
                                        ("quantity", 1.5), ("ts", {"at": 1}), ("user_id", ["a", "b"])])  # fmt: skip
            return _dumps({**rec, field_: value})
        if kind == "field_100kb":
            name = rng.choice(["session_id", "user_id", "event_type", "garbage"])
            return _dumps({**rec, name: "x" * (100_000 if rng.random() < 0.1 else 2_000)})  # 100 KB: ~35 of them
        if kind == "controls_and_nul_in_ids":
            return _dumps({**rec, "user_id": f"u\u0000{key}\u0007\u202e\u200b\ufeff", "item_id": "i\u0001\u001f"})
        if kind == "missing_fields":
            drop = rng.choice(["user_id", "item_id", "event_type", "ts", "rating"])
            return _dumps({k: v for k, v in rec.items() if k != drop})
        if kind == "nan_infinity_absurd":
            field_, literal = rng.choice([("price", "NaN"), ("price", "Infinity"), ("price", "-Infinity"),
                                          ("price", "1e308"), ("price", "-3"), ("quantity", "99999999999"),
                                          ("quantity", "0"), ("rating", "1e9"), ("rating", "NaN"),
                                          ("price", "1e999")])  # fmt: skip
            text = _dumps({**rec, field_: 0}).decode()
            return text.replace(f'"{field_}": 0', f'"{field_}": {literal}').encode()
        if kind == "impossible_or_far_ts":
            ts = rng.choice(["2026-13-45T99:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1e30",
                             "-1", "99999999999999999999", "2026-02-30T00:00:00Z", "", "yesterday",
                             "2126-11-03T00:00:00Z"])  # fmt: skip
            return _dumps({**rec, "ts": ts})
        if kind == "duplicate_keys":
            text = _dumps(rec).decode()
            return ("{" + f'"user_id": "shadow-{key}", ' + text[1:]).encode()
        if kind == "deep_nesting":
            depth = rng.choice([50, 1_500, 5_000])
            return (_dumps(rec).decode()[:-1] + f', "session_id": {_nested(depth)}' + "}").encode()
        if kind == "metacharacter_ids":
            return _dumps({**rec, "user_id": rng.choice(METACHARACTER_IDS), "item_id": f"i/../{key}'\";--"})
        raise ValueError(kind)


#: the event kinds that make sense for an item or user record (no exact duplicates; ids are the catalog's own)
CATALOG_KINDS = tuple(k for k in EVENT_KINDS if k not in ("duplicate_exact", "metacharacter_ids"))


def _kind_of(i: int, kinds: tuple[str, ...]) -> str:
    """Record ``i``'s kind: every other record valid (the gate's reject share must stay under its limit), the rest
    spread over the other kinds in turn."""
    return "valid" if i % 2 == 0 else kinds[1 + (i // 2) % (len(kinds) - 1)]


def _catalog_record(rng: random.Random, dataset: str, kind: str, key: str) -> bytes:
    id_field = "item_id" if dataset == "items" else "user_id"
    if dataset == "items":
        rec: dict = {"item_id": key, "title": f"Item {key}", "description": "A thing.", "brand": "Acme",
                     "category_path": "Sports>Shoes>Running", "price": 19.99, "created_at": "2026-10-01T00:00:00Z"}
        ts_field, num_field, bad_num = "created_at", "price", "cheap"
    else:
        rec = {"user_id": key, "signup_ts": "2026-09-01T00:00:00Z", "age": 33, "gender": "F", "country": "DE",
               "region": "Berlin", "interests": ["Sports", "Books"]}  # fmt: skip
        ts_field, num_field, bad_num = "signup_ts", "age", "old"
    if kind == "valid":
        return _dumps(rec)
    if kind == "extra_fields":
        return _dumps({**rec, "loyalty": {"tier": [1, 2]}, "": None})
    if kind == "invalid_utf8":
        good = _dumps(rec)
        at = good.index(f'"{id_field}": "'.encode()) + len(id_field) + 5
        return good[:at] + b"\xfe\xff" + good[at:]
    if kind == "truncated_json":
        good = _dumps(rec)
        return good[: rng.randrange(1, len(good) - 1)]
    if kind == "not_an_object":
        return rng.choice([b"[1, 2]", b"7", b'"item"', b"null"]) + f" {key}".encode()
    if kind == "wrong_types":
        return _dumps({**rec, num_field: bad_num})
    if kind == "field_100kb":
        big = "description" if dataset == "items" else "region"
        return _dumps({**rec, big: "y" * 100_000})
    if kind == "controls_and_nul_in_ids":
        return _dumps({**rec, id_field: f"\u0000{key}\u0007\u202e"})
    if kind == "missing_fields":
        return _dumps({k: v for k, v in rec.items() if k != rng.choice([id_field, ts_field, num_field])})
    if kind == "nan_infinity_absurd":
        literal = rng.choice(["NaN", "Infinity", "-1e308", "1e999", "-5", "100000000000"])
        return _dumps({**rec, num_field: 0}).decode().replace(f'"{num_field}": 0', f'"{num_field}": {literal}').encode()
    if kind == "impossible_or_far_ts":
        return _dumps({**rec, ts_field: rng.choice(["2026-02-30T00:00:00Z", "9999-99-99", "-1", "1e40", "soon"])})
    if kind == "duplicate_keys":
        return ("{" + f'"{id_field}": "shadow-{key}", ' + _dumps(rec).decode()[1:]).encode()
    if kind == "deep_nesting":
        return (_dumps(rec).decode()[:-1] + f', "tags": {_nested(rng.choice([40, 3_000]))}' + "}").encode()
    raise ValueError(kind)


def _parsed_id(raw: bytes, id_field: str) -> str | None:
    """The id as Python's json module reads the line (the last of duplicate keys wins, as in RFC 8259's common
    reading), or None when it does not parse to an object with a string id."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return obj.get(id_field) if isinstance(obj, dict) and isinstance(obj.get(id_field), str) else None


def _write_lines(path: Path, lines: list[bytes], rng: random.Random) -> None:
    """Lines joined by ``\\n``, with a few blank and whitespace-only lines between them (not records)."""
    out = bytearray()
    for line in lines:
        out += line + b"\n"
        if rng.random() < 0.01:
            out += rng.choice([b"\n", b"   \n"])
    path.write_bytes(bytes(out))


def generate(root: Path, day: dt.date, n_events: int = 10_000, n_catalog: int = 700, seed: int = 23) -> HostileDay:
    """Write ``landing/{events,items,users}/date=<day>/`` under ``root``; return the manifest."""
    rng = random.Random(seed)
    hd = HostileDay(root, day)
    w = _Writer(rng, day)
    events_dir = root / "events" / f"date={day.isoformat()}"
    events_dir.mkdir(parents=True)
    # half the records valid (the gate's reject share must stay under its limit), the rest spread over the kinds
    lines: list[bytes] = []
    valid_lines: list[bytes] = []
    for i in range(n_events):
        key = f"e{i:06d}"
        kind = "valid" if i < 20 else _kind_of(i, EVENT_KINDS)
        if kind == "duplicate_exact":
            raw, key = rng.choice(valid_lines), None
        else:
            raw = w.hostile_event(kind, key)
        if kind == "valid":
            valid_lines.append(raw)
        lines.append(raw)
        hd.records.append(Record("events", kind, key, raw, "part-0000.jsonl"))
    _write_lines(events_dir / "part-0000.jsonl", lines, rng)

    # CSV: a header, valid rows, rows with a column too many or too few (shifted), quoted embedded newlines
    header = "event_id,user_id,item_id,event_type,ts,price,quantity"
    rows = [header]
    for i in range(300):
        cid = f"c{i:06d}"
        hd.csv_ids.append(cid)
        rec = w.event(cid, event_type="view")
        base = [cid, rec["user_id"], rec["item_id"], "view", rec["ts"], str(rec["price"]), "1"]
        shape = i % 4
        if shape == 1:
            base.insert(2, "SHIFTED")  # one column too many: everything after it shifts right
        elif shape == 2:
            base.pop(1)  # one column too few
        elif shape == 3:
            base[3] = f'"vi\new tail-{cid}"'  # an embedded newline inside a quoted field
        rows.append(",".join(base))
    (events_dir / "part-0001.csv").write_text("\n".join(rows) + "\n")

    (events_dir / "part-0002.jsonl").write_bytes(b"")
    hd.special_files["part-0002.jsonl"] = "empty_file"
    good = gzip.compress(b"\n".join(w.hostile_event("valid", f"g{i:06d}") for i in range(200)) + b"\n")
    (events_dir / "part-0003.jsonl.gz").write_bytes(good[: len(good) // 2])  # truncated mid-stream
    hd.special_files["part-0003.jsonl.gz"] = "gzip_corrupt"
    blob = bytes(rng.randrange(256) for _ in range(6_000)).replace(b"\r", b"\x00")
    (events_dir / "part-0004.png").write_bytes(b"\x89PNG\x1a\x00" + blob)
    hd.special_files["part-0004.png"] = "binary_file"

    for dataset in ("items", "users"):
        folder = root / dataset / f"date={day.isoformat()}"
        folder.mkdir(parents=True)
        cat_lines = []
        for i in range(n_catalog):
            key = f"{dataset[0]}{i:04d}" if dataset == "users" else f"i{i:04d}"
            kind = _kind_of(i, CATALOG_KINDS)
            raw = _catalog_record(rng, dataset, kind, key)
            key = _parsed_id(raw, "item_id" if dataset == "items" else "user_id") or key
            cat_lines.append(raw)
            hd.records.append(Record(dataset, kind, key, raw, f"{dataset}.jsonl"))
        _write_lines(folder / f"{dataset}.jsonl", cat_lines, rng)
    return hd
