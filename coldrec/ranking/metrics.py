"""Top-K ranking metrics, vectorized over all users at once.

Why NumPy on index arrays: every method in the harness ends in a ``(n_users, K)`` array of item indices (the output
of ``torch.topk``), and the ground truth is a sparse user x item matrix. Encoding each (user, item) pair as one
int64 key turns "is this recommended item relevant?" into one sorted search for the whole matrix: no Python loop
over users, no DataFrame joins, and the same code serves early stopping in training and the evaluation harness.

Definitions (binary relevance; a user counts only if they have at least one relevant item, as in
microsoft/recommenders where the averages run over users present in the ground truth):

- ``precision@k`` = hits in the top k / k
- ``recall@k`` = hits in the top k / number of relevant items
- ``ndcg@k`` = sum over hits of 1/log2(rank+1), divided by the same sum for an ideal list of min(n_rel, k) hits
- ``map@k`` = sum over hit ranks r of precision@r, divided by min(n_rel, k) (Spark MLlib / recommenders ``map_at_k``)
- ``hit_rate@k`` = share of users with at least one hit in the top k
- ``coverage@k`` = distinct items recommended in anybody's top k / number of candidate items
- ``novelty@k`` = mean self-information -log2(p(i)) of the recommended items, p(i) = share of training users who
  interacted with i, smoothed as (count + 1) / (n_users + 1) so that cold items (count 0) stay finite
- ``cross_category_hit_rate@k`` = share of users with at least one hit whose category they never interacted with in
  training (the "complementary category" success the cross-category slots are for)

Padding: a top-K row may hold ``-1`` where fewer than K candidates exist (ranking among a few held-out items);
padding never counts as a hit or as a recommended item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from coldrec.ranking.topk import masked_topk_numpy

#: metric names in report order
RANKING_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map", "hit_rate")
BEYOND_ACCURACY_METRICS: tuple[str, ...] = ("coverage", "novelty", "cross_category_hit_rate")
ALL_METRICS: tuple[str, ...] = RANKING_METRICS + BEYOND_ACCURACY_METRICS


def _as_csr(truth: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    csr = sp.csr_matrix(truth)
    csr.eliminate_zeros()
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


def membership(topk: np.ndarray, matrix: sp.spmatrix) -> np.ndarray:
    """``out[u, j]`` is True where ``matrix[u, topk[u, j]]`` is non-zero; ``-1`` entries are False.

    One int64 key per non-zero (row * n_cols + col), sorted, then one ``searchsorted`` for all users.
    """
    topk = np.asarray(topk)
    if topk.ndim != 2:
        raise ValueError(f"topk must be 2-D (users x K), got shape {topk.shape}")
    csr = _as_csr(matrix)
    if csr.shape[0] != topk.shape[0]:
        raise ValueError(f"topk has {topk.shape[0]} rows but the ground truth has {csr.shape[0]}")
    n_cols = np.int64(csr.shape[1])
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    keys = rows * n_cols + csr.indices.astype(np.int64)  # already sorted: CSR rows in order, indices sorted
    valid = (topk >= 0) & (topk < n_cols)
    query = np.arange(topk.shape[0], dtype=np.int64)[:, None] * n_cols + np.where(valid, topk, 0).astype(np.int64)
    if keys.size == 0:
        return np.zeros(topk.shape, dtype=bool)
    pos = np.searchsorted(keys, query)
    found = keys[np.minimum(pos, keys.size - 1)] == query
    return found & valid


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


@dataclass(frozen=True)
class RankedLists:
    """Top-K lists beside their ground truth, with the per-position hit matrix computed once.

    ``topk``: (n_users, K) item indices, best first; ``truth``: (n_users, n_items) sparse relevance (non-zero =
    relevant). Rows align: row u of ``topk`` ranks items for the user of row u of ``truth``.
    """

    topk: np.ndarray
    hits: np.ndarray
    n_relevant: np.ndarray

    @classmethod
    def build(cls, topk: np.ndarray, truth: sp.spmatrix | np.ndarray) -> RankedLists:
        csr = _as_csr(truth)
        hits = membership(topk, csr)
        return cls(np.asarray(topk), hits, np.diff(csr.indptr).astype(np.int64))

    @property
    def evaluated(self) -> np.ndarray:
        """Users that count: at least one relevant item."""
        return self.n_relevant > 0

    def _k(self, k: int) -> int:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if k > self.topk.shape[1]:
            raise ValueError(f"k={k} exceeds the {self.topk.shape[1]} recommendations per user")
        return k

    def per_user(self, metric: str, k: int) -> np.ndarray:
        """Per-user values of a ranking metric over the evaluated users (for confidence intervals, segments)."""
        k = self._k(k)
        mask = self.evaluated
        hits = self.hits[mask, :k].astype(np.float64)
        n_rel = self.n_relevant[mask].astype(np.float64)
        if metric == "precision":
            return hits.sum(axis=1) / k
        if metric == "recall":
            return hits.sum(axis=1) / n_rel
        if metric == "hit_rate":
            return (hits.sum(axis=1) > 0).astype(np.float64)
        if metric == "ndcg":
            disc = _discounts(k)
            dcg = hits @ disc
            ideal = np.cumsum(disc)[np.minimum(n_rel, k).astype(np.int64) - 1]
            return dcg / ideal
        if metric == "map":
            precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1, dtype=np.float64)
            return (precision_at_rank * hits).sum(axis=1) / np.minimum(n_rel, k)
        raise ValueError(f"unknown ranking metric {metric!r}; expected one of {RANKING_METRICS}")

    def mean(self, metric: str, k: int) -> float:
        values = self.per_user(metric, k)
        return float(values.mean()) if values.size else 0.0


def precision_at_k(topk: np.ndarray, truth: sp.spmatrix | np.ndarray, k: int = 10) -> float:
    return RankedLists.build(topk, truth).mean("precision", k)


def recall_at_k(topk: np.ndarray, truth: sp.spmatrix | np.ndarray, k: int = 10) -> float:
    return RankedLists.build(topk, truth).mean("recall", k)


def ndcg_at_k(topk: np.ndarray, truth: sp.spmatrix | np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k (binary gains, log2 discount) over users with at least one relevant item."""
    return RankedLists.build(topk, truth).mean("ndcg", k)


