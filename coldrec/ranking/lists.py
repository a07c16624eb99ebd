"""From sources and blend weights to each user's top-N list: the one ranking path of coldrec.

Why one path: the nightly lists (:mod:`coldrec.recommend.rows`) and the harness's coldrec method
(:mod:`coldrec.evaluate.coldrec_method`) both rank through :class:`Ranker` over a :class:`Catalog`: blend the
sources' z-scored blocks with each user's segment weights, mask what the user must not get (and, in the cold-item
protocol, every non-candidate), keep the best ``candidate_pool`` items, then apply the per-category caps and the
cross-category slots (:func:`coldrec.ranking.filters.select_top_n`), and last the new-item slots
(:mod:`coldrec.ranking.new_items`). What the harness measures is what is published.

Why on one node with torch and not as a Spark job: top-N for every user is (users x items) score blocks; a block is
a couple of matrix products, masking is an in-place ``index_put_``, and ``torch.topk`` is O(items) per user, on
CUDA when present. Work grows linearly in users and memory stays at one block (``recommend.batch_users`` x items).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from coldrec.config import RecommendConfig
from coldrec.ranking.blend import BlendWeights, activity_segment, attribute, blend_scores
from coldrec.ranking.cross_category import user_affinity, user_category_matrix
from coldrec.ranking.filters import select_top_n
from coldrec.ranking.new_items import NewItemSlots
from coldrec.ranking.sources import Source, UserBatch
from coldrec.ranking.topk import csr_rows_to_torch, mask_topk_


@dataclass
class Catalog:
    """Everything per item and per user the ranking needs besides the sources (indexed 0..n-1)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    history: sp.csr_matrix  # users x items interaction weights (what cf/content read)
    exclude: sp.csr_matrix  # users x items never to recommend (already bought)
    bought: sp.csr_matrix  # users x items purchased (for "because you bought" vs "viewed", and known categories)
    item_category: np.ndarray  # int per item, -1 unknown
    category_names: list[str]
    item_titles: np.ndarray
    item_is_new: np.ndarray  # no interactions in the lookback window
    demographic_segment: np.ndarray
    user_features: np.ndarray | None = None
    category_affinity: np.ndarray | None = None  # categories x categories
    similarity_t: sp.csr_matrix | None = None  # items x items, row i = neighbours pointing at i (for reasons)
    signal: sp.csr_matrix | None = None  # recency-weighted history for the linear sources (None: ``history``)
    candidates: np.ndarray | None = None  # bool per item: only these may be ranked (None: every item)
    new_item_slots: NewItemSlots | None = None  # the new-item rule (:mod:`coldrec.ranking.new_items`); None: none

    @property
    def n_users(self) -> int:
        return len(self.user_ids)


@dataclass
class BlockLists:
    """The top-N of users ``lo:hi``: item indices (-1 unfilled), blended scores, the source index (into the
    ranker's sources) each pool entry was attributed to, whether it holds a cross-category slot, and the users'
    bought-category counts (what the reasons name)."""

    lo: int
    hi: int
    items: np.ndarray
    scores: np.ndarray
    source: np.ndarray
    cross_slot: np.ndarray
    bought_categories: sp.csr_matrix
    new_slot: np.ndarray | None = None  # users x N: True where the item holds a new-item slot


