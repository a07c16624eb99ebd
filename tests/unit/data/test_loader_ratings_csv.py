"""The ratings.csv + items.csv loader (Amazon 2018 magazines format) and ``coldrec evaluate --dataset`` detection."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coldrec.data import schemas as S
from coldrec.data.loaders import read_ratings_csv
from coldrec.evaluate.dataset import detect_format, interactions, load_dataset

MAGAZINES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "amazon-magazines"
REAL = next((p for p in (MAGAZINES, Path("/work/shared/data/amazon-magazines")) if p.is_dir()), MAGAZINES)


@pytest.fixture
def magazines(tmp_path: Path) -> Path:
    """A hand-made copy of the format: a repeated row, an item without metadata (B3), an item never rated (B9)."""
    root = tmp_path / "mags"
    root.mkdir()
    (root / "ratings.csv").write_text(
        "user_id,item_id,rating,timestamp\n"
        "U1,B1,5.0,86400\n"  # 1970-01-02
        "U2,B1,2.0,172800\n"  # 1970-01-03
        "U1,B2,4.0,259200\n"
        "U1,B2,4.0,259200\n"  # exact repeat, as in the source
        "U3,B3,1.0,0\n",
        encoding="utf-8",
    )
    (root / "items.csv").write_text(
        "item_id,title,description,brand,category_path,price\n"
        'B1,,"Reason, edited for liberty",Reason Magazine,Magazine Subscriptions>News>Politics,\n'
        "B2,Wired,Tech news,Conde Nast,Magazine Subscriptions>Technology,\n"
        "B9,,,Hearst,Magazine Subscriptions>Fashion,\n",
        encoding="utf-8",
    )
    return root


def test_events_items_users_by_hand(magazines: Path) -> None:
    frames = read_ratings_csv(magazines)
    ev = frames.events
    assert len(ev) == 5 and ev[S.EVENT_ID].is_unique
    assert set(ev[S.EVENT_TYPE]) == {"rating"}
    # sorted by time: U3 (t=0) first, then U1/B1, U2/B1, then the two U1/B2 rows
    assert ev[S.USER_ID].tolist() == ["U3", "U1", "U2", "U1", "U1"]
    assert ev[S.TS].iloc[1] == pd.Timestamp("1970-01-02", tz="UTC")
    assert ev[S.RATING].tolist() == [1.0, 5.0, 2.0, 4.0, 4.0]

    items = frames.items.set_index(S.ITEM_ID)
    assert sorted(items.index) == ["B1", "B2", "B3", "B9"]
    assert items.loc["B1", S.DESCRIPTION] == "Reason, edited for liberty"
    assert items.loc["B1", S.BRAND] == "Reason Magazine"
    assert items.loc["B1", S.TITLE] is None
    assert items.loc["B2", S.CATEGORY_PATH] == "Magazine Subscriptions>Technology"
    assert items.loc["B3", S.BRAND] is None or pd.isna(items.loc["B3", S.BRAND])  # rated, no metadata row
    assert items.loc["B1", S.CREATED_AT] == pd.Timestamp("1970-01-02", tz="UTC")  # first rating
    assert pd.isna(items.loc["B9", S.CREATED_AT])  # never rated
    assert pd.isna(items[S.PRICE]).all()

    users = frames.users.set_index(S.USER_ID)
    assert users.loc["U1", S.SIGNUP_TS] == pd.Timestamp("1970-01-02", tz="UTC")
    assert users.loc["U3", S.SIGNUP_TS] == pd.Timestamp("1970-01-01", tz="UTC")


def test_evaluate_detects_and_loads_it(magazines: Path) -> None:
    assert detect_format(magazines) == "ratings-csv"
    ds = load_dataset(magazines)
    assert ds.source == "ratings-csv" and ds.name == "mags"
    inter = interactions(ds, min_rating=4.0).set_index([S.USER_ID, S.ITEM_ID])
    # the repeated U1/B2 row becomes one pair; ratings >= 4 are positives
    assert len(inter) == 4
    assert inter["positive"].to_dict() == {("U3", "B3"): False, ("U1", "B1"): True, ("U2", "B1"): False,
                                           ("U1", "B2"): True}  # fmt: skip
    assert int(inter.loc[("U1", "B2"), "n_events"]) == 2


@pytest.mark.skipif(not (REAL / "ratings.csv").exists(), reason="amazon-magazines data set not present")
def test_real_magazines_counts() -> None:
    """The counts of the data set's README: 89,689 ratings, 72,098 users, 2,428 items, 1,965 descriptions."""
    assert detect_format(REAL) == "ratings-csv"
    frames = read_ratings_csv(REAL)
    assert len(frames.events) == 89_689
    assert frames.events[S.USER_ID].nunique() == 72_098 == len(frames.users)
    assert len(frames.items) == 2_428
    assert int(frames.items[S.DESCRIPTION].notna().sum()) == 1_965
    assert int(frames.items[S.BRAND].notna().sum()) == 2_173
    assert int(frames.items[S.CATEGORY_PATH].notna().sum()) == 1_878
    assert int((frames.events[S.RATING] == 5.0).sum()) == 53_790
