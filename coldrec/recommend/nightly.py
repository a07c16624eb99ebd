"""The nightly scoring: lake tables in, ``gold.recommendations`` rows out, in named steps.

1. :func:`read_inputs` - the I/O edge: reads the run's small aggregates (one row per user x item, per item
   neighbour, per item, per user), the champion and the run's user features into plain frames and arrays;
2. :func:`index_shop` - pure: ids, matrices, categories, segments, content, brands, category affinity;
3. :func:`plan_nightly` - pure: the champion aligned on tonight's catalog, the sources
   (:func:`coldrec.ranking.sources.make_sources`), the blend tuned on the hold-out
   (:mod:`coldrec.recommend.tuning`), the :class:`~coldrec.ranking.lists.Catalog` and the ranker;
4. :func:`score_all_users` - the entry point of the DAG task: the lists (:mod:`coldrec.recommend.rows`), the
   run's figures to ``ops.run_metrics``, and the Spark DataFrame the publish step writes.

Steps 2-3 and the ranking are the same code the harness's coldrec method ranks with (``make_sources``, ``Catalog``,
``Ranker``), so the offline figures describe these lists.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from coldrec import lake
from coldrec.config import Settings
from coldrec.data import schemas as S
from coldrec.ranking.blend import BlendWeights
from coldrec.ranking.cross_category import category_affinity
from coldrec.ranking.encode import (
    Encoder,
    brand_codes,
    category_display_name,
    content_matrix,
    tokens_of,
    top_category_of_paths,
    user_segments,
)
from coldrec.ranking.lists import Catalog
from coldrec.ranking.new_items import NewItemSlots, new_item_rule
from coldrec.ranking.recency import recency_rank, weighted_history
from coldrec.ranking.sources import SourceInputs, make_sources
from coldrec.ranking.topk import pick_device
from coldrec.recommend.champion import align_user_features, usable_champion
from coldrec.recommend.rows import Recommender
from coldrec.recommend.tuning import ListRules, holdout_start, tune_on_holdout

log = logging.getLogger(__name__)

CONTENT_FIELDS = (S.CATEGORY_PATH, S.BRAND, S.TITLE, S.DESCRIPTION)


@dataclass
class NightlyInputs:
    """What the scoring reads for a run date, as frames and arrays (see :func:`read_inputs`)."""

    run_date: dt.date
    interactions: pd.DataFrame  # user_id, item_id, weight, purchased, last_ts
    items: pd.DataFrame  # item_id, title, category_path, brand, description, created_at
    users: pd.DataFrame  # user_id, age, gender
    similarity: pd.DataFrame  # id, neighbor_id, similarity
    #: (user_id, item_id) pairs never to recommend, when ``exclude_event_types`` is more than purchases; None: the
    #: purchases of ``interactions``
    excluded: pd.DataFrame | None = None
    models: Any = None  # the champion (None: none registered, or it failed to load)
    champion_failed: bool = False  # a champion is registered but could not be loaded
    #: item_id, first: each item's first non-bot event date, for items without ``created_at`` (None: not read)
    first_seen: pd.DataFrame | None = None
    #: the run's user features: (user ids, matrix) in the training layout; None without a champion or features
    user_features: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class Shop:
    """The run's inputs on one index: users x items matrices, per-item and per-user attributes."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    rows: np.ndarray  # the interactions' user index, item index, weight and latest event (ns)
    cols: np.ndarray
    weight: np.ndarray
    last_ns: np.ndarray
    purchased: np.ndarray  # per interaction: the pair was bought
    history: sp.csr_matrix
    bought: sp.csr_matrix
    exclude: sp.csr_matrix
    item_category: np.ndarray
    category_names: list[str]
    titles: np.ndarray
    segment: np.ndarray
    similarity: sp.csr_matrix
    content: sp.csr_matrix
    item_brand: np.ndarray
    affinity: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)