@dataclass
class Ranker:
    """Blend, mask, pool, caps and slots, top-N: see the module docstring."""

    sources: dict[str, Source]
    weights: BlendWeights
    cfg: RecommendConfig
    top_n: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: figures of the run (hold-out NDCG per segment, counts) recorded in ops.run_metrics by the nightly scoring
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def batch_users(self) -> int:
        """Users per score block: the configured number, or by device (``recommend.batch_users`` = 0)."""
        return self.cfg.batch_users or (4096 if self.device.type == "cuda" else 512)

    def score_block(self, cat: Catalog, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pool scores, pool item indices, pool source indices) for users lo:hi: blend, mask, top pool."""
        users = np.arange(lo, hi)
        feats = cat.user_features[lo:hi] if cat.user_features is not None else None
        signal = cat.signal[lo:hi] if cat.signal is not None else None
        batch = UserBatch(users, cat.history[lo:hi], feats, cat.demographic_segment[lo:hi], signal)
        segment = activity_segment(batch.n_history, self.cfg.light_max_interactions)
        # a source that no user of this block weighs is never computed (tuned weights are often sparse)
        names = list(self.sources)
        weighed = self.weights.matrix(names)[np.unique(segment)].max(axis=0) > 0
        used = [j for j in range(len(names)) if weighed[j]] or list(range(len(names)))
        blocks = {names[j]: batch.block_of(self.sources[names[j]]).to(self.device) for j in used}
        total, W = blend_scores(blocks, self.weights, segment)
        mask = csr_rows_to_torch(cat.exclude, lo, hi, total.device)
        cand = None if cat.candidates is None else torch.from_numpy(np.asarray(cat.candidates, bool)).to(total.device)
        pool = max(self.cfg.candidate_pool, self.top_n)
        values, idx = mask_topk_(total, pool, exclude=mask, candidates=cand, two_stage=True)
        source = torch.tensor(used, device=idx.device)[attribute(blocks, W, idx)]  # index into self.sources
        return values, idx, source

    def select_block(self, cat: Catalog, lo: int, hi: int) -> BlockLists:
        """The top-N of users lo:hi after the per-category caps and the cross-category slots."""
        values, idx, src = self.score_block(cat, lo, hi)
        pool_items, pool_scores, pool_src = idx.cpu().numpy(), values.cpu().numpy(), src.cpu().numpy()
        n_cat = len(cat.category_names)
        affinity = cat.category_affinity if cat.category_affinity is not None else np.zeros((n_cat, n_cat), np.float32)
        bought_cats = user_category_matrix(cat.bought[lo:hi], cat.item_category, n_cat)
        known = np.asarray((bought_cats > 0).toarray()) if n_cat else np.zeros((hi - lo, 0), bool)
        aff = user_affinity(bought_cats, affinity) if n_cat else np.zeros((hi - lo, 0), np.float32)
        sel = select_top_n(pool_items, pool_scores, cat.item_category, known, aff, self.top_n,
                           self.cfg.per_category_cap, self.cfg.cross_category_slots,
                           self.cfg.cross_category_order)  # fmt: skip
        pos_in_pool = _positions(pool_items, sel.items)
        source = np.take_along_axis(pool_src, pos_in_pool, axis=1)
        items, scores, new_slot = sel.items, sel.scores, np.zeros(sel.items.shape, dtype=bool)
        if cat.new_item_slots is not None:  # last step: new items take their places (never a cross-category slot)
            items, scores, new_slot = cat.new_item_slots.apply(
                cat.history[lo:hi], cat.exclude[lo:hi], sel.items, sel.scores, sel.cross_slot
            )
        return BlockLists(lo, hi, items, scores, source, sel.cross_slot, bought_cats, new_slot)

    def blocks(self, cat: Catalog, on_block: Callable[[int], None] | None = None) -> Iterator[BlockLists]:
        """:meth:`select_block` over every user of ``cat``, ``batch_users`` at a time."""
        for lo in range(0, cat.n_users, self.batch_users):
            hi = min(lo + self.batch_users, cat.n_users)
            yield self.select_block(cat, lo, hi)
            if on_block is not None:
                on_block(hi - lo)

    def top_items(self, cat: Catalog) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores), users x N: every user's list as index arrays (items -1 where unfilled)."""
        parts = list(self.blocks(cat))
        if not parts:
            return np.zeros((0, self.top_n), np.int64), np.zeros((0, self.top_n), np.float32)
        return np.vstack([p.items for p in parts]), np.vstack([p.scores for p in parts])


def _positions(pool: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Column in ``pool`` of each entry of ``chosen`` (same row); 0 where chosen is -1."""
    pos = np.zeros(chosen.shape, dtype=np.int64)
    for j in range(chosen.shape[1]):  # loops over N (a few dozen places), not over users
        pos[:, j] = (pool == chosen[:, j : j + 1]).argmax(axis=1)
    return np.where(chosen >= 0, pos, 0)
