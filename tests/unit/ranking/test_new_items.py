"""New-item slots on hand-made lists: which items are new, how the content path ranks them, where they go."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.ranking.new_items import content_path_scores, new_item_candidates, place_new_items


def test_candidates_are_recent_and_barely_sold():
    age = np.array([0, 13, 14, np.nan, 3, -1])
    users = np.array([0, 2, 0, 0, 6, 0])
    # 14 days: ages 0..13; 5 users at most; unknown age and a future created_at are not new
    assert new_item_candidates(age, users, 14, 5).tolist() == [0, 1]


def test_content_path_scores_by_hand():
    history = sp.csr_matrix(np.array([[1.0, 0, 0, 0], [0.5, 1.5, 0, 0]], dtype=np.float32))
    content = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1], [0, 2]], dtype=np.float32))
    brand = np.array([0, -1, 0, 1])
    got = content_path_scores(history, content, np.array([2, 3]), brand)
    # u0: profile (1, 0): cos with (1,1) = 1/sqrt2, with (0,2) = 0; all of u0's weight is on brand 0 (item 2's)
    # u1: profile (0.5, 1.5): cos = 2/sqrt5 and 1.5/sqrt2.5; brand 0 holds 0.5 of u1's 2.0
    expected = [[1 / math.sqrt(2) + 1.0, 0.0], [2 / math.sqrt(5) + 0.25, 1.5 / math.sqrt(2.5)]]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_place_new_items_by_hand():
    items = np.array([[10, 11, 12, 13], [20, 11, -1, -1], [10, 11, 12, 13]])
    scores = np.array([[4, 3, 2, 1], [5, 2, np.nan, np.nan], [4, 3, 2, 1]], dtype=np.float64)
    fixed = np.zeros(items.shape, dtype=bool)
    fixed[0, 3] = True  # u0's last place is a cross-category slot: never replaced
    candidates = np.array([20, 21, 22])
    cand_scores = np.array([[0.5, 0.9, 0.0], [0.9, 0.3, 0.2], [0.0, 0.0, 0.0]], dtype=np.float32)
    exclude = sp.csr_matrix(([1.0], ([1], [22])), shape=(3, 30))  # u1 bought item 22
    out, out_scores, slot = place_new_items(items, scores, fixed, candidates, cand_scores, exclude, slots=2)
    # u0: no new item yet -> 2 places, the lowest replaceable ones (2, then 1); best candidate (21) on top
    # u1: holds new item 20 already -> 1 more; 20 listed, 22 excluded -> 21, into the first unfilled place
    # u2: no candidate scores above 0 -> unchanged
    assert out.tolist() == [[10, 21, 20, 13], [20, 11, 21, -1], [10, 11, 12, 13]]
    assert slot.tolist() == [[False, True, True, False], [False, False, True, False], [False] * 4]
    # the slots take the list's lowest kept score: u0's kept are 4 and 1; u1's 5 and 2
    np.testing.assert_allclose(out_scores[0], [4, 1, 1, 1])
    np.testing.assert_allclose(out_scores[1][:3], [5, 2, 2])
    assert math.isnan(out_scores[1][3])
    np.testing.assert_array_equal(out_scores[2], scores[2])


@pytest.mark.parametrize("slots", [0, 1])
def test_place_new_items_respects_the_slot_count(slots):
    items = np.array([[10, 11, 12]])
    out, _, slot = place_new_items(items, np.array([[3.0, 2, 1]]), np.zeros((1, 3), bool), np.array([20, 21]),
                                   np.array([[0.4, 0.6]], np.float32), None, slots)  # fmt: skip
    assert slot.sum() == slots
    assert out.tolist() == ([[10, 11, 12]] if slots == 0 else [[10, 11, 21]])


def test_recommender_lists_carry_new_item_slots_with_a_new_reason():
    from coldrec.config import RecommendConfig
    from coldrec.ranking.blend import BlendWeights
    from coldrec.ranking.lists import Catalog
    from coldrec.ranking.new_items import NewItemSlots
    from coldrec.ranking.sources import ItemKNNSource
    from coldrec.recommend.rows import Recommender

    # 1 user who bought item 0 (content "a"); item-kNN ranks items 1 > 2 > 3; item 4 is new, content "a" too
    history = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32))
    knn = sp.csr_matrix((np.array([0.9, 0.5, 0.1], np.float32), ([0, 0, 0], [1, 2, 3])), shape=(5, 5))
    content = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [0, 1], [1, 0]], dtype=np.float32))
    cat = Catalog(
        user_ids=np.array(["u0"], dtype=object), item_ids=np.array([f"i{j}" for j in range(5)], dtype=object),
        history=history, exclude=history, bought=history, item_category=np.array([0, 0, 0, 0, 1]),
        category_names=["Shoes", "Socks"], item_titles=np.array(list("ABCDE"), dtype=object),
        item_is_new=np.array([False, False, False, False, True]), demographic_segment=np.zeros(1, dtype=np.int64),
        similarity_t=sp.csr_matrix(knn.T),
        new_item_slots=NewItemSlots(np.array([4]), content, None, slots=2),
    )  # fmt: skip
    weights = BlendWeights({"new": {"cf": 1.0}, "light": {"cf": 1.0}, "heavy": {"cf": 1.0}})
    cfg = RecommendConfig(cross_category_slots=0, per_category_cap=5, candidate_pool=5)
    out = Recommender({"cf": ItemKNNSource(knn)}, weights, cfg, top_n=3).recommend(cat)
    got = [(r.item_id, r.source, r.reason) for r in out.sort_values("rank").itertuples()]
    # one candidate only: the lowest place (i3) goes to the new item i4, whose content matches u0's profile
    assert got[:2] == [("i1", "cf", "because you bought A"), ("i2", "cf", "because you bought A")]
    assert got[2] == ("i4", "new_item", "new in Socks")
    assert out.sort_values("rank")["score"].is_monotonic_decreasing


def test_slot_count_is_tuned_on_the_hold_out_by_hand():
    from coldrec.config import RecommendConfig
    from coldrec.ranking.blend import BlendWeights
    from coldrec.ranking.lists import Catalog, Ranker
    from coldrec.ranking.new_items import NewItemSlots
    from coldrec.ranking.sources import ItemKNNSource
    from coldrec.recommend.tuning import tune_new_item_slots

    content = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [0, 1], [1, 0]], dtype=np.float32))
    past = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 1, 0]], dtype=np.float32))  # u0 likes "a", u1 "b"
    # item-kNN gives both users [i1, i2]; the new item i4 shares u0's content only
    knn = sp.csr_matrix((np.array([0.9, 0.5, 0.9, 0.5], np.float32), ([0, 0, 3, 3], [1, 2, 1, 2])), shape=(5, 5))
    cat = Catalog(
        user_ids=np.arange(2), item_ids=np.arange(5), history=past, exclude=past, bought=past,
        item_category=np.full(5, -1), category_names=[], item_titles=np.arange(5), item_is_new=np.zeros(5, bool),
        demographic_segment=np.zeros(2, np.int64), new_item_slots=NewItemSlots(np.array([4]), content, None, 1),
    )  # fmt: skip
    weights = BlendWeights({"new": {"cf": 1.0}, "light": {"cf": 1.0}, "heavy": {"cf": 1.0}})
    ranker = Ranker({"cf": ItemKNNSource(knn)}, weights, RecommendConfig(cross_category_slots=0, candidate_pool=5), 2)
    truth = sp.csr_matrix(np.array([[0, 0, 0, 0, 1], [0, 0, 1, 0, 0]], dtype=np.float32))  # u0 buys new item 4
    slots, figures = tune_new_item_slots(ranker, cat, truth)
    g2 = 1 / math.log2(3)
    # 0 slots: only u1 hits (i2 at 2) -> g2 / 2; 1 slot: u0 gets i4 at place 2 as well -> g2
    assert figures["tune_ndcg_at_10_new_item_slots_0"] == pytest.approx(g2 / 2)
    assert figures["tune_ndcg_at_10_new_item_slots_1"] == pytest.approx(g2)
    assert figures["new_item_slots"] == 1.0 and slots.slots == 1


def test_item_age_from_created_at_else_first_event():
    import datetime as dt

    import pandas as pd

    from coldrec.ranking.new_items import item_age_days

    run = dt.date(2026, 11, 20)
    items = pd.DataFrame({"item_id": ["a", "b", "c"],
                          "created_at": [pd.Timestamp("2026-11-17 15:00"), pd.NaT, pd.NaT]})  # fmt: skip
    first = pd.DataFrame({"item_id": ["b", "a"], "first": [dt.date(2026, 10, 31), dt.date(2026, 1, 1)]})
    age = item_age_days(items, first, np.array(["a", "b", "c", "d"], dtype=object), run)
    # a: created 3 days back (its first event does not matter); b: first event 20 days back; c, d: unknown
    np.testing.assert_array_equal(age[:2], [3.0, 20.0])
    assert np.isnan(age[2:]).all()
