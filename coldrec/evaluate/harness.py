"""The evaluation harness: every method on every split, same data, same run, one table.

Why one harness for baselines and coldrec: a ratio such as "coldrec NDCG@10 / best baseline" only means something
when both numbers come from the same split, the same masks and the same metric code. The harness builds each split
once (:class:`SplitContext`), fits each applicable method on its training side, scores the evaluated users in
batches, masks (already-seen items; non-candidates for the cold-item ranking), takes ``torch.topk`` and computes
every metric with :mod:`coldrec.ranking.metrics`.

Protocols (seeded; see :mod:`coldrec.evaluate.splits`):
- ``warm``: last 20% of each user's interactions in time; relevant = positives in that tail; seen items excluded.
- ``cold_user``: 20% of users held out entirely; ranked among all items from features only.
- ``cold_item``: 20% of items held out entirely; users with a training history rank the held-out items only.
- ``cold_item_all``: the same item hold-out, ranked among **all** items (seen excluded): new items compete with the
  established catalogue, as in the nightly lists.
- ``few_shot_<n>``: 20% of the users with more than n positives keep only their first n; the rest is their test.
- ``stratified``: microsoft/recommenders ``python_stratified_split`` 75/25 per user, every rating a positive
  (their MovieLens benchmark protocol), seen items excluded: the sanity anchor.

Besides the per-user metrics, two pair-level segment rates are computed for every method's lists (so the published
path and the baselines are measured alike): ``cold_item_hit_rate`` (share of the test pairs on items without any
training interaction found in the top k) and ``cross_category_pair_hit_rate`` (share of the test pairs whose
top-level category the user never interacted with in training found in the top k).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from coldrec.data import schemas as S
from coldrec.evaluate.baselines import EASE, Method, TrainView, sar_affinity
from coldrec.evaluate.dataset import EvalDataset, interactions
from coldrec.evaluate.splits import (
    COLD_ITEM,
    COLD_ITEM_ALL,
    COLD_USER,
    SEEN_EXCLUDED,
    STRATIFIED,
    WARM,
    Split,
    make_split,
)
from coldrec.ranking import metrics as M
from coldrec.ranking.encode import Encoder, brand_codes, content_matrix, tokens_of, top_category, user_segments
from coldrec.ranking.new_items import NewItemSlots
from coldrec.ranking.topk import csr_rows_to_torch, mask_topk_

DEFAULT_SPLITS: tuple[str, ...] = (WARM, COLD_USER, COLD_ITEM, STRATIFIED)
SAR_HALF_LIFE_DAYS = 30.0


@dataclass
class Prepared:
    """Everything that does not depend on the split: the data set, its index, interactions and item content."""

    ds: EvalDataset
    enc: Encoder
    inter: pd.DataFrame
    user_segment: np.ndarray
    segment_labels: list[str]
    item_category: np.ndarray
    category_labels: list[str]
    item_content: sp.csr_matrix
    item_category_tokens: sp.csr_matrix
    #: brand code per item (-1: none), for the brand-affinity source
    item_brand: np.ndarray | None = None

    @classmethod
    def build(cls, ds: EvalDataset, min_rating: float = 4.0) -> Prepared:
        enc = Encoder.fit(ds.events, ds.items, ds.users)
        inter = interactions(ds, min_rating=min_rating)
        seg, seg_labels = user_segments(ds.users, enc)
        cat, cat_labels = top_category(ds.items, enc)
        content, _ = content_matrix(tokens_of(ds.items, enc, (S.CATEGORY_PATH, S.BRAND, S.TITLE, S.DESCRIPTION)))
        cat_tokens = _category_tokens(ds, enc)
        return cls(ds, enc, inter, seg, seg_labels, cat, cat_labels, content, cat_tokens, brand_codes(ds.items, enc))


def _category_tokens(ds: EvalDataset, enc: Encoder) -> sp.csr_matrix:
    """Binary item x category-level tokens, without a level every item shares (a data-set root says nothing)."""
    toks = tokens_of(ds.items, enc, (S.CATEGORY_PATH,))
    mat, _ = content_matrix(toks)
    mat.data[:] = 1.0
    share = np.asarray(mat.sum(axis=0)).ravel() / max(enc.n_items, 1)
    return sp.csr_matrix(mat[:, share < 0.999])


class ContextExtras(TypedDict, total=False):
    """What is computed once per split and shared by the methods that need it (a plain dict: a validation context
    made with ``dataclasses.replace`` shares its original's)."""

    #: segment name -> users x items test pairs of the segment (see :func:`segment_pairs`)
    segments: dict[str, sp.csr_matrix]
    #: half-life -> the recency-weighted training positives (:func:`coldrec.ranking.recency.recency_history`)
    recency: dict[float, sp.csr_matrix]
    #: (key of the fit, the fitted EASE) of :class:`coldrec.evaluate.tuning.EASERecency`
    ease_recency_fit: tuple[tuple[str, float, int], EASE]
    #: {"rule": the split's new-item rule} of :meth:`coldrec.evaluate.coldrec_method.ColdrecMethod.new_item_rule`
    new_item_rule: dict[str, NewItemSlots]


@dataclass
class SplitContext:
    """One split ready to evaluate: the training view, the evaluated users and their ground truth and masks."""

    kind: str
    split: Split
    view: TrainView
    train_frame: pd.DataFrame
    eval_users: np.ndarray
    truth: sp.csr_matrix
    exclude: sp.csr_matrix | None
    candidates: np.ndarray | None
    user_categories: sp.csr_matrix
    prepared: Prepared
    extras: ContextExtras = field(default_factory=lambda: ContextExtras())

    @property
    def n_candidates(self) -> int:
        return int(self.candidates.sum()) if self.candidates is not None else self.view.n_items

    def history(self, users: np.ndarray) -> sp.csr_matrix:
        """Training positives of ``users`` (empty rows for cold users)."""
        return self.view.X[users]


def build_context(p: Prepared, kind: str, seed: int = 42, test_share: float = 0.2,
                  frame: pd.DataFrame | None = None) -> SplitContext:  # fmt: skip
    """Split ``frame`` (default: all interactions) and build the matrices and masks of that split."""
    inter = p.inter if frame is None else frame
    if kind == STRATIFIED:
        inter = inter.assign(positive=True)  # recommenders' benchmark treats every rating as a positive
    split = make_split(kind, inter, seed, test_share)
    return context_from_split(p, split, seed)


def context_from_split(p: Prepared, split: Split, seed: int = 42) -> SplitContext:
    enc, kind = p.enc, split.kind
    train, test = split.train, split.test
    pos = train[train["positive"]]
    X = enc.matrix(pos)
    seen = enc.matrix(train)
    affinity = sar_affinity(
        train.assign(rating=train["rating"] if kind == STRATIFIED else 1.0).loc[train["positive"]],
        enc.users(pos[S.USER_ID]),
        enc.items(pos[S.ITEM_ID]),
        (enc.n_users, enc.n_items),
        SAR_HALF_LIFE_DAYS,
    )
    view = TrainView(X, seen, p.user_segment, p.item_content, p.item_category_tokens, affinity, seed)
    truth_all = enc.matrix(test[test["positive"]])
    has_truth = np.diff(truth_all.indptr) > 0
    candidates = None
    if kind == COLD_ITEM:
        candidates = np.zeros(enc.n_items, dtype=bool)
        candidates[enc.items(pd.Series(sorted(split.held_out_items)))] = True
    if kind in (COLD_ITEM, COLD_ITEM_ALL):
        has_truth &= np.diff(X.indptr) > 0  # a user without any history is a cold user, not a cold-item question
    eval_users = np.flatnonzero(has_truth)
    truth = truth_all[eval_users]
    exclude = seen[eval_users] if kind in SEEN_EXCLUDED else None
    user_categories = _user_categories(X[eval_users], p.item_category, len(p.category_labels))
    ctx = SplitContext(kind, split, view, train, eval_users, truth, exclude, candidates, user_categories, p)
    item_seen = np.diff(sp.csc_matrix(seen).indptr) > 0  # any training user, not only the evaluated ones
    ctx.extras["segments"] = segment_pairs(truth, seen[eval_users], p.item_category, len(p.category_labels), item_seen)
    return ctx


def segment_pairs(truth: sp.csr_matrix, seen: sp.csr_matrix, item_category: np.ndarray, n_categories: int,
                  item_seen: np.ndarray) -> dict[str, sp.csr_matrix]:  # fmt: skip
    """The test pairs of each segment as sparse (users x items) matrices, rows aligned with ``truth`` and ``seen``
    (the same users' training interactions): ``cold_item`` = items no training user interacted with (``item_seen``
    False); ``cross_category`` = items of a known top-level category the user never interacted with in training."""
    truth = sp.csr_matrix(truth, dtype=np.float32)
    truth.eliminate_zeros()
    coo = truth.tocoo()
    cold = ~item_seen[coo.col]
    cats = np.asarray(item_category)[coo.col]
    known = _user_categories(sp.csr_matrix(seen), np.asarray(item_category), n_categories).tocsr()
    has_cat = np.zeros(coo.nnz, dtype=bool)
    ok = cats >= 0
    if n_categories and ok.any():
        has_cat[ok] = np.asarray(known[coo.row[ok], cats[ok]]).ravel() > 0
    cross = ok & ~has_cat

    def pick(mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(mask.sum(), np.float32), (coo.row[mask], coo.col[mask])), shape=truth.shape)

    return {"cold_item": pick(cold), "cross_category": pick(cross)}


