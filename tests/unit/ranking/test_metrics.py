"""Ranking metrics against a hand-computed example and against a naive per-user loop on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.ranking import metrics as M

# 4 users x 6 items, top-3 lists. User 2 has no relevant item (not evaluated); user 3 has one real recommendation and
# two padding slots (-1).
TOPK = np.array([[2, 0, 5], [1, 4, 3], [0, 1, 2], [5, -1, -1]])
TRUTH = sp.csr_matrix(
    (np.ones(7), ([0, 0, 1, 1, 1, 1, 3], [0, 3, 1, 3, 4, 5, 5])),
    shape=(4, 6),
)
# hits: user0 [0,1,0] (n_rel 2); user1 [1,1,1] (n_rel 4); user3 [1,0,0] (n_rel 1)
L3 = 1 / math.log2(3)  # discount of rank 2


def test_hand_computed_at_3():
    lists = M.RankedLists.build(TOPK, TRUTH)
    assert lists.hits.tolist() == [
        [False, True, False],
        [True, True, True],
        [False, False, False],
        [True, False, False],
    ]
    assert lists.mean("precision", 3) == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert lists.mean("recall", 3) == pytest.approx((1 / 2 + 3 / 4 + 1) / 3)
    assert lists.mean("hit_rate", 3) == pytest.approx(1.0)
    ndcg_u0 = L3 / (1 + L3)  # one hit at rank 2; ideal: two hits at ranks 1, 2
    assert lists.mean("ndcg", 3) == pytest.approx((ndcg_u0 + 1 + 1) / 3)
    # MAP@3: user0 precision@2 = 1/2 over min(2, 3) = 0.25; users 1 and 3 are perfect
    assert lists.mean("map", 3) == pytest.approx((0.25 + 1 + 1) / 3)


def test_hand_computed_at_1_and_functions():
    assert M.precision_at_k(TOPK, TRUTH, 1) == pytest.approx(2 / 3)
    assert M.recall_at_k(TOPK, TRUTH, 1) == pytest.approx((0 + 1 / 4 + 1) / 3)
    assert M.ndcg_at_k(TOPK, TRUTH, 1) == pytest.approx(2 / 3)
    assert M.map_at_k(TOPK, TRUTH, 1) == pytest.approx(2 / 3)
    assert M.hit_rate_at_k(TOPK, TRUTH, 1) == pytest.approx(2 / 3)


def test_beyond_accuracy_hand_computed():
    # coverage@1 over all lists (evaluated or not): items {2, 1, 0, 5} of 6 candidates
    assert M.catalog_coverage(TOPK, 1, 6) == pytest.approx(4 / 6)
    # padding never counts: coverage@3 = {0..5} = 6/6
    assert M.catalog_coverage(TOPK, 3, 6) == pytest.approx(1.0)
    counts = np.array([9, 4, 0, 1, 19, 3])
    # novelty@1 over items 2, 1, 0, 5 with p = (c + 1) / (n_users + 1), n_users = 19
    expected = np.mean([-math.log2(1 / 20), -math.log2(5 / 20), -math.log2(10 / 20), -math.log2(4 / 20)])
    assert M.novelty(TOPK, 1, counts, 19) == pytest.approx(expected)


def test_cross_category_hit_rate_hand_computed():
    item_category = np.array([0, 0, 1, 1, 2, -1])
    # user0 knows {0}, user1 knows {0, 1}, users 2, 3 know nothing
    user_cats = sp.csr_matrix((np.ones(3), ([0, 1, 1], [0, 0, 1])), shape=(4, 3))
    lists = M.RankedLists.build(TOPK, TRUTH)
    # @3: user0's hit is item 0 (category 0, known) -> no; user1 hits item 4 (category 2, new) -> yes;
    # user3's hit is item 5 (unknown category) -> never counts.  1 of 3 evaluated users.
    assert M.cross_category_hit_rate(lists, 3, item_category, user_cats) == pytest.approx(1 / 3)
    # @1: user1's first hit is item 1 (category 0, known) -> 0 of 3
    assert M.cross_category_hit_rate(lists, 1, item_category, user_cats) == pytest.approx(0.0)


def test_evaluate_topk_rows():
    out = M.evaluate_topk(TOPK, TRUTH, ks=(1, 3), n_candidates=6)
    assert out[("ndcg", 1)] == pytest.approx(2 / 3)
    assert out[("coverage", 3)] == pytest.approx(1.0)
    assert ("novelty", 3) not in out
    rows = M.metric_rows("pop", "warm", out)
    assert {"method": "pop", "split": "warm", "metric": "precision", "k": 1, "value": pytest.approx(2 / 3)} in rows
    assert len(rows) == 2 * (len(M.RANKING_METRICS) + 1)


def test_k_larger_than_list_is_an_error():
    with pytest.raises(ValueError, match="exceeds"):
        M.ndcg_at_k(TOPK, TRUTH, 4)


def _naive(topk: np.ndarray, truth: sp.csr_matrix, k: int) -> dict[str, float]:
    """Textbook per-user loop, independent of the vectorized code."""
    sums = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0, "hit_rate": 0.0}
    n = 0
    for u in range(truth.shape[0]):
        rel = set(truth[u].indices.tolist())
        if not rel:
            continue
        n += 1
        recs = [i for i in topk[u, :k].tolist()]
        hits = [1 if i in rel else 0 for i in recs]
        sums["precision"] += sum(hits) / k
        sums["recall"] += sum(hits) / len(rel)
        sums["hit_rate"] += 1.0 if any(hits) else 0.0
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
        sums["ndcg"] += dcg / idcg
        ap, seen = 0.0, 0
        for r, h in enumerate(hits):
            if h:
                seen += 1
                ap += seen / (r + 1)
        sums["map"] += ap / min(len(rel), k)
    return {m: v / n for m, v in sums.items()}


def test_matches_naive_loop_on_random_data():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 60, 40, 10
    truth = sp.random(n_users, n_items, density=0.1, random_state=1, format="csr")
    scores = rng.random((n_users, n_items))
    topk = np.argsort(-scores, axis=1)[:, :k]
    expected = _naive(topk, truth, k)
    lists = M.RankedLists.build(topk, truth)
    for metric, value in expected.items():
        assert lists.mean(metric, k) == pytest.approx(value), metric


def test_ndcg_matches_sklearn_when_all_items_ranked():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(3)
    n_users, n_items = 30, 12
    relevance = (rng.random((n_users, n_items)) < 0.3).astype(float)
    relevance[relevance.sum(axis=1) == 0, 0] = 1.0
    scores = rng.random((n_users, n_items))
    topk = M.topk_from_scores(scores, 5)
    ours = M.ndcg_at_k(topk, sp.csr_matrix(relevance), 5)
    assert ours == pytest.approx(ndcg_score(relevance, scores, k=5))


def test_topk_from_scores_masks():
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    seen = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 1]]))
    top = M.topk_from_scores(scores, 3, exclude=seen)
    assert top.tolist() == [[1, 2, 3], [2, 1, 0]]
    only = M.topk_from_scores(scores, 3, exclude=seen, candidates=np.array([True, True, False, False]))
    assert only.tolist() == [[1, -1, -1], [1, 0, -1]]
    assert M.ndcg_from_scores(scores, sp.csr_matrix(np.array([[0, 0, 1, 0], [1, 0, 0, 0]])), 2, exclude=seen) == (
        pytest.approx((L3 / 1 + 0) / 2)
    )