# -- 1. the I/O edge ------------------------------------------------------------------------------------------------
def read_inputs(spark: SparkSession, settings: Settings, run_date: dt.date) -> NightlyInputs:
    """Read ``gold.interactions`` and ``gold.item_similarity`` of ``run_date``, ``silver.items`` /
    ``silver.users`` (and ``silver.events`` for exclusions other than purchases), the champion and its features."""
    day = F.lit(run_date.isoformat()).cast("date")

    def table(name: str, *cols: str, dated: bool = False) -> pd.DataFrame:
        df = lake.read_table(spark, settings, name)
        return (df.where(F.col(S.RUN_DATE) == day) if dated else df).select(*cols).toPandas()

    users = (
        table("silver.users", S.USER_ID, S.AGE, S.GENDER)
        if lake.table_exists(spark, settings, "silver.users")
        else pd.DataFrame({S.USER_ID: [], S.AGE: [], S.GENDER: []})
    )
    types = settings.recommend.exclude_event_types
    excluded = None
    if not set(types) <= {"purchase"}:
        excluded = (
            lake.read_table(spark, settings, "silver.events")
            .where((F.col(S.EVENT_DATE) <= day) & ~F.col(S.IS_BOT) & F.col(S.EVENT_TYPE).isin(list(types)))
            .select(S.USER_ID, S.ITEM_ID)
            .distinct()
            .toPandas()
        )
    elif not types:
        excluded = pd.DataFrame({S.USER_ID: [], S.ITEM_ID: []})
    models, champion_failed = _champion(settings)
    items = table("silver.items", S.ITEM_ID, S.TITLE, S.CATEGORY_PATH, S.BRAND, S.DESCRIPTION, S.CREATED_AT)
    first_seen = None
    if items[S.CREATED_AT].isna().any() and lake.table_exists(spark, settings, "silver.events"):
        first_seen = (  # one aggregate row per item: the new-item rule's age for items without created_at
            lake.read_table(spark, settings, "silver.events")
            .where((F.col(S.EVENT_DATE) <= day) & ~F.col(S.IS_BOT))
            .groupBy(S.ITEM_ID)
            .agg(F.min(S.EVENT_DATE).alias("first"))
            .toPandas()
        )
    return NightlyInputs(
        run_date=run_date,
        interactions=table("gold.interactions", S.USER_ID, S.ITEM_ID, "weight", "purchased", "last_ts", dated=True),
        items=items,
        champion_failed=champion_failed,
        first_seen=first_seen,
        users=users,
        similarity=table("gold.item_similarity", "id", "neighbor_id", "similarity", dated=True),
        excluded=excluded,
        models=models,
        user_features=None if models is None else _read_user_features(settings, run_date),
    )


def _champion(settings: Settings) -> tuple[Any, bool]:
    """(the champion's models or None, whether a registered champion failed to load): the gate flags the latter."""
    try:
        from coldrec.models.tracking import champion_version, load_champion  # mlflow + torch: optional for scoring
    except ImportError:  # the models' dependencies (mlflow) are optional for scoring
        return None, False
    try:
        return load_champion(settings), False
    except Exception as exc:  # no registered champion yet (first run), or one that cannot be loaded
        # MLflow down is neither: champion_version raises RegistryUnavailableError, the task fails and Airflow
        # retries it (docs/reliability.md)
        registered = champion_version(settings) is not None
        what = "failed to load" if registered else "none registered"
        log.warning("no champion model (%s: %s): scoring with cf, content and popularity only", what, exc)
        return None, registered


def _read_user_features(settings: Settings, run_date: dt.date) -> tuple[np.ndarray, np.ndarray] | None:
    """The run date's user features (demographics + behaviour, exactly the training layout), read with the training
    loader (delta-rs, columnar, no per-row Python) so scoring feeds the model what it was trained on."""
    from coldrec.features.loader import load_feature_matrices  # delta-rs: only a run with a champion reads it

    try:
        fm = load_feature_matrices(settings, run_date)
    except LookupError as exc:
        log.warning("%s", exc)
        return None
    return np.asarray(fm.user_ids, dtype=object), fm.user_features