def pair_hit_rate(topk: np.ndarray, pairs: sp.csr_matrix, k: int) -> float | None:
    """Share of the (user, item) pairs of ``pairs`` whose item is in that user's top k (None: no such pairs).

    Pair-level, not user-level: a user with three cold-item positives found once counts 1/3, so a segment's rate is
    the chance that one of its test interactions would have been shown."""
    if pairs.nnz == 0:
        return None
    return float(M.membership(np.asarray(topk)[:, :k], pairs).sum() / pairs.nnz)


def _user_categories(history: sp.csr_matrix, item_category: np.ndarray, n_cat: int) -> sp.csr_matrix:
    coo = history.tocoo()
    cats = item_category[coo.col]
    ok = cats >= 0
    m = sp.csr_matrix((np.ones(ok.sum(), dtype=np.float32), (coo.row[ok], cats[ok])), shape=(history.shape[0], n_cat))
    m.sum_duplicates()
    return m


def rank(method: Method, ctx: SplitContext, k: int, batch_size: int = 1024) -> np.ndarray:
    """Top-k item indices for every evaluated user of ``ctx`` (``-1`` padded), scored in batches."""
    if hasattr(method, "rank_context"):  # ranks as the nightly lists do (caps, slots): coldrec itself
        return method.rank_context(ctx, k)
    users = ctx.eval_users
    out = np.empty((len(users), k), dtype=np.int64)
    cand = torch.from_numpy(ctx.candidates) if ctx.candidates is not None else None
    for lo in range(0, len(users), batch_size):
        hi = min(lo + batch_size, len(users))
        block_users = users[lo:hi]
        scores = method.score(block_users, ctx.history(block_users))
        block = torch.as_tensor(np.ascontiguousarray(scores, dtype=np.float32))
        if not block.is_floating_point() or block.dtype != torch.float32:
            block = block.float()
        block = block.clone() if not block.is_contiguous() else block
        mask = csr_rows_to_torch(ctx.exclude, lo, hi, block.device) if ctx.exclude is not None else None
        _, idx = mask_topk_(block, k, exclude=mask, candidates=cand)
        out[lo:hi] = idx.cpu().numpy()
    return out


