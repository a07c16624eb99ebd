"""All-user top-N scoring for the nightly run: blend the sources, mask what was bought, diversify, explain.

Why on one node with torch and not as a Spark job: top-N for every user is (users x items) score blocks; a block is a
couple of matrix products, masking is an in-place ``index_put_``, and ``torch.topk`` is O(items) per user, on CUDA
when present. Work grows linearly in users and memory stays at one block (``recommend.batch_users`` x items). A Spark
cross join of users x items would shuffle the same numbers through rows. Spark only reads the inputs and receives the
result (``gold.recommendations`` is written by the publish step).

Entry point for the DAG task: :func:`score_all_users` ``(spark, settings, run_date) -> DataFrame`` matching
``schemas.RECOMMENDATIONS``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from coldrec.config import RecommendConfig
from coldrec.recommend.blending import BlendWeights, activity_segment, attribute, blend_scores
from coldrec.recommend.candidates import EASESource, Source, UserBatch
from coldrec.recommend.cross_category import user_affinity, user_category_matrix
from coldrec.recommend.filters import select_top_n
from coldrec.recommend.new_items import NewItemSlots
from coldrec.recommend.reasons import cf_anchor, ease_anchor, reason_texts
from coldrec.recommend.topk import csr_rows_to_torch, mask_topk_

CROSS = "cross_category"
NEW_ITEM = "new_item"
#: blend source name -> the ``source`` value written to gold.recommendations (content neighbours and brand affinity
#: are content; EASE keeps its own name, ``ease``: its rows are explained by EASE's weights, not item-kNN's)
SOURCE_LABELS = {"content_cf": "content", "brand": "content"}


@dataclass
class Catalog:
    """Everything per item and per user the engine needs besides the sources (indexed 0..n-1)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    history: sp.csr_matrix  # users x items interaction weights (what cf/content read)
    exclude: sp.csr_matrix  # users x items never to recommend (already bought)
    bought: sp.csr_matrix  # users x items purchased (for "because you bought" vs "viewed")
    item_category: np.ndarray  # int per item, -1 unknown
    category_names: list[str]
    item_titles: np.ndarray
    item_is_new: np.ndarray  # no interactions in the lookback window
    demographic_segment: np.ndarray
    user_features: np.ndarray | None = None
    category_affinity: np.ndarray | None = None  # categories x categories
    similarity_t: sp.csr_matrix | None = None  # items x items, row i = neighbours pointing at i (for reasons)
    signal: sp.csr_matrix | None = None  # recency-weighted history for the linear sources (None: ``history``)
    new_item_slots: NewItemSlots | None = None  # the new-item rule (None: no new-item slots)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)


