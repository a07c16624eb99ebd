"""New-item exposure: up to ``recommend.new_item_slots`` places per list for items that are new and barely sold.

Why a rule and not only a blend weight: a new item has no collaborative signal, so the blend ranks it by content
scores z-scored against the whole catalogue, where the established items' CF scores win almost every place (a real
grocery export: 0 slots for any item without sales, although 10% of the items bought the next week had never sold).
A shop wants its new items seen, and the only way to learn about them is to show them.

Which items: created within ``recommend.new_item_days`` up to the run date (items without ``created_at``: first
seen in the events within that window) with at most ``recommend.new_item_max_interactions`` users. Which ones for a
user: the content path - cosine of the user's content profile with the item's content, plus the user's share of the
item's brand (the two cold-item sources of the blend, unweighted). A user for whom no candidate scores above 0 (no
history, or nothing in common) gets no new-item slot: the rule shows new items to people they resemble, not at
random. Where they go: a list that already holds ``s`` new items from the blend needs ``slots - s`` more; they take
the unfilled places first, then the lowest places not held by a cross-category slot, best candidate first. Their
score is the list's lowest blended score (the place is given by the rule, not by the blend; scores stay
non-increasing down the list).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldrec.config import RecommendConfig
from coldrec.data import schemas as S


def item_age_days(items: pd.DataFrame, first_seen: pd.DataFrame | None, item_ids: np.ndarray,
                  run_date: dt.date) -> np.ndarray:  # fmt: skip
    """Days from each item's creation to the run date: ``created_at``, else its first non-bot event (``first_seen``:
    ``item_id, first``), else NaN (unknown: never new)."""
    frame = items.drop_duplicates(S.ITEM_ID, keep="last").set_index(S.ITEM_ID).reindex(item_ids)
    raw = frame[S.CREATED_AT] if S.CREATED_AT in frame.columns else pd.Series(pd.NaT, index=frame.index)
    created = pd.to_datetime(raw, utc=True, errors="coerce").dt.tz_localize(None).dt.normalize()
    age = (pd.Timestamp(run_date) - created).dt.days.to_numpy(dtype=np.float64)
    if first_seen is not None and len(first_seen):
        first = pd.to_datetime(first_seen.set_index(S.ITEM_ID)["first"].reindex(item_ids))
        age = np.where(np.isnan(age), (pd.Timestamp(run_date) - first).dt.days.to_numpy(dtype=np.float64), age)
    return age


def new_item_rule(items: pd.DataFrame, first_seen: pd.DataFrame | None, item_ids: np.ndarray, run_date: dt.date,
                  history: sp.csr_matrix, content: sp.csr_matrix, item_brand: np.ndarray | None,
                  cfg: RecommendConfig) -> NewItemSlots:  # fmt: skip
    """The run's new-item rule: the one definition of "new" (:func:`item_age_days` within ``cfg.new_item_days``,
    at most ``cfg.new_item_max_interactions`` users in ``history``, users x items) and ``cfg.new_item_slots``
    slots. The nightly scoring and the harness's coldrec method both build their rule here, so "new" offline is
    what the nightly publishes as new (``cfg``: a :class:`~coldrec.config.RecommendConfig`)."""
    age = item_age_days(items, first_seen, item_ids, run_date)
    n_item_users = np.diff(sp.csc_matrix(history).indptr)
    candidates = new_item_candidates(age, n_item_users, cfg.new_item_days, cfg.new_item_max_interactions)
    return NewItemSlots(candidates, content, item_brand, cfg.new_item_slots)


def new_item_candidates(
    age_days: np.ndarray, n_users: np.ndarray, new_item_days: int, max_interactions: int
) -> np.ndarray:
    """Indices of the items eligible for new-item slots: ``0 <= age_days < new_item_days`` (NaN: unknown age, not
    new) and at most ``max_interactions`` users with an interaction."""
    age = np.asarray(age_days, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        recent = (age >= 0) & (age < new_item_days)
    return np.flatnonzero(recent & (np.asarray(n_users) <= max_interactions))


def content_path_scores(
    history: sp.csr_matrix, content: sp.csr_matrix, candidates: np.ndarray, item_brand: np.ndarray | None = None
) -> np.ndarray:
    """users x candidates: cosine(user content profile, item content) + the user's history share of the item's
    brand; the profile is the history-weighted sum of the content of the user's items (as the ``content`` and
    ``brand`` sources compute them)."""
    hist = sp.csr_matrix(history, dtype=np.float32)
    profile = np.asarray((hist @ content).toarray(), dtype=np.float32)
    profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
    cand = sp.csr_matrix(content, dtype=np.float32)[candidates]
    norms = np.sqrt(np.asarray(cand.multiply(cand).sum(axis=1)).ravel())
    scores = np.asarray(cand @ profile.T).T / np.maximum(norms, 1e-12)[None, :]
    if item_brand is not None:
        codes = np.asarray(item_brand, dtype=np.int64)
        has = np.flatnonzero(codes >= 0)
        if has.size:
            n_brands = int(codes.max()) + 1
            to_brand = sp.csr_matrix((np.ones(has.size, np.float32), (has, codes[has])), shape=(codes.size, n_brands))
            share = np.asarray((hist @ to_brand).toarray(), dtype=np.float32)
            share /= np.maximum(np.asarray(hist.sum(axis=1)).reshape(-1, 1), 1e-12)
            cand_brand = codes[candidates]
            scores = scores + np.where(cand_brand >= 0, share[:, np.maximum(cand_brand, 0)], 0.0)
    return scores.astype(np.float32)


def place_new_items(
    items: np.ndarray,
    scores: np.ndarray,
    fixed: np.ndarray,
    candidates: np.ndarray,
    candidate_scores: np.ndarray,
    exclude: sp.csr_matrix | None,
    slots: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give each list (users x N item indices, -1 unfilled) up to ``slots`` new items; returns (items, scores,
    new_slot mask). ``fixed`` marks places never replaced (cross-category slots); ``candidate_scores`` is users x
    candidates (content path); ``exclude`` (users x items) what a user must not get. See the module docstring."""
    rows, n = items.shape
    new_slot = np.zeros(items.shape, dtype=bool)
    if slots <= 0 or len(candidates) == 0 or rows == 0:
        return items, scores, new_slot
    candidates = np.asarray(candidates, dtype=np.int64)
    is_new = np.isin(items, candidates)
    reserve = np.clip(slots - is_new.sum(axis=1), 0, None)
    cs = np.array(candidate_scores, dtype=np.float32, copy=True)
    cs[~(cs > 0)] = -np.inf  # no opinion (or a NaN): never placed
    if exclude is not None:
        cs[np.asarray(sp.csr_matrix(exclude)[:, candidates].toarray()) > 0] = -np.inf
    listed = (items[:, :, None] == candidates[None, None, :]).any(axis=1)  # users x candidates already in the list
    cs[listed] = -np.inf
    order = np.argsort(-cs, axis=1, kind="stable")[:, :slots]
    best = np.take_along_axis(cs, order, axis=1)
    # places: unfilled first, then replaceable ones from the bottom
    col = np.broadcast_to(np.arange(n), items.shape)
    replaceable = (items >= 0) & ~np.asarray(fixed, bool) & ~is_new
    key = np.where(items < 0, col - 2 * n, np.where(replaceable, -col, np.inf))
    take = np.minimum(np.minimum(reserve, np.isfinite(best).sum(axis=1)), np.isfinite(key).sum(axis=1))
    pref = np.argsort(key, axis=1, kind="stable")
    place = np.zeros(items.shape, dtype=bool)
    np.put_along_axis(place, pref, np.arange(n)[None, :] < take[:, None], axis=1)
    nth = np.cumsum(place, axis=1) - 1  # the k-th place (top to bottom) gets the k-th best candidate
    chosen = candidates[np.take_along_axis(order, np.clip(nth, 0, slots - 1), axis=1)]
    kept = (items >= 0) & ~place
    floor = np.where(kept.any(axis=1), np.nanmin(np.where(kept, scores, np.inf), axis=1), 0.0)
    out_items = np.where(place, chosen, items)
    out_scores = np.where(place, floor[:, None], scores)
    return out_items, out_scores, place


@dataclass
class NewItemSlots:
    """The new-item rule of one run: eligible items, their content and brands, and the slot count per list."""

    candidates: np.ndarray
    content: sp.csr_matrix
    item_brand: np.ndarray | None
    slots: int

    def apply(self, history: sp.csr_matrix, exclude: sp.csr_matrix | None, items: np.ndarray, scores: np.ndarray,
              fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """:func:`place_new_items` for the users whose history rows (and exclusions) are given, ``items`` users x N."""
        if self.slots <= 0 or self.candidates.size == 0:
            return items, scores, np.zeros(items.shape, dtype=bool)
        cand_scores = content_path_scores(history, self.content, self.candidates, self.item_brand)
        return place_new_items(items, scores, fixed, self.candidates, cand_scores, exclude, self.slots)

    def with_slots(self, slots: int) -> NewItemSlots:
        return NewItemSlots(self.candidates, self.content, self.item_brand, slots)