def map_at_k(topk: np.ndarray, truth: sp.spmatrix | np.ndarray, k: int = 10) -> float:
    return RankedLists.build(topk, truth).mean("map", k)


def hit_rate_at_k(topk: np.ndarray, truth: sp.spmatrix | np.ndarray, k: int = 10) -> float:
    return RankedLists.build(topk, truth).mean("hit_rate", k)


def catalog_coverage(topk: np.ndarray, k: int, n_candidates: int) -> float:
    """Distinct items in anybody's top k, over the number of items that could have been recommended."""
    if n_candidates <= 0:
        return 0.0
    top = np.asarray(topk)[:, :k]
    return float(np.unique(top[top >= 0]).size / n_candidates)


def novelty(topk: np.ndarray, k: int, item_user_counts: np.ndarray, n_users: int) -> float:
    """Mean self-information (bits) of the recommended items; higher = less popular items recommended."""
    top = np.asarray(topk)[:, :k]
    top = top[top >= 0]
    if top.size == 0:
        return 0.0
    p = (np.asarray(item_user_counts, dtype=np.float64)[top] + 1.0) / (n_users + 1.0)
    return float(np.mean(-np.log2(p)))


def cross_category_hit_rate(
    lists: RankedLists,
    k: int,
    item_category: np.ndarray,
    user_categories: sp.spmatrix,
) -> float:
    """Share of evaluated users with a hit in the top k from a category they had no training interaction in.

    ``item_category``: (n_items,) int category index per item (``-1`` = unknown, never counts);
    ``user_categories``: (n_users, n_categories) sparse, non-zero where the user interacted with the category in
    training (rows align with ``lists``).
    """
    k = lists._k(k)
    top = lists.topk[:, :k]
    item_category = np.asarray(item_category)
    cats = np.where(top >= 0, item_category[np.where(top >= 0, top, 0)], -1)
    known = membership(cats, user_categories) if user_categories.shape[1] else np.zeros(cats.shape, dtype=bool)
    cross = lists.hits[:, :k] & (cats >= 0) & ~known
    mask = lists.evaluated
    return float(cross[mask].any(axis=1).mean()) if mask.any() else 0.0


def evaluate_topk(
    topk: np.ndarray,
    truth: sp.spmatrix | np.ndarray,
    ks: Iterable[int] = (10, 50),
    *,
    n_candidates: int | None = None,
    item_user_counts: np.ndarray | None = None,
    n_train_users: int | None = None,
    item_category: np.ndarray | None = None,
    user_categories: sp.spmatrix | None = None,
) -> dict[tuple[str, int], float]:
    """Every metric at every k, as ``{(metric, k): value}``; beyond-accuracy metrics when their inputs are given."""
    lists = RankedLists.build(topk, truth)
    out: dict[tuple[str, int], float] = {}
    for k in ks:
        for metric in RANKING_METRICS:
            out[(metric, k)] = lists.mean(metric, k)
        if n_candidates is not None:
            out[("coverage", k)] = catalog_coverage(lists.topk, k, n_candidates)
        if item_user_counts is not None and n_train_users is not None:
            out[("novelty", k)] = novelty(lists.topk, k, item_user_counts, n_train_users)
        if item_category is not None and user_categories is not None:
            out[("cross_category_hit_rate", k)] = cross_category_hit_rate(lists, k, item_category, user_categories)
    return out


def topk_from_scores(
    scores: np.ndarray,
    k: int,
    *,
    exclude: sp.spmatrix | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the k best items per row of a dense score matrix, best first (``torch.topk`` in batches).

    ``exclude``: sparse (n_users, n_items), non-zero entries are never recommended (items already seen);
    ``candidates``: (n_items,) bool, only these items may be recommended (cold-item ranking). Rows with fewer than
    k allowed items are padded with ``-1``.
    """
    return masked_topk_numpy(scores, k, exclude=exclude, candidates=candidates)


def ndcg_from_scores(
    scores: np.ndarray,
    truth: sp.spmatrix | np.ndarray,
    k: int = 10,
    *,
    exclude: sp.spmatrix | None = None,
    candidates: np.ndarray | None = None,
) -> float:
    """NDCG@k straight from a dense score matrix (early stopping in training uses this)."""
    return ndcg_at_k(topk_from_scores(scores, k, exclude=exclude, candidates=candidates), truth, k)


def metric_rows(method: str, split: str, values: dict[tuple[str, int], float]) -> list[dict[str, object]]:
    """``{(metric, k): v}`` -> the JSON rows ``{method, split, metric, k, value}`` the harness writes."""
    return [
        {"method": method, "split": split, "metric": metric, "k": int(k), "value": float(value)}
        for (metric, k), value in sorted(values.items(), key=lambda kv: (ALL_METRICS.index(kv[0][0]), kv[0][1]))
    ]
