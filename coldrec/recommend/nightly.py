"""Assemble the nightly scoring inputs from the lake: interactions, similarities, catalog, users, champion model.

Why a separate module: :mod:`coldrec.recommend.scoring` is pure NumPy/torch and tested on hand-made inputs; this is
the I/O edge that reads Delta tables (small aggregates only: one row per user x item, per item neighbour, per item
and per user) and hands plain arrays over.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from pyspark.sql import functions as F

from coldrec import lake
from coldrec.data import schemas as S
from coldrec.evaluate.encode import AGE_BANDS, Encoder, brand_codes, content_matrix, tokens_of
from coldrec.recommend.blending import BlendWeights
from coldrec.recommend.candidates import (
    AutoencoderSource,
    BrandSource,
    ContentNeighbourCFSource,
    ContentSource,
    EASESource,
    GanCFSource,
    ItemKNNSource,
    PopularitySource,
    Source,
    UserBatch,
    segment_popularity_table,
)
from coldrec.recommend.cross_category import category_affinity
from coldrec.recommend.recency import (
    REFERENCE_SOURCES,
    best_half_life,
    ndcg_by_half_life,
    recency_rank,
    weighted_history,
)
from coldrec.recommend.scoring import Catalog, Recommender
from coldrec.recommend.topk import pick_device

log = logging.getLogger(__name__)


def _categories(paths: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Top category per item: the first path level at which the catalog differs (see encode.top_category)."""
    levels = paths.astype("string").str.split(S.CATEGORY_SEP, regex=False)
    depth = int(levels.str.len().max()) if levels.notna().any() else 0
    chosen = pd.Series(pd.NA, index=paths.index, dtype="string")
    for level in range(depth):
        if levels.str[level].dropna().nunique() > 1 or level == depth - 1:
            chosen = levels.str[: level + 1].str.join(S.CATEGORY_SEP)
            break
    codes, uniques = pd.factorize(chosen, sort=True)
    return codes.astype(np.int64), [str(u).split(S.CATEGORY_SEP)[-1] for u in uniques]


