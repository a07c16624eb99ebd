"""From each user's pool of best-scored candidates to the final top-N: per-category caps and reserved
cross-category slots, vectorized over all users of a block (no Python loop over users).

Rules, in order:
1. per-category cap: walking down the pool in score order, an item whose category already has ``cap`` items is
   skipped (items of unknown category are never capped);
2. cross-category slots: if the first N surviving items hold fewer than ``slots`` items from categories the user has
   never bought from, the last places are given to the best such items instead - "best" = highest affinity of the
   user for the item's category (:mod:`coldrec.ranking.cross_category`), then pool order - provided the affinity
   is positive (a category nobody goes on to buy is not complementary);
3. caps are a preference, not a reason for a short list: if fewer than N items survive them (a pool dominated by
   one or two categories - a popular-items blend in a shop with few top categories), the capped items fill the
   remaining places in pool order;
4. the result is ordered by blended score; places that cannot be filled (a pool with fewer than N valid items) are
   ``-1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Selection:
    items: np.ndarray  # users x N item indices, -1 where unfilled
    scores: np.ndarray  # users x N
    cross_slot: np.ndarray  # users x N: True where the item holds a reserved cross-category slot


def rank_within_category(categories: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """0-based position of each pool entry among the valid entries of the same category in its row."""
    n_rows, m = categories.shape
    cats = np.where(valid, categories, -2).astype(np.int64)
    offset = int(cats.max()) + 3 if cats.size else 1
    key = np.arange(n_rows, dtype=np.int64)[:, None] * offset + (cats + 2)
    flat = key.ravel()
    order = np.argsort(flat, kind="stable")  # groups (row, category), pool order kept inside a group
    sorted_keys = flat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, flat.size]))
    ranks = np.empty(flat.size, dtype=np.int64)
    ranks[order] = np.arange(flat.size) - group_start
    return ranks.reshape(n_rows, m)


def select_top_n(
    pool_items: np.ndarray,
    pool_scores: np.ndarray,
    item_category: np.ndarray,
    user_known_categories: np.ndarray,
    user_category_affinity: np.ndarray,
    n: int,
    cap: int,
    slots: int,
    order: str = "affinity",
) -> Selection:
    """Apply the caps and the cross-category slots to pools (users x M, best first) and keep N per user.

    ``order`` ranks the cross-category candidates for the reserved places: ``"affinity"`` (the user's affinity for
    the item's category, then pool order) or ``"score"`` (pool order, i.e. the blended score, among the items of
    categories with positive affinity)."""
    rows, m = pool_items.shape
    valid = pool_items >= 0
    cats = np.where(valid, item_category[np.where(valid, pool_items, 0)], -1)
    capped = (cats >= 0) & (rank_within_category(cats, valid) >= cap)
    keep = valid & ~capped
    row_idx = np.arange(rows)[:, None]
    known = np.zeros_like(keep)
    has_cat = cats >= 0
    known[has_cat] = user_known_categories[np.broadcast_to(row_idx, cats.shape)[has_cat], cats[has_cat]]
    aff = np.zeros(cats.shape, dtype=np.float32)
    aff[has_cat] = user_category_affinity[np.broadcast_to(row_idx, cats.shape)[has_cat], cats[has_cat]]
    cross = keep & has_cat & ~known & (aff > 0)

    kept_rank = np.cumsum(keep, axis=1)  # 1-based position among kept entries
    in_first_n = keep & (kept_rank <= n)
    have_cross = (cross & in_first_n).sum(axis=1)
    reserve = np.clip(slots - have_cross, 0, None)
    regular = keep & (kept_rank <= (n - reserve)[:, None])
    # best cross candidates outside the regular part: affinity descending, then pool order
    candidates = cross & ~regular
    key = np.where(candidates, -aff if order == "affinity" else 0.0, np.inf)
    by_key = np.lexsort((np.broadcast_to(np.arange(m), (rows, m)), key), axis=1)
    cand_rank = np.empty_like(by_key)
    np.put_along_axis(cand_rank, by_key, np.broadcast_to(np.arange(m), (rows, m)), axis=1)
    reserved = candidates & (cand_rank < reserve[:, None])
    shortfall = reserve - reserved.sum(axis=1)  # not enough complementary items: fill with the next regular ones
    extra = keep & ~regular & ~reserved & (kept_rank <= (n - reserve + shortfall)[:, None])
    chosen = regular | reserved | extra
    short = n - chosen.sum(axis=1)  # caps left too few: take capped items back, best first
    spare = valid & ~chosen
    chosen |= spare & (np.cumsum(spare, axis=1) <= short[:, None])
    # order the chosen by score, unchosen last
    sort_key = np.where(chosen, -pool_scores, np.inf)
    pos = np.argsort(sort_key, axis=1, kind="stable")[:, :n]
    took = np.take_along_axis(chosen, pos, axis=1)
    items = np.where(took, np.take_along_axis(pool_items, pos, axis=1), -1)
    scores = np.where(took, np.take_along_axis(pool_scores, pos, axis=1), np.nan)
    slot = took & np.take_along_axis(reserved, pos, axis=1)
    if items.shape[1] < n:
        pad = n - items.shape[1]
        items = np.hstack([items, np.full((rows, pad), -1)])
        scores = np.hstack([scores, np.full((rows, pad), np.nan)])
        slot = np.hstack([slot, np.zeros((rows, pad), dtype=bool)])
    return Selection(items, scores, slot)
