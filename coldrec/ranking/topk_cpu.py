"""Exact top-k of each row of a wide float32 score block on CPU: one compiled pass per row, rows in parallel.

Why a kernel of its own: on CPU the selection, not the GEMM, was the cost of all-user scoring. ``torch.topk`` over
20k columns takes longer than the GEMM that produced them, and the two-stage torch version
(:func:`coldrec.ranking.topk.two_stage_topk`) still pays four full-size tensor ops with their allocations and
per-op overheads. Here each row is handled once, while it is in cache:

1. maxima of ``G`` column groups (group g = columns ``g, g + G, g + 2G, ...``: an elementwise max over ``c = n / G``
   contiguous slices, so it vectorizes);
2. a lower bound on the k-th largest group maximum for free: split the groups into k disjoint super-groups; each
   super-group's maximum is a distinct group's maximum, so the smallest of the k is <= the k-th largest maximum;
3. the exact k-th largest group maximum ``t`` by quickselect over the few maxima above that bound;
4. every value >= ``t`` lies in a group whose maximum is >= ``t`` (about k groups) and the row has at least k values
   >= ``t`` (the k best groups' maxima): so the k best values are among those groups' values >= ``t``;
5. those candidates (about k) sorted by value descending, column ascending (a deterministic tie order).

Cost per row: one vectorized pass over its n values plus O(G + k * c + k^2) scalar work, G ~ sqrt(n * k).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: a candidate list longer than this (many ties or masked cells at the threshold) is sorted with argsort instead of
#: the insertion sort that suits the usual ~k candidates
_INSERTION_MAX = 256


def groups_for(n: int, k: int) -> int:
    """Column groups for rows of ``n`` values and top ``k``: ~sqrt(n * k) balances the group scan against the
    candidate scan; at least k + 1 and at most n // 2 (two values per group)."""
    return int(min(max(k + 1, round((n * k) ** 0.5)), n // 2))


@njit(cache=True, boundscheck=False, inline="always")
def _kth_largest(a: np.ndarray, m: int, k: int) -> float:
    """The k-th largest (1-based) of ``a[:m]`` by quickselect (Hoare partition, median of three); reorders a."""
    lo, hi, target = 0, m - 1, k - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        x, y, z = a[lo], a[mid], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i, j = lo, hi
        while i <= j:
            while a[i] > pivot:
                i += 1
            while a[j] < pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if target <= j:
            hi = j
        elif target >= i:
            lo = i
        else:
            return pivot
    return a[target]


@njit(cache=True, boundscheck=False, inline="always")
def _sort_candidates(cv: np.ndarray, ci: np.ndarray, m: int) -> None:
    """Sort ``cv[:m]`` descending, ties by ``ci`` ascending, in place (insertion sort: m is about k)."""
    if m > _INSERTION_MAX:
        order = np.argsort(ci[:m])
        v, i = cv[:m][order], ci[:m][order]
        order = np.argsort(-v, kind="mergesort")
        for q in range(m):
            cv[q] = v[order[q]]
            ci[q] = i[order[q]]
        return
    for a in range(1, m):
        v, i, b = cv[a], ci[a], a - 1
        while b >= 0 and (cv[b] < v or (cv[b] == v and ci[b] > i)):
            cv[b + 1] = cv[b]
            ci[b + 1] = ci[b]
            b -= 1
        cv[b + 1] = v
        ci[b + 1] = i


@njit(parallel=True, cache=True, boundscheck=False)
def _select_rows(
    block: np.ndarray,
    maxima: np.ndarray,
    k: int,
    ex_ptr: np.ndarray,
    ex_idx: np.ndarray,
    out_v: np.ndarray,
    out_i: np.ndarray,
) -> None:
    """Steps 1-5 of the module doc, one row per iteration (``maxima``: rows x G work space). Row r's columns
    ``ex_idx[ex_ptr[r]:ex_ptr[r + 1]]`` are set to -inf first; a -inf among the k best comes back as column -1."""
    rows, n = block.shape
    groups = maxima.shape[1]
    c = n // groups
    whole = c * groups
    per = groups // k
    for r in prange(rows):
        row, mx = block[r], maxima[r]
        for p in range(ex_ptr[r], ex_ptr[r + 1]):
            row[ex_idx[p]] = -np.inf
        mx[:] = row[:groups]  # step 1 (np.maximum vectorizes; the equivalent scalar loop did not)
        for j in range(1, c):
            np.maximum(mx, row[j * groups : (j + 1) * groups], mx)
        bound = np.inf  # step 2: the smallest of k super-group maxima
        for s in range(k):
            best = -np.inf
            for g in range(s * per, (s + 1) * per):
                best = max(best, mx[g])
            bound = min(bound, best)
        above = 0
        for g in range(groups):
            above += mx[g] >= bound
        sel = np.empty(above, np.float32)
        above = 0
        for g in range(groups):
            if mx[g] >= bound:
                sel[above] = mx[g]
                above += 1
        t = _kth_largest(sel, above, k)  # step 3
        size = n - whole
        for g in range(groups):
            size += c if mx[g] >= t else 0
        cv = np.empty(size, np.float32)
        ci = np.empty(size, np.int64)
        m = 0
        for g in range(groups):  # step 4
            if mx[g] >= t:
                for j in range(c):
                    col = j * groups + g
                    if row[col] >= t:
                        cv[m] = row[col]
                        ci[m] = col
                        m += 1
        for col in range(whole, n):
            if row[col] >= t:
                cv[m] = row[col]
                ci[m] = col
                m += 1
        _sort_candidates(cv, ci, m)  # step 5
        for q in range(k):
            out_v[r, q] = cv[q]
            out_i[r, q] = ci[q] if cv[q] > -np.inf else -1


def rows_topk(
    block: np.ndarray,
    k: int,
    *,
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` values and their columns per row of a float32 ``block`` (rows x n, n >= 2 * (k + 1)), sorted by
    value descending, ties by column ascending.

    ``exclude`` = ``(indptr, indices)`` of a CSR whose row r lists the columns to mask in row r (set to -inf in
    ``block``, in place). Masked values that still make a row's top k (fewer than k allowed columns) come back as
    ``-inf`` with column -1. ``out`` = (values, columns) arrays to fill, rows x k (e.g. views of a larger result).
    """
    if block.dtype != np.float32 or not block.flags.c_contiguous:
        block = np.ascontiguousarray(block, dtype=np.float32)
    rows, n = block.shape
    groups = groups_for(n, k)
    if not 0 < k < groups:
        raise ValueError(f"rows_topk needs 0 < k < {groups} for rows of {n} values (got k={k})")
    if exclude is None:
        ex_ptr, ex_idx = np.zeros(rows + 1, np.int64), np.zeros(0, np.int32)
    else:
        ex_ptr = np.asarray(exclude[0], dtype=np.int64)
        if len(ex_ptr) != rows + 1:
            raise ValueError(f"exclude has {len(ex_ptr) - 1} rows, the block {rows}")
        # only this block's slice of the indices, rebased (a copy only when they are not int32 already)
        ex_idx = np.asarray(exclude[1][ex_ptr[0] : ex_ptr[-1]], dtype=np.int32)
        ex_ptr = ex_ptr - ex_ptr[0]
    values, indices = out if out is not None else (np.empty((rows, k), np.float32), np.empty((rows, k), np.int64))
    if rows:
        maxima = np.empty((rows, groups), np.float32)
        _select_rows(block, maxima, k, ex_ptr, ex_idx, values, indices)
    return values, indices
