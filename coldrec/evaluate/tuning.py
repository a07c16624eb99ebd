"""Like-for-like baselines: each baseline's settings chosen on the same validation split coldrec tunes its blend on.

Why: a ratio "coldrec / best baseline" is only honest when the baselines got a comparable tuning budget on the same
data (Dacrema et al., "Are we really making much progress?": tuned simple baselines beat most neural recommenders).
:class:`Tuned` wraps a baseline factory and a small grid. On each split it carves the validation split from the
training side exactly as :class:`~coldrec.evaluate.coldrec_method.ColdrecMethod` does (same kind, seed + 1, same
share: the same split), ranks the same sample of validation users (at most ``MAX_TUNING_USERS``, same draw), picks the
setting with the best validation NDCG@10 (ties: the earlier grid entry), and refits that setting on the whole training
side. The test side is never looked at. The chosen setting is kept in ``chosen`` for the report.

A grid is a guess: where the validation optimum sits on an edge of a numeric setting (EASE's l2, item-kNN's
neighbourhood), the true optimum may lie beyond it, and a baseline stopped at the edge is under-tuned. ``extend``
names such settings with a step factor: while the best setting sits on that setting's grid edge, the next value past
the edge (x or / the factor) is validated too, the others fixed, at most ``MAX_EXTENSIONS`` times, kept when it is
strictly better.

:class:`EASERecency` is EASE scored on the recency-weighted history coldrec's history sources read
(:mod:`coldrec.ranking.recency`): the half-life is tuned with the ridge penalty, ``None`` (the plain history) included.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from coldrec.evaluate.baselines import (
    EASE,
    SAR,
    CategoryPopularity,
    ContentProfile,
    CornacBPR,
    ImplicitALS,
    ImplicitBPR,
    ItemKNN,
    Method,
    Popularity,
    RandomScores,
    SegmentPopularity,
    TrainView,
)
from coldrec.evaluate.harness import SplitContext, context_from_split, rank
from coldrec.evaluate.splits import make_split
from coldrec.ranking import metrics as M
from coldrec.ranking.recency import recency_history

MAX_TUNING_USERS = 2000  # as ColdrecMethod: the same validation users
TUNING_K = 10
MAX_EXTENSIONS = 3  # validated values past a grid edge, per extensible setting

#: the grids (kept small: every setting is one fit on the validation side; the 2-core budget is coldrec's own)
EASE_L2: tuple[float, ...] = (10.0, 50.0, 200.0, 500.0, 1000.0, 3000.0, 10000.0)
KNN_NEIGHBORS: tuple[int, ...] = (20, 50, 100, 200)
KNN_SHRINK: tuple[float, ...] = (0.0, 20.0)
FACTORS: tuple[int, ...] = (32, 64, 128)
ALS_REGULARIZATION: tuple[float, ...] = (0.01, 0.1, 1.0)
BPR_REGULARIZATION: tuple[float, ...] = (0.001, 0.01)
HALF_LIVES: tuple[float | None, ...] = (None, 5.0, 10.0, 20.0, 40.0)


class EASERecency(Method):
    """EASE (``l2``) fitted on the binary positives, scoring the user's history weighted ``0.5 ** (rank /
    half_life)`` (rank = how many of the user's positives came later; ``None``: the plain 0/1 history)."""

    name = "ease_recency"

    def __init__(self, l2: float = 500.0, half_life: float | None = None, max_items: int = 6000) -> None:
        self.l2, self.half_life, self.max_items = l2, half_life, max_items

    def fit_context(self, ctx: SplitContext) -> EASERecency:
        # one EASE fit per l2 and context: the grid runs the half-lives of one l2 back to back
        key = ("ease_fit", self.l2, self.max_items)
        cached = ctx.extras.get("ease_recency_fit")
        if cached is None or cached[0] != key:
            cached = (key, EASE(self.l2, self.max_items).fit(ctx.view))
            ctx.extras["ease_recency_fit"] = cached
        self.ease = cached[1]
        self.signal: sp.csr_matrix | None = None
        if self.half_life is not None:
            rec = ctx.extras.setdefault("recency", {})
            if self.half_life not in rec:
                pos = ctx.train_frame[ctx.train_frame["positive"]]
                rec[self.half_life] = recency_history(pos, ctx.prepared.enc, self.half_life)
            self.signal = rec[self.half_life]
        return self

    def fit(self, view: TrainView) -> EASERecency:  # pragma: no cover - the harness calls fit_context
        raise RuntimeError("EASERecency needs the split context (the training frame's order)")

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.ease.score(users, history if self.signal is None else self.signal[users])


class Tuned(Method):
    """A baseline whose settings are chosen on the validation split (see the module docstring)."""

    def __init__(self, factory: Callable[..., Method], grid: Mapping[str, Sequence[object]], test_share: float = 0.2,
                 max_users: int = MAX_TUNING_USERS, extend: Mapping[str, float] | None = None) -> None:  # fmt: skip
        self.factory, self.grid = factory, dict(grid)
        self.extend = dict(extend or {})
        self.test_share, self.max_users = test_share, max_users
        self.settings = [dict(zip(self.grid, values, strict=True)) for values in itertools.product(*self.grid.values())]
        proto = factory(**self.settings[0])
        self.name = proto.name
        self.needs_history, self.scores_cold_items = proto.needs_history, proto.scores_cold_items
        self.only_splits = proto.only_splits
        self.chosen: dict[str, object] = {}
        self.validation: dict[str, float] = {}

    def _fit(self, method: Method, ctx: SplitContext) -> Method:
        return method.fit_context(ctx) if hasattr(method, "fit_context") else method.fit(ctx.view)

    def validation_context(self, ctx: SplitContext) -> SplitContext:
        """The validation split of ``ctx`` (ColdrecMethod's: same kind, seed + 1) restricted to its sampled users."""
        seed = ctx.view.seed + 1
        vctx = context_from_split(ctx.prepared, make_split(ctx.kind, ctx.split.train, seed, self.test_share), seed)
        n = len(vctx.eval_users)
        keep = np.sort(np.random.default_rng(seed).choice(n, size=min(n, self.max_users), replace=False))
        return dataclasses.replace(
            vctx,
            eval_users=vctx.eval_users[keep],
            truth=vctx.truth[keep],
            exclude=vctx.exclude[keep] if vctx.exclude is not None else None,
            user_categories=vctx.user_categories[keep],
        )

    def fit_context(self, ctx: SplitContext) -> Tuned:
        if len(self.settings) > 1:
            vctx = self.validation_context(ctx)
            settings = list(self.settings)
            scores = [self._validate(s, vctx) for s in settings]
            best = int(np.argmax(scores))  # first maximum: ties keep the earlier (simpler) setting
            best = self._extend_past_edges(settings, scores, best, vctx)
            vctx.view.__dict__.pop("gram", None)
            self.validation = {_label(s): round(v, 4) for s, v in zip(settings, scores, strict=True)}
            setting, value = settings[best], scores[best]
        else:
            setting, value = self.settings[0], float("nan")
        self.method = self._fit(self.factory(**setting), ctx)
        self.chosen = {**setting, "validation_ndcg@10": round(float(value), 4)}
        return self

    def _extend_past_edges(
        self, settings: list[dict[str, object]], scores: list[float], best: int, vctx: SplitContext
    ) -> int:
        """Validate values past the grid's edge of each ``extend`` setting while the best sits on that edge (appended
        to ``settings`` / ``scores``); returns the index of the best setting."""
        for name, factor in self.extend.items():
            values = [float(v) for v in self.grid[name]]  # type: ignore[arg-type]
            low, high = min(values), max(values)
            for _ in range(MAX_EXTENSIONS):
                current = float(settings[best][name])  # type: ignore[arg-type]
                if current >= high:
                    nxt = high = current * factor
                elif current <= low:
                    nxt = low = current / factor
                else:
                    break
                value: int | float = round(nxt) if isinstance(self.grid[name][0], int) else nxt
                if value < 1 and isinstance(value, int):
                    break
                candidate = {**settings[best], name: value}
                settings.append(candidate)
                scores.append(self._validate(candidate, vctx))
                if scores[-1] <= scores[best]:
                    break
                best = len(scores) - 1
        return best

    def _validate(self, setting: dict[str, object], vctx: SplitContext) -> float:
        if len(vctx.eval_users) == 0:
            return 0.0
        method = self._fit(self.factory(**setting), vctx)
        return M.ndcg_at_k(rank(method, vctx, TUNING_K), vctx.truth, TUNING_K)

    def fit(self, view: TrainView) -> Tuned:  # pragma: no cover - the harness calls fit_context
        raise RuntimeError("Tuned needs the split context: the harness calls fit_context(ctx)")

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.method.score(users, history)


def _label(setting: Mapping[str, object]) -> str:
    return ",".join(f"{k}={v}" for k, v in setting.items())


def tuned_baselines(test_share: float = 0.2, half_lives: Sequence[float | None] = HALF_LIVES) -> list[Method]:
    """Every baseline of the harness, the tunable ones wrapped in :class:`Tuned` (report order as
    :func:`~coldrec.evaluate.baselines.default_baselines`, EASE + recency after EASE). The anchor-only methods (SAR,
    cornac BPR) keep the published settings they are compared with."""

    def tuned(factory: Callable[..., Method], extend: Mapping[str, float] | None = None,
              **grid: Sequence[object]) -> Tuned:  # fmt: skip
        return Tuned(factory, grid, test_share, extend=extend)

    return [
        Popularity(),
        SegmentPopularity(),
        RandomScores(),
        tuned(ItemKNN, extend={"neighbors": 2.0}, neighbors=KNN_NEIGHBORS, shrink=KNN_SHRINK),
        tuned(ImplicitALS, factors=FACTORS, regularization=ALS_REGULARIZATION),
        tuned(ImplicitBPR, factors=FACTORS, regularization=BPR_REGULARIZATION),
        CornacBPR(),
        tuned(EASE, extend={"l2": 3.0}, l2=EASE_L2),
        tuned(EASERecency, extend={"l2": 3.0}, l2=EASE_L2, half_life=tuple(half_lives)),
        SAR(),
        ContentProfile(),
        CategoryPopularity(),
    ]
