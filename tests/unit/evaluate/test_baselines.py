"""Baselines on tiny matrices with hand-computed (or independently solved) expected scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.evaluate import baselines as B
from coldrec.evaluate.splits import COLD_ITEM, COLD_USER, STRATIFIED, WARM

# 4 users x 4 items; item 3 has no training interaction (a cold item)
X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 1, 0]], dtype=np.float32))
SEGMENT = np.array([0, 0, 1, 1])
# content: items 0 and 3 share a token, item 1 and 2 have their own
CONTENT = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32))
CAT_TOKENS = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32))


def _view() -> B.TrainView:
    return B.TrainView(X, X, SEGMENT, CONTENT, CAT_TOKENS, None, seed=1)


def test_popularity_counts_users():
    out = B.Popularity().fit(_view()).score(np.array([0, 1]), X[[0, 1]])
    assert out.tolist() == [[3, 3, 3, 0], [3, 3, 3, 0]]


def test_segment_popularity_shrinks_towards_global():
    # segment 0 = users 0,1: counts [2,1,1,0]; global share = [3,3,3,0]/4; m = 2
    # score = (count + 2 * share) / (2 + 2)
    out = B.SegmentPopularity(prior_users=2).fit(_view()).score(np.array([0]), X[[0]])
    np.testing.assert_allclose(out[0], [(2 + 1.5) / 4, (1 + 1.5) / 4, (1 + 1.5) / 4, 0.0])


def test_item_knn_cosine_by_hand():
    # columns: item0 = users{0,1,3}, item1 = {0,2,3}, item2 = {1,2,3}; every pair shares 2 users, norms sqrt(3)
    # -> cosine 2/3 between any two of items 0..2; item 3 has none
    m = B.ItemKNN(neighbors=10).fit(_view())
    expected = np.array([[0, 2 / 3, 2 / 3, 0], [2 / 3, 0, 2 / 3, 0], [2 / 3, 2 / 3, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(m.S.toarray(), expected, rtol=1e-6)
    # user 0 (items 0, 1): score item 2 = 2/3 + 2/3
    assert m.score(np.array([0]), X[[0]])[0, 2] == pytest.approx(4 / 3)
    # one neighbour kept per item: ties resolved by topk, but each row keeps exactly one entry
    assert (np.diff(B.ItemKNN(neighbors=1).fit(_view()).S.indptr) == 1).sum() == 3


def test_ease_matches_per_column_ridge_regression():
    # EASE's column j is the ridge regression of X[:, j] on the other columns (diag constrained to 0)
    rng = np.random.default_rng(0)
    Xr = sp.csr_matrix((rng.random((30, 6)) < 0.4).astype(np.float32))
    view = B.TrainView(Xr, Xr, np.zeros(30, int), sp.csr_matrix((6, 1)), sp.csr_matrix((6, 1)))
    l2 = 3.0
    m = B.EASE(l2=l2).fit(view)
    D = Xr.toarray().astype(np.float64)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        A = D[:, others]
        w = np.linalg.solve(A.T @ A + l2 * np.eye(5), A.T @ D[:, j])
        np.testing.assert_allclose(m.B[others, j], w, rtol=1e-4, atol=1e-6)
        assert m.B[j, j] == 0


def test_ease_restricted_to_popular_items_scores_others_zero():
    m = B.EASE(l2=1.0, max_items=3).fit(_view())
    assert sorted(m.keep.tolist()) == [0, 1, 2]
    assert m.score(np.array([0]), X[[0]])[0, 3] == 0.0


def test_content_profile_cosine():
    # user 0 liked items 0, 1 -> profile (1, 1, 0)/sqrt2; item 3 = (1,0,0) -> cosine 1/sqrt2; item 2 -> 0
    out = B.ContentProfile().fit(_view()).score(np.array([0]), X[[0]])
    np.testing.assert_allclose(out[0], [1 / np.sqrt(2), 1 / np.sqrt(2), 0, 1 / np.sqrt(2)], rtol=1e-6)


def test_category_popularity_gives_cold_items_their_category_popularity():
    # token 0 carries items 0, 3: popularity 3 + 0 over 2 items = 1.5; token 1 carries items 1, 2: 6 / 2 = 3
    out = B.CategoryPopularity().fit(_view()).score(np.array([0]), X[[0]])
    np.testing.assert_allclose(out[0], [1.5, 3, 3, 1.5])


def test_sar_jaccard():
    # co-occurrence of items 0 and 1 = 2 users, each has 3 -> jaccard 2 / (3 + 3 - 2) = 0.5
    m = B.SAR().fit(_view())
    assert m.S[0, 1] == pytest.approx(0.5)
    assert m.S[0, 3] == 0.0


def test_factor_models_rank_training_structure():
    # a block structure: users 0-4 like items 0-4, users 5-9 items 5-9; ALS must score in-block items higher
    block = np.zeros((10, 10), dtype=np.float32)
    block[:5, :5] = 1
    block[5:, 5:] = 1
    for u in range(10):
        block[u, u] = 0  # each user misses one in-block item
    Xb = sp.csr_matrix(block)
    view = B.TrainView(Xb, Xb, np.zeros(10, int), sp.csr_matrix((10, 1)), sp.csr_matrix((10, 1)), seed=3)
    als = B.ImplicitALS(factors=4, iterations=10).fit(view)
    s = als.score(np.array([0]), Xb[[0]])[0]
    assert s[0] > s[5:].max()


def test_applicability_flags():
    assert B.Popularity().applies_to(COLD_USER) and not B.ItemKNN().applies_to(COLD_USER)
    assert B.ContentProfile().applies_to(COLD_ITEM) and not B.EASE().applies_to(COLD_ITEM)
    assert B.SAR().applies_to(STRATIFIED) and not B.SAR().applies_to(WARM)
