"""Splits: hand-worked examples, disjointness, shares and reproducibility by seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coldrec.evaluate import splits as S


def _events() -> pd.DataFrame:
    # user a: 5 events at t=1..5; user b: 10 events; user c: 1 event; user d: 2 events at the same time
    rows = [("a", f"i{t}", t) for t in range(1, 6)]
    rows += [("b", f"i{t}", 100 + t) for t in range(10)]
    rows += [("c", "i1", 7)]
    rows += [("d", "i2", 9), ("d", "i3", 9)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    return df.sample(frac=1.0, random_state=3)  # input order must not matter


def test_temporal_split_takes_last_fifth_per_user():
    split = S.temporal_split(_events(), 0.2, seed=1)
    test = split.test
    # a: 5 events -> the last 1 (t=5); b: 10 -> the last 2 (t=108, 109); c: single event stays in train;
    # d: 2 events with equal ts -> one of them (seeded tie-break) in test
    assert sorted(test[test.user_id == "a"].ts) == [5]
    assert sorted(test[test.user_id == "b"].ts) == [108, 109]
    assert "c" not in set(test.user_id)
    assert len(test[test.user_id == "d"]) == 1
    assert len(split.train) + len(split.test) == 18
    # every test event is later than or equal to every train event of the same user
    for user, grp in test.groupby("user_id"):
        assert grp.ts.min() >= split.train[split.train.user_id == user].ts.max()


def test_temporal_split_reproducible_by_seed():
    a = S.temporal_split(_events(), 0.2, seed=5).test.sort_values(["user_id", "item_id"])
    b = S.temporal_split(_events().sample(frac=1.0, random_state=9), 0.2, seed=5).test.sort_values(
        ["user_id", "item_id"]
    )
    assert a[["user_id", "item_id"]].values.tolist() == b[["user_id", "item_id"]].values.tolist()


def _grid(n_users: int = 50, n_items: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{i}", int(rng.integers(0, 1000)))
        for u in range(n_users)
        for i in range(n_items)
        if rng.random() < 0.3
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])


def test_cold_user_split_holds_out_whole_users():
    df = _grid()
    split = S.cold_user_split(df, 0.2, seed=42)
    assert len(split.held_out_users) == 10  # 20% of 50 users
    assert set(split.test.user_id) == set(split.held_out_users)
    assert not set(split.train.user_id) & split.held_out_users
    assert len(split.train) + len(split.test) == len(df)
    again = S.cold_user_split(df.iloc[::-1], 0.2, seed=42)
    assert again.held_out_users == split.held_out_users
    other = S.cold_user_split(df, 0.2, seed=43)
    assert other.held_out_users != split.held_out_users


def test_cold_item_split_holds_out_whole_items():
    df = _grid()
    split = S.cold_item_split(df, 0.2, seed=42)
    assert len(split.held_out_items) == 6  # 20% of 30 items
    assert set(split.test.item_id) == set(split.held_out_items)
    assert not set(split.train.item_id) & split.held_out_items


def test_stratified_split_matches_recommenders_recipe_by_hand():
    # np.random.seed(42); np.random.rand(8) = .3745 .9507 .7320 .5987 .15602 .15599 .0581 .8662
    # user a = rows 0..3 -> sorted by draw: 0, 3, 2, 1 -> ranks 1/4..4/4 -> row 1 (rank 1.0 > .75) is test
    # user b = rows 4..7 -> sorted: 6, 5, 4, 7 -> row 7 is test
    df = pd.DataFrame({"user_id": list("aaaabbbb"), "item_id": [f"i{i}" for i in range(8)]})
    split = S.stratified_split(df, 0.75, seed=42)
    assert sorted(split.test.index.tolist()) == [1, 7]
    assert sorted(split.train.index.tolist()) == [0, 2, 3, 4, 5, 6]


def test_validation_split_never_touches_test():
    df = _grid()
    for kind in (S.WARM, S.COLD_USER, S.COLD_ITEM):
        split = S.make_split(kind, df, seed=42)
        val = S.validation_split(split, seed=42)
        assert val.kind == kind
        assert set(val.train.index) | set(val.test.index) == set(split.train.index)


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown split"):
        S.make_split("sideways", _grid())
