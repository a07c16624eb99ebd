"""Blend candidate sources with weights per activity segment (new, light, heavy), tuned on a validation split.

Why per segment: what predicts a user's next item depends on how much we know. A heavy user's own history (item-kNN)
dominates; a light user needs the autoencoder's generalisation; a new user has only features (autoencoder, GAN,
segment popularity). One global mix would be wrong for two of the three.

Why z-scores: sources live on different scales (a sum of cosines, a logit, a popularity share). Each source's block
is standardised per user (mean 0, std 1 over the items) before the weighted sum, so a weight means "how much this
source's opinion counts", and a source with no opinion for a user (all-equal scores) contributes exactly zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from coldrec.ranking.metrics import RankedLists
from coldrec.ranking.topk import csr_rows_to_torch, mask_topk_

NEW, LIGHT, HEAVY = "new", "light", "heavy"
SEGMENTS: tuple[str, ...] = (NEW, LIGHT, HEAVY)


def activity_segment(n_history: np.ndarray, light_max: int) -> np.ndarray:
    """0 = new (no history), 1 = light (1..light_max interactions), 2 = heavy (more)."""
    n = np.asarray(n_history)
    return np.where(n == 0, 0, np.where(n <= light_max, 1, 2)).astype(np.int64)


#: a row whose standard deviation is below this share of its mean's magnitude is constant up to rounding
_CONSTANT_ROW = 1e-6


def zscore_(block: torch.Tensor) -> torch.Tensor:
    """Standardise each row in place (mean 0, std 1 over the items); constant rows become exactly 0.

    Why not ``Tensor.std``: on CPU its Welford reduction along rows runs ~5x slower than a centred pass plus a
    vectorised norm (0.19 vs 0.99 s for 4096 x 26k), and z-scoring is most of the nightly blend's memory traffic.
    The centred two-pass form keeps the precision of the textbook formula (no sum-of-squares cancellation).
    """
    if block.shape[1] == 0:
        return block
    mean = block.mean(dim=1, keepdim=True)
    block.sub_(mean)
    std = torch.linalg.vector_norm(block, dim=1, keepdim=True) / (block.shape[1] ** 0.5)
    constant = std <= _CONSTANT_ROW * mean.abs()  # also every std == 0
    inv = torch.where(constant, torch.zeros_like(std), 1.0 / std.clamp(min=torch.finfo(std.dtype).tiny))
    return block.mul_(inv)


@dataclass
class BlendWeights:
    """``weights[segment][source]``; sources missing from a segment weigh 0."""

    weights: dict[str, dict[str, float]] = field(default_factory=dict)

    def matrix(self, sources: Sequence[str]) -> np.ndarray:
        """segments x sources array in ``SEGMENTS`` order."""
        return np.array([[self.weights.get(seg, {}).get(s, 0.0) for s in sources] for seg in SEGMENTS],
                        dtype=np.float32)  # fmt: skip

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {seg: dict(w) for seg, w in self.weights.items()}


def blend_scores(
    blocks: Mapping[str, torch.Tensor], weights: BlendWeights, segment: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted sum of the blocks, z-scored in place, with each user's segment weights; returns (scores, W) with
    W the users x sources weights. One accumulating pass per source: no sources x users x items temporary."""
    names = list(blocks)
    W = torch.from_numpy(weights.matrix(names)[segment])  # users x sources
    total: torch.Tensor | None = None
    for j, n in enumerate(names):
        z = zscore_(blocks[n])
        w = W[:, j : j + 1].to(z.device)
        total = z * w if total is None else total.addcmul_(z, w)
    assert total is not None
    return total, W


