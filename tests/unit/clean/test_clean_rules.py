"""Each cleaning rule on hand-made records; every expected outcome below was worked out by hand from the rule text.

Run date of every case: 2026-11-01 (UTC). Default config: lateness 48 h, ratings 1..5, max price 1e6, bots above
60 events/minute or 2000/day (overridden where a test says so), session gap 30 min.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 1)
UTC = dt.UTC


def _write(path: Path, lines: list[str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _ev(eid: str, **fields) -> str:
    record = {"event_id": eid, "user_id": "u1", "item_id": "i1", "event_type": "view", "ts": "2026-11-01T10:00:00Z"}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not _DROP})


_DROP = object()

# (line, expected reason or None) -- reasons by hand from coldrec.clean.rules' definitions and order
RULE_CASES: list[tuple[str, str | None]] = [
    (_ev("ok-iso"), None),
    (_ev("ok-millis", ts=1793534400000), None),  # 2026-11-01T12:00:00Z as epoch millis (JSON number)
    (_ev("ok-millis-str", ts="1793534400000"), None),
    (_ev("ok-offset", ts="2026-11-02T01:30:00+02:00"), None),  # = 2026-11-01T23:30Z
    (_ev("ok-numeric-user", user_id=42), None),  # a JSON number id is read as the string "42"
    (_ev("ok-late-bound", ts="2026-10-30T00:00:00Z"), None),  # exactly 48 h before the day: still accepted
    (_ev("late-too-much", ts="2026-10-29T23:59:59Z"), "timestamp_outside_day"),
    (_ev("future-bound", ts="2026-11-02T00:00:00Z"), "timestamp_outside_day"),  # the day is [00:00, 24:00)
    (_ev("future-offset", ts="2026-11-02T01:30:00-01:00"), "timestamp_outside_day"),  # = 2026-11-02T02:30Z
    (_ev("bad-ts", ts="yesterday"), "invalid_timestamp"),
    (_ev("no-ts", ts=_DROP), "invalid_timestamp"),
    (_ev("no-user", user_id=_DROP), "missing_user_id"),
    (_ev("blank-user", user_id="   "), "missing_user_id"),
    (_ev("null-item", item_id=None), "missing_item_id"),
    (_ev("type-unknown", event_type="teleport"), "unknown_event_type"),
    (_ev("type-null", event_type=None), "unknown_event_type"),
    (_ev("syn-cart", event_type="Add-To-Cart"), None),
    (_ev("syn-buy", event_type="BUY"), None),
    (_ev("syn-order", event_type="order"), None),
    (_ev("syn-pageview", event_type=" page view "), None),
    (_ev("rating-missing", event_type="rating"), "missing_rating"),
    (_ev("rating-zero", event_type="rating", rating=0), "rating_out_of_range"),
    (_ev("rating-high", event_type="rating", rating=5.5), "rating_out_of_range"),
    (_ev("rating-nan", event_type="rating", rating="NaN"), "rating_out_of_range"),
    (_ev("rating-ok", event_type="rating", rating=5), None),
    (_ev("price-negative", price=-0.01), "invalid_price"),
    (_ev("price-absurd", price=1e7), "invalid_price"),
    (_ev("price-zero", price=0), None),
    (_ev("qty-zero", event_type="purchase", quantity=0), "invalid_quantity"),
    (_ev("qty-ok", event_type="purchase", quantity=3, price=9.5), None),
    (_ev("qty-float", quantity=2.5), "malformed_record"),  # wrong type for an integer field
    (_ev("rating-word", rating="five"), "malformed_record"),
    ('{"event_id": "trunc", "user_id": "u1", "item_', "malformed_record"),
    ("event_id=kv;user_id=u1", "malformed_record"),
    ("null", "malformed_record"),
    # several defects: the first rule in order names it (missing user before unknown type before bad price)
    (_ev("multi", user_id=None, event_type="teleport", price=-5), "missing_user_id"),
]


@pytest.fixture(scope="module")
def validated_cases(spark, tmp_path_factory):
    from coldrec.clean.job import read_events
    from coldrec.clean.validate import validate_events
    from coldrec.config import CleanConfig

    folder = tmp_path_factory.mktemp("rules") / "events" / f"date={DAY.isoformat()}"
    path = _write(folder / "part-00000.jsonl", [line for line, _ in RULE_CASES] + ["", "   "])
    rows = validate_events(read_events(spark, {DAY: [path]}), CleanConfig()).collect()
    return rows


def test_each_rule_names_the_expected_reason(validated_cases):
    got = {}
    for row in validated_cases:
        key = row["event_id"] if row["reason"] is None else row["raw"]
        got[key] = row["reason"]
    for line, expected in RULE_CASES:
        key = json.loads(line)["event_id"] if expected is None else line
        assert key in got, f"record missing from output: {line}"
        assert got[key] == expected, f"{line}: expected {expected}, got {got[key]}"


def test_blank_lines_are_flagged_not_rejected(validated_cases):
    blank = [r for r in validated_cases if r["reason"] == "blank_line"]
    assert len(blank) == 2
    assert len(validated_cases) == len(RULE_CASES) + 2


def test_accepted_values_are_normalized(validated_cases):
    by_id = {r["event_id"]: r for r in validated_cases if r["reason"] is None}
    assert by_id["ok-millis"]["ts"] == dt.datetime(2026, 11, 1, 12, 0)
    assert by_id["ok-millis-str"]["ts"] == dt.datetime(2026, 11, 1, 12, 0)
    assert by_id["ok-offset"]["ts"] == dt.datetime(2026, 11, 1, 23, 30)
    assert by_id["ok-offset"]["event_date"] == DAY
    assert by_id["ok-late-bound"]["event_date"] == dt.date(2026, 10, 30)
    assert by_id["ok-late-bound"]["ingest_date"] == DAY
    assert by_id["ok-numeric-user"]["user_id"] == "42"
    assert {k: by_id[k]["event_type"] for k in ("syn-cart", "syn-buy", "syn-order", "syn-pageview")} == {
        "syn-cart": "cart",
        "syn-buy": "purchase",
        "syn-order": "purchase",
        "syn-pageview": "view",
    }
    assert by_id["rating-ok"]["rating"] == 5.0
    assert by_id["qty-ok"]["quantity"] == 3
    assert by_id["ok-iso"]["raw"] is None  # raw text is only kept for the quarantine
    assert by_id["ok-iso"]["source_file"].endswith("date=2026-11-01/part-00000.jsonl")


def test_extra_synonyms_from_config(spark):
    from pyspark.sql import functions as F

    from coldrec.clean.rules import synonyms
    from coldrec.clean.validate import canonical_event_type

    table = synonyms({"Wish List": "favorite"})
    df = spark.createDataFrame([("wish-list",), ("WISH LIST",), ("wishlist",), ("nope",)], "t string")
    got = [r[0] for r in df.select(canonical_event_type(F.col("t"), table)).collect()]
    assert got == ["favorite", "favorite", "favorite", None]
    with pytest.raises(ValueError, match="canonical"):
        synonyms({"x": "teleport"})


def test_unknown_item_rule_only_with_a_catalog(spark, tmp_path):
    from coldrec.clean.job import read_events
    from coldrec.clean.validate import validate_events
    from coldrec.config import CleanConfig

    path = _write(
        tmp_path / "events" / "date=2026-11-01" / "p.jsonl",
        [_ev("known", item_id="i1"), _ev("unknown", item_id="i9"), _ev("no-item", item_id=None)],
    )
    catalog = spark.createDataFrame([("i1",), ("i2",)], "item_id string")
    rows = validate_events(read_events(spark, {DAY: [path]}), CleanConfig(), catalog).collect()
    got = {json.loads(r["raw"])["event_id"] if r["raw"] else r["event_id"]: r["reason"] for r in rows}
    assert got == {"known": None, "unknown": "unknown_item", "no-item": "missing_item_id"}


def test_csv_is_parsed_by_header_with_typed_casts(spark, tmp_path):
    from coldrec.clean.job import read_events
    from coldrec.clean.validate import validate_events
    from coldrec.config import CleanConfig

    path = _write(
        tmp_path / "events" / "date=2026-11-01" / "part-00000.csv",
        [
            "ts,user_id,item_id,event_type,event_id,rating,price",  # any column order
            "2026-11-01T08:00:00Z,u1,i1,rating,c1,4,",
            "1793534400000,u2,i2,buy,c2,,12.5",
            "2026-11-01T09:00:00Z,u3,i3,view,c3,x,",  # rating 'x' does not cast: malformed
            "2026-11-01T09:00:00Z,u4",  # too few fields: malformed
        ],
    )
    rows = validate_events(read_events(spark, {DAY: [path]}), CleanConfig()).collect()
    assert len(rows) == 4
    accepted = {r["event_id"]: r for r in rows if r["reason"] is None}
    assert set(accepted) == {"c1", "c2"}
    assert accepted["c1"]["rating"] == 4.0 and accepted["c1"]["ts"] == dt.datetime(2026, 11, 1, 8)
    assert accepted["c2"]["event_type"] == "purchase" and accepted["c2"]["price"] == 12.5
    assert accepted["c2"]["ts"] == dt.datetime(2026, 11, 1, 12)
    rejected = sorted((r["reason"], r["raw"]) for r in rows if r["reason"] is not None)
    assert [reason for reason, _ in rejected] == ["malformed_record", "malformed_record"]
    assert any(raw.startswith("2026-11-01T09:00:00Z,u4") for _, raw in rejected)


def test_file_keys_find_each_rows_path_even_when_it_needs_url_encoding(spark, tmp_path):
    """Rows carry a 64-bit key of their file through the job; the listed paths must give that key and the path
    exactly as Spark spells it for the rows (``_metadata.file_path`` URL-encodes a space and a percent sign)."""
    from pyspark.sql import functions as F

    from coldrec.clean.job import read_events, with_source_file
    from coldrec.clean.parse import FILE_KEY, file_key, file_keys, list_files

    folder = tmp_path / "odd name 100%" / "events" / f"date={DAY.isoformat()}"
    _write(folder / "part 1.jsonl", [_ev("a"), _ev("b")])
    _write(folder / "part-2.jsonl", [_ev("c")])
    files = list_files(spark, str(folder))
    raw = read_events(spark, {DAY: files})
    keyed = raw.select(
        "event_id", F.col("source_file").alias("spark_path"), file_key(F.col("source_file")).alias(FILE_KEY)
    )
    rows = with_source_file(keyed, file_keys(spark, files)).collect()
    assert len(rows) == 3
    assert all(r["source_file"] == r["spark_path"] for r in rows)
    assert {r["source_file"].rsplit("/", 1)[-1] for r in rows} == {"part%201.jsonl", "part-2.jsonl"}
    assert all("odd%20name%20100%25" in r["source_file"] for r in rows)
    assert {r["ingest_date"] for r in raw.select("ingest_date").collect()} == {DAY}


def _events_df(spark, rows: list[tuple]):
    """Accepted-event rows (user, item, type, ts, event_id, session_id[, event_date]) in the validated shape."""
    from pyspark.sql import functions as F

    from coldrec.data import schemas as S

    schema = "user_id string, item_id string, event_type string, ts timestamp, event_id string, session_id string"
    df = spark.createDataFrame(rows, schema)
    return df.select(
        "*",
        F.lit(None).cast("double").alias(S.RATING),
        F.lit(None).cast("double").alias(S.PRICE),
        F.lit(None).cast("int").alias(S.QUANTITY),
        F.lit("f.jsonl").alias(S.SOURCE_FILE),
        F.to_date("ts").alias(S.EVENT_DATE),
        F.lit(DAY).alias("ingest_date"),
    )


def _t(hh: int, mm: int = 0, ss: int = 0, day: int = 1) -> dt.datetime:
    return dt.datetime(2026, 11, day, hh, mm, ss)


def test_duplicates_by_event_id_and_by_content(spark):
    from coldrec.clean.dedupe import fill_event_id, remove_duplicates
    from coldrec.clean.timeline import cluster_by_user

    rows = [
        ("u1", "i1", "view", _t(10), "a", None),
        ("u1", "i1", "view", _t(10), "a", None),  # exact re-send: removed
        ("u1", "i1", "view", _t(10), "b", None),  # same user/item/type/ts, new id: removed
        ("u1", "i1", "cart", _t(10), "c", None),  # other type: kept
        ("u1", "i2", "view", _t(11), "d", None),
        ("u1", "i3", "view", _t(12), "d", None),  # same id, other content: removed (the earlier one stays)
        ("u2", "i1", "view", _t(10), "a", None),  # same id, other user: another event, kept
        ("u2", "i5", "view", _t(13), None, None),  # no id: hashed, kept
        ("u2", "i5", "view", _t(13), None, None),  # same content without id: same hash, removed
    ]
    out = remove_duplicates(cluster_by_user(fill_event_id(_events_df(spark, rows)))).collect()
    kept = sorted(
        (r["user_id"], r["event_id"], r["item_id"], r["event_type"]) for r in out if r["event_id"][:2] != "h:"
    )
    assert kept == [
        ("u1", "a", "i1", "view"),
        ("u1", "c", "i1", "cart"),
        ("u1", "d", "i2", "view"),
        ("u2", "a", "i1", "view"),
    ]
    hashed = [r for r in out if r["event_id"].startswith("h:")]
    assert len(hashed) == 1 and len(hashed[0]["event_id"]) == 34
    assert len(out) == 5


def test_bots_by_minute_and_by_day(spark):
    from coldrec.clean.bots import flag_bots
    from coldrec.clean.timeline import cluster_by_user

    rows = []
    # A: 4 events within 59 s -> more than 3 in a minute -> bot
    rows += [("A", f"i{k}", "view", _t(10, 0, s), f"a{k}", "s") for k, s in enumerate((0, 20, 40, 59))]
    # B: 4 events spanning exactly 60 s -> at most 3 in any 60-second window -> human
    rows += [
        ("B", f"i{k}", "view", _t(10, m, s), f"b{k}", "s")
        for k, (m, s) in enumerate(((0, 0), (0, 20), (0, 40), (1, 0)))
    ]
    # C: 6 events over the day, hours apart -> more than 5 on one day -> bot
    rows += [("C", f"i{k}", "view", _t(2 + 3 * k), f"c{k}", "s") for k in range(6)]
    # D: 5 events on the day -> not more than 5 -> human
    rows += [("D", f"i{k}", "view", _t(2 + 3 * k), f"d{k}", "s") for k in range(5)]
    # E: 6 events, one of them late on Oct 31 and five on Nov 1 -> at most 5 per day -> human
    rows += [("E", "i0", "view", dt.datetime(2026, 10, 31, 22), "e0", "s")]
    rows += [("E", f"i{k}", "view", _t(2 + 3 * k), f"e{k + 1}", "s") for k in range(5)]
    out = flag_bots(cluster_by_user(_events_df(spark, rows)), per_minute=3, per_day=5).collect()
    flags = {}
    for r in out:
        flags.setdefault(r["user_id"], set()).add(r["is_bot"])
    assert flags == {"A": {True}, "B": {False}, "C": {True}, "D": {False}, "E": {False}}


def test_sessionize_fills_missing_ids_by_gap(spark):
    from coldrec.clean.sessionize import sessionize
    from coldrec.clean.timeline import cluster_by_user

    rows = [
        ("u1", "i1", "view", _t(10, 0), "e1", None),
        ("u1", "i2", "view", _t(10, 20), "e2", None),  # 20 min later: same session
        ("u1", "i3", "view", _t(10, 51), "e3", None),  # 31 min later: new session
        ("u1", "i4", "view", _t(11, 21), "e4", None),  # exactly 30 min later: same session (gap must exceed 30)
        ("u2", "i1", "view", _t(9, 0), "e5", "logged-1"),  # a logged session id is kept
        ("u2", "i2", "view", _t(9, 5), "e6", None),  # 5 min after u2's previous event: the session that began 9:00
    ]
    out = {r["event_id"]: r["session_id"] for r in sessionize(cluster_by_user(_events_df(spark, rows)), 30).collect()}
    assert out == {
        "e1": "u1#20261101T100000",
        "e2": "u1#20261101T100000",
        "e3": "u1#20261101T105100",
        "e4": "u1#20261101T105100",
        "e5": "logged-1",
        "e6": "u2#20261101T090000",
    }


def test_items_and_users_validation(spark, tmp_path):
    from coldrec.clean.parse import read_raw
    from coldrec.clean.validate import validate_items, validate_users
    from coldrec.config import CleanConfig
    from coldrec.data import schemas as S

    items = _write(
        tmp_path / "items" / "part-00000.jsonl",
        [
            json.dumps({"item_id": " i1 ", "title": "A", "category_path": "Sports > Shoes >Running", "price": 5}),
            json.dumps({"item_id": "i2", "price": -1}),
            json.dumps({"title": "no id"}),
            json.dumps({"item_id": "i3", "created_at": "last week"}),
            '{"item_id": "i4", "title": ',
        ],
    )
    users = _write(
        tmp_path / "users" / "part-00000.jsonl",
        [
            json.dumps({"user_id": "u1", "age": 30, "interests": [" Fantasy ", "", "Running"]}),
            json.dumps({"user_id": "u2", "age": 130}),
            json.dumps({"user_id": None, "age": 30}),
            json.dumps({"user_id": "u3", "signup_ts": "2026-13-01"}),
            json.dumps({"user_id": "u4", "signup_ts": 1793534400000}),
        ],
    )
    got_items = {
        (r["item_id"], r["reason"])
        for r in validate_items(read_raw(spark, [items], S.RAW_ITEMS), CleanConfig()).collect()
    }
    assert got_items == {
        ("i1", None),
        ("i2", "invalid_price"),
        (None, "missing_item_id"),
        ("i3", "invalid_timestamp"),
        (None, "malformed_record"),
    }
    item = validate_items(read_raw(spark, [items], S.RAW_ITEMS), CleanConfig()).where("reason IS NULL").first()
    assert item["category_path"] == "Sports>Shoes>Running"
    rows = validate_users(read_raw(spark, [users], S.RAW_USERS), CleanConfig()).collect()
    assert {(r["user_id"], r["reason"]) for r in rows} == {
        ("u1", None),
        ("u2", "invalid_age"),
        (None, "missing_user_id"),
        ("u3", "invalid_timestamp"),
        ("u4", None),
    }
    by_id = {r["user_id"]: r for r in rows}
    assert by_id["u1"]["interests"] == ["Fantasy", "Running"]
    assert by_id["u4"]["signup_ts"] == dt.datetime(2026, 11, 1, 12)


def test_listing_skips_markers_but_never_other_files(spark, tmp_path):
    from coldrec.clean.parse import list_files

    folder = tmp_path / "events" / "date=2026-11-01"
    folder.mkdir(parents=True)
    for name in ("_SUCCESS", ".part-00000.jsonl.crc", "part-00000.jsonl", "export.csv", "notes.txt"):
        (folder / name).write_text("x\n")
    (folder / "sub").mkdir()
    names = [path.rsplit("/", 1)[1] for path in list_files(spark, str(folder))]
    assert names == ["export.csv", "notes.txt", "part-00000.jsonl"]  # a stray file is input (and quarantined)
    assert list_files(spark, str(tmp_path / "missing")) == []
