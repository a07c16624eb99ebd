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


def _few_shot_frame() -> pd.DataFrame:
    """10 users; user u has u + 1 positive rows (days 0..u) and one negative row on day 1, so user 0 has 1 positive
    and user 9 has 10; ``_order`` follows the row order."""
    rows = []
    for u in range(10):
        for d in range(u + 1):
            rows.append((f"u{u}", f"i{d}", pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d), True))
        rows.append((f"u{u}", "neg", pd.Timestamp("2024-01-02", tz="UTC"), False))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "ts", "positive"])
    return df.assign(_order=np.arange(len(df)))


@pytest.mark.parametrize("shots", [1, 3, 5])
def test_few_shot_split_sizes_and_no_leakage(shots: int):
    df = _few_shot_frame()
    split = S.few_shot_split(df, shots, test_share=0.2, seed=7)
    assert split.kind == f"few_shot_{shots}"
    eligible = {f"u{u}" for u in range(10) if u + 1 > shots}  # more than `shots` positives
    assert split.held_out_users <= eligible
    assert len(split.held_out_users) == round(0.2 * len(eligible))
    assert len(split.train) + len(split.test) == len(df)
    for u in split.held_out_users:
        n = int(u[1:])
        train_pos = split.train[(split.train.user_id == u) & split.train.positive]
        # the first `shots` positives in time (days 0..shots-1: items i0..i{shots-1})
        assert sorted(train_pos.item_id) == sorted(f"i{d}" for d in range(shots))
        test_pos = split.test[(split.test.user_id == u) & split.test.positive]
        assert sorted(test_pos.item_id) == sorted(f"i{d}" for d in range(shots, n + 1))
    assert set(split.test.user_id) == set(split.held_out_users)
    # no test positive is in training as the same (user, item) pair
    pairs = set(zip(split.train.user_id, split.train.item_id, strict=True))
    assert not any((u, i) in pairs for u, i in zip(split.test.user_id, split.test.item_id, strict=True))


def test_few_shot_dispatch_validation_and_expand():
    df = _few_shot_frame()
    split = S.make_split("few_shot_3", df, seed=3)
    again = S.make_split("few_shot_3", df, seed=3)
    assert split.held_out_users == again.held_out_users
    val = S.validation_split(split, seed=3)
    # validation users are cut from training: a test user keeps exactly 3 positives there, so it is never eligible
    assert not (val.held_out_users & split.held_out_users)
    assert S.expand_splits(["warm", "few_shot", "cold_item_all"]) == [
        "warm", "few_shot_1", "few_shot_3", "few_shot_5", "cold_item_all"
    ]  # fmt: skip
    with pytest.raises(ValueError):
        S.expand_splits(["few_shots"])


def test_cold_item_all_holds_out_like_cold_item():
    df = _grid()
    a = S.make_split("cold_item", df, seed=5)
    b = S.make_split("cold_item_all", df, seed=5)
    assert b.kind == "cold_item_all" and a.held_out_items == b.held_out_items
    assert not set(b.train.item_id) & b.held_out_items
