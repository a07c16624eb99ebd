"""Baselines that run in the same harness, on the same splits, in the same run as coldrec's own models.

Why these: popularity (global and per demographic segment) is the bar every cold-user method must clear; item-kNN,
``implicit`` ALS and BPR, EASE and SAR are the standard warm-user collaborative filters (EASE is usually the strongest
at this scale); a content match (user profile x item content, cosine) and category popularity are what a cold item
can be ranked by without a model. Random is the floor of the cold-item ranking.

Every method has the same two calls: ``fit(view)`` on the training part of a split, then ``score(users, history)``
giving a dense float32 (users x items) block; the harness masks and ranks it. Hyper-parameters are fixed, common
values from the literature and the microsoft/recommenders benchmark (BPR), never chosen on a test split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldrec.evaluate.splits import COLD_ITEM, COLD_ITEM_ALL, COLD_USER, STRATIFIED, WARM, is_few_shot
from coldrec.models.data import UsersByItems
from coldrec.ranking.similarity import ease_weights, item_cosine_topk, item_cosine_topk_rows  # noqa: F401 (re-exported)

if TYPE_CHECKING:  # the harness builds its contexts on these methods: an annotation, not a runtime import
    from coldrec.evaluate.harness import SplitContext


@dataclass
class TrainView(UsersByItems):
    """The training side of one split, indexed over the whole data set (held-out users/items are empty rows/cols).

    ``X``: binary positives; ``seen``: every training interaction (what a warm user is not recommended again);
    ``affinity``: time-decayed ratings for SAR (positives when the data has no ratings); ``user_segment``: gender x
    age band; ``item_content``: TF-IDF of category levels, brand, title and description words (rows L2-normalised);
    ``item_category_tokens``: binary category-level tokens (without a data-set-wide root).
    """

    X: sp.csr_matrix
    seen: sp.csr_matrix
    user_segment: np.ndarray
    item_content: sp.csr_matrix
    item_category_tokens: sp.csr_matrix
    affinity: sp.csr_matrix | None = None
    seed: int = 42
    threads: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))

    @cached_property
    def gram(self) -> np.ndarray:
        """Dense item x item co-occurrence ``X^T X`` (float32), shared by item-kNN, EASE and SAR."""
        return np.asarray((self.X.T @ self.X).toarray(), dtype=np.float32)

    @cached_property
    def item_counts(self) -> np.ndarray:
        return np.asarray(self.X.sum(axis=0)).ravel().astype(np.float64)


class Method:
    """A recommender in the harness. Subclasses set the flags that say where the method can be applied."""

    name: str = "method"
    #: ranks by the user's own history: nothing to say about a user without one (cold-user split)
    needs_history: bool = True
    #: can score items without training interactions (the cold-item split ranks only those)
    scores_cold_items: bool = False
    #: restrict to these split kinds (e.g. the anchor-only methods); None = wherever the flags allow
    only_splits: tuple[str, ...] | None = None
    #: the split context it was last fitted on, where one fitted it with a context (a wrapper such as
    #: :class:`~coldrec.evaluate.published.PublishedLists` then reuses the fit)
    ctx: SplitContext | None = None

    def fit(self, view: TrainView) -> Method:  # pragma: no cover - interface
        raise NotImplementedError

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def applies_to(self, split_kind: str) -> bool:
        if self.only_splits is not None and split_kind not in self.only_splits:
            return False
        if split_kind == COLD_USER:
            return not self.needs_history
        if split_kind in (COLD_ITEM, COLD_ITEM_ALL):
            return self.scores_cold_items
        return split_kind in (WARM, STRATIFIED) or is_few_shot(split_kind)


class Popularity(Method):
    """Items by the number of training users with a positive interaction."""

    name = "popularity"
    needs_history = False

    def fit(self, view: TrainView) -> Popularity:
        self.pop = view.item_counts.astype(np.float32)
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.pop, (len(users), self.pop.size)).copy()


class SegmentPopularity(Method):
    """Popularity within the user's segment (gender x age band), shrunk towards global popularity.

    score = (segment count + m * global share) / (segment users + m): a small segment leans on the global ranking
    instead of on a handful of users (m = ``prior_users``, 20 by default).
    """

    name = "segment_popularity"
    needs_history = False

    def __init__(self, prior_users: float = 20.0) -> None:
        self.prior_users = prior_users

    def fit(self, view: TrainView) -> SegmentPopularity:
        seg = view.user_segment
        n_seg = int(seg.max()) + 1 if seg.size else 1
        active = np.asarray(view.X.sum(axis=1)).ravel() > 0
        onehot = sp.csr_matrix(
            (np.ones(active.sum(), dtype=np.float32), (seg[active], np.flatnonzero(active))),
            shape=(n_seg, view.n_users),
        )
        counts = np.asarray((onehot @ view.X).toarray(), dtype=np.float64)
        seg_users = np.asarray(onehot.sum(axis=1)).ravel()
        share = view.item_counts / max(active.sum(), 1)
        m = self.prior_users
        self.table = ((counts + m * share[None, :]) / (seg_users[:, None] + m)).astype(np.float32)
        self.segment = seg
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.table[self.segment[users]]


class RandomScores(Method):
    """Uniform random scores (seeded): the floor of a ranking."""

    name = "random"
    needs_history = False
    scores_cold_items = True

    def fit(self, view: TrainView) -> RandomScores:
        self.rng = np.random.default_rng(view.seed)
        self.n_items = view.n_items
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.rng.random((len(users), self.n_items), dtype=np.float32)


class ItemKNN(Method):
    """Item-based CF: cosine similarity of item columns, the ``neighbors`` most similar items kept per item;
    score(u, i) = sum over the user's items h of sim(h, i)."""

    name = "item_knn"

    def __init__(self, neighbors: int = 100, shrink: float = 0.0, block: int = 2048) -> None:
        self.neighbors, self.shrink, self.block = neighbors, shrink, block

    def fit(self, view: TrainView) -> ItemKNN:
        self.S = item_cosine_topk(view.gram, self.neighbors, self.shrink, self.block)
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray((history @ self.S).toarray(), dtype=np.float32)


