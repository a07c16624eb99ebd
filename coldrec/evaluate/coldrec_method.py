"""coldrec itself as a harness method: the learned models (autoencoder + GAN) blended with item-kNN, content
neighbours and segment popularity, with blend weights tuned on a validation split carved from the training side.

Protocol (no test data is looked at before the final scoring):
1. carve a validation split of the same kind from the split's training interactions (seed + 1);
2. build features from the validation-training part, train the models on it, score the validation users with every
   source, and grid-search the blend weights per activity segment for NDCG@10;
3. rebuild features from the whole training side, retrain the models, and score the test users with those weights.

On the temporal (warm) split the validation folds also pick the history's recency half-life
(:mod:`coldrec.ranking.recency`): the strongest history source alone (EASE, else item-kNN) ranks the validation users
once per half-life, and the one with the best mean NDCG@10 weights the history in the blend's tuning and in the final
scoring. The other splits keep the plain 0/1 history (see ``RECENCY_SPLITS``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from coldrec.config import RecommendConfig, TrainConfig
from coldrec.data import schemas as S
from coldrec.evaluate.baselines import CategoryPopularity, Method, TrainView
from coldrec.evaluate.harness import SplitContext, context_from_split
from coldrec.evaluate.split_features import FeatureMatrices, build_features, item_features
from coldrec.evaluate.splits import COLD_ITEM, COLD_USER, WARM, make_split
from coldrec.models.api import ColdStartData, TrainedModels, train_models
from coldrec.ranking.blend import (
    SEGMENTS,
    BlendWeights,
    activity_segment,
    blend_scores,
    tune_segment_weights,
    zscore_,
)
from coldrec.ranking.cross_category import category_affinity
from coldrec.ranking.lists import Catalog, Ranker
from coldrec.ranking.new_items import NewItemSlots, new_item_rule
from coldrec.ranking.recency import REFERENCE_SOURCES, best_half_life, ndcg_by_half_life, recency_history
from coldrec.ranking.similarity import item_cosine_topk
from coldrec.ranking.sources import Source, SourceInputs, UserBatch, make_sources
from coldrec.recommend.tuning import tune_cross_category_slots, tune_new_item_slots

MAX_TUNING_USERS = 2000
#: splits whose question is "what comes next": only there can the latest history say more than the rest. The random
#: hold-outs (cold items, the stratified anchor) ask about interactions spread over the whole history; there the
#: validation gain of a decay was noise (cold items, both data sets: +2.8% on validation, -3% on the test)
RECENCY_SPLITS: tuple[str, ...] = (WARM,)
FOLD_CANDIDATES = 1000  # below this many held-out items the cold-item weights are tuned on several folds


def _sources_for(kind: str, has_brands: bool = False, gan_with_history: bool = False) -> tuple[str, ...]:
    """Which sources can say something on a split: history-based ones need a history, cold items need content
    (brand affinity only where items have brands); the GAN serves users without history, and users with a short
    history when ``recommend.gan_max_history`` > 0 (``gan_with_history``)."""
    brand = ("brand",) if has_brands else ()
    if kind == COLD_USER:
        return ("autoencoder", "gan", "popular")
    if kind == COLD_ITEM:
        return ("content_cf", "autoencoder", "content", *brand, "popular")
    gan = ("gan",) if gan_with_history else ()
    return ("cf", "ease", "autoencoder", *gan, "content", *brand, "popular")


@dataclass
class _Fold:
    """A validation split of a context's training side: its context, features, trained sources and the indices (into
    its evaluated users) of the users sampled for tuning; ``reference``: the source that picked the half-life."""

    vctx: SplitContext
    feats: FeatureMatrices
    sources: dict[str, Source]
    keep: np.ndarray
    reference: str | None = None


@dataclass
class _FoldBlocks:
    """A fold's sampled users as the blend tuning reads them: z-scored source blocks, activity segments, truth and
    masks (rows aligned)."""

    z: dict[str, np.ndarray]
    segment: np.ndarray
    truth: sp.csr_matrix
    exclude: sp.csr_matrix | None
    candidates: np.ndarray | None


class ColdrecMethod(Method):
    """The blended coldrec recommender (see the module docstring); applies to every split."""

    name = "coldrec"
    needs_history = False
    scores_cold_items = True

    def __init__(self, train_cfg: TrainConfig, rec_cfg: RecommendConfig, seed: int = 42,
                 log: Callable[[str], object] = print,
                 test_share: float = 0.2, val_folds: dict[str, int] | None = None,
                 use_models: bool = True, half_lives: tuple[float | None, ...] | None = None) -> None:  # fmt: skip
        self.train_cfg, self.rec_cfg, self.seed, self.log, self.test_share = train_cfg, rec_cfg, seed, log, test_share
        #: validation folds per split kind: a random item hold-out is dominated by a few items, so the cold-item
        #: weights are tuned on the mean over several folds
        self.val_folds = val_folds if val_folds is not None else {COLD_ITEM: 3}
        #: False: blend only the sources that need no training run (item-kNN, EASE, content, popularity)
        self.use_models = use_models
        #: recency half-lives tried on validation (None: the plain 0/1 history); ``(None,)`` turns decay off;
        #: default: the plain history and the nightly's ``recommend.recency_half_lives``
        self.half_lives = half_lives if half_lives is not None else (None, *rec_cfg.recency_half_lives)
        self.half_life: float | None = None
        self.cross_category_slots: int | None = None  # tuned per split on validation (None: the configured count)
        #: per left-out source, the blend tuned without it on the same validation folds (``coldrec-no<source>``)
        self.ablation_weights: dict[str, BlendWeights] = {}
        self.new_item_slots = rec_cfg.new_item_slots  # tuned per split on validation
        self._item_matrix: np.ndarray | None = None
        self.half_life_scores: dict[str, dict[str, float]] = {}
        self.reports: dict[str, dict[str, object]] = {}

    def applies_to(self, split_kind: str) -> bool:
        return True

    # -- building blocks ------------------------------------------------------------------------------------------
    def _features(self, ctx: SplitContext) -> FeatureMatrices:
        p = ctx.prepared
        if self._item_matrix is None or self._item_matrix.shape[0] != p.enc.n_items:
            self._item_matrix = item_features(p.ds.items, p.enc, real_dates=p.ds.source != "amazon-s3rec")
        return build_features(p.ds.users, p.ds.items, p.enc, ctx.view.X, p.item_category, len(p.category_labels),
                              True, self._item_matrix)  # fmt: skip

    def _train(self, ctx: SplitContext, feats: FeatureMatrices) -> TrainedModels | None:
        if not self.use_models:
            return None
        if ctx.kind == COLD_USER and feats.n_demographic == 0:
            # a cold user is known by demographics only; without any (Amazon Beauty) the autoencoder's and the GAN's
            # cold-user paths get a constant input and can only learn popularity: no training run for nothing
            self.log("coldrec [cold_user]: no user demographics in the data set, learned models skipped")
            return None
        cfg = self.train_cfg
        gan_serves = ctx.kind == COLD_USER or (self.rec_cfg.gan_max_history > 0 and ctx.kind != COLD_ITEM)
        if not gan_serves and "gan" in cfg.models:
            cfg = cfg.model_copy(update={"models": ["autoencoder"]})  # no user of the split would get the GAN
        data = ColdStartData(
            X=ctx.view.X,
            user_features=feats.user,
            item_features=feats.item,
            item_category=ctx.prepared.item_category,
            user_history_columns=feats.user_history_columns,
            user_segment=ctx.view.user_segment,
        )
        return train_models(data, cfg, None, log_to_mlflow=False, seed=self.seed, show_progress=False)

    def _build_sources(self, ctx: SplitContext, models: TrainedModels | None) -> dict[str, Source]:
        """The split's sources, built as the nightly scoring builds them (:func:`make_sources`)."""
        brands = ctx.prepared.item_brand
        names = _sources_for(
            ctx.kind, brands is not None and bool((brands >= 0).any()), self.rec_cfg.gan_max_history > 0
        )
        view = ctx.view
        popularity = None
        if ctx.kind == COLD_ITEM:  # held-out items have no popularity of their own: their categories do
            popularity = CategoryPopularity().fit(view).item_score[None, :]
        # EASE over the whole catalog reads the full co-occurrences, which item-kNN needs too: computed once
        ease_wanted = {"ease", "content_cf"} & set(names)
        gram = view.gram if ease_wanted and view.n_items <= self.rec_cfg.ease_max_items else view.__dict__.get("gram")
        inputs = SourceInputs(view.X, view.user_segment, ctx.prepared.item_content,
                              lambda: item_cosine_topk(view.gram, neighbors=100), brands, popularity, gram)  # fmt: skip
        out = make_sources(inputs, self.rec_cfg, models, self.seed, names)
        view.__dict__.pop("gram", None)
        return out

    def _signal(self, ctx: SplitContext, half_life: float | None) -> sp.csr_matrix | None:
        """The recency-weighted training positives of ``ctx`` (cached on it per half-life); None: no decay."""
        if half_life is None:
            return None
        cache = ctx.extras.setdefault("recency", {})
        if half_life not in cache:
            pos = ctx.train_frame[ctx.train_frame["positive"]]
            cache[half_life] = recency_history(pos, ctx.prepared.enc, half_life)
        return cache[half_life]

    def _batch(self, ctx: SplitContext, users: np.ndarray, feats: FeatureMatrices,
               half_life: float | None = None) -> UserBatch:  # fmt: skip
        seg = ctx.view.user_segment[users] if ctx.kind != COLD_ITEM else np.zeros(len(users), dtype=np.int64)
        signal = self._signal(ctx, half_life)
        return UserBatch(users, ctx.view.X[users], feats.user[users], seg,
                         None if signal is None else signal[users])  # fmt: skip

    def _half_life_ndcg(self, fold: _Fold) -> dict[float | None, float]:
        """Validation NDCG@10 of the fold's reference source alone, per half-life ({} when no source qualifies)."""
        vctx, vsources, keep = fold.vctx, fold.sources, fold.keep
        ref = next((n for n in REFERENCE_SOURCES if n in vsources), None)
        if ref is None or vctx.kind not in RECENCY_SPLITS or len(self.half_lives) < 2:
            return {}
        fold.reference = ref
        users = vctx.eval_users[keep]
        return ndcg_by_half_life(
            lambda h: vsources[ref].block(self._batch(vctx, users, fold.feats, h)).numpy(),
            vctx.truth[keep],
            self.half_lives,
            exclude=vctx.exclude[keep] if vctx.exclude is not None else None,
            candidates=vctx.candidates,
        )

    def _choose_half_life(self, kind: str, folds: list[_Fold]) -> None:
        """The half-life with the best mean validation NDCG@10 over the folds; ties keep the earlier entry, so the
        plain 0/1 history stays unless decay helps (``self.half_lives[0]`` when nothing can be measured)."""
        per_fold = [self._half_life_ndcg(f) for f in folds]
        if not all(per_fold):
            self.half_life = self.half_lives[0]
            return
        mean = {h: float(np.mean([f[h] for f in per_fold])) for h in self.half_lives}
        self.half_life = best_half_life(mean, self.half_lives)
        self.half_life_scores[kind] = {str(h): round(v, 4) for h, v in mean.items()}
        self.log(f"coldrec [{kind}] history half-life by {folds[0].reference} on validation: "
                 f"{self.half_life_scores[kind]} -> {self.half_life}")  # fmt: skip

    def _blocks(self, sources: dict[str, Source], batch: UserBatch) -> dict[str, torch.Tensor]:
        return {n: batch.block_of(s) for n, s in sources.items()}

    # -- the protocol -------------------------------------------------------------------------------------------
    def _validation_fold(self, ctx: SplitContext, seed: int) -> _Fold:
        """A validation split of ``ctx``'s training side with its features, trained sources and sampled users."""
        vsplit = make_split(ctx.kind, ctx.split.train, seed, self.test_share)
        vctx = context_from_split(ctx.prepared, vsplit, seed)
        vfeats = self._features(vctx)
        vsources = self._build_sources(vctx, self._train(vctx, vfeats))
        n = len(vctx.eval_users)
        keep = np.sort(np.random.default_rng(seed).choice(n, size=min(n, MAX_TUNING_USERS), replace=False))
        return _Fold(vctx, vfeats, vsources, keep)

    def _fold_blocks(self, fold: _Fold) -> _FoldBlocks:
        """z-scored source blocks of a fold's sampled users (history weighted with the chosen half-life)."""
        vctx, keep = fold.vctx, fold.keep
        batch = self._batch(vctx, vctx.eval_users[keep], fold.feats, self.half_life)
        return _FoldBlocks(
            z={n: zscore_(b).numpy() for n, b in self._blocks(fold.sources, batch).items()},
            segment=activity_segment(batch.n_history, self.rec_cfg.light_max_interactions),
            truth=vctx.truth[keep],
            exclude=vctx.exclude[keep] if vctx.exclude is not None else None,
            candidates=vctx.candidates,
        )

    def fit_context(self, ctx: SplitContext) -> ColdrecMethod:
        t0 = time.perf_counter()
        setups, folds = self.tuning_folds(ctx)
        n_folds = len(setups)
        tuned, slot_figures = self.tune_on(setups, folds, self.rec_cfg.coverage_weight)
        del setups, folds
        t1 = time.perf_counter()
        self.fit_final(ctx)
        self.reports[ctx.kind] = {"weights": self.weights.to_dict(), "validation_ndcg@10": tuned,
                                  "validation_folds": n_folds, "tune_s": round(t1 - t0, 1),
                                  "final_fit_s": round(time.perf_counter() - t1, 1), "half_life": self.half_life,
                                  "half_life_validation_ndcg@10": self.half_life_scores.get(ctx.kind, {}),
                                  "cold_user_choice": getattr(self.models, "cold_user_choice", None),
                                  **slot_figures}  # fmt: skip
        self.log(f"coldrec [{ctx.kind}] blend weights {self.weights.to_dict()} (validation NDCG@10 {tuned})")
        return self

    def tuning_folds(self, ctx: SplitContext) -> tuple[list[_Fold], list[_FoldBlocks]]:
        """The split's validation folds (features, trained sources, sampled users) and their z-scored source blocks,
        the warm history's half-life chosen on them first (sets ``half_life``)."""
        self.cross_category_slots = None  # the configured list settings until this split's validation has chosen
        self.new_item_slots = self.rec_cfg.new_item_slots
        # a hold-out of few items is dominated by a handful of them: average several folds; with many held-out
        # items one fold is already stable (and folds cost a model training each)
        n_folds = self.val_folds.get(ctx.kind, 1) if ctx.n_candidates < FOLD_CANDIDATES else 1
        setups = [self._validation_fold(ctx, self.seed + 1 + f) for f in range(n_folds)]
        self._choose_half_life(ctx.kind, setups)
        return setups, [self._fold_blocks(f) for f in setups]

    def tune_on(
        self, setups: list[_Fold], folds: list[_FoldBlocks], coverage_weight: float
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Tune what the published lists are ranked with on the validation folds, as the nightly tunes on its
        hold-out: blend weights per segment (objective NDCG@10 + ``coverage_weight`` x coverage), then the
        cross-category and new-item slot counts on those weights (sets ``weights``, ``ablation_weights`` and the
        slot counts). Returns the validation NDCG@10 per segment and the slot tunings' figures.

        Separate from :meth:`fit_context` so one set of folds serves several objectives (``bench/coverage_weights.py``
        re-tunes one fit for each coverage weight)."""
        self.cross_category_slots = None
        self.new_item_slots = self.rec_cfg.new_item_slots
        self.weights, tuned = _tune_weights(folds, coverage_weight=coverage_weight)
        # the blend without the GAN, tuned on the same folds: what ``coldrec-nogan`` ranks with (a fair ablation)
        self.ablation_weights = {}
        if "gan" in folds[0].z and len(folds[0].z) > 1:
            self.ablation_weights["gan"], _ = _tune_weights(folds, drop="gan", coverage_weight=coverage_weight)
        self.cross_category_slots, slot_figures = self._tune_cross_category_slots(setups[0])
        self.new_item_slots, new_figures = self._tune_new_item_slots(setups[0])
        slot_figures.update(new_figures)
        return tuned, slot_figures

    def fit_final(self, ctx: SplitContext) -> ColdrecMethod:
        """Features, models and sources on the split's whole training side (``self.weights`` / ``half_life`` set)."""
        self.feats = self._features(ctx)
        self.models = self._train(ctx, self.feats)
        self.sources = self._build_sources(ctx, self.models)
        self.ctx = ctx
        return self

    def fit(self, view: TrainView) -> ColdrecMethod:  # pragma: no cover - the harness calls fit_context
        raise RuntimeError("ColdrecMethod needs the split context: the harness calls fit_context(ctx)")

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        if self.ctx is None:
            raise RuntimeError("ColdrecMethod scores after fit_context(ctx)")
        batch = self._batch(self.ctx, users, self.feats, self.half_life)
        segment = activity_segment(batch.n_history, self.rec_cfg.light_max_interactions)
        total, _ = blend_scores(self._blocks(self.sources, batch), self.weights, segment)
        return total.numpy()

    def catalog(self, ctx: SplitContext, feats: FeatureMatrices | None = None,
                new_item_slots: int | None = None) -> Catalog:  # fmt: skip
        """The split's evaluated users as the nightly scoring sees its users (:class:`Catalog`): training positives
        as history and purchases (what the categories a user knows and the category affinity come from), the
        split's exclusions (seen items) and candidates (the held-out items of the cold-item ranking), and the
        nightly's new-item rule (:meth:`new_item_rule`) with ``new_item_slots`` slots (None: the count tuned on
        validation, else ``recommend.new_item_slots``)."""
        p, view, users = ctx.prepared, ctx.view, ctx.eval_users
        feats = self.feats if feats is None else feats
        n_items = view.n_items
        seg = view.user_segment[users] if ctx.kind != COLD_ITEM else np.zeros(len(users), dtype=np.int64)
        signal = self._signal(ctx, self.half_life)
        exclude = ctx.exclude if ctx.exclude is not None else sp.csr_matrix((len(users), n_items), dtype=np.float32)
        history = view.X[users]
        if new_item_slots is None:
            new_item_slots = self.new_item_slots
        return Catalog(
            user_ids=p.enc.user_ids[users], item_ids=p.enc.item_ids, history=history, exclude=exclude,
            bought=history, item_category=p.item_category, category_names=list(p.category_labels),
            item_titles=p.enc.item_ids, item_is_new=view.item_counts == 0, demographic_segment=seg,
            user_features=feats.user[users], category_affinity=self._affinity(ctx),
            signal=None if signal is None else signal[users], candidates=ctx.candidates,
            new_item_slots=self.new_item_rule(ctx).with_slots(new_item_slots),
        )  # fmt: skip

    def new_item_rule(self, ctx: SplitContext) -> NewItemSlots:
        """The nightly's new-item rule (:func:`coldrec.ranking.new_items.new_item_rule`) on the split's training side,
        as the nightly would build it on the day of the split's cut (the training side's last event): an item is
        new when its first training event lies within ``recommend.new_item_days`` of that day and at most
        ``recommend.new_item_max_interactions`` users interacted with it in training. The loaders' ``created_at``
        is not read: for most data sets it is the item's first rating over the whole file, test side included."""
        cache = ctx.extras.setdefault("new_item_rule", {})
        if "rule" not in cache:
            p, train = ctx.prepared, ctx.train_frame
            ts = pd.to_datetime(train[S.TS], utc=True)
            first = ts.dt.tz_localize(None).dt.normalize().groupby(train[S.ITEM_ID].to_numpy()).min()
            first_seen = pd.DataFrame({S.ITEM_ID: first.index.to_numpy(), "first": first.to_numpy()})
            shape = (p.enc.n_users, p.enc.n_items)
            r, c = p.enc.users(train[S.USER_ID]), p.enc.items(train[S.ITEM_ID])
            seen = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=shape)
            items = p.ds.items[[S.ITEM_ID]].drop_duplicates()  # no created_at: see the docstring
            rule = new_item_rule(items, first_seen, p.enc.item_ids, ts.max().date(), seen, p.item_content,
                                 p.item_brand, self.rec_cfg)  # fmt: skip
            if ctx.candidates is not None:  # the cold-item ranking: only candidates may be placed
                rule = NewItemSlots(rule.candidates[np.asarray(ctx.candidates, bool)[rule.candidates]], rule.content,
                                    rule.item_brand, rule.slots)  # fmt: skip
            cache["rule"] = rule
        return cache["rule"]

    @property
    def list_cfg(self) -> RecommendConfig:
        """``recommend`` with the cross-category slot count tuned on validation (the configured one before)."""
        slots = self.cross_category_slots
        return self.rec_cfg if slots is None else self.rec_cfg.model_copy(update={"cross_category_slots": slots})

    def _tune_cross_category_slots(self, fold: _Fold) -> tuple[int | None, dict[str, float]]:
        """The cross-category slot count picked on the validation fold's lists by the nightly's own rule
        (:func:`coldrec.recommend.tuning.tune_cross_category_slots`: the most slots within the NDCG budget); None
        (the configured count) on the cold-item ranking, where no list is compared with the catalogue."""
        vctx, keep = fold.vctx, fold.keep
        if vctx.candidates is not None or self.rec_cfg.cross_category_max_slots == 0:
            return None, {}
        cat = _rows_of(self.catalog(vctx, fold.feats, 0), keep)  # before the new-item slots are chosen
        ranker = Ranker(fold.sources, self.weights, self.rec_cfg, 10)
        ranker, figures = tune_cross_category_slots(ranker, cat, vctx.truth[keep])
        self.log(f"coldrec [{vctx.kind}] cross-category slots on validation: {figures}")
        return ranker.cfg.cross_category_slots, {k: round(v, 4) for k, v in figures.items()}

    def _tune_new_item_slots(self, fold: _Fold) -> tuple[int, dict[str, float]]:
        """The new-item slot count (0..``recommend.new_item_slots``) picked on the validation fold's lists, ranked by
        the same :class:`Ranker`, by the nightly's own rule (:func:`coldrec.recommend.tuning.tune_new_item_slots`:
        best NDCG@10, ties more slots)."""
        vctx, keep = fold.vctx, fold.keep
        rule = self.new_item_rule(vctx)
        if rule.candidates.size == 0 or self.rec_cfg.new_item_slots == 0:
            return self.rec_cfg.new_item_slots, {"new_item_candidates": float(rule.candidates.size)}
        cat = self.catalog(vctx, fold.feats, self.rec_cfg.new_item_slots)
        cat = _rows_of(cat, keep)
        ranker = Ranker(fold.sources, self.weights, self.list_cfg, 10)
        chosen, figures = tune_new_item_slots(ranker, cat, vctx.truth[keep])
        figures["new_item_candidates"] = float(rule.candidates.size)
        self.log(f"coldrec [{vctx.kind}] new-item slots on validation: {figures}")
        return chosen.slots, {k: round(v, 4) for k, v in figures.items()}

    def _affinity(self, ctx: SplitContext) -> np.ndarray:
        """Category affinity of the training positives, each pair at its latest event (as ``gold.interactions``
        gives the nightly scoring its purchases)."""
        p = ctx.prepared
        pos = ctx.train_frame[ctx.train_frame["positive"]]
        last = pos.groupby([S.USER_ID, S.ITEM_ID], sort=False)[S.TS].max().reset_index()
        ts = pd.to_datetime(last[S.TS], utc=True).astype("int64").to_numpy()
        items = p.enc.items(last[S.ITEM_ID])
        return category_affinity(p.enc.users(last[S.USER_ID]), p.item_category[items], ts, len(p.category_labels))

    def ranked_lists(self, ctx: SplitContext, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores), evaluated users x k: ranked by the nightly lists' code path
        (:class:`coldrec.ranking.lists.Ranker`: blend, mask, pool, per-category caps, cross-category slots)."""
        return Ranker(self.sources, self.weights, self.list_cfg, k).top_items(self.catalog(ctx))

    def rank_context(self, ctx: SplitContext, k: int) -> np.ndarray:
        """Top-k item indices of every evaluated user (``-1`` padded): what the harness measures."""
        return self.ranked_lists(ctx, k)[0]


def _tune_weights(
    folds: list[_FoldBlocks], drop: str | None = None, coverage_weight: float = 0.0
) -> tuple[BlendWeights, dict[str, float]]:
    """Blend weights per activity segment by grid search on the folds' z-scored blocks (best mean validation
    NDCG@10 + ``coverage_weight`` x list coverage, the nightly's objective; ``drop``: a source left out); segments
    with fewer than 10 users take the first tuned segment's."""
    weights: dict[str, dict[str, float]] = {}
    tuned: dict[str, float] = {}
    names = [n for n in folds[0].z if n != drop]
    for s_idx, s_name in enumerate(SEGMENTS):
        rows = [np.flatnonzero(f.segment == s_idx) for f in folds]
        if min(r.size for r in rows) < 10:
            continue
        w, v = tune_segment_weights(
            [{n: f.z[n][r] for n in names} for f, r in zip(folds, rows, strict=True)],
            [f.truth[r] for f, r in zip(folds, rows, strict=True)],
            exclude=[None if f.exclude is None else f.exclude[r] for f, r in zip(folds, rows, strict=True)],
            candidates=[f.candidates for f in folds],
            step=0.1 if len(names) <= 4 else 0.2,
            coverage_weight=coverage_weight,
        )
        weights[s_name], tuned[s_name] = {n: round(x, 3) for n, x in w.items()}, round(v, 4)
    fallback = next(iter(weights.values())) if weights else {n: 1.0 / len(names) for n in names}
    for s_name in SEGMENTS:
        weights.setdefault(s_name, fallback)
    return BlendWeights(weights), tuned


def _rows_of(cat: Catalog, rows: np.ndarray) -> Catalog:
    """``cat`` restricted to the users ``rows`` (the validation fold's sampled users)."""

    def take(x: np.ndarray | sp.csr_matrix | None) -> np.ndarray | sp.csr_matrix | None:
        return None if x is None else x[rows]

    return dataclasses.replace(
        cat, user_ids=cat.user_ids[rows], history=cat.history[rows], exclude=cat.exclude[rows],
        bought=cat.bought[rows], demographic_segment=cat.demographic_segment[rows],
        user_features=take(cat.user_features), signal=take(cat.signal),
    )  # fmt: skip
