"""The compute kernel: one block of rows of ``X.T @ X`` fused with the metric, the filters and top-K selection.

Why a fused compiled kernel instead of ``scipy`` products: ``scipy`` materializes every non-zero of the product (two
passes, 12 bytes each) and needs a second product for the co-support counts; on 2M interactions that is ~4 s of one
core for the two products alone, where the fused loop below (the algorithm of ``implicit``'s C++ ``all_pairs_knn``)
accumulates dot products and counts together into dense per-row accumulators and keeps only the K best, ~4x faster.
Each multiply-add of ``X.T @ X`` is done exactly once, so the cost is the cost model of :mod:`coldrec.cf.similarity`.

Definitions used here (the public contract is in :mod:`coldrec.cf.similarity`):

* ``dot(i, j) = sum_u v_ui * v_uj`` and ``support(i, j) = |{u : (u, i) and (u, j) are entries}|``;
* cosine / Pearson: ``dot / (norm_i * norm_j)`` (Pearson passes user-centered values and their norms);
* Jaccard: ``support / (count_i + count_j - support)``;
* shrinkage: ``sim * support / (support + shrinkage)``;
* a neighbour needs ``support >= min_support`` and ``sim > 0``; it is never the entity itself;
* ranking: by ``rank_key(sim) = floor(sim * 1e12 + 0.5)`` descending, then neighbour index ascending. Rounding to
  1e-12 makes the order of mathematically tied neighbours independent of floating-point summation order, so any
  exact implementation (numpy, scipy) reproduces the same top-K sets.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

METRIC_CODES = {"cosine": 0, "pearson": 0, "jaccard": 1}
_TOUCH = 32  # rows touched ahead of the accumulation (see block_topk)
RANK_SCALE = 1e12


def rank_key(sim: np.ndarray) -> np.ndarray:
    """The integer ranking key of similarities (ties within 1e-12 compare equal); see the module docstring."""
    return np.floor(np.asarray(sim, dtype=np.float64) * RANK_SCALE + 0.5).astype(np.int64)


@njit(cache=True, nogil=True, inline="always")
def _worse(key_a: np.int64, j_a: np.int32, key_b: np.int64, j_b: np.int32) -> bool:
    """True when candidate a ranks after candidate b (lower key, or same key and larger neighbour index)."""
    return bool(key_a < key_b or (key_a == key_b and j_a > j_b))


@njit(cache=True, nogil=True)
def _sift_down(hkey, hj, hsim, hsup, size, pos):  # pragma: no cover - compiled
    """Restore the min-heap (root = worst kept candidate) below ``pos``."""
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _worse(hkey[right], hj[right], hkey[left], hj[left]):
            child = right
        if _worse(hkey[child], hj[child], hkey[pos], hj[pos]):
            hkey[pos], hkey[child] = hkey[child], hkey[pos]
            hj[pos], hj[child] = hj[child], hj[pos]
            hsim[pos], hsim[child] = hsim[child], hsim[pos]
            hsup[pos], hsup[child] = hsup[child], hsup[pos]
            pos = child
        else:
            return


@njit(cache=True, nogil=True)
def _sift_up(hkey, hj, hsim, hsup, pos):  # pragma: no cover - compiled
    while pos > 0:
        parent = (pos - 1) // 2
        if _worse(hkey[pos], hj[pos], hkey[parent], hj[parent]):
            hkey[pos], hkey[parent] = hkey[parent], hkey[pos]
            hj[pos], hj[parent] = hj[parent], hj[pos]
            hsim[pos], hsim[parent] = hsim[parent], hsim[pos]
            hsup[pos], hsup[parent] = hsup[parent], hsup[pos]
            pos = parent
        else:
            return


@njit(cache=True, nogil=True, inline="always")
def _pair_similarity(metric, dot, n, count_g, count_j, norm_g, norm_j, shrinkage, min_support):  # pragma: no cover
    """Similarity of a pair from its dot product and co-support ``n``; 0.0 for a pair that is dropped (support
    under ``min_support``, a zero norm)."""
    if n < min_support:
        return 0.0
    if metric == 1:
        s = n / (count_g + count_j - n)
    else:
        den = norm_g * norm_j
        if not den > 0.0:
            return 0.0
        s = dot / den
        if s > 1.0:
            s = 1.0
    if shrinkage > 0.0:
        s = s * n / (n + shrinkage)
    return s


@njit(cache=True, nogil=True, inline="always")
def _offer(hkey, hj, hsim, hsup, size, k, key, j, s, n):  # pragma: no cover - compiled
    """Offer candidate ``j`` to the min-heap of the ``k`` best; returns the heap's new size."""
    if size < k:
        hkey[size] = key
        hj[size] = j
        hsim[size] = s
        hsup[size] = n
        _sift_up(hkey, hj, hsim, hsup, size)
        return size + 1
    if _worse(hkey[0], hj[0], key, np.int32(j)):
        hkey[0] = key
        hj[0] = j
        hsim[0] = s
        hsup[0] = n
        _sift_down(hkey, hj, hsim, hsup, size, 0)
    return size


@njit(cache=True, nogil=True, inline="always")
def _pop_best_first(hkey, hj, hsim, hsup, size, g, out_src, out_dst, out_sim, out_sup, n_out):  # pragma: no cover
    """Pop the heap worst-first into the tail of entity ``g``'s output slice, so the output is best-first; returns
    the next free output row."""
    kept = size
    for r in range(kept - 1, -1, -1):
        out_src[n_out + r] = g
        out_dst[n_out + r] = hj[0]
        out_sim[n_out + r] = hsim[0]
        out_sup[n_out + r] = hsup[0]
        last = size - 1
        hkey[0] = hkey[last]
        hj[0] = hj[last]
        hsim[0] = hsim[last]
        hsup[0] = hsup[last]
        size = last
        _sift_down(hkey, hj, hsim, hsup, size, 0)
    return n_out + kept