@dataclass
class Recommender:
    sources: dict[str, Source]
    weights: BlendWeights
    cfg: RecommendConfig
    top_n: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: figures of the run (hold-out NDCG per segment, counts) recorded in ops.run_metrics by score_all_users
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def batch_users(self) -> int:
        """Users per score block: the configured number, or by device (``recommend.batch_users`` = 0)."""
        return self.cfg.batch_users or (4096 if self.device.type == "cuda" else 512)

    def score_block(self, cat: Catalog, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pool scores, pool item indices, pool source indices) for users lo:hi: blend, mask bought, top pool."""
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
        pool = max(self.cfg.candidate_pool, self.top_n)
        values, idx = mask_topk_(total, pool, exclude=mask, two_stage=True)
        source = torch.tensor(used, device=idx.device)[attribute(blocks, W, idx)]  # index into self.sources
        return values, idx, source

    def recommend(self, cat: Catalog, on_block: Callable[[int], None] | None = None) -> pd.DataFrame:
        """Top-N rows ``user_id, rank, item_id, score, source, reason`` for every user of ``cat``."""
        names = np.array([SOURCE_LABELS.get(n, n) for n in self.sources], dtype=object)
        n_cat = len(cat.category_names)
        affinity = cat.category_affinity if cat.category_affinity is not None else np.zeros((n_cat, n_cat), np.float32)
        frames = []
        for lo in range(0, cat.n_users, self.batch_users):
            hi = min(lo + self.batch_users, cat.n_users)
            values, idx, src = self.score_block(cat, lo, hi)
            pool_items, pool_scores, pool_src = idx.cpu().numpy(), values.cpu().numpy(), src.cpu().numpy()
            bought_cats = user_category_matrix(cat.bought[lo:hi], cat.item_category, n_cat)
            known = np.asarray((bought_cats > 0).toarray()) if n_cat else np.zeros((hi - lo, 0), bool)
            aff = user_affinity(bought_cats, affinity) if n_cat else np.zeros((hi - lo, 0), np.float32)
            sel = select_top_n(pool_items, pool_scores, cat.item_category, known, aff, self.top_n,
                               self.cfg.per_category_cap, self.cfg.cross_category_slots)  # fmt: skip
            # source of each selected item: the pool entry's attribution, or the reserved slot
            pos_in_pool = _positions(pool_items, sel.items)
            top, top_scores, new_slot = sel.items, sel.scores, np.zeros(sel.items.shape, dtype=bool)
            if cat.new_item_slots is not None:
                top, top_scores, new_slot = cat.new_item_slots.apply(
                    cat.history[lo:hi], cat.exclude[lo:hi], sel.items, sel.scores, sel.cross_slot
                )
            rows, cols = np.nonzero(top >= 0)
            item = top[rows, cols]
            source = names[pool_src[rows, pos_in_pool[rows, cols]]].astype(object)
            source[sel.cross_slot[rows, cols]] = CROSS
            source[new_slot[rows, cols]] = NEW_ITEM
            frames.append(self._rows(cat, lo, rows, cols, item, top_scores[rows, cols], source, bought_cats))
            if on_block is not None:
                on_block(hi - lo)
        if not frames:
            return pd.DataFrame(columns=["user_id", "rank", "item_id", "score", "source", "reason"])
        return pd.concat(frames, ignore_index=True)

    def _rows(self, cat: Catalog, lo: int, rows: np.ndarray, cols: np.ndarray, item: np.ndarray, score: np.ndarray,
              source: np.ndarray, bought_cats: sp.csr_matrix) -> pd.DataFrame:  # fmt: skip
        anchor = np.full(item.size, -1, dtype=np.int64)
        # what the linear sources multiplied (the recency-weighted history when there is one)
        read = cat.signal if cat.signal is not None else cat.history
        block_hist = read[lo : lo + (int(rows.max()) + 1 if rows.size else 0)]
        is_cf = source == "cf"
        if is_cf.any() and cat.similarity_t is not None:
            anchor[is_cf] = cf_anchor(rows[is_cf], item[is_cf], block_hist, cat.similarity_t)
        is_ease, ease = source == "ease", self.sources.get("ease")
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
        ucat = np.where(has_bought[rows], names[top_user_cat[rows]], "") if bought_cats.shape[1] else ""
        reason = reason_texts(source, anchor_title, anchor_bought, item_cat, ucat, cat.item_is_new[item])
        return pd.DataFrame({
            "user_id": cat.user_ids[lo + rows],
            "rank": (cols + 1).astype(np.int32),
            "item_id": cat.item_ids[item],
            "score": score.astype(np.float64),
            "source": source,
            "reason": reason,
        })  # fmt: skip


def _positions(pool: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Column in ``pool`` of each entry of ``chosen`` (same row); 0 where chosen is -1."""
    pos = np.zeros(chosen.shape, dtype=np.int64)
    for j in range(chosen.shape[1]):  # loops over N (a few dozen places), not over users
        pos[:, j] = (pool == chosen[:, j : j + 1]).argmax(axis=1)
    return np.where(chosen >= 0, pos, 0)


# ------------------------------------------------------------------------------------------------------------------
# The nightly entry point: lake tables -> Catalog + sources -> DataFrame(schemas.RECOMMENDATIONS)
# ------------------------------------------------------------------------------------------------------------------
def score_all_users(spark, settings, run_date: dt.date):
    """Top-N for every user the run knows, as a Spark DataFrame matching ``schemas.RECOMMENDATIONS``.

    Reads ``gold.interactions`` and ``gold.item_similarity`` of ``run_date``, ``silver.items`` / ``silver.users``,
    and the champion models (:func:`coldrec.models.load_champion`) when one is registered; without a champion the
    blend runs on item-kNN, content neighbours and segment popularity (the first nightly run, or models switched
    off), and ``model_version`` says so.
    """
    from coldrec import lake
    from coldrec.recommend.nightly import build_nightly

    recommender, catalog, model_version = build_nightly(spark, settings, run_date)
    rows = recommender.recommend(catalog)
    metrics = dict(recommender.metrics)
    metrics["rows"] = float(len(rows))
    metrics["users_scored"] = float(rows["user_id"].nunique()) if len(rows) else 0.0
    for source, share in rows["source"].value_counts(normalize=True).items():
        metrics[f"share_{source}"] = float(share)
    weights_json = json.dumps(recommender.weights.to_dict())  # which blend produced the figures
    detail = {k: weights_json for k in metrics if k.startswith("holdout_ndcg")}
    lake.record_metrics(spark, settings, run_date, "evaluate", metrics, detail)
    return to_spark(spark, rows, run_date, model_version)


def to_spark(spark, rows: pd.DataFrame, run_date: dt.date, model_version: str):
    from coldrec.data import schemas as S

    frame = rows.assign(run_date=run_date, model_version=model_version)
    frame = frame[[f.name for f in S.RECOMMENDATIONS.fields]]
    return spark.createDataFrame(frame, S.RECOMMENDATIONS)
