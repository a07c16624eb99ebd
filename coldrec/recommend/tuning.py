"""Tuning the nightly blend on the last days of interactions: per activity segment, measured on a second half.

Why apart from :mod:`coldrec.recommend.nightly`: this is pure array logic on the run's matrices (no lake, no
MLflow), tested on hand-made histories; the nightly entry point only hands it what it read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from coldrec.config import RecommendConfig
from coldrec.ranking.blend import (
    SEGMENTS,
    BlendWeights,
    activity_segment,
    list_coverage,
    tune_segment_weights,
    zscore_,
)
from coldrec.ranking.lists import Catalog, Ranker
from coldrec.ranking.metrics import RankedLists
from coldrec.ranking.new_items import NewItemSlots
from coldrec.ranking.recency import REFERENCE_SOURCES, best_half_life, ndcg_by_half_life, recency_rank, weighted_history
from coldrec.ranking.similarity import item_cosine_topk_rows
from coldrec.ranking.sources import Source, SourceInputs, UserBatch, make_sources

log = logging.getLogger(__name__)

#: the hold-out's lists are measured at this length
HOLDOUT_K = 10


@dataclass
class ListRules:
    """What the per-category caps and cross-category slots of the measured lists need, from before the hold-out
    (categories a user bought from, and which categories lead to which, must not peek at the hold-out)."""

    item_category: np.ndarray
    category_names: list[str]
    bought: sp.csr_matrix  # users x items: purchases before the hold-out
    affinity: np.ndarray  # categories x categories, from those purchases


def holdout_start(run_date: dt.date, tune_days: int, trained_through: str | None) -> pd.Timestamp:
    """First instant of the tuning hold-out: ``tune_days`` back, but never inside the champion's training data.

    Why: a champion trained on the hold-out has seen its answers; tuned on them, the blend gives the model all the
    weight (a 10M-event run put 100% on the autoencoder and recommended 474 distinct items to 100k users). With a
    champion trained through day D the hold-out starts at D + 1; a champion trained tonight leaves no hold-out and
    the configured weights apply.
    """
    start = pd.Timestamp(run_date, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(days=tune_days)
    if trained_through:
        start = max(start, pd.Timestamp(dt.date.fromisoformat(trained_through), tz="UTC") + pd.Timedelta(days=1))
    return start


def tune_on_holdout(
    history: sp.csr_matrix,
    recent: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    segment: np.ndarray,
    content: sp.csr_matrix,
    cfg: RecommendConfig,
    models: Any,
    user_features: np.ndarray | None,
    defaults: BlendWeights,
    seed: int,
    item_brand: np.ndarray | None = None,
    last_ns: np.ndarray | None = None,
    rules: ListRules | None = None,
    new_items: NewItemSlots | None = None,
) -> tuple[BlendWeights, dict[str, float]]:
    """Tune the blend per activity segment on the last ``tune_days`` of interactions, and measure it.

    The sources are rebuilt from the history *before* the hold-out (item-kNN from its co-occurrences, so the run's
    similarity table does not leak the hold-out; ``recent`` starts after the champion's training data, see
    :func:`holdout_start`). Hold-out users are split in halves: weights are tuned on one half and NDCG@10 is
    measured on the other, so the recorded metric is not the tuned-on figure. A segment with fewer than
    ``tune_min_users`` users in the tuning half keeps its configured weights.
    ``rows, cols, values`` are the history's entries (what it was built from, ``recent`` aligned with them).

    With ``last_ns`` (each row's latest event, ns) and ``recommend.recency_half_lives``, the tuning half first
    picks the history's recency half-life (:mod:`coldrec.ranking.recency`; the plain history unless one ranks
    better), recorded as ``recency_half_life`` (0: none); the weights are then tuned on that weighted history.

    The measuring half is ranked by :class:`coldrec.ranking.lists.Ranker`, the published lists' code path: with
    ``rules`` (categories and purchases before the hold-out) its per-category caps and cross-category slots apply,
    so the recorded NDCG is that of lists as consumers get them; without, the blend's plain top 10.

    With ``new_items`` the new-item slot count (0..``new_items.slots``) is tuned on the tuning half's lists, ranked
    by the same :class:`~coldrec.ranking.lists.Ranker` (:func:`tune_new_item_slots`), and the measuring half's lists
    carry the chosen slots.
    """
    shape = history.shape
    keep = ~recent
    vals = np.asarray(values, dtype=np.float32)
    past, truth_all = split_at_holdout(vals, rows, cols, recent, shape)
    users = np.flatnonzero(np.diff(truth_all.indptr) > 0)
    if users.size < 2 * cfg.tune_min_users:
        return defaults, {"holdout_users": float(users.size), "tuned": 0.0}
    binary = sp.csr_matrix((past > 0).astype(np.float32))
    users = np.random.default_rng(seed).permutation(users)[: 2 * cfg.tune_max_users]
    sim = item_cosine_topk_rows(binary, past[users].indices, 100)  # the rows the tuning users' items need
    sources = make_sources(SourceInputs(past, segment, content, sim, item_brand), cfg, models, seed)
    halves = (np.sort(users[: users.size // 2]), np.sort(users[users.size // 2 :]))
    past_rank = None if last_ns is None else recency_rank(rows[keep], last_ns[keep])
    half_life = _holdout_half_life(vals[keep], rows[keep], cols[keep], past_rank, past, sources, halves[0],
                                   truth_all, user_features, segment, cfg)  # fmt: skip
    signal = None if past_rank is None else weighted_history(vals[keep], rows[keep], cols[keep], past_rank, half_life,
                                                             shape)  # fmt: skip
    half = HoldoutHalf(past, segment, user_features, signal, rules)
    tuned = _tune_segments(half.blocks(halves[0], sources), half.activity(halves[0], cfg), truth_all[halves[0]],
                           past[halves[0]], defaults, cfg)  # fmt: skip
    metrics = {"tuned": 1.0, "recency_half_life": float(half_life or 0.0),
               "coverage_weight": float(cfg.coverage_weight)}  # fmt: skip
    ranker = Ranker(sources, tuned, cfg, HOLDOUT_K)
    if rules is not None and cfg.cross_category_max_slots > 0 and rules.category_names:
        # before the new-item slots are chosen: the lists without them are the slots' baseline
        ranker, figures = tune_cross_category_slots(ranker, half.catalog(halves[0], None), truth_all[halves[0]])
        metrics.update(figures)
    if new_items is not None:
        new_items, figures = tune_new_item_slots(ranker, half.catalog(halves[0], new_items), truth_all[halves[0]])
        metrics.update(figures)
    metrics.update(_measure(ranker, half.catalog(halves[1], new_items), truth_all[halves[1]]))
    return tuned, metrics


def split_at_holdout(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, recent: np.ndarray,
                     shape: tuple[int, int]) -> tuple[sp.csr_matrix, sp.csr_matrix]:  # fmt: skip
    """(the history before the hold-out, the hold-out's new pairs): users x items, from the history's entries
    (``recent`` marks those in the hold-out; a repeat of a pair seen before it is not news, so not a truth)."""
    keep = ~recent
    past = sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=shape)
    truth = sp.csr_matrix((np.ones(int(recent.sum()), np.float32), (rows[recent], cols[recent])), shape=shape)
    truth = sp.csr_matrix(truth - truth.multiply(past > 0))
    truth.eliminate_zeros()
    return past, truth


@dataclass
class HoldoutHalf:
    """What a half of the hold-out users is ranked from: the history before the hold-out, demographic segments, user
    features and the recency-weighted history (None: the plain one), rows over every user; ``rules`` as in
    :func:`tune_on_holdout`."""

    past: sp.csr_matrix
    segment: np.ndarray
    user_features: np.ndarray | None
    signal: sp.csr_matrix | None
    rules: ListRules | None

    def blocks(self, users: np.ndarray, sources: dict[str, Source]) -> dict[str, torch.Tensor]:
        """Every source's scores of ``users`` (rows) over the catalog."""
        feats = None if self.user_features is None else self.user_features[users]
        signal = None if self.signal is None else self.signal[users]
        batch = UserBatch(users, self.past[users], feats, self.segment[users], signal)
        return {n: batch.block_of(s) for n, s in sources.items()}

    def activity(self, users: np.ndarray, cfg: RecommendConfig) -> np.ndarray:
        """The activity segment of each of ``users`` by its history before the hold-out."""
        return activity_segment(np.diff(self.past[users].indptr), cfg.light_max_interactions)

    def catalog(self, users: np.ndarray, slots: NewItemSlots | None) -> Catalog:
        """``users`` as the published lists' :class:`~coldrec.ranking.lists.Catalog` (item ids: column indices)."""
        n_items, rules, past = self.past.shape[1], self.rules, self.past
        return Catalog(
            user_ids=users, item_ids=np.arange(n_items), history=past[users], exclude=past[users],
            bought=(rules.bought if rules is not None else past)[users],
            item_category=rules.item_category if rules is not None else np.full(n_items, -1, np.int64),
            category_names=rules.category_names if rules is not None else [], item_titles=np.arange(n_items),
            item_is_new=np.zeros(n_items, bool), demographic_segment=self.segment[users],
            user_features=None if self.user_features is None else self.user_features[users],
            category_affinity=None if rules is None else rules.affinity,
            signal=None if self.signal is None else self.signal[users], new_item_slots=slots,
        )  # fmt: skip


def tune_cross_category_slots(ranker: Ranker, catalog: Catalog, truth: sp.csr_matrix) -> tuple[Ranker, dict[str,
                              float]]:  # fmt: skip
    """The ranker with the most cross-category slots (0..``cfg.cross_category_max_slots``) whose lists keep NDCG@10
    on ``truth`` within ``cfg.cross_category_max_ndcg_cost`` of the same lists without slots.

    Why the most slots within a cost and not the best NDCG: the slots exist to show categories a user has not
    bought from (issue 21: >= 1.5x the cross-category hits at <= 3% NDCG cost); NDCG alone would always pick 0.
    Every count's NDCG is recorded as ``tune_ndcg_at_10_cross_slots_<n>``, the choice as ``cross_category_slots``.
    """
    cfg = ranker.cfg
    figures: dict[str, float] = {}
    best, base = 0, 0.0
    for n in range(cfg.cross_category_max_slots + 1):
        trial = dataclasses.replace(ranker, cfg=cfg.model_copy(update={"cross_category_slots": n}))
        top, _ = trial.top_items(catalog)
        ndcg = RankedLists.build(top, truth).mean("ndcg", min(HOLDOUT_K, top.shape[1]))
        figures[f"tune_ndcg_at_10_cross_slots_{n}"] = ndcg
        base = ndcg if n == 0 else base
        if ndcg >= (1.0 - cfg.cross_category_max_ndcg_cost) * base - 1e-12:
            best = n
    figures["cross_category_slots"] = float(best)
    return dataclasses.replace(ranker, cfg=cfg.model_copy(update={"cross_category_slots": best})), figures


def tune_new_item_slots(ranker: Ranker, catalog: Catalog, truth: sp.csr_matrix) -> tuple[NewItemSlots, dict[str,
                        float]]:  # fmt: skip
    """The new-item slot count (0..the catalog's ``new_item_slots.slots``) whose lists, ranked by ``ranker``, have
    the best NDCG@10 on ``truth`` (ties: more slots - exposure is the point); every count's NDCG is recorded as
    ``tune_ndcg_at_10_new_item_slots_<n>`` and the choice as ``new_item_slots``."""
    rule = catalog.new_item_slots
    assert rule is not None
    figures, best, best_ndcg = {}, 0, -np.inf
    for n in range(rule.slots + 1):
        top, _ = ranker.top_items(dataclasses.replace(catalog, new_item_slots=rule.with_slots(n)))
        ndcg = RankedLists.build(top, truth).mean("ndcg", min(HOLDOUT_K, top.shape[1]))
        figures[f"tune_ndcg_at_10_new_item_slots_{n}"] = ndcg
        if ndcg >= best_ndcg - 1e-12:
            best, best_ndcg = n, max(ndcg, best_ndcg)
    figures["new_item_slots"] = float(best)
    return rule.with_slots(best), figures


def _tune_segments(blocks: dict[str, torch.Tensor], segment: np.ndarray, truth: sp.csr_matrix, past: sp.csr_matrix,
                   defaults: BlendWeights, cfg: RecommendConfig) -> BlendWeights:  # fmt: skip
    """Weights per activity segment tuned on the tuning half (rows of ``blocks``, ``truth``, ``past`` align); a
    segment with fewer than ``tune_min_users`` users keeps its configured weights."""
    z = {n: zscore_(b).numpy() for n, b in blocks.items()}
    weights = defaults.to_dict()
    for idx, name in enumerate(SEGMENTS):
        r = np.flatnonzero(segment == idx)
        if r.size >= cfg.tune_min_users:
            # a source without an opinion on any of the segment's users (GAN-CF for users with a history, CF for
            # new users: z-scores all 0) only multiplies the grid: it is left out and weighs 0
            opinions = {n: zn[r] for n, zn in z.items() if np.any(zn[r] != 0)}
            if not opinions:
                continue
            tuned_w, _ = tune_segment_weights(
                opinions,
                truth[r],
                exclude=past[r],
                step=0.2 if len(opinions) > 4 else 0.1,
                coverage_weight=cfg.coverage_weight,
            )
            weights[name] = {n: tuned_w.get(n, 0.0) for n in z}
    return BlendWeights(weights)


def _measure(ranker: Ranker, catalog: Catalog, truth: sp.csr_matrix) -> dict[str, float]:
    """Hold-out NDCG@10 / HR@10 of the measuring half's lists, ranked as the published lists are (caps and slots
    when ``rules`` were given), overall and per activity segment."""
    top, _ = ranker.top_items(catalog)
    lists = RankedLists.build(top, truth)
    metrics = {
        "holdout_ndcg_at_10": lists.mean("ndcg", HOLDOUT_K),
        "holdout_hit_rate_at_10": lists.mean("hit_rate", HOLDOUT_K),
        "holdout_item_coverage_at_10": list_coverage(top, len(catalog.item_ids)),
        "holdout_users": float(catalog.n_users),
    }
    segment = activity_segment(np.diff(catalog.history.indptr), ranker.cfg.light_max_interactions)
    for idx, name in enumerate(SEGMENTS):
        rows = np.flatnonzero(segment == idx)
        if rows.size:
            metrics[f"holdout_ndcg_at_10_{name}"] = RankedLists.build(top[rows], truth[rows]).mean("ndcg", HOLDOUT_K)
    return metrics


def _holdout_half_life(vals: np.ndarray, rows: np.ndarray, cols: np.ndarray, rank: np.ndarray | None,
                       past: sp.csr_matrix, sources: dict[str, Source], users: np.ndarray, truth_all: sp.csr_matrix,
                       user_features: np.ndarray | None, segment: np.ndarray,
                       cfg: RecommendConfig) -> float | None:  # fmt: skip
    """The recency half-life that ranks the tuning half's hold-out best by the strongest history source alone
    (``vals, rows, cols``: the past entries; ``rank``: their recency ranks, None without timestamps: no weighting)."""
    ref = next((n for n in REFERENCE_SOURCES if n in sources), None)
    if rank is None or not cfg.recency_half_lives or ref is None:
        return None
    feats = None if user_features is None else user_features[users]

    def block_for(h: float | None) -> np.ndarray:
        signal = weighted_history(vals, rows, cols, rank, h, past.shape)
        batch = UserBatch(users, past[users], feats, segment[users], None if signal is None else signal[users])
        return sources[ref].block(batch).numpy()

    half_lives = [None, *cfg.recency_half_lives]
    scores = ndcg_by_half_life(block_for, truth_all[users], half_lives, exclude=past[users])
    chosen = best_half_life(scores, half_lives)
    log.info("history half-life by %s on the hold-out: %s -> %s", ref,
             {str(h): round(v, 4) for h, v in scores.items()}, chosen)  # fmt: skip
    return chosen