def evaluate_method(method: Method, ctx: SplitContext, ks: Sequence[int]) -> tuple[dict[tuple[str, int], float],
                                                                                   dict[str, float]]:  # fmt: skip
    """Fit on the split's training side, rank, and compute every metric; returns (metrics, timings)."""
    t0 = time.perf_counter()
    method.fit(ctx.view) if not hasattr(method, "fit_context") else method.fit_context(ctx)
    t1 = time.perf_counter()
    top = rank(method, ctx, max(ks))
    t2 = time.perf_counter()
    values = M.evaluate_topk(
        top,
        ctx.truth,
        ks,
        n_candidates=ctx.n_candidates,
        item_user_counts=ctx.view.item_counts,
        n_train_users=int((np.diff(ctx.view.X.indptr) > 0).sum()),
        item_category=ctx.prepared.item_category,
        user_categories=ctx.user_categories,
    )
    values.update(_segment_values(top, ctx, ks))
    return values, {"fit_s": t1 - t0, "score_s": t2 - t1}


SEGMENT_METRICS: dict[str, str] = {"cold_item": "cold_item_hit_rate", "cross_category": "cross_category_pair_hit_rate"}


def _segment_values(top: np.ndarray, ctx: SplitContext, ks: Sequence[int]) -> dict[tuple[str, int], float]:
    """``{(metric, k): rate}`` of every segment with test pairs in this split."""
    out: dict[tuple[str, int], float] = {}
    for seg, pairs in ctx.extras.get("segments", {}).items():
        for k in ks:
            rate = pair_hit_rate(top, pairs, k)
            if rate is not None:
                out[(SEGMENT_METRICS[seg], k)] = rate
    return out


