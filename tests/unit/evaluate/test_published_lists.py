"""The nightly's list step applied to harness methods, and the pair-level segment hit rates, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.evaluate import baselines as B
from coldrec.evaluate.dataset import load_dataset
from coldrec.evaluate.harness import Prepared, build_context, pair_hit_rate, rank, segment_pairs
from coldrec.evaluate.published import PublishedLists
from tests.unit.evaluate.test_evaluate_harness import make_landing


def test_pair_hit_rate_by_hand() -> None:
    topk = np.array([[3, 1, -1], [0, 2, 4]])
    pairs = sp.csr_matrix(np.array([[0, 1, 0, 0, 1], [1, 0, 0, 1, 0]], dtype=np.float32))
    # user 0: item 1 found, item 4 not; user 1: item 0 found, item 3 not -> 2 of 4 pairs
    assert pair_hit_rate(topk, pairs, 3) == pytest.approx(0.5)
    assert pair_hit_rate(topk, pairs, 1) == pytest.approx(1 / 4)  # only user 1's item 0 at rank 1
    assert pair_hit_rate(topk, sp.csr_matrix((2, 5)), 3) is None


def test_segment_pairs_by_hand() -> None:
    truth = sp.csr_matrix(np.array([[1, 0, 1, 1], [0, 1, 0, 1]], dtype=np.float32))
    seen = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0]], dtype=np.float32))
    item_category = np.array([0, 0, 1, -1])
    # item 2 was bought in training by a user outside these rows: not cold; item 3 by nobody
    seg = segment_pairs(truth, seen, item_category, 2, np.array([True, True, True, False]))
    assert {tuple(x) for x in np.argwhere(seg["cold_item"].toarray())} == {(0, 3), (1, 3)}
    # user 0 knows category 0 (item 1): item 2 (category 1) is cross; item 0 is not; item 3 has no category
    # user 1 knows category 0 (item 0): item 1 is category 0 -> not cross
    assert {tuple(x) for x in np.argwhere(seg["cross_category"].toarray())} == {(0, 2)}


@pytest.fixture(scope="module")
def warm_ctx(tmp_path_factory: pytest.TempPathFactory):
    p = Prepared.build(load_dataset(make_landing(tmp_path_factory.mktemp("lists"))))
    return build_context(p, "warm", seed=3)


def test_without_caps_and_slots_the_lists_are_the_plain_top_n(warm_ctx) -> None:
    inner = B.Popularity()
    plain = rank(inner.fit(warm_ctx.view), warm_ctx, 3)
    lists = PublishedLists(inner, n=3, cap=3, slots=0, pool=8).fit_context(warm_ctx)
    assert lists.inner is inner  # fitted once
    np.testing.assert_array_equal(rank(lists, warm_ctx, 3), plain)


def _shop(tmp_path) -> object:
    """Six users buy a0, a1, a2 (day 1), b0 (day 2), c0 (day 3); four buy a1, a2 (days 1-2), a3 (day 3); user t buys
    a0 (day 1), a1 (day 2). The warm split holds out each user's last purchase, so training has: a1, a2 bought 10
    times, a0 7, b0 6; category B bought after A by 6 of the 11 A buyers (affinity A->B = 6/11), C never."""
    from tests.unit.evaluate.test_evaluate_harness import _write

    root = tmp_path / "shop"
    events = []
    plan = {**{f"u{i}": [("a0", 1), ("a1", 1), ("a2", 1), ("b0", 2), ("c0", 3)] for i in range(6)},
            **{f"v{i}": [("a1", 1), ("a2", 2), ("a3", 3)] for i in range(4)}, "t": [("a0", 1), ("a1", 2)]}  # fmt: skip
    for user, buys in plan.items():
        for j, (item, day) in enumerate(buys):
            events.append((day, {"event_id": f"{user}-{item}", "user_id": user, "item_id": item,
                                 "event_type": "purchase", "ts": f"2024-01-0{day}T{10 + j:02d}:00:00Z"}))  # fmt: skip
    for day in (1, 2, 3):
        _write(root / "events" / f"date=2024-01-0{day}", [e for d, e in events if d == day])
    _write(root / "items", [{"item_id": i, "title": i, "category_path": f"Shop>{i[0].upper()}"}
                            for i in ("a0", "a1", "a2", "a3", "b0", "c0")])  # fmt: skip
    return root


def test_slots_bring_a_complementary_category(tmp_path) -> None:
    p = Prepared.build(load_dataset(_shop(tmp_path)))
    ctx = build_context(p, "warm", seed=1)
    row = int(np.flatnonzero(ctx.eval_users == p.enc.users(np.array(["t"]))[0])[0])
    item = {name: int(p.enc.items(np.array([name]))[0]) for name in ("a1", "a2", "b0")}
    plain = rank(PublishedLists(B.Popularity(), n=2, cap=5, slots=0).fit_context(ctx), ctx, 2)
    assert set(plain[row]) == {item["a1"], item["a2"]}  # the two most popular items t has not bought
    lists = PublishedLists(B.Popularity(), n=2, cap=5, slots=1).fit_context(ctx)
    cat = {c: i for i, c in enumerate(p.category_labels)}
    assert lists.affinity[cat["Shop>A"], cat["Shop>B"]] == pytest.approx(6 / 11)
    assert lists.affinity[cat["Shop>A"], cat["Shop>C"]] == 0.0
    slotted = rank(lists, ctx, 2)
    assert set(slotted[row]) == {item["a1"], item["b0"]}  # the last place goes to B (C has no affinity)
    capped = rank(PublishedLists(B.Popularity(), n=2, cap=1, slots=0).fit_context(ctx), ctx, 2)
    assert item["a1"] in capped[row] and item["a2"] not in capped[row]  # one item of A, then the next category


def test_coldrec_on_the_new_splits_with_its_list_variants(tmp_path) -> None:
    """coldrec (no models) on few_shot_1 and cold_item_all; the list variants reuse its fit on each split, and the
    variant with coldrec's own cap and slot settings gives exactly coldrec's lists."""
    from coldrec.evaluate.harness import run_harness
    from tests.unit.evaluate.test_evaluate_coldrec import _method

    p = Prepared.build(load_dataset(make_landing(tmp_path)))
    ours = _method()
    variants = [PublishedLists(ours, 3, 5, 0, name="coldrec-noslots"), PublishedLists(ours, 3, 5, 1, name="c1")]
    res = run_harness(p, [ours, *variants], splits=("few_shot_1", "cold_item_all"), ks=(3,), seed=3)
    for split in ("few_shot_1", "cold_item_all"):
        if res.splits[split]["eval_users"] == 0:
            continue
        for name in ("coldrec", "coldrec-noslots", "c1"):
            value = res.value(name, split, "ndcg", 3)
            assert value is not None and 0.0 <= value <= 1.0
    assert set(ours.reports) == {s for s in ("few_shot_1", "cold_item_all") if res.splits[s]["eval_users"] > 0}
    ctx = ours.ctx  # the last split's context
    same = PublishedLists(ours, 3, ours.rec_cfg.per_category_cap, ours.list_cfg.cross_category_slots,
                          ours.rec_cfg.candidate_pool).fit_context(ctx)  # fmt: skip
    np.testing.assert_array_equal(same.rank_context(ctx, 3), ours.rank_context(ctx, 3))


def test_cold_items_are_cold_for_every_training_user(warm_ctx) -> None:
    """A warm test pair is on a cold item only when no training user at all interacted with the item."""
    counts = np.asarray((warm_ctx.split.train.groupby("item_id").size()).reindex(warm_ctx.prepared.enc.item_ids,
                                                                                fill_value=0))  # fmt: skip
    cold = warm_ctx.extras["segments"]["cold_item"].tocoo()
    assert (counts[cold.col] == 0).all()
    truth = warm_ctx.truth.tocoo()
    assert int((counts[truth.col] == 0).sum()) == cold.nnz
