"""Loaders of real public data and shop exports into the raw landing contract.

Expected values come from the raw files parsed independently here (plain ``csv``/``json``/``datetime``, no pandas,
no loader code) or from the small hand-made export below, worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coldrec.data.loaders import (
    EventMapping,
    ItemMapping,
    UserMapping,
    import_amazon_s3rec,
    import_movielens_100k,
    import_table,
)

UTC = dt.UTC


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _events_by_day(landing: Path) -> dict[str, list[dict]]:
    out = {}
    for folder in sorted((landing / "events").iterdir()):
        assert folder.name.startswith("date="), folder
        assert [p.name for p in folder.iterdir()] == ["part-00000.jsonl"]
        out[folder.name.removeprefix("date=")] = _jsonl(folder / "part-00000.jsonl")
    return out


def _parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------------------
# MovieLens 100K
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def movielens_landing(movielens_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ml") / "landing"
    import_movielens_100k(movielens_dir, out)
    return out


def test_movielens_counts_and_day_layout(movielens_landing: Path) -> None:
    by_day = _events_by_day(movielens_landing)
    events = [e for rows in by_day.values() for e in rows]
    assert len(events) == 100_000
    assert len({e["event_id"] for e in events}) == 100_000
    for day, rows in by_day.items():  # every event sits in the folder of its UTC day
        assert {_parse_iso(e["ts"]).date().isoformat() for e in rows} == {day}
    assert {e["event_type"] for e in events} == {"rating"}
    assert len(_jsonl(movielens_landing / "users" / "part-00000.jsonl")) == 943
    assert len(_jsonl(movielens_landing / "items" / "part-00000.jsonl")) == 1682
    manifest = json.loads((movielens_landing / "_coldrec_import.json").read_text())
    assert (manifest["events"], manifest["users"], manifest["items"]) == (100_000, 943, 1682)


def test_movielens_every_rating_matches_u_data(movielens_dir: Path, movielens_landing: Path) -> None:
    expected = {}
    with open(movielens_dir / "u.data") as fh:
        for line in fh:
            user, item, rating, unix = line.split("\t")
            expected[f"ml-{user}-{item}"] = (user, item, float(rating), dt.datetime.fromtimestamp(int(unix), UTC))
    got = {
        e["event_id"]: (e["user_id"], e["item_id"], e["rating"], _parse_iso(e["ts"]))
        for rows in _events_by_day(movielens_landing).values()
        for e in rows
    }
    assert got == expected
    # the first line of u.data, by hand: 196 242 3 881250949 = 1997-12-04 15:55:49 UTC
    day = _events_by_day(movielens_landing)["1997-12-04"]
    row = next(e for e in day if e["event_id"] == "ml-196-242")
    assert row == {
        "event_id": "ml-196-242",
        "user_id": "196",
        "item_id": "242",
        "event_type": "rating",
        "ts": "1997-12-04T15:55:49Z",
        "rating": 3.0,
    }


def test_movielens_users(movielens_dir: Path, movielens_landing: Path) -> None:
    users = {u["user_id"]: u for u in _jsonl(movielens_landing / "users" / "part-00000.jsonl")}
    raw = {}
    with open(movielens_dir / "u.user", encoding="latin-1") as fh:
        for line in fh:
            uid, age, gender, occupation, zip_code = line.rstrip("\n").split("|")
            raw[uid] = (int(age), gender, occupation, zip_code)
    assert set(users) == set(raw)
    for uid, (age, gender, occupation, _) in raw.items():
        assert (users[uid]["age"], users[uid]["gender"], users[uid]["interests"]) == (
            age,
            gender,
            [f"occupation:{occupation}"],
        )
    # user 1 by hand: 24|M|technician|85711 -> ZIP area 8
    assert users["1"]["country"] == "US" and users["1"]["region"] == "zip8"
    # a Canadian postal code (letter-digit-letter): country CA, region by its first letter
    canadian = next(uid for uid, r in raw.items() if r[3][:1].isalpha())
    assert users[canadian]["country"] == "CA"
    assert users[canadian]["region"] == "zip" + raw[canadian][3][0].upper()
    # signup_ts = first rating of the user, from u.data
    first: dict[str, int] = {}
    with open(movielens_dir / "u.data") as fh:
        for line in fh:
            user, _, _, unix = line.split("\t")
            first[user] = min(first.get(user, 2**62), int(unix))
    for uid in ("1", "196", "943", canadian):
        assert _parse_iso(users[uid]["signup_ts"]) == dt.datetime.fromtimestamp(first[uid], UTC)


def test_movielens_items(movielens_dir: Path, movielens_landing: Path) -> None:
    items = {i["item_id"]: i for i in _jsonl(movielens_landing / "items" / "part-00000.jsonl")}
    genres = [line.split("|")[0] for line in (movielens_dir / "u.genre").read_text().splitlines() if line.strip()]
    flags = {}
    with open(movielens_dir / "u.item", encoding="latin-1") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("|")
            flags[parts[0]] = [g for g, f in zip(genres, parts[5:], strict=True) if f == "1"]
    size = Counter(g for gs in flags.values() for g in gs)
    assert len(items) == 1682
    for item_id, gs in flags.items():
        primary = min(gs, key=lambda g: (size[g], genres.index(g)))  # rarest genre, u.genre order on ties
        assert items[item_id]["category_path"] == f"Movies>{primary}>{' & '.join(gs)}"
    toy = items["1"]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["category_path"] == "Movies>Animation>Animation & Children's & Comedy"  # 42 animations < 122 < 505
    assert "Animation, Children's, Comedy" in toy["description"]
    assert toy["created_at"] == "1995-01-01T00:00:00Z"
    assert toy["brand"] is None and toy["price"] is None
    assert items["267"]["created_at"] is None  # "unknown" has no release date


def test_movielens_import_is_deterministic(movielens_dir: Path, movielens_landing: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    import_movielens_100k(movielens_dir, again)
    first, second = _tree_bytes(movielens_landing), _tree_bytes(again)
    first.pop("_coldrec_import.json"), second.pop("_coldrec_import.json")  # holds the output path
    assert first == second


# ---------------------------------------------------------------------------------------------------------------
# Amazon Beauty (S3-Rec format)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def beauty_landing(beauty_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("beauty") / "landing"
    import_amazon_s3rec(beauty_dir, out, end_date=dt.date(2014, 7, 1))
    return out


def _beauty_sequences(beauty_dir: Path) -> dict[str, list[str]]:
    with open(beauty_dir / "Beauty.txt") as fh:
        return {parts[0]: parts[1:] for parts in (line.split() for line in fh) if parts}


def test_beauty_counts(beauty_landing: Path) -> None:
    events = [e for rows in _events_by_day(beauty_landing).values() for e in rows]
    assert len(events) == 198_502
    assert len({e["user_id"] for e in events}) == 22_363
    assert len(_jsonl(beauty_landing / "users" / "part-00000.jsonl")) == 22_363
    assert len(_jsonl(beauty_landing / "items" / "part-00000.jsonl")) == 12_101
    assert {e["event_type"] for e in events} == {"purchase"}
    assert len({e["event_id"] for e in events}) == 198_502


def test_beauty_order_preserved_and_timestamps_synthesized(beauty_dir: Path, beauty_landing: Path) -> None:
    sequences = _beauty_sequences(beauty_dir)
    got: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for rows in _events_by_day(beauty_landing).values():
        for e in rows:
            got[e["user_id"]].append((_parse_iso(e["ts"]), e["item_id"]))
    assert set(got) == set(sequences)
    end = dt.date(2014, 7, 1)
    for user, items in sequences.items():
        timeline = sorted(got[user])
        assert [item for _, item in timeline] == items  # chronological order == file order, for every user
        days = [ts.date() for ts, _ in timeline]
        assert days[-1] == end  # every sequence ends on the end date ...
        assert all((b - a).days == 1 for a, b in itertools.pairwise(days))  # ... one day apart
        assert len({ts.time() for ts, _ in timeline}) == 1  # one time of day per user
    # a hand-checked user: line "1 1 2 3 4 5" -> 5 purchases from 2014-06-27 to 2014-07-01
    expected_days = ["2014-06-27", "2014-06-28", "2014-06-29", "2014-06-30", "2014-07-01"]
    assert [ts.date().isoformat() for ts, _ in sorted(got["1"])] == expected_days


def test_beauty_items_from_attributes(beauty_dir: Path, beauty_landing: Path) -> None:
    attrs = json.loads((beauty_dir / "Beauty_item2attributes.json").read_text())
    items = {i["item_id"]: i for i in _jsonl(beauty_landing / "items" / "part-00000.jsonl")}
    for item_id, ids in attrs.items():  # every attribute id is a description token, once, in listed order
        assert items[item_id]["description"].split() == [f"attr_{a}" for a in dict.fromkeys(ids)]
        assert items[item_id]["category_path"].startswith("Beauty")
    later = {a for ids in attrs.values() for a in ids[1:]}
    # item "4" = [1, 2, 3]: attribute 1 also occurs after position 0 elsewhere (a category), so no brand
    assert attrs["4"] == [1, 2, 3] and 1 in later
    assert items["4"]["brand"] is None
    assert items["4"]["category_path"] == "Beauty>attr_1>attr_2>attr_3"
    # item "1" = [173, 1, 162, 171]: 173 never occurs after position 0 in the file -> the brand slot
    assert attrs["1"] == [173, 1, 162, 171] and 173 not in later
    assert items["1"]["brand"] == "attr_173"
    assert items["1"]["category_path"] == "Beauty>attr_1>attr_162>attr_171"
    # item "7020" = [4, 21, 136, 164, 164]: the repeated leaf is not a level of its own
    assert items["7020"]["category_path"] == "Beauty>attr_4>attr_21>attr_136>attr_164"
    assert items["1"]["title"] == "Beauty item 1" and items["1"]["price"] is None
    # created_at = first (synthetic) purchase of the item
    first: dict[str, dt.datetime] = {}
    for rows in _events_by_day(beauty_landing).values():
        for e in rows:
            ts = _parse_iso(e["ts"])
            first[e["item_id"]] = min(first.get(e["item_id"], ts), ts)
    for item_id in ("1", "4", "7020", "12101"):
        assert _parse_iso(items[item_id]["created_at"]) == first[item_id]


def test_beauty_without_brand_heuristic(beauty_dir: Path, tmp_path: Path) -> None:
    import_amazon_s3rec(beauty_dir / "Beauty.txt", tmp_path, brand_heuristic=False)
    items = {i["item_id"]: i for i in _jsonl(tmp_path / "items" / "part-00000.jsonl")}
    assert all(i["brand"] is None for i in items.values())
    # no structural assumption: the path is the whole attribute list in order
    assert items["1"]["category_path"] == "Beauty>attr_173>attr_1>attr_162>attr_171"


# ---------------------------------------------------------------------------------------------------------------
# Generic CSV / JSON lines
# ---------------------------------------------------------------------------------------------------------------
EVENTS_CSV = """visitor,product,when,action,stars,qty
u1,p1,2024-03-01 10:00:00,view,,
u1,p1,2024-03-01 10:05:00,addtocart,,2
u2,0042,2024-03-02T23:59:59.500Z,transaction,,1
u3,p2,not a time,view,,
u2,p1,1709424000000,view,,
u4,p3,2024-03-02 12:00:00,,4,
"""

ITEMS_CSV = """sku,name,cat,maker,cost,added
p1,Red Shoe, Sports / Shoes /Running ,Acme,19.99,2023-01-05
0042,Blue Shirt,Sports/Shirts,,5,
p1,Red Shoe v2,Sports/Shoes/Running,Acme,21.5,2023-01-06
"""

USERS_JSONL = """{"uid": 1, "age": 31.0, "sex": "F", "tags": "running | yoga||"}
{"uid": 2, "age": null, "sex": "M", "tags": ["chess"]}
"""


@pytest.fixture
def shop_export(tmp_path: Path) -> Path:
    src = tmp_path / "export"
    src.mkdir()
    (src / "events.csv").write_text(EVENTS_CSV)
    (src / "items.csv").write_text(ITEMS_CSV)
    (src / "users.jsonl").write_text(USERS_JSONL)
    return src


def _shop_import(src: Path, out: Path, chunk_rows: int = 500_000, events: str = "events.csv") -> None:
    import_table(
        src / events,
        out,
        EventMapping(
            user_col="visitor",
            item_col="product",
            time_col="when",
            event_col="action",
            quantity_col="qty",
            event_map={"addtocart": "cart", "transaction": "purchase"},
        ),
        items_path=src / "items.csv",
        items=ItemMapping(
            "sku",
            title_col="name",
            category_col="cat",
            category_sep="/",
            brand_col="maker",
            price_col="cost",
            created_col="added",
        ),
        users_path=src / "users.jsonl",
        users=UserMapping("uid", age_col="age", gender_col="sex", interests_col="tags"),
        chunk_rows=chunk_rows,
    )


def test_csv_events_by_hand(shop_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "landing"
    _shop_import(shop_export, out)
    by_day = _events_by_day(out)
    assert sorted(by_day) == ["2024-03-01", "2024-03-02", "2024-03-03"]
    simple = {
        d: [(e["user_id"], e["item_id"], e["event_type"], _parse_iso(e["ts"])) for e in rows]
        for d, rows in by_day.items()
    }
    t = dt.datetime
    assert simple["2024-03-01"] == [
        ("u1", "p1", "view", t(2024, 3, 1, 10, 0, tzinfo=UTC)),
        ("u1", "p1", "cart", t(2024, 3, 1, 10, 5, tzinfo=UTC)),  # mapped by --event-map
    ]
    assert simple["2024-03-02"] == [
        ("u2", "0042", "purchase", t(2024, 3, 2, 23, 59, 59, 500_000, tzinfo=UTC)),  # leading zeros kept
        ("u4", "p3", "purchase", t(2024, 3, 2, 12, 0, tzinfo=UTC)),  # no event type -> the default
    ]
    # epoch millis 1709424000000 = 2024-03-03 00:00:00 UTC
    assert simple["2024-03-03"] == [("u2", "p1", "view", t(2024, 3, 3, tzinfo=UTC))]
    assert [e["quantity"] for e in by_day["2024-03-01"]] == [None, 2]
    manifest = json.loads((out / "_coldrec_import.json").read_text())
    assert manifest["skipped"] == {"missing_or_unparseable_time": 1}  # "not a time"
    assert manifest["events"] == 5


def test_csv_items_and_users_by_hand(shop_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "landing"
    _shop_import(shop_export, out)
    items = {i["item_id"]: i for i in _jsonl(out / "items" / "part-00000.jsonl")}
    assert items == {
        "p1": {
            "item_id": "p1",
            "title": "Red Shoe v2",
            "description": None,
            "category_path": "Sports>Shoes>Running",
            "brand": "Acme",
            "price": 21.5,
            "created_at": "2023-01-06T00:00:00Z",
        },  # last record wins
        "0042": {
            "item_id": "0042",
            "title": "Blue Shirt",
            "description": None,
            "category_path": "Sports>Shirts",
            "brand": None,
            "price": 5.0,
            "created_at": None,
        },
    }
    users = {u["user_id"]: u for u in _jsonl(out / "users" / "part-00000.jsonl")}
    assert users["1"]["age"] == 31 and users["1"]["gender"] == "F"
    assert users["1"]["interests"] == ["running", "yoga"]  # trimmed, empty entries dropped
    assert users["2"]["age"] is None and users["2"]["interests"] == ["chess"]  # JSON arrays pass through


def test_csv_chunking_and_reruns_are_deterministic(shop_export: Path, tmp_path: Path) -> None:
    one, tiny = tmp_path / "one", tmp_path / "tiny"
    _shop_import(shop_export, one)
    _shop_import(shop_export, tiny, chunk_rows=2)
    events = lambda root: {k: v for k, v in _tree_bytes(root).items() if k.startswith("events")}  # noqa: E731
    assert events(one) == events(tiny)
    # a rerun replaces the days it writes and leaves other days alone
    other_day = one / "events" / "date=2024-01-01" / "part-00000.jsonl"
    other_day.parent.mkdir(parents=True)
    other_day.write_text('{"event_id":"keep"}\n')
    before = _tree_bytes(one)
    _shop_import(shop_export, one)
    assert _tree_bytes(one) == before


def test_csv_folder_input_skips_the_item_and_user_exports(shop_export: Path, tmp_path: Path) -> None:
    (shop_export / "_SUCCESS").write_text("")  # export markers are not data
    by_file, by_folder = tmp_path / "file", tmp_path / "folder"
    _shop_import(shop_export, by_file)
    _shop_import(shop_export, by_folder, events=".")  # the folder holds events.csv, items.csv and users.jsonl
    assert _events_by_day(by_folder) == _events_by_day(by_file)


def test_csv_without_time_column_keeps_file_order(tmp_path: Path) -> None:
    src = tmp_path / "orders.csv"
    src.write_text("customer;sku;stars\nc1;a;5\nc2;b;\nc1;c;2\n")
    out = tmp_path / "landing"
    import_table(
        src,
        out,
        EventMapping(user_col="customer", item_col="sku", rating_col="stars", date=dt.date(2020, 5, 17)),
        sep=";",
    )
    rows = _events_by_day(out)["2020-05-17"]
    assert [(r["item_id"], r["ts"], r["rating"], r["event_type"]) for r in rows] == [
        ("a", "2020-05-17T00:00:00Z", 5.0, "rating"),
        ("b", "2020-05-17T00:00:00.001Z", None, "rating"),
        ("c", "2020-05-17T00:00:00.002Z", 2.0, "rating"),
    ]


def test_cli_import_commands(shop_export: Path, movielens_dir: Path, tmp_path: Path) -> None:
    from coldrec.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(
        app,
        [
            "import",
            "csv",
            str(shop_export / "events.csv"),
            "--out",
            str(out),
            "--user-col",
            "visitor",
            "--item-col",
            "product",
            "--time-col",
            "when",
            "--event-col",
            "action",
            "--event-map",
            "addtocart=cart",
            "--event-map",
            "transaction=purchase",
            "--quantity-col",
            "qty",
            "--items",
            str(shop_export / "items.csv"),
            "--item-id-col",
            "sku",
            "--item-title-col",
            "name",
            "--item-category-col",
            "cat",
            "--category-sep",
            "/",
            "--item-brand-col",
            "maker",
            "--item-price-col",
            "cost",
            "--item-created-col",
            "added",
            "--users",
            str(shop_export / "users.jsonl"),
            "--user-id-col",
            "uid",
            "--user-age-col",
            "age",
            "--user-gender-col",
            "sex",
            "--user-interests-col",
            "tags",
        ],
    )
    assert result.exit_code == 0, result.output
    api = tmp_path / "api"
    _shop_import(shop_export, api)
    assert {k: v for k, v in _tree_bytes(out).items() if not k.startswith("_")} == {
        k: v for k, v in _tree_bytes(api).items() if not k.startswith("_")
    }
    bad = runner.invoke(
        app,
        [
            "import",
            "csv",
            str(shop_export / "events.csv"),
            "--out",
            str(out),
            "--user-col",
            "visitor",
            "--item-col",
            "product",
        ],
    )
    assert bad.exit_code != 0 and "--date" in bad.output  # no time column and no day given
    ml = runner.invoke(app, ["import", "movielens-100k", str(movielens_dir), "--out", str(tmp_path / "ml")])
    assert ml.exit_code == 0, ml.output
    assert len(list((tmp_path / "ml" / "events").iterdir())) > 200


@pytest.mark.spark
def test_landing_reads_with_the_raw_contract(spark, movielens_dir: Path, movielens_landing: Path) -> None:
    """What the cleaning job will do: read the landing with the raw StructTypes (no inference) and parse ts."""
    from pyspark.sql import functions as F

    from coldrec.data import schemas as S

    events = spark.read.schema(S.RAW_EVENTS).json(str(movielens_landing / "events"))
    t = F.to_timestamp(S.TS)
    stats = events.agg(  # one pass over the 213 day folders
        F.count(F.lit(1)).alias("n"),
        F.sum((t.isNull() | F.col(S.USER_ID).isNull()).cast("int")).alias("unparsed"),
        F.sum((F.to_date(t) != F.col("date")).cast("int")).alias("wrong_day"),  # folder day == UTC day of ts
        F.sum(S.RATING).alias("rating_sum"),
    ).first()
    with open(movielens_dir / "u.data") as fh:
        rating_sum = sum(int(line.split("\t")[2]) for line in fh)
    assert (stats["n"], stats["unparsed"], stats["wrong_day"], stats["rating_sum"]) == (100_000, 0, 0, rating_sum)
    users = spark.read.schema(S.RAW_USERS).json(str(movielens_landing / "users"))
    one = users.filter(F.col(S.USER_ID) == "1").first()
    assert (one[S.AGE], one[S.GENDER], one[S.INTERESTS]) == (24, "M", ["occupation:technician"])
    items = spark.read.schema(S.RAW_ITEMS).json(str(movielens_landing / "items"))
    assert items.filter(F.col(S.CATEGORY_PATH).isNull()).count() == 0 and items.count() == 1682