def result_rows(method: str, split: str, values: dict[tuple[str, int], float]) -> list[dict[str, object]]:
    """The JSON rows of one method on one split: the standard metrics in report order, then the segment rates."""
    extra = {key: v for key, v in values.items() if key[0] not in M.ALL_METRICS}
    rows = M.metric_rows(method, split, {key: v for key, v in values.items() if key not in extra})
    rows += [{"method": method, "split": split, "metric": m, "k": int(k), "value": float(v)}
             for (m, k), v in sorted(extra.items())]  # fmt: skip
    return rows


@dataclass
class HarnessResult:
    dataset: str
    rows: list[dict[str, object]]
    timings: list[dict[str, object]]
    splits: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)
    #: method -> split -> the settings chosen on validation (tuned baselines; coldrec's blend report)
    tuned: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)
    seed: int = 42

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["method", "split", "metric", "k", "value"])

    def value(self, method: str, split: str, metric: str = "ndcg", k: int = 10) -> float | None:
        for r in self.rows:
            if (r["method"], r["split"], r["metric"], r["k"]) == (method, split, metric, k):
                return float(r["value"])  # type: ignore[arg-type]
        return None


def run_harness(
    p: Prepared,
    methods: Sequence[Method],
    splits: Sequence[str] = DEFAULT_SPLITS,
    ks: Sequence[int] = (10, 50),
    seed: int = 42,
    test_share: float = 0.2,
    on_progress: Callable[[str, str, dict[str, float]], None] | None = None,
) -> HarnessResult:
    """Evaluate every applicable method on every split; methods that cannot apply to a split are skipped."""
    rows: list[dict[str, object]] = []
    timings: list[dict[str, object]] = []
    sizes: dict[str, dict[str, int]] = {}
    tuned: dict[str, dict[str, dict[str, object]]] = {}
    for kind in splits:
        ctx = build_context(p, kind, seed, test_share)
        sizes[kind] = {
            "train_interactions": len(ctx.train_frame),
            "train_positives": int(ctx.view.X.nnz),
            "test_positives": int(ctx.truth.nnz),
            "eval_users": len(ctx.eval_users),
            "candidates": ctx.n_candidates,
        }
        for method in methods:
            if not method.applies_to(kind):
                continue
            values, times = evaluate_method(method, ctx, ks)
            rows.extend(result_rows(method.name, kind, values))
            timings.append({"method": method.name, "split": kind, **times})
            chosen = getattr(method, "chosen", None)
            if chosen:
                tuned.setdefault(method.name, {})[kind] = dict(chosen)
            if on_progress is not None:
                on_progress(method.name, kind, {**{f"{m}@{k}": v for (m, k), v in values.items()}, **times})
        ctx.view.__dict__.pop("gram", None)  # free the dense co-occurrence before the next split
    return HarnessResult(p.ds.name, rows, timings, sizes, tuned=tuned, seed=seed)
