"""A fitted method's lists with other per-category cap / cross-category slot settings, on the same fit.

Why: the cross-category slots are judged by what they add to the same lists: the cross-category hit rate and the
NDCG of the lists with and without the slots (``slots=0``) from one fitted model. For coldrec the lists come from its
own ranking path (:meth:`~coldrec.evaluate.coldrec_method.ColdrecMethod.ranked_lists`: the nightly's
:class:`coldrec.ranking.lists.Ranker`) with the cap and slot settings replaced; any other method's scores go through
the same list step, :func:`coldrec.ranking.filters.select_top_n` over a ``candidate_pool``, with the category affinity
of the training positives (:mod:`coldrec.ranking.cross_category`).
"""

from __future__ import annotations

from typing import Protocol, TypeGuard

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from coldrec.config import RecommendConfig
from coldrec.data import schemas as S
from coldrec.evaluate.baselines import Method, TrainView
from coldrec.evaluate.harness import SplitContext
from coldrec.evaluate.splits import SEEN_EXCLUDED
from coldrec.ranking.blend import BlendWeights
from coldrec.ranking.cross_category import category_affinity, user_affinity, user_category_matrix
from coldrec.ranking.filters import select_top_n
from coldrec.ranking.lists import Catalog, Ranker
from coldrec.ranking.sources import Source
from coldrec.ranking.topk import csr_rows_to_torch, mask_topk_


