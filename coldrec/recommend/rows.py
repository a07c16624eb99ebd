"""The nightly lists as rows: the ranking core's top-N (:mod:`coldrec.ranking.lists`) with sources and reasons.

Why a layer over :class:`coldrec.ranking.lists.Ranker`: the harness measures the ranker's lists; what only the
published table needs - the ``source`` label written to ``gold.recommendations`` and the human-readable reason -
is added here, after the lists are fixed, so it cannot change what is measured.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldrec.ranking.lists import BlockLists, Catalog, Ranker
from coldrec.ranking.sources import EASESource, Source
from coldrec.recommend.reasons import cf_anchor, ease_anchor, reason_texts

__all__ = ["CROSS", "SOURCE_LABELS", "Catalog", "Recommender"]

CROSS = "cross_category"
NEW_ITEM = "new_item"
#: blend source name -> the ``source`` value written to gold.recommendations (content neighbours and brand affinity
#: are content; EASE keeps its own name, ``ease``: its rows are explained by EASE's weights, not item-kNN's)
SOURCE_LABELS = {"content_cf": "content", "brand": "content"}
COLUMNS = ["user_id", "rank", "item_id", "score", "source", "reason"]


class Recommender(Ranker):
    """The ranker's lists as ``gold.recommendations`` rows (without run date and model version)."""

    def recommend(self, cat: Catalog, on_block: Callable[[int], None] | None = None) -> pd.DataFrame:
        """Top-N rows ``user_id, rank, item_id, score, source, reason`` for every user of ``cat``."""
        names = np.array([SOURCE_LABELS.get(n, n) for n in self.sources], dtype=object)
        frames = [self._rows(cat, block, names) for block in self.blocks(cat, on_block)]
        if not frames:
            return pd.DataFrame(columns=COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def _rows(self, cat: Catalog, block: BlockLists, names: np.ndarray) -> pd.DataFrame:
        rows, cols = np.nonzero(block.items >= 0)
        item = block.items[rows, cols]
        source = names[block.source[rows, cols]].astype(object)
        source[block.cross_slot[rows, cols]] = CROSS
        if block.new_slot is not None:
            source[block.new_slot[rows, cols]] = NEW_ITEM
        reason = _reasons(cat, block.lo, rows, item, source, block.bought_categories, self.sources.get("ease"))
        return pd.DataFrame({
            "user_id": cat.user_ids[block.lo + rows],
            "rank": (cols + 1).astype(np.int32),
            "item_id": cat.item_ids[item],
            "score": block.scores[rows, cols].astype(np.float64),
            "source": source,
            "reason": reason,
        })  # fmt: skip


def _reasons(cat: Catalog, lo: int, rows: np.ndarray, item: np.ndarray, source: np.ndarray,
             bought_cats: sp.csr_matrix, ease: Source | None = None) -> np.ndarray:  # fmt: skip
    """One reason per row: the anchor item of a cf or ease row (from that source's own weights), the category of
    the item and of the user's purchases."""
    anchor = np.full(item.size, -1, dtype=np.int64)
    # what the linear sources multiplied (the recency-weighted history when there is one)
    read = cat.signal if cat.signal is not None else cat.history
    block_hist = read[lo : lo + (int(rows.max()) + 1 if rows.size else 0)]
    is_cf = source == "cf"
    if is_cf.any() and cat.similarity_t is not None:
        anchor[is_cf] = cf_anchor(rows[is_cf], item[is_cf], block_hist, cat.similarity_t)
    is_ease = source == "ease"
    if is_ease.any() and isinstance(ease, EASESource):
        anchor[is_ease] = ease_anchor(rows[is_ease], item[is_ease], block_hist, ease.B_rows, ease.keep_pos)
    has_anchor = anchor >= 0
    anchor_title = np.full(item.size, None, dtype=object)
    anchor_title[has_anchor] = cat.item_titles[anchor[has_anchor]]
    anchor_bought = np.zeros(item.size, dtype=bool)
    if has_anchor.any():
        anchor_bought[has_anchor] = np.asarray(cat.bought[lo + rows[has_anchor], anchor[has_anchor]]).ravel() > 0
    names = np.asarray([*cat.category_names, ""], dtype=object)
    item_cat = names[np.where(cat.item_category[item] >= 0, cat.item_category[item], len(cat.category_names))]
    top_user_cat = np.asarray(bought_cats.argmax(axis=1)).ravel() if bought_cats.shape[1] else np.zeros(0, int)
    has_bought = np.asarray(bought_cats.sum(axis=1)).ravel() > 0 if bought_cats.shape[1] else np.zeros(0, bool)
    no_cat = np.full(rows.size, "", dtype=object)
    ucat = np.where(has_bought[rows], names[top_user_cat[rows]], "") if bought_cats.shape[1] else no_cat
    return reason_texts(source, anchor_title, anchor_bought, item_cat, ucat, cat.item_is_new[item])
