"""Item-item weights the ranking sources multiply a history with: cosine top-k neighbours and EASE.

Why in the ranking core: the nightly lists (``coldrec.recommend``) and the evaluation harness (``coldrec.evaluate``)
fit the same item-kNN and EASE weights; here both import one implementation (the harness's baselines wrap it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from coldrec.ranking.topk import mask_topk_


def row_topk_csr(dense: np.ndarray, k: int) -> sp.csr_matrix:
    """Keep the k largest positive entries of each row (others zero) as CSR."""

    k = min(k, dense.shape[1])
    top_vals, top_idx = mask_topk_(torch.from_numpy(dense), k)
    vals, idx = top_vals.numpy(), top_idx.numpy()
    keep = vals > 0
    rows = np.repeat(np.arange(dense.shape[0]), k).reshape(dense.shape[0], k)
    return sp.csr_matrix((vals[keep], (rows[keep], idx[keep])), shape=dense.shape, dtype=np.float32)


def item_cosine_topk(gram: np.ndarray, neighbors: int, shrink: float = 0.0, block: int = 2048) -> sp.csr_matrix:
    """Top-``neighbors`` cosine neighbours per item from a co-occurrence matrix (self-similarity removed)."""
    diag = np.diag(gram).astype(np.float64)
    norm = np.sqrt(diag)
    norm[norm == 0] = 1.0
    parts = []
    for lo in range(0, gram.shape[0], block):
        hi = min(lo + block, gram.shape[0])
        sim = gram[lo:hi] / (norm[lo:hi, None] * norm[None, :] + shrink)
        sim = sim.astype(np.float32)
        sim[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        parts.append(row_topk_csr(sim, neighbors))
    return sp.csr_matrix(sp.vstack(parts))


def item_cosine_topk_rows(binary: sp.csr_matrix, rows: np.ndarray, neighbors: int, block: int = 2048) -> sp.csr_matrix:
    """:func:`item_cosine_topk` of the co-occurrences of ``binary`` (users x items), only for the item ``rows``
    (other rows empty): item-kNN scores of a few users need the rows of their items only, and the full item x item
    co-occurrence matrix is what costs at 10^4-10^5 items."""
    n = binary.shape[1]
    csc = sp.csc_matrix(binary)
    norm = np.sqrt(np.asarray(csc.multiply(csc).sum(axis=0), dtype=np.float64).ravel())
    norm[norm == 0] = 1.0
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    parts = [sp.csr_matrix((0, n), dtype=np.float32)]
    for lo in range(0, rows.size, block):
        chunk = rows[lo : lo + block]
        gram = np.asarray((csc[:, chunk].T @ binary).toarray(), dtype=np.float64)
        sim = (gram / (norm[chunk, None] * norm[None, :])).astype(np.float32)
        sim[np.arange(chunk.size), chunk] = 0.0
        parts.append(row_topk_csr(sim, neighbors))
    return _scatter_rows(sp.csr_matrix(sp.vstack(parts)), rows, n)


def _scatter_rows(top: sp.csr_matrix, rows: np.ndarray, n: int) -> sp.csr_matrix:
    """Rows ``0..len(rows)-1`` of ``top`` placed at ``rows`` of an n x n matrix."""
    coo = sp.coo_matrix(top)
    return sp.csr_matrix((coo.data, (rows[coo.row], coo.col)), shape=(n, n), dtype=np.float32)


def ease_weights(
    X: sp.csr_matrix,
    l2: float,
    max_items: int,
    *,
    gram: np.ndarray | None = None,
    item_counts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """EASE^R (Steck 2019) on binary positives ``X`` (users x items): ``(B, keep)`` with B = I - P / diag(P),
    P = (X^T X + l2 I)^-1, diag(B) = 0, over the ``keep`` items.

    The inverse costs O(items^3): above ``max_items`` items the model is fitted on the ``max_items`` most popular
    ones (the others score 0). ``gram``: the full dense ``X^T X`` when it exists already (else only the kept items'
    co-occurrences are formed: the full one is items^2, 2.7 GB at 26k items); ``item_counts``: column sums of X.
    """
    n = X.shape[1]
    counts = np.asarray(X.sum(axis=0)).ravel().astype(np.float64) if item_counts is None else item_counts
    keep = np.arange(n)
    if n > max_items:
        keep = np.sort(np.argsort(-counts, kind="stable")[:max_items])
    if gram is not None:
        sub = gram[np.ix_(keep, keep)]
    else:
        Xk = sp.csr_matrix(X[:, keep]) if keep.size != n else sp.csr_matrix(X)
        sub = (Xk.T @ Xk).toarray()
    G = torch.from_numpy(np.asarray(sub, dtype=np.float64 if keep.size <= 3000 else np.float32))
    G.diagonal().add_(l2)
    P = torch.linalg.inv(G)
    B = P / (-torch.diagonal(P))[None, :]
    B.fill_diagonal_(0.0)
    return B.float().numpy(), keep