class EASE(Method):
    """EASE^R (Steck 2019): B = I - P / diag(P) with P = (X^T X + lambda I)^-1, diag(B) = 0; score = x_u B.

    The inverse costs O(items^3): on catalogs above ``max_items`` the model is fitted on the ``max_items`` most
    popular training items (the others score 0), which keeps a 12k-item catalog at 1/8 of the cost.
    """

    name = "ease"

    def __init__(self, l2: float = 500.0, max_items: int = 6000) -> None:
        self.l2, self.max_items = l2, max_items

    def fit(self, view: TrainView) -> EASE:
        gram = view.gram if "gram" in view.__dict__ else None  # the full co-occurrences, when computed already
        self.B, self.keep = ease_weights(view.X, self.l2, self.max_items, gram=gram, item_counts=view.item_counts)
        self.n_items = n = view.n_items
        # rows for every item (zeros outside ``keep``): scoring is then one sparse x dense product, no column slicing
        self.B_rows = self.B if self.keep.size == n else np.zeros((n, self.keep.size), dtype=np.float32)
        if self.keep.size != n:
            self.B_rows[self.keep] = self.B
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        sub = np.asarray(history @ self.B_rows, dtype=np.float32)
        if self.keep.size == self.n_items:
            return sub
        out = np.zeros((history.shape[0], self.n_items), dtype=np.float32)
        out[:, self.keep] = sub
        return out


class SAR(Method):
    """Smart Adaptive Recommendations (microsoft/recommenders): Jaccard item similarity from co-occurrence,
    time-decayed user affinity (half-life 30 days by default); score = affinity_u @ S."""

    name = "sar"
    only_splits = (STRATIFIED,)  # the anchor's published method; item_knn covers the same idea elsewhere

    def fit(self, view: TrainView) -> SAR:
        G = view.gram
        d = np.diag(G).astype(np.float32)
        self.S = G / (d[:, None] + d[None, :] - G + 1e-12)
        self.S[G == 0] = 0.0
        self.affinity = view.affinity if view.affinity is not None else view.X
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self.affinity[users] @ self.S, dtype=np.float32)


class ImplicitALS(Method):
    """``implicit`` ALS (Hu, Koren, Volinsky 2008) on binary positives, confidence 1 + alpha."""

    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 10.0, iterations: int = 15):
        self.params = dict(factors=factors, regularization=regularization, alpha=alpha, iterations=iterations)

    def fit(self, view: TrainView) -> ImplicitALS:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        model = AlternatingLeastSquares(**self.params, random_state=view.seed, num_threads=view.threads)
        with threadpool_limits(1, "blas"):  # implicit's own threads; a BLAS pool on top slows it down
            model.fit(view.X.astype(np.float32), show_progress=False)
        self.U, self.V = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return (self.U[users] @ self.V.T).astype(np.float32)


class ImplicitBPR(Method):
    """``implicit`` BPR with its library defaults except 64 factors (100 epochs, learning rate 0.01, lambda 0.01)."""

    name = "bpr"

    def __init__(self, factors: int = 64, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100) -> None:  # fmt: skip
        self.params = dict(
            factors=factors, learning_rate=learning_rate, regularization=regularization, iterations=iterations
        )

    def fit(self, view: TrainView) -> ImplicitBPR:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        model = BayesianPersonalizedRanking(**self.params, random_state=view.seed, num_threads=view.threads)
        with threadpool_limits(1, "blas"):
            model.fit(view.X.astype(np.float32), show_progress=False)
        self.U, self.V = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return (self.U[users] @ self.V.T).astype(np.float32)


