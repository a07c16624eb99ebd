"""MovieLens-100K cold-start check: the real feature transforms + the models against the cold-start baselines.

One seeded split holds out 20% of the users (demographics only) and 20% of the items (genres + title only) at once;
features are built by :func:`build_item_features` / :func:`build_user_features` from the train events only (no
leakage), one model pair is trained, and both cold splits are scored against the baselines the issue names:

- cold users: ranked over the training items; segment popularity (gender x age band) and global popularity;
- cold items: ranked among the held-out items for the training users; user genre-profile cosine, genre popularity
  and random.

Used by the slow test (thresholds from measured runs) and by ``bench/text_encoders.py`` (TF-IDF vs MiniLM).
Positives are ratings >= 4, as in the evaluation harness.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldrec.config import FeaturesConfig, TrainConfig
from coldrec.data import schemas as S
from coldrec.data.loaders.movielens import read_movielens_100k
from coldrec.features.items import build_item_features
from coldrec.features.loader import FeatureMatrices, matrices_from_frames
from coldrec.features.users import build_user_features
from coldrec.models.data import ColdStartData, TrainedModels
from coldrec.models.scoring import gan_ae_scores
from coldrec.models.training import train_models
from coldrec.models.validation import ndcg_at_k, segment_popularity

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class ColdStartCheck:
    ndcg: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def _genre_matrix(path: Path, item_ids: np.ndarray) -> np.ndarray:
    raw = pd.read_csv(path / "u.item", sep="|", header=None, encoding="latin-1")
    flags = pd.DataFrame(raw.iloc[:, 5:24].to_numpy(dtype=np.float32), index=raw[0].astype(str))
    return flags.reindex(item_ids.astype(str)).fillna(0).to_numpy(dtype=np.float32)


def _cosine_profile_scores(X: sp.csr_matrix, genres_train: np.ndarray, genres_cold: np.ndarray) -> np.ndarray:
    profile = np.asarray(X @ genres_train)
    profile /= np.linalg.norm(profile, axis=1, keepdims=True) + 1e-12
    cold = genres_cold / (np.linalg.norm(genres_cold, axis=1, keepdims=True) + 1e-12)
    return profile @ cold.T


def run_movielens_check(
    spark: SparkSession,
    path: str | Path,
    train_cfg: TrainConfig,
    features_cfg: FeaturesConfig,
    *,
    seed: int = 42,
    cold_share: float = 0.2,
) -> ColdStartCheck:
    """Hold out ``cold_share`` of MovieLens-100K's users and items, build the features with the real Spark
    transforms on the rest, train, and measure NDCG@10 of the cold splits against simple baselines."""
    path = Path(path)
    out = ColdStartCheck()
    t0 = time.perf_counter()
    frames = read_movielens_100k(path)
    rng = np.random.default_rng(seed)
    all_users = np.sort(frames.users[S.USER_ID].astype(str).unique())
    all_items = np.sort(frames.items[S.ITEM_ID].astype(str).unique())
    cold_users = set(rng.choice(all_users, size=round(cold_share * all_users.size), replace=False))
    cold_items = set(rng.choice(all_items, size=round(cold_share * all_items.size), replace=False))
    events = frames.events
    train_events = events[~events[S.USER_ID].isin(cold_users) & ~events[S.ITEM_ID].isin(cold_items)]
    fm = _spark_features(spark, frames, train_events, features_cfg, seed)
    out.seconds["features"] = time.perf_counter() - t0

    split = _Split.of(fm, events, cold_users, cold_items)
    data = ColdStartData(
        X=split.X,
        user_features=fm.user_features,
        item_features=fm.item_features,
        item_category=fm.item_category,
        user_history_columns=fm.user_history_columns,
        user_segment=fm.user_segment,
        user_ids=fm.user_ids,
        item_ids=fm.item_ids,
    )
    t1 = time.perf_counter()
    models = train_models(data, train_cfg, None, seed=seed, show_progress=False)
    out.seconds["train"] = time.perf_counter() - t1
    out.sizes = {
        "train_users": int((np.diff(split.X.indptr) > 0).sum()),
        "cold_users": int(split.is_cold_user.sum()),
        "cold_items": int(split.is_cold_item.sum()),
        "train_interactions": int(split.X.nnz),
        "user_feature_dim": int(fm.user_features.shape[1]),
        "item_feature_dim": int(fm.item_features.shape[1]),
    }
    out.ndcg.update(_cold_user_ndcg(models, fm, split))
    out.ndcg.update(_cold_item_ndcg(models, fm, split, _genre_matrix(path, fm.item_ids.astype(str)), seed))
    validation = models.validation.items()
    out.ndcg.update({f"val_{k}": float(v) for k, v in validation if k.startswith(("cold_users_", "ae_n"))})
    out.seconds["total"] = time.perf_counter() - t0
    return out


def _spark_features(
    spark: SparkSession, frames: Any, train_events: pd.DataFrame, features_cfg: FeaturesConfig, seed: int
) -> FeatureMatrices:
    """Item and user features of every item and user through the nightly Spark transforms (train events only)."""
    items_df = spark.createDataFrame(
        frames.items.assign(**{S.CREATED_AT: frames.items[S.CREATED_AT].dt.tz_localize(None)}).astype(
            {S.BRAND: "object"}
        ),
        schema="item_id string, title string, description string, category_path string, brand string, "
        "price double, created_at timestamp",
    )
    users_df = spark.createDataFrame(
        frames.users.assign(
            **{S.SIGNUP_TS: frames.users[S.SIGNUP_TS].dt.tz_localize(None), S.AGE: frames.users[S.AGE].astype(float)}
        ),
        schema="user_id string, signup_ts timestamp, age double, gender string, country string, region string, "
        "interests array<string>",
    )
    ev = train_events[[S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, S.TS, S.RATING]].assign(
        **{S.TS: train_events[S.TS].dt.tz_localize(None)}
    )
    events_df = spark.createDataFrame(
        ev, schema="user_id string, item_id string, event_type string, ts timestamp, rating double"
    )
    item_feats = build_item_features(items_df, events_df, features_cfg)
    user_feats = build_user_features(users_df, events_df, items_df, features_cfg, seed=seed)
    return matrices_from_frames(user_feats, item_feats)


@dataclass(frozen=True)
class _Split:
    """Positives (rating >= 4) over the feature matrices' users x items, and the training matrix without the
    held-out users and items."""

    full: sp.csr_matrix
    X: sp.csr_matrix
    is_cold_user: np.ndarray
    is_cold_item: np.ndarray
    keep_items: sp.spmatrix

    @classmethod
    def of(cls, fm: FeatureMatrices, events: pd.DataFrame, cold_users: set[str], cold_items: set[str]) -> _Split:
        uid, iid = fm.user_ids.astype(str), fm.item_ids.astype(str)
        pos = events[events[S.RATING] >= 4]
        rows = np.searchsorted(uid, pos[S.USER_ID].astype(str).to_numpy())
        cols = np.searchsorted(iid, pos[S.ITEM_ID].astype(str).to_numpy())
        full = sp.csr_matrix((np.ones(len(pos), np.float32), (rows, cols)), shape=(uid.size, iid.size))
        is_cold_user = np.isin(uid, list(cold_users))
        is_cold_item = np.isin(iid, list(cold_items))
        keep_u = sp.diags((~is_cold_user).astype(np.float32))
        keep_i = sp.diags((~is_cold_item).astype(np.float32))
        X = sp.csr_matrix(keep_u @ full @ keep_i)
        X.eliminate_zeros()
        return cls(full, X, is_cold_user, is_cold_item, keep_i)


def _cold_user_ndcg(models: TrainedModels, fm: FeatureMatrices, split: _Split) -> dict[str, float]:
    """Cold users: features only, ranked over the training items."""
    cu = np.flatnonzero(split.is_cold_user)
    truth_u = sp.csr_matrix(split.full[cu] @ split.keep_items)
    train_items = np.asarray((split.X > 0).sum(axis=0)).ravel() > 0

    def rank_over_train_items(scores: np.ndarray) -> float:
        scores = np.where(train_items[None, :], scores, -np.inf)
        return ndcg_at_k(scores, truth_u, 10)

    out: dict[str, float] = {}
    empty = sp.csr_matrix((cu.size, split.X.shape[1]), dtype=np.float32)
    out["cold_users_autoencoder"] = rank_over_train_items(models.score_users(empty, fm.user_features[cu]))
    if models.gan is not None:
        out["cold_users_gan"] = rank_over_train_items(models.gan_interactions(fm.user_features[cu]))
        out["cold_users_gan_ae"] = rank_over_train_items(gan_ae_scores(models, fm.user_features[cu]))
        out["cold_users_served"] = rank_over_train_items(models.cold_user_scores(fm.user_features[cu]))
    out["cold_users_segment_popularity"] = rank_over_train_items(
        segment_popularity(split.X, fm.user_segment, fm.user_segment[cu])
    )
    out["cold_users_global_popularity"] = rank_over_train_items(segment_popularity(split.X, None, np.zeros(cu.size)))
    return out


def _cold_item_ndcg(
    models: TrainedModels, fm: FeatureMatrices, split: _Split, genres: np.ndarray, seed: int
) -> dict[str, float]:
    """Cold items: content only, ranked among the held-out items for the training users."""
    X = split.X
    ci = np.flatnonzero(split.is_cold_item)
    wu = np.flatnonzero(~split.is_cold_user)
    truth_i = sp.csr_matrix(split.full[wu][:, ci])
    train_items = np.asarray((X > 0).sum(axis=0)).ravel() > 0
    out: dict[str, float] = {}
    scores = models.score_users(X[wu], fm.user_features[wu], item_features=fm.item_features[ci])
    out["cold_items_autoencoder"] = ndcg_at_k(scores, truth_i, 10)
    out["cold_items_genre_profile"] = ndcg_at_k(_cosine_profile_scores(X[wu], genres, genres[ci]), truth_i, 10)
    # genre popularity: positives per training item of each genre; an item scores the mean over its genres
    train_genres = genres * train_items[:, None]
    per_item = (np.asarray(X.sum(axis=0)).ravel() @ train_genres) / np.maximum(train_genres.sum(axis=0), 1)
    gp_scores = (genres[ci] @ per_item) / np.maximum(genres[ci].sum(axis=1), 1)
    out["cold_items_genre_popularity"] = ndcg_at_k(np.tile(gp_scores, (wu.size, 1)), truth_i, 10)
    out["cold_items_random"] = ndcg_at_k(np.random.default_rng(seed).random((wu.size, ci.size)), truth_i, 10)
    return out