def _segments(users: pd.DataFrame, user_ids: np.ndarray) -> np.ndarray:
    frame = users.set_index(S.USER_ID).reindex(user_ids)
    gender = frame[S.GENDER].astype("string").str.upper().fillna("?")
    age = pd.to_numeric(frame[S.AGE], errors="coerce")
    band = pd.Series(np.digitize(age.fillna(-1).to_numpy(), AGE_BANDS), index=frame.index).astype(str)
    labels = (gender + "|" + band.where(age.notna(), "?")).to_numpy(dtype=object)
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def build_nightly(spark, settings, run_date: dt.date) -> tuple[Recommender, Catalog, str]:
    """Read the run's inputs, build the sources, tune the blend on a recent hold-out, return the scorer."""
    cfg = settings.recommend
    day = F.lit(run_date.isoformat()).cast("date")
    inter = (
        lake.read_table(spark, settings, "gold.interactions")
        .where(F.col(S.RUN_DATE) == day)
        .select(S.USER_ID, S.ITEM_ID, "weight", "purchased", "last_ts")
        .toPandas()
    )
    items = (
        lake.read_table(spark, settings, "silver.items")
        .select(S.ITEM_ID, S.TITLE, S.CATEGORY_PATH, S.BRAND, S.DESCRIPTION)
        .toPandas()
    )
    users = (
        lake.read_table(spark, settings, "silver.users").select(S.USER_ID, S.AGE, S.GENDER).toPandas()
        if lake.table_exists(spark, settings, "silver.users")
        else pd.DataFrame({S.USER_ID: [], S.AGE: [], S.GENDER: []})
    )
    user_ids = np.asarray(sorted(set(inter[S.USER_ID]) | set(users[S.USER_ID])), dtype=object)
    item_ids = np.asarray(sorted(set(items[S.ITEM_ID]) | set(inter[S.ITEM_ID])), dtype=object)
    uidx = pd.Index(user_ids)
    iidx = pd.Index(item_ids)
    r, c = uidx.get_indexer(inter[S.USER_ID]), iidx.get_indexer(inter[S.ITEM_ID])
    shape = (len(user_ids), len(item_ids))
    weight = inter["weight"].to_numpy(np.float32)
    history = sp.csr_matrix((weight, (r, c)), shape=shape)
    last_ns = pd.to_datetime(inter["last_ts"], utc=True).astype("int64").to_numpy()
    bought_mask = inter["purchased"].to_numpy(bool)
    bought = sp.csr_matrix((np.ones(bought_mask.sum(), np.float32), (r[bought_mask], c[bought_mask])), shape=shape)
    exclude = _exclusions(spark, settings, run_date, cfg.exclude_event_types, uidx, iidx, shape, bought)

    items = items.set_index(S.ITEM_ID).reindex(item_ids)
    item_category, category_names = _categories(items[S.CATEGORY_PATH])
    titles = items[S.TITLE].fillna(pd.Series(item_ids, index=items.index)).to_numpy(dtype=object)
    is_new = np.diff(sp.csc_matrix(history).indptr) == 0
    segment = _segments(users, user_ids)

    sim = (
        lake.read_table(spark, settings, "gold.item_similarity")
        .where(F.col(S.RUN_DATE) == day)
        .select("id", "neighbor_id", "similarity")
        .toPandas()
    )
    S_mat = sp.csr_matrix(
        (sim["similarity"].to_numpy(np.float32), (iidx.get_indexer(sim["id"]), iidx.get_indexer(sim["neighbor_id"]))),
        shape=(len(item_ids), len(item_ids)),
    )
    purchases = inter[bought_mask]
    affinity = category_affinity(
        uidx.get_indexer(purchases[S.USER_ID]),
        item_category[iidx.get_indexer(purchases[S.ITEM_ID])],
        pd.to_datetime(purchases["last_ts"], utc=True).astype("int64").to_numpy(),
        len(category_names),
    )
    enc = Encoder(user_ids, item_ids)
    fields = (S.CATEGORY_PATH, S.BRAND, S.TITLE, S.DESCRIPTION)
    catalog_rows = items.reset_index(names=S.ITEM_ID)
    content, _ = content_matrix(tokens_of(catalog_rows, enc, fields))
    item_brand = brand_codes(catalog_rows, enc)

    model_version = cfg.model_version or "none"
    user_features = None
    models = _champion(settings)
    if models is not None:
        user_features = _user_feature_matrix(settings, run_date, user_ids)
        expected = _model_feature_dim(models)
        if user_features is None or (expected is not None and user_features.shape[1] != expected):
            got = None if user_features is None else user_features.shape[1]
            log.warning("champion expects %s user feature columns, %s has %s: scoring without it",
                        expected, run_date, got)  # fmt: skip
            models, user_features = None, None
        else:
            models = CatalogAlignedModels(models, item_ids)
            log.info("champion on tonight's catalog: %d of %d items known to it", models.n_known, len(item_ids))
            model_version = cfg.model_version or str(models.mlflow.get("version", "champion"))
    sources = make_sources(history, segment, content, S_mat, cfg, models, settings.seed, item_brand)
    weights = BlendWeights({k: dict(v) for k, v in cfg.blend_weights.items()})
    metrics: dict[str, float] = {}
    if cfg.tune_days > 0 and len(inter):
        cutoff = holdout_start(
            run_date, cfg.tune_days, None if models is None else models.mlflow.get("trained_through")
        )
        recent = (pd.to_datetime(inter["last_ts"], utc=True) >= cutoff).to_numpy()
        weights, metrics = tune_on_holdout(
            history, recent, r, c, weight, segment, content, cfg, models, user_features, weights, settings.seed,
            item_brand, last_ns,
        )  # fmt: skip
        metrics["holdout_days"] = float((pd.Timestamp(run_date, tz="UTC") + pd.Timedelta(days=1) - cutoff).days)
        if metrics.get("tuned", 0.0) == 0.0:
            log.info("blend: configured weights (hold-out from %s: %d users, too few to tune on)",
                     cutoff.date(), int(metrics.get("holdout_users", 0)))  # fmt: skip
    half_life = metrics.get("recency_half_life", 0.0) or None
    signal = weighted_history(weight, r, c, recency_rank(r, last_ns), half_life, shape) if half_life else None
    metrics.update(
        {"users": float(len(user_ids)), "items": float(len(item_ids)), "new_items": float(is_new.sum()),
         "model_used": float(models is not None)}
    )  # fmt: skip
    catalog = Catalog(
        user_ids=user_ids, item_ids=item_ids, history=history, exclude=exclude, bought=bought,
        item_category=item_category, category_names=category_names, item_titles=titles, item_is_new=is_new,
        demographic_segment=segment, user_features=user_features, category_affinity=affinity,
        similarity_t=sp.csr_matrix(S_mat.T), signal=signal,
    )  # fmt: skip
    rec = Recommender(sources, weights, cfg, settings.top_n, pick_device(cfg.device))
    rec.metrics = metrics
    return rec, catalog, model_version


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