class RanksAsNightly(Protocol):
    """A method that ranks through the nightly lists' :class:`~coldrec.ranking.lists.Ranker` (coldrec itself:
    :class:`~coldrec.evaluate.coldrec_method.ColdrecMethod`): its sources, blend and list settings."""

    rec_cfg: RecommendConfig
    sources: dict[str, Source]
    weights: BlendWeights

    def catalog(self, ctx: SplitContext) -> Catalog: ...

    def ranked_lists(self, ctx: SplitContext, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def ranks_as_nightly(method: Method) -> TypeGuard[RanksAsNightly]:
    """Whether ``method`` ranks through the nightly's Ranker (then its lists are re-ranked with other settings)."""
    return hasattr(method, "ranked_lists") and hasattr(method, "rec_cfg")


class PublishedLists(Method):
    """``inner``'s lists with caps ``cap`` and ``slots`` cross-category slots over a pool of ``pool``, top ``n``.

    Reuses ``inner`` when it is already fitted on the same split context (the harness evaluates ``inner`` first), so
    the variants differ only in the list step."""

    def __init__(self, inner: Method, n: int, cap: int, slots: int, pool: int = 200, name: str | None = None) -> None:
        self.inner, self.n, self.cap, self.slots, self.pool = inner, n, cap, slots, pool
        self.name = name or f"{inner.name}+slots{slots}"
        self.needs_history, self.scores_cold_items = inner.needs_history, inner.scores_cold_items

    def applies_to(self, split_kind: str) -> bool:
        # slots are for known users ranked among the whole catalogue (not the cold-item-only ranking)
        return split_kind in SEEN_EXCLUDED and self.inner.applies_to(split_kind)

    def fit_context(self, ctx: SplitContext) -> PublishedLists:
        if getattr(self.inner, "ctx", None) is not ctx:
            self.inner.fit_context(ctx) if hasattr(self.inner, "fit_context") else self.inner.fit(ctx.view)
            self.inner.ctx = ctx
        self.ctx = ctx
        p = ctx.prepared
        self.n_cat = len(p.category_labels)
        pos = ctx.train_frame[ctx.train_frame["positive"]]
        users = p.enc.users(pos[S.USER_ID])
        cats = p.item_category[p.enc.items(pos[S.ITEM_ID])]
        ts = pd.to_datetime(pos[S.TS], utc=True).astype("int64").to_numpy()
        self.affinity = category_affinity(users, cats, ts, self.n_cat)
        return self

    def fit(self, view: TrainView) -> PublishedLists:  # pragma: no cover - the harness calls fit_context
        raise RuntimeError("PublishedLists needs the split context")

    def lists(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """(users x n) selected item indices, ``-1`` where a list is short."""
        ctx = self.ctx
        if ctx is None:
            raise RuntimeError("PublishedLists ranks after fit_context(ctx)")
        block = torch.as_tensor(np.ascontiguousarray(self.inner.score(users, history), dtype=np.float32)).clone()
        mask = None
        if ctx.exclude is not None:
            rows = np.searchsorted(ctx.eval_users, users)
            mask = csr_rows_to_torch(sp.csr_matrix(ctx.exclude[rows]), 0, len(users), block.device)
        cand = torch.from_numpy(ctx.candidates) if ctx.candidates is not None else None
        values, idx = mask_topk_(block, min(max(self.pool, self.n), block.shape[1]), exclude=mask, candidates=cand)
        pool_items, pool_scores = idx.numpy(), values.numpy()
        bought = user_category_matrix(ctx.view.X[users], ctx.prepared.item_category, self.n_cat)
        known = np.asarray((bought > 0).toarray()) if self.n_cat else np.zeros((len(users), 0), bool)
        aff = user_affinity(bought, self.affinity) if self.n_cat else np.zeros((len(users), 0), np.float32)
        sel = select_top_n(pool_items, pool_scores, ctx.prepared.item_category, known, aff, self.n, self.cap,
                           self.slots)  # fmt: skip
        return sel.items

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:  # pragma: no cover - rank_context
        raise RuntimeError("PublishedLists ranks whole lists: the harness calls rank_context(ctx, k)")

    def rank_context(self, ctx: SplitContext, k: int) -> np.ndarray:
        """Top-k of every evaluated user: coldrec's own Ranker with this cap/slot setting, else the list step over
        the method's scores."""
        inner = self.inner
        if ranks_as_nightly(inner):
            cfg = inner.rec_cfg.model_copy(
                update={"per_category_cap": self.cap, "cross_category_slots": self.slots, "candidate_pool": self.pool}
            )
            items = Ranker(inner.sources, inner.weights, cfg, max(k, self.n)).top_items(inner.catalog(ctx))[0]
            return items[:, :k]
        out = np.full((len(ctx.eval_users), k), -1, dtype=np.int64)
        for lo in range(0, len(ctx.eval_users), 1024):
            users = ctx.eval_users[lo : lo + 1024]
            items = self.lists(users, ctx.history(users))[:, :k]
            out[lo : lo + len(users), : items.shape[1]] = items
        return out


class WithoutSource(Method):
    """The same fitted coldrec ranked through its own :class:`Ranker` with one source dropped, e.g.
    ``coldrec-nogan``: with the blend the inner method tuned without that source on the same validation folds
    (:attr:`ColdrecMethod.ablation_weights`); failing that, its weight set to 0 (a segment left with no weight falls
    back to popularity).

    Why on the same fit and not a second training run: the question is what the source adds to the published lists
    of this very model, and one model training per split and seed is what the CPU allows."""

    def __init__(self, inner: Method, source: str, name: str | None = None) -> None:
        self.inner, self.source = inner, source
        self.name = name or f"{inner.name}-no{source}"
        self.needs_history, self.scores_cold_items = inner.needs_history, inner.scores_cold_items

    def applies_to(self, split_kind: str) -> bool:
        return self.inner.applies_to(split_kind)

    def fit_context(self, ctx: SplitContext) -> WithoutSource:
        if getattr(self.inner, "ctx", None) is not ctx:
            self.inner.fit_context(ctx)  # type: ignore[attr-defined]
        self.ctx = ctx
        return self

    def fit(self, view: TrainView) -> WithoutSource:  # pragma: no cover - the harness calls fit_context
        raise RuntimeError("WithoutSource needs the split context")

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:  # pragma: no cover - rank_context
        raise RuntimeError("WithoutSource ranks whole lists: the harness calls rank_context(ctx, k)")

    def weights(self) -> BlendWeights:
        """The blend the inner method tuned without :attr:`source` on its validation folds, when it did; else its
        weights without :attr:`source`."""
        tuned = getattr(self.inner, "ablation_weights", {}).get(self.source)
        if tuned is not None:
            return tuned
        out: dict[str, dict[str, float]] = {}
        for seg, w in self.inner.weights.to_dict().items():  # type: ignore[attr-defined]
            kept = {n: x for n, x in w.items() if n != self.source}
            out[seg] = kept if sum(kept.values()) > 0 else {"popular": 1.0}
        return BlendWeights(out)

    def rank_context(self, ctx: SplitContext, k: int) -> np.ndarray:
        inner = self.inner
        sources = {n: s for n, s in inner.sources.items() if n != self.source}  # type: ignore[attr-defined]
        ranker = Ranker(sources, self.weights(), inner.list_cfg, k)  # type: ignore[attr-defined]
        return ranker.top_items(inner.catalog(ctx))[0]  # type: ignore[attr-defined]