# -- 2. pure: one index over the run's inputs -----------------------------------------------------------------------
def index_shop(inputs: NightlyInputs) -> Shop:
    """Ids, matrices and per-item / per-user attributes of the run (no I/O)."""
    inter, items, users = inputs.interactions, inputs.items, inputs.users
    user_ids = np.asarray(sorted(set(inter[S.USER_ID]) | set(users[S.USER_ID])), dtype=object)
    item_ids = np.asarray(sorted(set(items[S.ITEM_ID]) | set(inter[S.ITEM_ID])), dtype=object)
    enc = Encoder(user_ids, item_ids)
    uidx, iidx = pd.Index(user_ids), pd.Index(item_ids)
    r, c = uidx.get_indexer(inter[S.USER_ID]), iidx.get_indexer(inter[S.ITEM_ID])
    shape = (len(user_ids), len(item_ids))
    weight = inter["weight"].to_numpy(np.float32)
    last_ns = pd.to_datetime(inter["last_ts"], utc=True).astype("int64").to_numpy()
    bought_mask = inter["purchased"].to_numpy(bool)
    bought = _pairs(r[bought_mask], c[bought_mask], shape)
    exclude = bought
    if inputs.excluded is not None:
        ex = inputs.excluded
        exclude = _pairs(uidx.get_indexer(ex[S.USER_ID]), iidx.get_indexer(ex[S.ITEM_ID]), shape)
    catalog_rows = items.set_index(S.ITEM_ID).reindex(item_ids).reset_index(names=S.ITEM_ID)
    item_category, labels = top_category_of_paths(catalog_rows[S.CATEGORY_PATH])
    sim = inputs.similarity
    similarity = sp.csr_matrix(
        (sim["similarity"].to_numpy(np.float32), (iidx.get_indexer(sim["id"]), iidx.get_indexer(sim["neighbor_id"]))),
        shape=(len(item_ids), len(item_ids)),
    )
    affinity = category_affinity(r[bought_mask], item_category[c[bought_mask]], last_ns[bought_mask], len(labels))
    return Shop(
        user_ids=user_ids, item_ids=item_ids, rows=r, cols=c, weight=weight, last_ns=last_ns, purchased=bought_mask,
        history=sp.csr_matrix((weight, (r, c)), shape=shape), bought=bought, exclude=exclude,
        item_category=item_category, category_names=[category_display_name(x) for x in labels],
        titles=catalog_rows[S.TITLE].fillna(pd.Series(item_ids)).to_numpy(dtype=object),
        segment=user_segments(users, enc)[0], similarity=similarity,
        content=content_matrix(tokens_of(catalog_rows, enc, CONTENT_FIELDS))[0],
        item_brand=brand_codes(catalog_rows, enc), affinity=affinity,
    )  # fmt: skip


def _pairs(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """users x items 0/1 matrix of the (row, col) pairs that are on the index (-1 = unknown id, dropped)."""
    ok = (rows >= 0) & (cols >= 0)
    out = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (rows[ok], cols[ok])), shape=shape)
    out.data[:] = 1.0
    return out


# -- 3. pure: sources, blend, catalog, ranker -----------------------------------------------------------------------
def plan_nightly(inputs: NightlyInputs, settings: Settings) -> tuple[Recommender, Catalog, str]:
    """The ranker and catalog of the run from what :func:`read_inputs` read (no I/O), and the model version."""
    cfg = settings.recommend
    shop = index_shop(inputs)
    user_features = None
    if inputs.models is not None and inputs.user_features is not None:
        user_features = align_user_features(*inputs.user_features, shop.user_ids)
    models = usable_champion(inputs.models, user_features, shop.item_ids)
    champion_failed = inputs.champion_failed or (inputs.models is not None and models is None)  # unusable tonight
    if models is None:
        user_features = None
    model_version = cfg.model_version or ("none" if models is None else str(models.mlflow.get("version", "champion")))
    source_inputs = SourceInputs(shop.history, shop.segment, shop.content, shop.similarity, shop.item_brand)
    sources = make_sources(source_inputs, cfg, models, settings.seed)
    new_items = new_item_rule(inputs.items, inputs.first_seen, shop.item_ids, inputs.run_date, shop.history,
                              shop.content, shop.item_brand, cfg)  # fmt: skip
    weights, metrics = choose_blend(shop, models, user_features, settings, inputs.run_date, new_items)
    metrics.setdefault("new_item_slots", float(cfg.new_item_slots))
    half_life = metrics.get("recency_half_life", 0.0) or None
    signal = None
    if half_life:
        signal = weighted_history(shop.weight, shop.rows, shop.cols, recency_rank(shop.rows, shop.last_ns), half_life,
                                  shop.shape)  # fmt: skip
    is_new = np.diff(sp.csc_matrix(shop.history).indptr) == 0
    metrics.update({"users": float(len(shop.user_ids)), "items": float(len(shop.item_ids)),
                    "new_items": float(is_new.sum()), "model_used": float(models is not None),
                    "champion_failed": float(champion_failed), "new_item_candidates": float(new_items.candidates.size),
                    "gan_used": float(models is not None and models.gan is not None)})  # fmt: skip
    catalog = Catalog(
        user_ids=shop.user_ids, item_ids=shop.item_ids, history=shop.history, exclude=shop.exclude,
        bought=shop.bought, item_category=shop.item_category, category_names=shop.category_names,
        item_titles=shop.titles, item_is_new=is_new, demographic_segment=shop.segment, user_features=user_features,
        category_affinity=shop.affinity, similarity_t=sp.csr_matrix(shop.similarity.T), signal=signal,
        new_item_slots=new_items.with_slots(int(metrics["new_item_slots"])),
    )  # fmt: skip
    if "cross_category_slots" in metrics:  # tuned on the hold-out (tuning.tune_cross_category_slots)
        cfg = cfg.model_copy(update={"cross_category_slots": int(metrics["cross_category_slots"])})
    metrics.setdefault("cross_category_slots", float(cfg.cross_category_slots))
    rec = Recommender(sources, weights, cfg, settings.top_n, pick_device(cfg.device))
    rec.metrics = metrics
    return rec, catalog, model_version


