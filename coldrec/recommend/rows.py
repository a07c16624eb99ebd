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
from coldrec.recommend.reasons import cf_anchor, reason_texts

__all__ = ["CROSS", "SOURCE_LABELS", "Catalog", "Recommender"]

CROSS = "cross_category"
#: blend source name -> the ``source`` value written to gold.recommendations (EASE is item-item CF; content
#: neighbours and brand affinity are content)
SOURCE_LABELS = {"ease": "cf", "content_cf": "content", "brand": "content"}
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
        reason = _reasons(cat, block.lo, rows, item, source, block.bought_categories)
        return pd.DataFrame({
            "user_id": cat.user_ids[block.lo + rows],
            "rank": (cols + 1).astype(np.int32),
            "item_id": cat.item_ids[item],
            "score": block.scores[rows, cols].astype(np.float64),
            "source": source,
            "reason": reason,
        })  # fmt: skip


def _reasons(cat: Catalog, lo: int, rows: np.ndarray, item: np.ndarray, source: np.ndarray,
             bought_cats: sp.csr_matrix) -> np.ndarray:  # fmt: skip
    """One reason per row: the anchor item of a cf row, the category of the item and of the user's purchases."""
    anchor = np.full(item.size, -1, dtype=np.int64)
    is_cf = source == "cf"
    if is_cf.any() and cat.similarity_t is not None:
        block_hist = cat.history[lo : lo + (int(rows.max()) + 1 if rows.size else 0)]
        anchor[is_cf] = cf_anchor(rows[is_cf], item[is_cf], block_hist, cat.similarity_t)
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
    ucat = np.where(has_bought[rows], names[top_user_cat[rows]], "") if bought_cats.shape[1] else ""
    return reason_texts(source, anchor_title, anchor_bought, item_cat, ucat, cat.item_is_new[item])
