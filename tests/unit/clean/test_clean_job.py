"""The cleaning job against Delta tables: quarantine and accounting, the data-quality gate, idempotent reruns, the
catalog upsert, and a generated day checked line by line against the generator's ground truth.

Expected values are worked out by hand from the hand-made files (or, for the generated shop, from its files and
``_ground_truth.json`` with plain Python), never taken from the job's own output.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)
CLEAN_TABLES = ("silver.items", "silver.users", "silver.events", "silver.rejected", "ops.run_metrics")


@pytest.fixture(scope="module")
def lake_template(spark, tmp_path_factory):
    """The cleaning job's tables, created empty once (with their constraints: a dozen Delta commits)."""
    from coldrec import lake
    from coldrec.config import load_settings

    root = tmp_path_factory.mktemp("lake-template") / "lake"
    template = load_settings({"lake_uri": str(root)})
    for name in CLEAN_TABLES:
        lake.ensure_table(spark, template, name)
    return root


@pytest.fixture
def settings(settings, lake_template):
    """Each test starts from a copy of the empty tables (path-based Delta tables copy as plain folders)."""
    shutil.copytree(lake_template, settings.lake_uri)
    return settings


def _lines(path: Path, records: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    path.write_text(text, encoding="utf-8")


def _events(landing: str, day: dt.date, records: list, name: str = "part-00000.jsonl") -> None:
    _lines(Path(landing) / "events" / f"date={day.isoformat()}" / name, records)


def _ev(eid: str, user: str, item: str, etype: str, ts: str, **extra) -> dict:
    return {"event_id": eid, "user_id": user, "item_id": item, "event_type": etype, "ts": ts, **extra}


def _settings(**clean):
    from coldrec.config import load_settings

    return load_settings({"clean": clean}) if clean else load_settings()


def _table(spark, settings, name: str) -> list:
    from coldrec import lake

    return lake.read_table(spark, settings, name).collect()


def _metrics(spark, settings, day: dt.date) -> dict[str, float]:
    return {
        r["metric"]: r["value"]
        for r in _table(spark, settings, "ops.run_metrics")
        if r["run_date"] == day and r["stage"] == "clean"
    }


GARBAGE = "garbage {not json"
NO_USER = json.dumps(_ev("bad-user", None, "i1", "view", "2026-11-01T11:00:00Z"))
NEG_PRICE = json.dumps(_ev("bad-price", "u1", "i1", "view", "2026-11-01T11:00:00Z", price=-3))


def test_one_day_quarantine_accounting_and_tables(spark, settings):
    landing = settings.landing_uri
    _events(
        landing,
        D1,
        [
            _ev("e1", "u1", "i1", "view", "2026-11-01T10:00:00Z", session_id="s1"),
            _ev("e1", "u1", "i1", "view", "2026-11-01T10:00:00Z", session_id="s1"),  # re-sent: duplicate
            _ev("e2", "u1", "i2", "add_to_cart", "2026-11-01T10:05:00Z", session_id="s1", price=20.0, quantity=1),
            _ev("e3", "u2", "i1", "rating", "2026-10-31T23:00:00Z", rating=4),  # late: its own event_date
            _ev("e4", "u2", "i3", "view", 1793523600000),  # 2026-11-01T09:00Z; i3 is not in the catalog: kept
            NO_USER,
            GARBAGE,
            NEG_PRICE,
            "",
        ],
    )
    _lines(
        Path(landing) / "items" / "part-00000.jsonl",
        [{"item_id": "i1", "title": "One", "price": 10}, {"item_id": "i2", "title": "Two"}, {"title": "no id"}],
    )
    _lines(Path(landing) / "users" / "part-00000.jsonl", [{"user_id": "u1", "age": 30}, {"user_id": "u2"}])
    s = _settings(max_reject_share=0.5)  # 3 of 8 records are bad on purpose

    from coldrec.clean import run_clean

    report = run_clean(spark, s, D1)

    # 9 lines: 1 blank, 8 records = 4 accepted + 3 rejected + 1 duplicate
    assert (report.input_rows, report.blank_lines, report.accepted) == (8, 1, 4)
    assert report.rejected_by_reason == {"missing_user_id": 1, "malformed_record": 1, "invalid_price": 1}
    assert (report.duplicates_removed, report.late_events, report.bot_users) == (1, 1, 0)
    assert report.events_without_session == 2  # e3 and e4
    assert report.gate_passed and report.balanced

    events = {r["event_id"]: r for r in _table(spark, s, "silver.events")}
    assert set(events) == {"e1", "e2", "e3", "e4"}
    assert events["e2"]["event_type"] == "cart" and events["e2"]["price"] == 20.0
    assert events["e3"]["event_date"] == dt.date(2026, 10, 31) and events["e3"]["ingest_date"] == D1
    assert events["e4"]["ts"] == dt.datetime(2026, 11, 1, 9, 0)
    # u2: e3 at Oct 31 23:00, e4 nine hours later -> two gap-based sessions
    assert events["e3"]["session_id"] == "u2#20261031T230000"
    assert events["e4"]["session_id"] == "u2#20261101T090000"
    assert events["e1"]["session_id"] == "s1" and not any(r["is_bot"] for r in events.values())

    rejected = {(r["dataset"], r["reason"], r["raw"]) for r in _table(spark, s, "silver.rejected")}
    assert rejected == {
        ("events", "missing_user_id", NO_USER),
        ("events", "malformed_record", GARBAGE),
        ("events", "invalid_price", NEG_PRICE),
        ("items", "missing_item_id", json.dumps({"title": "no id"})),
    }
    assert all(r["run_date"] == D1 and r["source_file"] for r in _table(spark, s, "silver.rejected"))
    items = {r["item_id"]: (r["title"], r["price"], r["updated_date"]) for r in _table(spark, s, "silver.items")}
    assert items == {"i1": ("One", 10.0, D1), "i2": ("Two", None, D1)}
    assert {r["user_id"] for r in _table(spark, s, "silver.users")} == {"u1", "u2"}

    m = _metrics(spark, s, D1)
    assert m["input_rows"] == 8 and m["accepted"] == 4 and m["rejected"] == 3 and m["duplicates_removed"] == 1
    assert m["rejected_malformed_record"] == 1 and m["rejected_unknown_item"] == 0  # every named reason is stored
    assert m["rejected_share"] == pytest.approx(3 / 8)
    assert m["items_rejected"] == 1 and m["items_accepted"] == 2 and m["gate_passed"] == 1


def _two_days(landing: str) -> None:
    _events(
        landing,
        D1,
        [
            _ev("a1", "u1", "i1", "view", "2026-11-01T10:00:00Z"),
            _ev("a2", "u1", "i2", "purchase", "2026-11-01T10:10:00Z", price=5.0, quantity=2),
            _ev("a3", "u2", "i1", "view", "2026-11-01T12:00:00Z"),
        ],
    )
    _events(
        landing,
        D2,
        [
            _ev("b1", "u1", "i3", "view", "2026-11-02T08:00:00Z"),
            _ev("b2", "u2", "i2", "click", "2026-11-01T23:50:00Z"),  # late: belongs to Nov 1
            _ev("b3", "u3", "i1", "favorite", "2026-11-02T09:00:00Z"),
        ],
    )


def _content(spark, settings, name: str) -> list[tuple]:
    return sorted(tuple(r) for r in _table(spark, settings, name))


def test_rerun_is_idempotent_and_leaves_other_dates_alone(spark, settings):
    from delta.tables import DeltaTable

    from coldrec import lake
    from coldrec.clean import clean_days, run_clean

    _two_days(settings.landing_uri)
    run_clean(spark, settings, D1)
    run_clean(spark, settings, D2)
    events_before = _content(spark, settings, "silver.events")
    # by hand: 6 events, b2 sits in Nov 1's partition but was ingested on Nov 2
    assert [(r[0], r[-2], r[-1]) for r in sorted(events_before)] == [
        ("a1", D1, D1),
        ("a2", D1, D1),
        ("a3", D1, D1),
        ("b1", D2, D2),
        ("b2", D1, D2),
        ("b3", D2, D2),
    ]
    path = lake.table_path(settings, "silver.events")
    version = DeltaTable.forPath(spark, path).history(1).first()["version"]

    run_clean(spark, settings, D1)  # rerun: replaces exactly the rows run D1 produced
    assert _content(spark, settings, "silver.events") == events_before
    assert DeltaTable.forPath(spark, path).history(1).first()["version"] == version + 1  # it did rewrite

    # the late event of run D2 survives a rerun of D1 even though it sits in D1's event_date partition
    assert ("b2", D1, D2) in [(r[0], r[-2], r[-1]) for r in _content(spark, settings, "silver.events")]

    # a backfill of both dates in one pass gives exactly what the daily runs gave
    clean_days(spark, settings, [D1, D2])
    assert _content(spark, settings, "silver.events") == events_before
    ids = [r["event_id"] for r in _table(spark, settings, "silver.events")]
    assert len(ids) == len(set(ids)) == 6


def test_gate_failure_writes_quarantine_and_metrics_but_no_events(spark, settings):
    from coldrec.clean import DataQualityError, run_clean

    _two_days(settings.landing_uri)
    run_clean(spark, settings, D1)
    before = _content(spark, settings, "silver.events")
    # D2 now: 2 good records and 2 bad ones = 50% rejected > the default 5%
    _events(
        settings.landing_uri,
        D2,
        [
            _ev("b1", "u1", "i3", "view", "2026-11-02T08:00:00Z"),
            _ev("b2", "u2", "i2", "click", "2026-11-02T08:30:00Z"),
            GARBAGE,
            _ev("b4", "u2", "i2", "teleport", "2026-11-02T08:30:00Z"),
        ],
    )
    with pytest.raises(DataQualityError, match=r"2026-11-02: 2/4 records rejected \(50\.00%\) > max_reject_share"):
        run_clean(spark, settings, D2)
    assert _content(spark, settings, "silver.events") == before  # nothing for D2, D1 untouched
    rejected = sorted((r["run_date"], r["reason"]) for r in _table(spark, settings, "silver.rejected"))
    assert rejected == [(D2, "malformed_record"), (D2, "unknown_event_type")]
    m = _metrics(spark, settings, D2)
    assert (m["gate_passed"], m["input_rows"], m["rejected"], m["accepted"]) == (0, 4, 2, 0)
    detail = [
        r["detail"]
        for r in _table(spark, settings, "ops.run_metrics")
        if r["run_date"] == D2 and r["metric"] == "gate_passed"
    ]
    assert "max_reject_share" in detail[0]

    # an empty day (no folder at all) fails too, with its own message
    with pytest.raises(DataQualityError, match=r"2026-11-03: 0 valid events < min_events=1 \(no input files"):
        run_clean(spark, settings, D3)
    assert _metrics(spark, settings, D3)["input_files"] == 0
    assert _content(spark, settings, "silver.events") == before


def test_catalog_latest_record_wins_and_unknown_item_policy(spark, settings):
    from coldrec.clean import run_clean

    landing = Path(settings.landing_uri)
    snapshot = landing / "items" / "part-00000.jsonl"
    _lines(
        snapshot,
        [
            {"item_id": "i1", "title": "One", "price": 10},
            {"item_id": "i2", "title": "Two", "price": 20},
            {"item_id": "i2", "title": "Two", "price": 21},  # later line of the same file wins
        ],
    )
    _lines(landing / "items" / "date=2026-11-01" / "part-00000.jsonl", [{"item_id": "i1", "title": "One", "price": 11}])
    _lines(landing / "users" / "date=2026-11-01" / "part-00000.jsonl", [{"user_id": "u1", "age": 30}])
    _events(settings.landing_uri, D1, [_ev("a1", "u1", "i1", "view", "2026-11-01T10:00:00Z")])
    first = run_clean(spark, settings, D1)
    items = {r["item_id"]: (r["price"], r["updated_date"]) for r in _table(spark, settings, "silver.items")}
    assert items == {"i1": (11.0, D1), "i2": (21.0, D1)}  # the dated delta beats the snapshot on the same day
    assert (first.items.inserted, first.items.updated, first.users.inserted) == (2, 0, 1)  # first load: appends

    snapshot.unlink()
    _lines(landing / "items" / "date=2026-11-02" / "part-00000.jsonl", [{"item_id": "i1", "title": "One", "price": 12}])
    _lines(landing / "users" / "date=2026-11-02" / "part-00000.jsonl", [{"user_id": "u1", "age": 31}])
    _events(
        settings.landing_uri,
        D2,
        [_ev("b1", "u1", "i1", "view", "2026-11-02T10:00:00Z"), _ev("b2", "u1", "i9", "view", "2026-11-02T10:01:00Z")],
    )
    s = _settings(unknown_item_policy="quarantine", max_reject_share=0.5)
    report = run_clean(spark, s, D2)
    assert report.rejected_by_reason == {"unknown_item": 1} and report.accepted == 1
    assert (report.items.inserted, report.items.updated) == (0, 1)  # the MERGE's own counts: i1 changed price
    assert (report.users.inserted, report.users.updated) == (0, 1)
    assert {r["event_id"] for r in _table(spark, s, "silver.events")} == {"a1", "b1"}

    rerun = run_clean(spark, settings, D1)  # rerun of an older date: its record (price 11) must not win over Nov 2's
    assert (rerun.items.inserted, rerun.items.updated, rerun.users.updated) == (0, 0, 0)
    items = {r["item_id"]: (r["price"], r["updated_date"]) for r in _table(spark, settings, "silver.items")}
    assert items == {"i1": (12.0, D2), "i2": (21.0, D1)}
    users = {r["user_id"]: (r["age"], r["updated_date"]) for r in _table(spark, settings, "silver.users")}
    assert users == {"u1": (31, D2)}


# -- a generated shop, checked against its ground truth ---------------------------------------------------------
KIND_TO_REASON = {
    "malformed_json": "malformed_record",
    "unknown_event_type": "unknown_event_type",
    "negative_price": "invalid_price",
    "far_future_ts": "timestamp_outside_day",
}


def _expected_reason(record: dict) -> str:
    if record["kind"] == "missing_id":
        field = record.get("field") or ("item_id" if record["dataset"] == "items" else "user_id")
        return f"missing_{field}"
    return KIND_TO_REASON[record["kind"]]


@pytest.fixture(scope="module")
def generated_shop(tmp_path_factory):
    from coldrec.data.generator import generate_shop

    root = tmp_path_factory.mktemp("shop")
    truth = generate_shop(root, users=300, items=100, days=2, seed=3, bad_rate=0.03, start_date="2025-01-06")
    return root, truth


# the per-date figures come from an observation during the write (few dates) or from a group-by over the committed
# rows (a backfill of many dates): both paths must give the same, independently counted figures
@pytest.mark.parametrize("observe_max_dates", [7, 0], ids=["observed", "counted-after"])
def test_generated_days_every_injected_bad_record_is_accounted_for(
    spark, settings, generated_shop, monkeypatch, observe_max_dates
):
    from coldrec.clean import clean_days
    from coldrec.clean import job as clean_job

    monkeypatch.setattr(clean_job, "OBSERVE_MAX_DATES", observe_max_dates)
    root, truth = generated_shop
    shutil.copytree(root, settings.landing_uri)
    days = [dt.date(2025, 1, 6), dt.date(2025, 1, 7)]
    reports = {r.run_date: r for r in clean_days(spark, settings, days)}

    # every injected bad line is in the quarantine with the reason its kind calls for, and nothing else is
    # (identical bad lines, e.g. the same HTML error page twice, are compared as a multiset)
    prefix = str(settings.landing_uri).rstrip("/") + "/"
    got = Counter(
        (r["source_file"].split(prefix, 1)[1], r["raw"], r["reason"])
        for r in _table(spark, settings, "silver.rejected")
    )
    expected: Counter = Counter()
    dup_per_day: dict[str, int] = {}
    for record in truth.bad_records:
        if record["kind"] == "duplicate":  # removed and counted, not quarantined
            day = record["file"].split("date=")[1][:10]
            dup_per_day[day] = dup_per_day.get(day, 0) + 1
            continue
        line = (root / record["file"]).read_text(encoding="utf-8").split("\n")[record["line"] - 1]
        expected[(record["file"], line, _expected_reason(record))] += 1
    assert got == expected

    events = _table(spark, settings, "silver.events")
    for day in days:
        files = sorted((root / "events" / f"date={day.isoformat()}").glob("*.jsonl"))
        lines = [ln for f in files for ln in f.read_text(encoding="utf-8").split("\n") if ln.strip()]
        bad_events = [r for r in truth.bad_records if r["dataset"] == "events" and f"date={day}" in r["file"]]
        n_rejected = sum(1 for r in bad_events if r["kind"] != "duplicate")
        report = reports[day]
        assert report.input_rows == len(lines)
        assert report.rejected == n_rejected
        assert report.duplicates_removed == dup_per_day.get(day.isoformat(), 0)
        assert report.accepted == len(lines) - n_rejected - report.duplicates_removed
        assert report.accepted == sum(1 for e in events if e["ingest_date"] == day)
        m = _metrics(spark, settings, day)
        assert m["input_rows"] == m["accepted"] + m["rejected"] + m["duplicates_removed"] == len(lines)

        # bots: exactly the planted bot accounts active that day are flagged, no human
        present = {json.loads(ln).get("user_id") for ln in lines if ln.startswith("{") and ln.endswith("}")}
        flagged = {e["user_id"] for e in events if e["ingest_date"] == day and e["is_bot"]}
        assert flagged == set(truth.bots) & present
        assert report.bot_users == len(flagged) > 0
        assert report.bot_events == sum(1 for e in events if e["ingest_date"] == day and e["is_bot"])
        assert report.late_events == sum(
            1 for e in events if e["ingest_date"] == day and e["event_date"] < e["ingest_date"]
        )

    # late events: delivered in the next day's folder, stored under their own date
    stored = {e["event_id"]: (e["event_date"], e["ingest_date"]) for e in events}
    assert truth.late_events
    for late in truth.late_events:
        folder_day = dt.date.fromisoformat(late["file"].split("date=")[1][:10])
        assert stored[late["event_id"]] == (dt.date.fromisoformat(late["ts_date"]), folder_day)

    # catalogs: every valid item / user landed, the bad ones were quarantined (checked above)
    item_lines = [ln for f in sorted((root / "items").rglob("*.jsonl")) for ln in f.read_text().split("\n") if ln]
    n_bad_items = sum(1 for r in truth.bad_records if r["dataset"] == "items")
    assert sum(r.items.input_rows for r in reports.values()) == len(item_lines)
    assert sum(r.items.rejected for r in reports.values()) == n_bad_items
    assert len(_table(spark, settings, "silver.items")) == truth.totals["items"]