def choose_blend(shop: Shop, models: Any, user_features: np.ndarray | None, settings: Settings, run_date: dt.date,
                 new_items: NewItemSlots | None = None) -> tuple[BlendWeights, dict[str, float]]:  # fmt: skip
    """The configured blend weights, or those tuned on the last ``recommend.tune_days`` (see
    :func:`coldrec.recommend.tuning.tune_on_holdout`), with the hold-out's figures."""
    cfg = settings.recommend
    weights = BlendWeights({k: dict(v) for k, v in cfg.blend_weights.items()})
    if cfg.tune_days <= 0 or not len(shop.rows):
        return weights, {}
    trained_through = None if models is None else models.mlflow.get("trained_through")
    cutoff = holdout_start(run_date, cfg.tune_days, trained_through)
    recent = shop.last_ns >= cutoff.value
    weights, metrics = tune_on_holdout(
        shop.history, recent, shop.rows, shop.cols, shop.weight, shop.segment, shop.content, cfg, models,
        user_features, weights, settings.seed, shop.item_brand, shop.last_ns, _rules_before(shop, recent), new_items,
    )  # fmt: skip
    metrics["holdout_days"] = float((pd.Timestamp(run_date, tz="UTC") + pd.Timedelta(days=1) - cutoff).days)
    if metrics.get("tuned", 0.0) == 0.0:
        log.info("blend: configured weights (hold-out from %s: %d users, too few to tune on)",
                 cutoff.date(), int(metrics.get("holdout_users", 0)))  # fmt: skip
    return weights, metrics


def _rules_before(shop: Shop, recent: np.ndarray) -> ListRules:
    """Categories, purchases and category affinity before the hold-out: what its lists' caps and slots read."""
    before = shop.purchased & ~recent
    r, c = shop.rows[before], shop.cols[before]
    affinity = category_affinity(r, shop.item_category[c], shop.last_ns[before], len(shop.category_names))
    return ListRules(shop.item_category, shop.category_names, _pairs(r, c, shop.shape), affinity)


def build_nightly(spark: SparkSession, settings: Settings, run_date: dt.date) -> tuple[Recommender, Catalog, str]:
    """Read the run's inputs and plan the scoring: the ranker, its catalog and the model version."""
    return plan_nightly(read_inputs(spark, settings, run_date), settings)


# -- 4. the DAG task's entry point ----------------------------------------------------------------------------------
def score_all_users(spark: SparkSession, settings: Settings, run_date: dt.date) -> DataFrame:
    """Top-N for every user the run knows, as a Spark DataFrame matching ``schemas.RECOMMENDATIONS``.

    Without a champion the blend runs on item-kNN, EASE, content neighbours and segment popularity (the first
    nightly run, or models switched off), and ``model_version`` says so. The run's figures (hold-out NDCG per
    segment, counts, share of rows per source) go to ``ops.run_metrics``.
    """
    recommender, catalog, model_version = build_nightly(spark, settings, run_date)
    rows = recommender.recommend(catalog)
    metrics = dict(recommender.metrics)
    metrics["rows"] = float(len(rows))
    metrics["users_scored"] = float(rows["user_id"].nunique()) if len(rows) else 0.0
    for source, share in rows["source"].value_counts(normalize=True).items():
        metrics[f"share_{source}"] = float(share)
    weights_json = json.dumps(recommender.weights.to_dict())  # which blend produced the figures
    detail = {k: weights_json for k in metrics if k.startswith("holdout_ndcg")}
    lake.record_metrics(spark, settings, run_date, "evaluate", metrics, detail)
    return to_spark(spark, rows, run_date, model_version)


def to_spark(spark: SparkSession, rows: pd.DataFrame, run_date: dt.date, model_version: str) -> DataFrame:
    frame = rows.assign(run_date=run_date, model_version=model_version)
    frame = frame[[f.name for f in S.RECOMMENDATIONS.fields]]
    return spark.createDataFrame(frame, S.RECOMMENDATIONS)
