"""Tuning the nightly blend on the last days of interactions: per activity segment, measured on a second half.

Why apart from :mod:`coldrec.recommend.nightly`: this is pure array logic on the run's matrices (no lake, no
MLflow), tested on hand-made histories; the nightly entry point only hands it what it read.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldrec.ranking.blend import SEGMENTS, BlendWeights, activity_segment, blend_scores, tune_segment_weights, zscore_
from coldrec.ranking.metrics import RankedLists
from coldrec.ranking.recency import REFERENCE_SOURCES, best_half_life, ndcg_by_half_life, recency_rank, weighted_history
from coldrec.ranking.similarity import item_cosine_topk_rows
from coldrec.ranking.sources import SourceInputs, UserBatch, make_sources
from coldrec.ranking.topk import csr_rows_to_torch, mask_topk_

log = logging.getLogger(__name__)


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
    cfg,
    models,
    user_features: np.ndarray | None,
    defaults: BlendWeights,
    seed: int,
    item_brand: np.ndarray | None = None,
    last_ns: np.ndarray | None = None,
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
    """
    shape = history.shape
    keep = ~recent
    vals = np.asarray(values, dtype=np.float32)
    past = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=shape)
    truth_all = sp.csr_matrix((np.ones(int(recent.sum()), np.float32), (rows[recent], cols[recent])), shape=shape)
    truth_all = sp.csr_matrix(truth_all - truth_all.multiply(past > 0))  # a repeat of an old pair is not news
    truth_all.eliminate_zeros()
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
    signal = weighted_history(vals[keep], rows[keep], cols[keep], past_rank, half_life, shape)
    prepared = []
    for half in halves:
        feats = None if user_features is None else user_features[half]
        batch = UserBatch(half, past[half], feats, segment[half], None if signal is None else signal[half])
        blocks = {n: batch.block_of(s) for n, s in sources.items()}
        prepared.append((batch, blocks, activity_segment(batch.n_history, cfg.light_max_interactions)))
    (b0, blocks0, s0), (b1, blocks1, s1) = prepared
    tuned = _tune_segments(blocks0, s0, truth_all[b0.users], past[b0.users], defaults, cfg)
    metrics = {"tuned": 1.0, "recency_half_life": float(half_life or 0.0)}
    metrics.update(_measure(blocks1, s1, tuned, truth_all[b1.users], past[b1.users]))
    return tuned, metrics


def _tune_segments(blocks, segment: np.ndarray, truth: sp.csr_matrix, past: sp.csr_matrix, defaults: BlendWeights,
                   cfg) -> BlendWeights:  # fmt: skip
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
                opinions, truth[r], exclude=past[r], step=0.2 if len(opinions) > 4 else 0.1
            )
            weights[name] = {n: tuned_w.get(n, 0.0) for n in z}
    return BlendWeights(weights)


def _measure(blocks, segment: np.ndarray, weights: BlendWeights, truth: sp.csr_matrix,
             past: sp.csr_matrix) -> dict[str, float]:  # fmt: skip
    """Hold-out NDCG@10 / HR@10 of the measuring half under ``weights``, overall and per activity segment."""
    total, _ = blend_scores(blocks, weights, segment)
    _, top = mask_topk_(total, 10, exclude=csr_rows_to_torch(past, 0, past.shape[0], total.device))
    top = top.cpu().numpy()
    lists = RankedLists.build(top, truth)
    metrics = {
        "holdout_ndcg_at_10": lists.mean("ndcg", 10),
        "holdout_hit_rate_at_10": lists.mean("hit_rate", 10),
        "holdout_users": float(past.shape[0]),
    }
    for idx, name in enumerate(SEGMENTS):
        seg_rows = np.flatnonzero(segment == idx)
        if seg_rows.size:
            metrics[f"holdout_ndcg_at_10_{name}"] = RankedLists.build(top[seg_rows], truth[seg_rows]).mean("ndcg", 10)
    return metrics


def _holdout_half_life(vals, rows, cols, rank, past, sources, users, truth_all, user_features, segment,
                       cfg) -> float | None:  # fmt: skip
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
