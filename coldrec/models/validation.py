"""Validation splits and the ranking metric that drives early stopping and the champion comparison.

The NDCG is the ranking core's (:mod:`coldrec.ranking.metrics`, a leaf any layer may use): training validation, the
blend tuning, the evaluation harness and the nightly backtest all measure with the same definition.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from coldrec.models.data import ColdStartData, ValidationData
from coldrec.ranking.metrics import RankedLists, topk_from_scores


def ndcg_at_k(
    scores: np.ndarray, truth: sp.spmatrix | np.ndarray, k: int = 10, exclude: sp.spmatrix | None = None
) -> float:
    """Mean binary NDCG@k over rows of ``truth`` with at least one positive; ``exclude`` entries are never ranked
    (NaN when no row has a positive)."""
    per_user = ndcg_per_user(scores, truth, k, exclude)
    return float(per_user.mean()) if per_user.size else float("nan")


def ndcg_per_user(
    scores: np.ndarray, truth: sp.spmatrix | np.ndarray, k: int = 10, exclude: sp.spmatrix | None = None
) -> np.ndarray:
    """NDCG@k of each row of ``truth`` that has a positive (binary relevance, log2 discount)."""
    truth = sp.csr_matrix(truth)
    truth.eliminate_zeros()
    scores = np.asarray(scores)
    if scores.shape != truth.shape:
        raise ValueError(f"scores {scores.shape} and truth {truth.shape} differ")
    rows = np.flatnonzero(np.diff(truth.indptr) > 0)
    if rows.size == 0:
        return np.zeros(0)
    kk = min(k, scores.shape[1])
    ex = None if exclude is None else sp.csr_matrix(exclude)[rows]
    top = topk_from_scores(scores[rows], kk, exclude=ex)
    return RankedLists.build(top, truth[rows]).per_user("ndcg", kk)


def segment_popularity(X: sp.csr_matrix, segment: np.ndarray | None, query_segment: np.ndarray | None) -> np.ndarray:
    """Per-segment item popularity (users who interacted) for each query user; unseen segments get global popularity.

    The comparator every cold-user model must beat (issue 6 measured 0.411 NDCG@10 on MovieLens-100K).
    """
    binary = (sp.csr_matrix(X) > 0).astype(np.float64)
    glob = np.asarray(binary.sum(axis=0)).ravel()
    n_query = 1 if query_segment is None else len(query_segment)
    if segment is None or query_segment is None:
        return np.tile(glob, (n_query, 1))
    segment = np.asarray(segment)
    query_segment = np.asarray(query_segment)
    out = np.empty((n_query, X.shape[1]))
    for seg in np.unique(query_segment):
        members = np.flatnonzero(segment == seg)
        counts = np.asarray(binary[members].sum(axis=0)).ravel() if members.size else np.zeros_like(glob)
        # ties and empty segments fall back on global popularity (a tiny tie-breaker keeps the order total)
        out[query_segment == seg] = counts + glob / (glob.sum() + 1.0)
    return out


def split_validation(
    data: ColdStartData, user_share: float, item_share: float, rng: np.random.Generator, k: int = 10
) -> tuple[ColdStartData, ValidationData, np.ndarray, np.ndarray]:
    """Carve a cold-user and a cold-item validation split out of ``data``; both are removed from the training X.

    Returns the training data (same shape: held-out users become empty rows, held-out items empty columns, so
    indices stay the catalog's), the validation data, and the held-out user and item indices. Held-out items stay in
    the catalog and are later served from their content, held-out users by fold-in: nothing is lost for serving.
    """
    X = data.X.tocsr()
    warm_users = np.flatnonzero(np.diff(X.indptr) > 0)
    warm_items = np.flatnonzero(np.asarray((X > 0).sum(axis=0)).ravel() > 0)
    n_vu = round(user_share * warm_users.size) if user_share > 0 else 0
    n_vi = round(item_share * warm_items.size) if item_share > 0 else 0
    val_users = np.sort(rng.choice(warm_users, size=n_vu, replace=False)) if n_vu else np.zeros(0, dtype=np.int64)
    val_items = np.sort(rng.choice(warm_items, size=n_vi, replace=False)) if n_vi else np.zeros(0, dtype=np.int64)

    keep_rows = np.ones(X.shape[0], dtype=np.float32)
    keep_rows[val_users] = 0
    keep_cols = np.ones(X.shape[1], dtype=np.float32)
    keep_cols[val_items] = 0
    X_train = sp.diags(keep_rows) @ X @ sp.diags(keep_cols)
    X_train = sp.csr_matrix(X_train)
    X_train.eliminate_zeros()

    cold_user_truth = sp.csr_matrix(X[val_users] @ sp.diags(keep_cols))
    cold_user_truth.eliminate_zeros()
    cold_item_truth = sp.csr_matrix(sp.diags(keep_rows) @ X[:, val_items])
    cold_item_truth.eliminate_zeros()
    seg = data.user_segment
    validation = ValidationData(
        cold_user_features=data.user_features[val_users],
        cold_user_truth=cold_user_truth,
        cold_item_features=data.item_features[val_items],
        cold_item_truth=cold_item_truth,
        cold_user_segment=None if seg is None else np.asarray(seg)[val_users],
        k=k,
    )
    train = ColdStartData(
        X=X_train,
        user_features=data.user_features,
        item_features=data.item_features,
        item_category=data.item_category,
        user_history_columns=data.user_history_columns,
        user_segment=data.user_segment,
        user_ids=data.user_ids,
        item_ids=data.item_ids,
    )
    return train, validation, val_users, val_items