def attribute(blocks: Mapping[str, torch.Tensor], W: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Index of the source with the largest weighted contribution at the cells ``idx`` (users x m item indices,
    ``-1`` allowed) of already z-scored blocks; a source with weight 0 for the user is never chosen."""
    safe = idx.clamp(min=0)
    contrib = torch.stack([torch.gather(blocks[n], 1, safe) for n in blocks])  # sources x users x m
    contrib = contrib * W.T[:, :, None].to(contrib.device)
    contrib.masked_fill_((W.T <= 0)[:, :, None].to(contrib.device), float("-inf"))
    return contrib.argmax(dim=0)


def blend(
    blocks: Mapping[str, torch.Tensor], weights: BlendWeights, segment: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted sum of z-scored blocks with each user's segment weights, and for every cell the index of the source
    with the largest weighted contribution - the ``source`` a recommendation is attributed to."""
    total, W = blend_scores(blocks, weights, segment)
    n_items = total.shape[1]
    every = torch.arange(n_items, device=total.device).expand(total.shape[0], n_items)
    return total, attribute(blocks, W, every)


def simplex_grid(n: int, step: float) -> np.ndarray:
    """All weight vectors on the simplex with the given step (n sources)."""
    m = round(1 / step)
    pts = [c for c in itertools.product(range(m + 1), repeat=n) if sum(c) == m]
    return np.array(pts, dtype=np.float32) / m


#: each source's top-m unmasked items of a user are the blend's candidates when the grid is searched (see BlendTopK)
PRUNE_TOP = 200


class BlendTopK:
    """Top-k item indices of the blend ``sum_j w_j z_j`` for many non-negative weight vectors over the same blocks.

    Why: tuning ranks the same (sources x users x items) blocks for hundreds of weight vectors, and every full blend
    reads every cell (1 GB per weight vector for 2,000 users x 26k items x 5 sources: 60 of the 10M nightly's 260 s of
    scoring), though only each row's top k matter. So each source's top ``m`` unmasked items of a user are that
    user's candidates, and the blend is ranked among them. It is exact: an item outside the candidates is outside
    every source's top m, so its z_j is at most b_j, that source's (m+1)-th best value, and its blended score at most
    ``sum_j w_j b_j``. A row whose k-th best candidate scores at least that bound has its top k among the candidates
    (equal scores may be ordered differently, as between any two top-k routines); the rare row that does not is
    ranked again over all items. Rows with fewer than k allowed items come back ``-1`` padded, as from mask_topk_.
    """

    def __init__(
        self,
        stacked: torch.Tensor,
        k: int,
        *,
        exclude: sp.csr_matrix | None = None,
        m: int = PRUNE_TOP,
    ) -> None:
        self.stacked, self.k, self.exclude = stacked, k, exclude
        n_sources, n_users, _ = stacked.shape
        mask = csr_rows_to_torch(exclude, 0, n_users, stacked.device) if exclude is not None else None
        tops, bounds = [], []
        for j in range(n_sources):  # one source at a time: one users x items temporary
            values, idx = mask_topk_(stacked[j].clone(), m + 1, exclude=mask)  # -inf / -1 past the allowed items
            tops.append(idx[:, :m])
            bounds.append(values[:, m])
        cand, _ = torch.sort(torch.cat(tops, dim=1), dim=1)
        valid = cand >= 0
        valid[:, 1:] &= cand[:, 1:] != cand[:, :-1]  # an item several sources rank counts once
        self.cand, self.valid = cand, valid
        gathered = torch.gather(stacked, 2, cand.clamp(min=0)[None].expand(n_sources, *cand.shape))
        self.candidates = gathered.masked_fill_(~valid[None], 0.0)
        bound = torch.stack(bounds)  # sources x users; -inf: the source ranks fewer than m + 1 allowed items
        self.exhausted = torch.isneginf(bound).all(dim=0)  # every allowed item of the row is a candidate
        self.bound = torch.where(torch.isneginf(bound), torch.full_like(bound, torch.finfo(bound.dtype).min), bound)
        self.recomputed = 0

    def __call__(self, weights: np.ndarray) -> torch.Tensor:
        if np.any(np.asarray(weights) < 0):
            raise ValueError("BlendTopK needs non-negative weights (its bound assumes them)")
        w = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32))
        scores = torch.tensordot(w, self.candidates, dims=1).masked_fill_(~self.valid, float("-inf"))
        values, pos = mask_topk_(scores, self.k)  # pos -1 where fewer than k candidates are allowed
        top = torch.where(pos >= 0, torch.gather(self.cand, 1, pos.clamp(min=0)), pos)
        safe = self.exhausted | (values[:, -1] >= torch.tensordot(w, self.bound, dims=1))
        redo = torch.nonzero(~safe).flatten()
        if len(redo):
            self.recomputed += len(redo)
            rows = torch.tensordot(w, self.stacked[:, redo], dims=1)
            sub = self.exclude[redo.numpy()] if self.exclude is not None else None
            mask = csr_rows_to_torch(sub, 0, len(redo), rows.device) if sub is not None else None
            top[redo] = mask_topk_(rows, self.k, exclude=mask)[1]
        return top


