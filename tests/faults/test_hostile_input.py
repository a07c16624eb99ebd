"""Hostile input: 10,000+ records of 15 kinds (events) and 13 kinds (items, users), JSON lines and CSV, plus an empty
file, a truncated gzip file and a file that is not text at all. The cleaning job must finish, and every record must
be found, by its id or its exact bytes, in ``silver.events`` / ``silver.items`` / ``silver.users``, in
``silver.rejected`` with a named reason, or be an exact duplicate of an accepted record (and counted as one).

Found when tried (issue 23): records that are not valid UTF-8 reached ``silver.rejected`` as invalid strings, and
pyarrow/pandas could not read the table. Now every table must read with pandas (delta-rs + pyarrow) and Polars.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path

import pytest
from hostile import METACHARACTER_IDS, generate
from steps import lake_settings

pytestmark = [pytest.mark.spark]

DAY = dt.date(2026, 11, 3)
TABLES = ("silver.events", "silver.items", "silver.users", "silver.rejected", "ops.run_metrics")


def _path(settings, name: str) -> str:
    layer, table = name.split(".")
    return f"{settings.lake_uri}/{layer}/{table}"


def _pandas(settings, name: str):
    from coldrec.delta_read import read_delta

    return read_delta(_path(settings, name)).to_pandas()


# `make test` runs 2,000 events (+ 300 CSV rows, 1,400 catalog records); `make test-all` the full 10,000
@pytest.fixture(scope="module", params=[2_000, pytest.param(10_000, marks=pytest.mark.slow)], ids=["2k", "10k"])
def hostile_run(spark, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    from coldrec.clean.job import run_clean

    base = tmp_path_factory.mktemp("hostile")
    settings = lake_settings(base, clean={"max_reject_share": 0.9})
    day = generate(Path(settings.landing_uri), DAY, n_events=request.param)
    started = time.perf_counter()
    report = run_clean(spark, settings, DAY)
    seconds = time.perf_counter() - started
    return {"settings": settings, "day": day, "report": report, "seconds": seconds, "n": request.param}


def test_quarantine_rows_are_valid_utf8_text_plus_the_exact_bytes(spark, tmp_path):
    """The unit behind the fix: a raw record that is not UTF-8 becomes U+FFFD text + its exact bytes, and the
    written table reads with pandas and Polars (before the fix pyarrow refused it: "Wrapping ... failed")."""
    import polars as pl
    from pyspark.sql import functions as F

    from coldrec import lake
    from coldrec.clean.catalog import to_rejected
    from coldrec.clean.validate import REASON

    settings = lake_settings(tmp_path)
    lines = [b'{"user_id": "u\xff\xfe1"}', b"\x89PNG\x00\x1a", "caf\u00e9 ok".encode()]
    frame = spark.createDataFrame([(b, f"f{i}") for i, b in enumerate(lines)], "b binary, source_file string")
    validated = frame.select(
        F.col("b").cast("string").alias("raw"), "source_file", F.lit(DAY).alias("run_date"),
        F.lit("malformed_record").alias(REASON),
    )  # fmt: skip
    lake.overwrite_partition(to_rejected(validated, "events", "run_date"), settings, "silver.rejected", DAY)
    got = _pandas(settings, "silver.rejected").sort_values("source_file")
    assert [bytes(b) for b in got["raw_bytes"]] == lines
    assert list(got["raw"]) == ['{"user_id": "u\ufffd\ufffd1"}', "\ufffdPNG\x00\x1a", "caf\u00e9 ok"]
    assert pl.read_delta(_path(settings, "silver.rejected")).height == 3


def test_a_quarantine_written_by_an_older_version_gets_the_bytes_column(spark, tmp_path):
    """A lake whose silver.rejected predates ``raw_bytes``: the next write adds the column (old rows read null)."""
    from pyspark.sql import types as T

    from coldrec import lake
    from coldrec.data import schemas as S

    settings = lake_settings(tmp_path)
    old_schema = T.StructType([f for f in S.SILVER_REJECTED.fields if f.name != "raw_bytes"])
    before = dt.date(2026, 11, 2)
    spark.createDataFrame([(before, "events", "malformed_record", "old", "f0")], old_schema).write.format(
        "delta"
    ).partitionBy(*lake.TABLES["silver.rejected"].partition_by).save(_path(settings, "silver.rejected"))
    new = spark.createDataFrame([(DAY, "events", "malformed_record", "new", b"new", "f1")], S.SILVER_REJECTED)
    lake.forget_checked_tables()
    lake.overwrite_partition(new, settings, "silver.rejected", DAY)
    got = _pandas(settings, "silver.rejected").sort_values("run_date")
    assert list(got["raw"]) == ["old", "new"]
    assert got["raw_bytes"].iloc[0] is None and bytes(got["raw_bytes"].iloc[1]) == b"new"


def test_at_least_ten_thousand_records_of_twelve_kinds(hostile_run):
    day = hostile_run["day"]
    assert len(day.records) + len(day.csv_ids) >= hostile_run["n"] >= 2_000
    for dataset in ("events", "items", "users"):
        assert len({k for d, k in day.kinds() if d == dataset}) >= 12, dataset


def test_every_table_reads_with_pandas_and_polars(hostile_run):
    import polars as pl

    settings = hostile_run["settings"]
    for name in TABLES:
        frame = _pandas(settings, name)
        polars_frame = pl.read_delta(_path(settings, name))
        assert len(frame) == polars_frame.height > 0, name


def test_every_record_is_accepted_rejected_with_a_reason_or_a_counted_duplicate(hostile_run, figures):
    from coldrec.clean import rules as R

    settings, day = hostile_run["settings"], hostile_run["day"]
    rejected = _pandas(settings, "silver.rejected")
    assert rejected["reason"].notna().all() and rejected["raw"].notna().all()
    reasons = {"events": set(R.EVENT_REASONS), "items": set(R.ITEM_REASONS), "users": set(R.USER_REASONS)}
    accepted = {
        "events": Counter(_pandas(settings, "silver.events")["event_id"]),
        "items": Counter(_pandas(settings, "silver.items")["item_id"]),
        "users": Counter(_pandas(settings, "silver.users")["user_id"]),
    }
    for dataset, ids in accepted.items():
        assert max(ids.values()) == 1, f"{dataset}: an id accepted twice"

    lost: list[tuple[str, str, bytes]] = []
    outcome: Counter = Counter()
    seen: dict[str, set[str]] = {d: set() for d in accepted}
    for dataset in ("events", "items", "users"):
        quarantined = rejected[(rejected["dataset"] == dataset) & rejected["source_file"].str.endswith(".jsonl")]
        assert set(quarantined["reason"]) <= reasons[dataset]
        # the exact bytes, and the text as valid UTF-8 (U+FFFD where the bytes are not UTF-8)
        for raw, raw_bytes in zip(quarantined["raw"], quarantined["raw_bytes"], strict=True):
            assert raw == bytes(raw_bytes).decode("utf-8", errors="replace")
        pool = Counter(bytes(b) for b in quarantined["raw_bytes"])
        for record in (r for r in day.records if r.dataset == dataset):
            if pool[record.raw] > 0:
                pool[record.raw] -= 1
                outcome[(dataset, "rejected")] += 1
            elif record.key is not None and accepted[dataset][record.key] and record.key not in seen[dataset]:
                seen[dataset].add(record.key)
                outcome[(dataset, "accepted")] += 1
            elif record.kind == "duplicate_exact" and accepted[dataset][_event_id(record.raw)]:
                outcome[(dataset, "duplicate")] += 1
            else:
                lost.append((dataset, record.kind, record.raw[:200]))
        assert +pool == Counter(), f"{dataset}: quarantined records that no input line explains"
    assert not lost, lost[:10]

    # nothing invented: every accepted JSON-lines id is one we wrote (CSV ids are checked below)
    for dataset in ("items", "users"):
        assert set(accepted[dataset]) == seen[dataset]
    assert set(accepted["events"]) - seen["events"] <= set(day.csv_ids)

    # CSV rows: accepted by id, or quarantined in a raw text that names them; every quarantined CSV row names one
    csv_rejected = rejected[rejected["source_file"].str.endswith(".csv")]
    named = [i for i in day.csv_ids if accepted["events"][i] or csv_rejected["raw"].str.contains(i).any()]
    assert named == day.csv_ids
    assert all(any(i in raw for i in day.csv_ids) for raw in csv_rejected["raw"])

    # the file that is not text: every non-blank line of it quarantined with its exact bytes
    blob = (Path(settings.landing_uri) / "events" / f"date={DAY}" / "part-0004.png").read_bytes()
    pieces = Counter(p for p in blob.split(b"\n") if p.strip(b" "))
    from_blob = rejected[rejected["source_file"].str.endswith("part-0004.png")]
    assert Counter(bytes(b) for b in from_blob["raw_bytes"]) == pieces
    assert set(from_blob["reason"]) == {R.MALFORMED_RECORD}
    # the truncated gzip file: quarantined as a whole, by name, with a named reason
    from_gzip = rejected[rejected["source_file"].str.endswith("part-0003.jsonl.gz")]
    assert list(from_gzip["reason"]) == [R.UNREADABLE_FILE]

    # the duplicates are the ones the job says it removed (its counter checked against ours, not trusted)
    metrics = _pandas(settings, "ops.run_metrics")
    removed = metrics[(metrics["stage"] == "clean") & (metrics["metric"] == "duplicates_removed")]["value"]
    assert list(removed) == [outcome[("events", "duplicate")]]
    total = sum(outcome.values()) + len(day.csv_ids) + len(pieces) + 1
    figures(
        f"hostile input (clean, {hostile_run['n']:,} events)",
        runs=1,
        points=total,
        unit="records",
        lost=len(lost),
        partial=0,
        reruns_identical="n/a",
        note=f"{len(day.kinds())} dataset x kind pairs; clean took {hostile_run['seconds']:.0f} s; "
        + ", ".join(f"{d} {o} {n}" for (d, o), n in sorted(outcome.items())),
    )


def _event_id(raw: bytes) -> str:
    import json

    return json.loads(raw)["event_id"]


def test_ids_with_metacharacters_round_trip_unchanged(hostile_run):
    """SQL, JSON, path and shell metacharacters and control characters in ids reach silver.events unchanged."""
    day = hostile_run["day"]
    events = _pandas(hostile_run["settings"], "silver.events")
    users = set(events["user_id"])
    written = {r.key for r in day.records if r.kind == "metacharacter_ids"}
    assert written and set(events["event_id"]) >= written
    assert set(METACHARACTER_IDS) & users
    assert set(users) & {f"u\u0000{k}\u0007\u202e\u200b\ufeff" for k in (r.key for r in day.records) if k}
    # no id became a path: the lake holds only the tables' own folders
    lake = Path(hostile_run["settings"].lake_uri)
    assert {p.name for p in lake.iterdir()} <= {"silver", "gold", "ops"}
