"""Any method's lists passed through the nightly's last step: per-category caps and cross-category slots.

Why: the nightly lists are not a plain top-k of the blended scores. :func:`coldrec.recommend.filters.select_top_n`
takes each user's best ``candidate_pool`` items, caps the items per top-level category and reserves
``cross_category_slots`` places for categories the user never bought from (ranked by the category-to-category
affinity of :mod:`coldrec.recommend.cross_category`). :class:`PublishedLists` applies exactly that function, with the
nightly's settings, to the scores of a fitted method, so the harness can report the cross-category hit rate and the
NDCG of the lists with and without the slots (``slots=0``) on the same fitted model.

The lists reach the harness as scores: the selected items get ``N - position`` and every other item a large negative
value, so the harness's own masking and top-k return exactly the selected lists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from coldrec.data import schemas as S
from coldrec.evaluate.baselines import Method
from coldrec.evaluate.harness import SplitContext
from coldrec.evaluate.splits import SEEN_EXCLUDED
from coldrec.recommend.cross_category import category_affinity, user_affinity, user_category_matrix
from coldrec.recommend.filters import select_top_n
from coldrec.recommend.topk import csr_rows_to_torch, mask_topk_

UNSELECTED = -1e9


class PublishedLists(Method):
    """``inner``'s scores -> pool of ``pool`` -> caps (``cap``) and cross-category slots (``slots``) -> top ``n``.

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
            self.inner.fit_context(ctx) if hasattr(self.inner, "fit_context") else self.inner.fit(ctx.view)  # type: ignore[attr-defined]
            self.inner.ctx = ctx  # type: ignore[attr-defined]
        self.ctx = ctx
        p = ctx.prepared
        self.n_cat = len(p.category_labels)
        pos = ctx.train_frame[ctx.train_frame["positive"]]
        users = p.enc.users(pos[S.USER_ID])
        cats = p.item_category[p.enc.items(pos[S.ITEM_ID])]
        ts = pd.to_datetime(pos[S.TS], utc=True).astype("int64").to_numpy()
        self.affinity = category_affinity(users, cats, ts, self.n_cat)
        return self

    def fit(self, view) -> PublishedLists:  # pragma: no cover - the harness calls fit_context
        raise RuntimeError("PublishedLists needs the split context")

    def lists(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """(users x n) selected item indices, ``-1`` where a list is short."""
        ctx = self.ctx
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

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        items = self.lists(users, history)
        out = np.full((len(users), self.ctx.view.n_items), UNSELECTED, dtype=np.float32)
        rows, cols = np.nonzero(items >= 0)
        out[rows, items[rows, cols]] = (self.n - cols).astype(np.float32)
        return out