@njit(cache=True, nogil=True)
def block_topk(
    row_ptr: np.ndarray,
    row_idx: np.ndarray,
    row_val: np.ndarray,
    col_ptr: np.ndarray,
    col_row: np.ndarray,
    col_val: np.ndarray,
    block_start: int,
    norms: np.ndarray,
    counts: np.ndarray,
    metric: int,
    shrinkage: float,
    min_support: int,
    k: int,
):  # pragma: no cover - compiled; tested through its Python callers
    """Top-K neighbours of the entities ``block_start .. block_start + n_cols - 1``.

    ``row_*``: CSR of every key (user) that touches the block, with its full row (global entity indices, values).
    ``col_*``: CSC of the block's own columns over the same local rows. ``norms`` / ``counts``: global per entity.
    Returns ``(src, dst, sim, support)`` arrays, ``k`` rows per entity at most, best first.
    """
    n_entities = norms.shape[0]
    n_cols = col_ptr.shape[0] - 1
    acc = np.zeros(n_entities, dtype=np.float64)
    cnt = np.zeros(n_entities, dtype=np.int64)
    touched = np.empty(n_entities, dtype=np.int32)
    hkey = np.empty(k, dtype=np.int64)
    hj = np.empty(k, dtype=np.int32)
    hsim = np.empty(k, dtype=np.float64)
    hsup = np.empty(k, dtype=np.int64)
    out_src = np.empty(n_cols * k, dtype=np.int32)
    out_dst = np.empty(n_cols * k, dtype=np.int32)
    out_sim = np.empty(n_cols * k, dtype=np.float64)
    out_sup = np.empty(n_cols * k, dtype=np.int64)
    n_out = 0
    sink = 0.0
    for c in range(n_cols):
        g = block_start + c
        n_touched = 0
        for p0 in range(col_ptr[c], col_ptr[c + 1], _TOUCH):
            p1 = min(p0 + _TOUCH, col_ptr[c + 1])
            # first touch the next rows with independent loads: their cache misses overlap instead of queueing one
            # by one behind the accumulation (the rows of a column's users lie anywhere; -20-28% kernel time)
            for p in range(p0, p1):
                u = col_row[p]
                s = row_ptr[u]
                if s < row_ptr[u + 1]:
                    sink += row_val[s] + row_idx[s]
            for p in range(p0, p1):
                u = col_row[p]
                a = col_val[p]
                for q in range(row_ptr[u], row_ptr[u + 1]):
                    j = row_idx[q]
                    if cnt[j] == 0:
                        touched[n_touched] = j
                        n_touched += 1
                    acc[j] += a * row_val[q]
                    cnt[j] += 1
        size = 0
        for t in range(n_touched):
            j = touched[t]
            n = cnt[j]
            dot = acc[j]
            acc[j] = 0.0
            cnt[j] = 0
            if j == g:
                continue
            s = _pair_similarity(metric, dot, n, counts[g], counts[j], norms[g], norms[j], shrinkage, min_support)
            if not s > 0.0:
                continue
            size = _offer(hkey, hj, hsim, hsup, size, k, np.int64(math.floor(s * 1e12 + 0.5)), j, s, n)
        n_out = _pop_best_first(hkey, hj, hsim, hsup, size, g, out_src, out_dst, out_sim, out_sup, n_out)
    if sink == 1.0e300:  # never true; keeps the touching loads from being optimized away
        out_sim[0] = sink
    return out_src[:n_out], out_dst[:n_out], out_sim[:n_out], out_sup[:n_out]


@njit(cache=True, nogil=True)
def csr_block_to_csc(row_ptr, row_idx, row_val, start, stop):  # pragma: no cover - compiled
    """CSC ``(col_ptr, col_row, col_val)`` of the columns ``start..stop-1`` of a CSR matrix, rows ascending in each
    column: a two-pass counting sort, O(nnz), where an argsort of the column indices was O(nnz log nnz)."""
    n_cols = stop - start
    col_ptr = np.zeros(n_cols + 1, dtype=np.int64)
    for q in range(row_idx.shape[0]):
        j = row_idx[q]
        if start <= j < stop:
            col_ptr[j - start + 1] += 1
    for c in range(n_cols):
        col_ptr[c + 1] += col_ptr[c]
    fill = col_ptr[:-1].copy()
    col_row = np.empty(col_ptr[n_cols], dtype=np.int32)
    col_val = np.empty(col_ptr[n_cols], dtype=np.float64)
    for u in range(row_ptr.shape[0] - 1):
        for q in range(row_ptr[u], row_ptr[u + 1]):
            j = row_idx[q]
            if start <= j < stop:
                c = j - start
                col_row[fill[c]] = u
                col_val[fill[c]] = row_val[q]
                fill[c] += 1
    return col_ptr, col_row, col_val


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) the kernel in this process.

    Called on the driver before the Spark tasks start: the compiled code lands in the cache next to this module, so
    local executors load it instead of each compiling it again at the same time.
    """
    one = np.zeros(2, dtype=np.int64)
    csr_block_to_csc(one, np.zeros(0, np.int32), np.zeros(0, np.float64), 0, 1)
    block_topk(
        one,
        np.zeros(0, np.int32),
        np.zeros(0, np.float64),
        one[:1].copy(),
        np.zeros(0, np.int32),
        np.zeros(0, np.float64),
        0,
        np.ones(1),
        np.ones(1, np.int64),
        0,
        0.0,
        1,
        1,
    )