def grid_ndcg(
    zblocks: Mapping[str, np.ndarray],
    truth: sp.csr_matrix,
    grid: np.ndarray,
    *,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
    k: int = 10,
    prune_top: int | None = PRUNE_TOP,
    coverage_weight: float = 0.0,
) -> np.ndarray:
    """NDCG@k (+ ``coverage_weight`` x :func:`list_coverage`) of the blended ranking for each weight vector of ``grid``.

    With several weight vectors and items to spare, each one is ranked among each source's ``prune_top`` best
    items per user (:class:`BlendTopK`, exact); ``prune_top=None`` ranks every item for every vector.
    """
    if candidates is not None:  # rank among the candidates only: drop the other columns once, not per grid point
        cols = np.flatnonzero(candidates)
        zblocks = {n: np.asarray(z)[:, cols] for n, z in zblocks.items()}
        truth = sp.csr_matrix(truth)[:, cols]
        exclude = sp.csr_matrix(exclude)[:, cols] if exclude is not None else None
    names = list(zblocks)
    stacked = torch.stack([torch.from_numpy(np.ascontiguousarray(zblocks[n], dtype=np.float32)) for n in names])
    n_sources, n_users, n_items = stacked.shape
    excluded = sp.csr_matrix(exclude) if exclude is not None else None
    out = np.empty(len(grid))
    if prune_top is not None and len(grid) > 1 and n_items > 4 * n_sources * prune_top:  # candidates <= 1/4 of items
        ranked = BlendTopK(stacked, k, exclude=excluded, m=prune_top)
        for g, w in enumerate(grid):
            listed = ranked(w).numpy()
            out[g] = RankedLists.build(listed, truth).mean("ndcg", k) + coverage_weight * list_coverage(listed, n_items)
        return out
    mask = csr_rows_to_torch(excluded, 0, n_users, stacked.device) if excluded is not None else None
    for g, w in enumerate(grid):
        scores = torch.tensordot(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)), stacked, dims=1)
        _, top = mask_topk_(scores, k, exclude=mask)
        top_np = top.numpy()
        out[g] = RankedLists.build(top_np, truth).mean("ndcg", k) + coverage_weight * list_coverage(top_np, n_items)
    return out


def list_coverage(top: np.ndarray, n_items: int) -> float:
    """Catalog coverage of ranked lists (users x k item indices, -1 unfilled): distinct listed items / ``n_items``.

    Why in the tuning objective: NDCG alone rewards putting the same best sellers in every list (a 1M generated
    shop's tuned lists covered 611 of 2,618 items); ``recommend.coverage_weight`` trades a little NDCG for lists that
    show more of the catalogue. Measured over the tuning users' lists of one segment.
    """
    listed = np.unique(top[top >= 0])
    return float(listed.size) / n_items if n_items else 0.0


def tune_segment_weights(
    zblocks: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]],
    truth: sp.csr_matrix | Sequence[sp.csr_matrix],
    *,
    exclude: sp.csr_matrix | Sequence[sp.csr_matrix | None] | None = None,
    candidates: np.ndarray | Sequence[np.ndarray | None] | None = None,
    k: int = 10,
    step: float = 0.1,
    coverage_weight: float = 0.0,
) -> tuple[dict[str, float], float]:
    """Grid-search simplex weights maximising NDCG@k (+ ``coverage_weight`` x list coverage, see
    :func:`list_coverage`) of the blended ranking on validation users.

    ``zblocks``: per source, z-scored scores (validation users x items). Several validation folds may be given as
    sequences (one entry per fold): the weights then maximise the mean NDCG over the folds, which matters where one
    random hold-out is dominated by a few items (the cold-item ranking). Returns (weights, best mean NDCG@k); ties
    go to the first grid point.
    """
    folds = [zblocks] if isinstance(zblocks, Mapping) else list(zblocks)
    n = len(folds)
    truths = [truth] if n == 1 and not isinstance(truth, list | tuple) else list(truth)
    excludes = [exclude] * n if exclude is None or sp.issparse(exclude) else list(exclude)
    cands = [candidates] * n if candidates is None or isinstance(candidates, np.ndarray) else list(candidates)
    names = list(folds[0])
    grid = simplex_grid(len(names), step if len(names) <= 4 else max(step, 0.2))
    values = np.mean(
        [grid_ndcg(z, t, grid, exclude=e, candidates=c, k=k, coverage_weight=coverage_weight)
         for z, t, e, c in zip(folds, truths, excludes, cands, strict=True)],
        axis=0,
    )  # fmt: skip
    best = int(np.argmax(values))
    return {name: float(x) for name, x in zip(names, grid[best], strict=True)}, float(values[best])