class CornacBPR(Method):
    """cornac's BPR, the implementation behind the published microsoft/recommenders ML-100K row (NDCG@10 0.442,
    P@10 0.388): k=200, 100 epochs, learning rate 0.01, lambda 0.001. Items without training data score lowest."""

    name = "bpr_cornac"
    only_splits = (STRATIFIED,)  # the anchor's published method (implicit's BPR runs on the other splits)

    def __init__(self, k: int = 200, max_iter: int = 100, learning_rate: float = 0.01, lambda_reg: float = 0.001):
        self.params = dict(k=k, max_iter=max_iter, learning_rate=learning_rate, lambda_reg=lambda_reg)

    def fit(self, view: TrainView) -> CornacBPR:
        from cornac.data import Dataset
        from cornac.models import BPR

        coo = view.X.tocoo()
        triples = list(zip(coo.row.astype(str).tolist(), coo.col.astype(str).tolist(), [1.0] * coo.nnz, strict=True))
        data = Dataset.from_uir(triples, seed=view.seed)
        model = BPR(**self.params, seed=view.seed, verbose=False)
        model.fit(data)
        n_factors = model.u_factors.shape[1]
        self.U = np.zeros((view.n_users, n_factors), dtype=np.float32)
        self.V = np.zeros((view.n_items, n_factors), dtype=np.float32)
        self.b = np.full(view.n_items, -1e6, dtype=np.float32)
        uidx = np.fromiter((int(u) for u in data.uid_map), dtype=np.int64, count=len(data.uid_map))
        iidx = np.fromiter((int(i) for i in data.iid_map), dtype=np.int64, count=len(data.iid_map))
        self.U[uidx] = model.u_factors[np.fromiter(data.uid_map.values(), dtype=np.int64)]
        inner_items = np.fromiter(data.iid_map.values(), dtype=np.int64)
        self.V[iidx] = model.i_factors[inner_items]
        self.b[iidx] = model.i_biases[inner_items]
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return (self.U[users] @ self.V.T + self.b[None, :]).astype(np.float32)


class ContentProfile(Method):
    """Content match: cosine between the user's profile (sum of the TF-IDF vectors of their positives) and each
    item's TF-IDF vector. Needs only item content, so it ranks cold items."""

    name = "content"
    scores_cold_items = True

    def fit(self, view: TrainView) -> ContentProfile:
        self.C = view.item_content
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        profile = np.asarray((history @ self.C).toarray(), dtype=np.float32)
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        profile /= np.maximum(norms, 1e-12)
        return np.asarray(self.C @ profile.T, dtype=np.float32).T


class CategoryPopularity(Method):
    """An item scores the mean training popularity of its category levels ("genre popularity"): cold items inherit
    the popularity of their categories, the same for every user."""

    name = "category_popularity"
    needs_history = False
    scores_cold_items = True

    def fit(self, view: TrainView) -> CategoryPopularity:
        T = view.item_category_tokens
        token_pop = T.T @ view.item_counts  # positives of the items carrying each token
        token_items = np.asarray(T.sum(axis=0)).ravel()
        per_item_token = token_pop / np.maximum(token_items, 1)  # popularity per item of the category
        n_tok = np.asarray(T.sum(axis=1)).ravel()
        self.item_score = (np.asarray(T @ per_item_token).ravel() / np.maximum(n_tok, 1)).astype(np.float32)
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_score, (len(users), self.item_score.size)).copy()


def default_baselines() -> list[Method]:
    """Every baseline of the harness, in report order."""
    return [
        Popularity(),
        SegmentPopularity(),
        RandomScores(),
        ItemKNN(),
        ImplicitALS(),
        ImplicitBPR(),
        CornacBPR(),
        EASE(),
        SAR(),
        ContentProfile(),
        CategoryPopularity(),
    ]


def sar_affinity(
    train: pd.DataFrame, user_idx: np.ndarray, item_idx: np.ndarray, shape: tuple[int, int], half_life_days: float
) -> sp.csr_matrix:
    """SAR's user affinity: sum of rating (1 when unrated) x 2^(-(t_max - t) / half-life) per user x item."""
    rating = train["rating"].fillna(1.0).to_numpy(dtype=np.float64) if "rating" in train else np.ones(len(train))
    ts = train["ts"]
    age_days = ((ts.max() - ts).dt.total_seconds() / 86_400.0).to_numpy()
    weight = rating * np.power(2.0, -age_days / half_life_days)
    m = sp.csr_matrix((weight.astype(np.float32), (user_idx, item_idx)), shape=shape)
    m.sum_duplicates()
    return m