def make_sources(
    history: sp.csr_matrix,
    segment: np.ndarray,
    content: sp.csr_matrix,
    similarity: sp.csr_matrix,
    cfg,
    models,
    seed: int,
    item_brand: np.ndarray | None = None,
) -> dict[str, Source]:
    """The blend's sources over one history matrix (the full one for scoring, a truncated one for tuning);
    ``item_brand`` (codes, -1 = none) adds the brand-affinity source when some item has a brand."""
    knn = ItemKNNSource(similarity)
    sources: dict[str, Source] = {"cf": knn}
    base: Source = knn
    if cfg.ease_max_items > 0 and history.nnz:
        from coldrec.evaluate.baselines import EASE, TrainView

        binary = sp.csr_matrix((history > 0).astype(np.float32))
        view = TrainView(binary, binary, segment, content, content)
        ease_model = EASE(l2=cfg.ease_l2, max_items=cfg.ease_max_items).fit(view)
        sources["ease"] = base = EASESource(ease_model.B, ease_model.keep, ease_model.n_items)
    has_interactions = np.diff(sp.csc_matrix(history).indptr) > 0
    sources["content_cf"] = ContentNeighbourCFSource(base, content, has_interactions, cfg.content_neighbors)
    sources["content"] = ContentSource(content)
    if item_brand is not None and (np.asarray(item_brand) >= 0).any():
        sources["brand"] = BrandSource(item_brand)
    sources["popular"] = PopularitySource(segment_popularity_table(history, segment))
    if models is not None:
        sources["autoencoder"] = AutoencoderSource(models)
        if models.gan is not None:
            sources["gan"] = GanCFSource(models, similarity, seed=seed)
    return sources


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
    picks the history's recency half-life (:mod:`coldrec.recommend.recency`; the plain history unless one ranks
    better), recorded as ``recency_half_life`` (0: none); the weights are then tuned on that weighted history.
    """
    from coldrec.evaluate.baselines import item_cosine_topk_rows
    from coldrec.evaluate.metrics import RankedLists
    from coldrec.recommend.blending import SEGMENTS, activity_segment, blend_scores, tune_segment_weights, zscore_
    from coldrec.recommend.topk import csr_rows_to_torch, mask_topk_

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
    sources = make_sources(past, segment, content, sim, cfg, models, seed, item_brand)
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
    z0 = {n: zscore_(b).numpy() for n, b in blocks0.items()}
    weights = defaults.to_dict()
    for idx, name in enumerate(SEGMENTS):
        r0 = np.flatnonzero(s0 == idx)
        if r0.size >= cfg.tune_min_users:
            # a source without an opinion on any of the segment's users (GAN-CF for users with a history, CF for
            # new users: z-scores all 0) only multiplies the grid: it is left out and weighs 0
            opinions = {n: z[r0] for n, z in z0.items() if np.any(z[r0] != 0)}
            if not opinions:
                continue
            tuned_w, _ = tune_segment_weights(
                opinions, truth_all[b0.users[r0]], exclude=past[b0.users[r0]], step=0.2 if len(opinions) > 4 else 0.1
            )
            weights[name] = {n: tuned_w.get(n, 0.0) for n in z0}
    tuned = BlendWeights(weights)
    total, _ = blend_scores(blocks1, tuned, s1)
    _, top = mask_topk_(total, 10, exclude=csr_rows_to_torch(past[b1.users], 0, len(b1.users), total.device))
    top = top.cpu().numpy()
    truth1 = truth_all[b1.users]
    lists = RankedLists.build(top, truth1)
    metrics = {
        "tuned": 1.0,
        "recency_half_life": float(half_life or 0.0),
        "holdout_ndcg_at_10": lists.mean("ndcg", 10),
        "holdout_hit_rate_at_10": lists.mean("hit_rate", 10),
        "holdout_users": float(len(b1.users)),
    }
    for idx, name in enumerate(SEGMENTS):
        seg_rows = np.flatnonzero(s1 == idx)
        if seg_rows.size:
            metrics[f"holdout_ndcg_at_10_{name}"] = RankedLists.build(top[seg_rows], truth1[seg_rows]).mean("ndcg", 10)
    return tuned, metrics


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


def _exclusions(spark, settings, run_date, types, uidx, iidx, shape, bought) -> sp.csr_matrix:
    """Items each user must not get again: those with an event of ``recommend.exclude_event_types``."""
    if set(types) <= {"purchase"}:
        return bought if types else sp.csr_matrix(shape, dtype=np.float32)
    pairs = (
        lake.read_table(spark, settings, "silver.events")
        .where((F.col(S.EVENT_DATE) <= F.lit(run_date.isoformat()).cast("date")) & ~F.col(S.IS_BOT))
        .where(F.col(S.EVENT_TYPE).isin(list(types)))
        .select(S.USER_ID, S.ITEM_ID)
        .distinct()
        .toPandas()
    )
    r, c = uidx.get_indexer(pairs[S.USER_ID]), iidx.get_indexer(pairs[S.ITEM_ID])
    ok = (r >= 0) & (c >= 0)
    return sp.csr_matrix((np.ones(ok.sum(), np.float32), (r[ok], c[ok])), shape=shape)


def _champion(settings):
    try:
        from coldrec.models.tracking import load_champion, no_champion, registry_unavailable
    except ImportError:
        return None
    try:
        return load_champion(settings)
    except Exception as exc:
        if not no_champion(exc):  # MLflow down is not "no champion": fail, Airflow retries (docs/reliability.md)
            raise registry_unavailable(settings, exc) from exc
        log.warning("no champion model (%s): scoring with cf, content and popularity only", exc)
        return None


class CatalogAlignedModels:
    """The champion's models re-indexed onto tonight's catalog.

    Why: the champion was trained on an earlier day's catalog; since then items arrive (and may go). Histories are
    gathered into the model's item order, and scores scattered back: items the model never saw get the row's lowest
    score from the autoencoder (cold items reach the lists through the content sources) and probability 0 from the
    GAN. Nothing is retrained and no item is silently mis-mapped by position.
    """

    def __init__(self, models: Any, item_ids: np.ndarray) -> None:
        model_items = getattr(models, "item_ids", None)
        if model_items is None:
            raise ValueError("the champion carries no item ids: cannot map it onto the catalog")
        self.models = models
        self.n_items = len(item_ids)
        self.pos = pd.Index(item_ids).get_indexer(np.asarray(model_items, dtype=object))  # model col -> tonight's
        self.known = self.pos >= 0
        self.n_known = int(self.known.sum())
        gather = sp.csr_matrix(
            (np.ones(self.n_known, np.float32), (self.pos[self.known], np.flatnonzero(self.known))),
            shape=(self.n_items, len(self.pos)),
        )
        self._gather = gather  # tonight's history @ gather = the history in the model's columns
        source_col = np.full(self.n_items, len(self.pos), dtype=np.int64)  # default: the fill column
        source_col[self.pos[self.known]] = np.flatnonzero(self.known)
        self._source_col = torch.from_numpy(source_col)
        self.gan = models.gan
        self.mlflow = models.mlflow

    def _scatter(self, scores: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
        """Model columns -> tonight's columns, ``fill`` where the model does not know the item.

        One ``index_select`` over [scores | fill] with a precomputed source column per catalog item: torch gathers
        in parallel, where NumPy's fancy column assignment took ~10x longer on a 4096 x 26k block.
        """
        src = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
        fill_col = torch.full((src.shape[0], 1), float(fill)) if np.isscalar(fill) else torch.from_numpy(
            np.asarray(fill, np.float32).reshape(-1, 1))  # fmt: skip
        return torch.cat([src, fill_col], dim=1).index_select(1, self._source_col).numpy()

    def score_users(self, history: sp.spmatrix | np.ndarray, user_features: np.ndarray) -> np.ndarray:
        rows = sp.csr_matrix(history, dtype=np.float32) @ self._gather
        scores = np.asarray(self.models.score_users(rows, user_features), dtype=np.float32)
        return self._scatter(scores, scores.min(axis=1) if scores.size else 0.0)

    def gan_interactions(self, user_features: np.ndarray, *, n_samples: int = 8, seed: int = 0) -> np.ndarray:
        probs = np.asarray(self.models.gan_interactions(user_features, n_samples=n_samples, seed=seed), np.float32)
        return self._scatter(probs, 0.0)


def _model_feature_dim(models: Any) -> int | None:
    cols = getattr(models, "user_history_columns", None)
    return None if cols is None else int(np.asarray(cols).shape[0])


def _user_feature_matrix(settings, run_date: dt.date, user_ids: np.ndarray) -> np.ndarray | None:
    """The run date's user features (demographics + behaviour, exactly the training layout) in ``user_ids`` order.

    Read with the training loader (delta-rs, columnar, no per-row Python), so scoring feeds the model what it was
    trained on. Users without a feature row (none, when the features task ran) get zeros.
    """
    from coldrec.features.loader import load_feature_matrices

    try:
        fm = load_feature_matrices(settings, run_date)
    except LookupError as exc:
        log.warning("%s", exc)
        return None
    at = pd.Index(fm.user_ids).get_indexer(user_ids)
    out = np.zeros((len(user_ids), fm.user_features.shape[1]), dtype=np.float32)
    out[at >= 0] = fm.user_features[at[at >= 0]]
    if (at < 0).any():
        log.warning("%d users have no feature row for %s: zeros", int((at < 0).sum()), run_date)
    return out
