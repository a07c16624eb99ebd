"""One typed settings object for every step of coldrec.

Why one object: the same code runs on a laptop and on a cluster; what differs is configuration only (Spark master,
lake URI, MLflow URI). Values come, in increasing priority, from the defaults below, ``COLDREC_*`` environment
variables (nested sections with ``__``: ``COLDREC_CLEAN__MAX_REJECT_SHARE=0.1``), and per-run overrides (CLI flags,
Airflow DAG params) passed to :func:`load_settings`.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PositiveFloat, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The project root when running from a checkout; local defaults live under it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class CleanConfig(BaseModel):
    """Validation, quarantine and denoising rules of the cleaning job."""

    max_reject_share: float = Field(0.05, ge=0, le=1, description="data-quality gate: max rejected share of a day")
    min_events: int = Field(1, ge=0, description="a day with fewer accepted events fails the gate")
    lateness_hours: int = Field(48, ge=0, description="events up to this late are accepted into their own day")
    unknown_item_policy: Literal["quarantine", "keep"] = "keep"
    max_price: float = Field(1_000_000.0, gt=0, description="prices above are 'absurd'")
    rating_min: float = 1.0
    rating_max: float = 5.0
    bot_events_per_minute: int = Field(60, gt=0, description="a user above this in any minute is a bot")
    bot_events_per_day: int = Field(2000, gt=0, description="a user above this in a day is a bot")
    session_gap_minutes: int = Field(30, gt=0, description="gap that starts a new session when the log has none")
    event_type_synonyms: dict[str, str] = Field(
        default_factory=dict,
        description="extra raw event type -> canonical type, on top of coldrec.clean.rules.EVENT_TYPE_SYNONYMS",
    )


class InteractionsConfig(BaseModel):
    """How events become user x item weights."""

    event_weights: dict[str, float] = {
        "view": 1.0,
        "click": 2.0,
        "favorite": 3.0,
        "cart": 4.0,
        "purchase": 8.0,
    }
    #: rating r maps to weight rating_weight_base + rating_weight_slope * (r - 3); ratings <= 2 count as dislikes (0)
    rating_weight_base: float = 4.0
    rating_weight_slope: float = 2.0
    half_life_days: float = Field(30.0, gt=0)
    lookback_days: int = Field(365, gt=0, description="events older than this before the run date are ignored")
    normalize_per_user: bool = True


class SimilarityConfig(BaseModel):
    """Item-item / user-user CF similarities (see coldrec.cf.similarity for the exact definitions)."""

    metric: Literal["cosine", "pearson", "jaccard"] = "cosine"
    shrinkage: float = Field(0.0, ge=0, description="sim * n / (n + shrinkage), n = co-support")
    min_support: int = Field(1, ge=1, description="pairs with fewer co-occurring users (items) are dropped")
    top_k: int = Field(50, ge=1, description="neighbours kept per item and per user")
    heavy_user_cap: int = Field(1000, ge=1, description="item-item: users with more items keep their strongest ones")
    heavy_item_cap: int = Field(1000, ge=1, description="user-user: items with more users keep their strongest ones")
    item_block_size: int = Field(32768, ge=1, description="max items per block of X.T @ X (one Spark task each)")
    user_block_size: int = Field(65536, ge=1, description="max users per block of X @ X.T")
    rows_per_partition: int = Field(2_000_000, ge=1, description="interactions per task when grouping by user")
    user_user: bool = Field(True, description="also compute gold.user_similarity")
    similar_items_n: int = Field(20, ge=1, description="list length of gold.similar_items")


class FeaturesConfig(BaseModel):
    """How silver items/users become the dense feature vectors of gold.item_features / gold.user_features."""

    text_encoder: Literal["tfidf", "minilm"] = Field(
        "minilm", description="title+description encoder; MiniLM won on measured cold-item NDCG (see README)"
    )
    tfidf_features: int = Field(2**12, ge=16, description="HashingTF buckets of the TF-IDF encoder")
    tfidf_min_doc_freq: int = Field(1, ge=0, description="IDF: terms in fewer documents get weight 0")
    minilm_batch_size: int = Field(64, ge=1, description="texts per MiniLM forward pass")
    text_encode_chunk: int = Field(
        5000, ge=1, description="texts encoded per committed step of gold.text_vectors (progress; a retry resumes)"
    )
    kmeans_k: int | None = Field(None, ge=2, description="fixed user-portrait k; None: chosen by silhouette")
    kmeans_k_candidates: list[int] = Field([2, 4, 6, 8], description="k tried when kmeans_k is None")
    kmeans_max_iter: int = Field(20, ge=1)
    kmeans_sample_users: int = Field(
        20_000, ge=100, description="users the KMeans candidates are fitted and scored on (all users get a cluster)"
    )
    category_levels: int = Field(3, ge=1, description="category_path levels one-hot encoded (deeper are cut)")
    max_vocab: int = Field(500, ge=1, description="cap per categorical vocabulary (brand, region, interests...)")
    min_count: int = Field(2, ge=1, description="a categorical value needs this many rows to get its own column")
    price_buckets: int = Field(5, ge=1, description="log-price quantile buckets within the top-level category")
    age_bands: list[int] = Field(
        [18, 25, 35, 45, 50, 56], description="lower bounds of the user age bands after the first (MovieLens style)"
    )


class TrainConfig(BaseModel):
    """Architectures, losses and optimisation of the cold-start models (coldrec.models); logged to MLflow as is."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(256, ge=1)
    latent_dim: int = Field(64, ge=2)
    hidden_dim: int = Field(256, ge=2, description="hidden width of the user encoder and the content encoder")
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(5, ge=1, description="epochs without a better validation score before stopping")
    models: list[Literal["autoencoder", "gan"]] = ["autoencoder", "gan"]
    promote: bool = Field(True, description="move the 'champion' alias when the new version beats it")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int | None = Field(None, description="None: the global COLDREC_SEED")
    amp: bool = Field(True, description="bfloat16 autocast on CUDA (ignored on CPU)")
    # autoencoder (DropoutNet-style denoising, multinomial likelihood)
    input_dropout: float = Field(0.5, ge=0, lt=1, description="denoising: share of history entries dropped")
    history_dropout: float = Field(0.3, ge=0, le=1, description="share of users trained with no history at all")
    item_dropout: float = Field(0.3, ge=0, le=1, description="share of items trained from content only")
    cold_user_weight: float = Field(1.0, ge=0, description="loss weight of the features-only view of each user")
    cold_item_weight: float = Field(1.0, ge=0, description="loss weight of the content-only view of the items")
    feature_noise: float = Field(0.0, ge=0, description="std of Gaussian noise on user features in training")
    # conditional GAN (CFGAN-style, with noise)
    gan_noise_dim: int = Field(32, ge=1)
    gan_hidden_dim: int = Field(256, ge=2)
    gan_epochs: int | None = Field(None, ge=1, description="None: same as epochs")
    gan_learning_rate: float = Field(1e-3, gt=0)
    gan_zr_weight: float = Field(0.1, ge=0, description="CFGAN zero-reconstruction weight")
    gan_negative_share: float = Field(0.3, ge=0, le=1, description="CFGAN ZR/PM sampled negatives per user")
    # validation and early stopping
    eval_k: int = Field(10, ge=1)
    val_user_share: float = Field(0.1, ge=0, lt=1, description="users held out as the cold-user validation split")
    val_item_share: float = Field(0.1, ge=0, lt=1, description="items held out as the cold-item validation split")


class RecommendConfig(BaseModel):
    """Nightly scoring (coldrec.recommend): sources, blending per activity segment, diversity rules, batching."""

    cross_category_slots: int = Field(2, ge=0, description="top-N slots reserved for complementary categories")
    cross_category_order: Literal["affinity", "score"] = Field(
        "score",
        description="which complementary items take the reserved slots: the best blended scores among "
        "categories with positive affinity, or the user's highest-affinity categories first (measured in "
        "docs/evaluation.md: by score, more cross-category hits than by affinity at the same NDCG cost)",
    )
    cross_category_max_slots: int = Field(
        4,
        ge=0,
        description="blend tuning (nightly hold-out, harness validation) tries 0..this many cross-category "
        "slots and keeps the most whose NDCG@10 stays within cross_category_max_ndcg_cost of the lists without; "
        "untuned lists use cross_category_slots",
    )
    cross_category_max_ndcg_cost: float = Field(
        0.03, ge=0, le=1, description="the NDCG@10 share the tuned cross-category slots may cost (issue 21's budget)"
    )
    per_category_cap: int = Field(5, ge=1, description="at most this many items of one category in a top-N")
    exclude_event_types: list[str] = Field(
        ["purchase"], description="items the user had these events on are never recommended again"
    )
    light_max_interactions: int = Field(
        10, ge=1, description="users with 1..N interactions are 'light', more are 'heavy', none are 'new'"
    )
    blend_weights: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            # no GAN for users without history: measured, it does not beat segment popularity there (docs/evaluation.md)
            "new": {"autoencoder": 0.4, "popular": 0.6},
            "light": {"cf": 0.2, "ease": 0.3, "autoencoder": 0.2, "content_cf": 0.1, "popular": 0.2},
            "heavy": {"cf": 0.2, "ease": 0.5, "autoencoder": 0.2, "content_cf": 0.1},
        },
        description="segment -> source -> weight; overridden by weights tuned on validation when the champion "
        "model carries them",
    )
    candidate_pool: int = Field(200, ge=1, description="best-scored items per user that diversity rules choose from")
    content_neighbors: int = Field(100, ge=1, description="content neighbours (with interactions) per new item")
    ease_max_items: int = Field(6000, ge=0, description="EASE source on the N most popular items (0: no EASE)")
    ease_l2: float = Field(500.0, gt=0, description="EASE ridge penalty")
    tune_days: int = Field(7, ge=0, description="nightly: tune blend weights on the last N days (0: configured)")
    recency_half_lives: list[PositiveFloat] = Field(
        [5.0, 10.0, 20.0, 40.0],
        description="history half-lives (in interactions, latest = weight 1) tried beside the plain history on the "
        "tuning hold-out; the best by EASE alone weights what the linear sources read ([]: no recency weighting)",
    )
    tune_min_users: int = Field(30, ge=1, description="hold-out users a segment needs in the tuning half")
    tune_max_users: int = Field(2000, ge=1, description="hold-out users per half used for tuning (sampled)")
    batch_users: int = Field(
        0,
        ge=0,
        description="users per score block (memory = batch x items x 4 bytes per source); 0 = auto: 512 on CPU, "
        "where blocks that stay in cache gave 1.6x the users/s of 4096 at 50k items, 4096 on CUDA",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    model_version: str | None = Field(None, description="recorded in gold.recommendations; None: the champion's")
    new_item_days: int = Field(
        14, ge=1, description="an item created (or, without created_at, first seen in the events) this many days "
        "back up to the run date is new: the backtest's new-item segment"
    )
    coverage_weight: float = Field(
        0.05, ge=0, description="blend tuning maximises NDCG@10 + this x catalog coverage of the tuning users' top-10 "
        "lists (0: NDCG only); 0.05: no significant NDCG cost on ML-100K, Amazon Beauty or generated shops, while "
        "0.1 costs ML-100K 1.2% and 0.25 costs 1-10% (docs/evaluation.md#coverage-weight-trade-off)"
    )
    gan_max_history: int = Field(
        5,
        ge=0,
        description="the gan source also serves users with at most this many history items, their history "
        "densified by generated behaviour; the blend tuning gives it weight where the hold-out says so (measured on "
        "ML-100K few-shot users: +0.5% to +2% NDCG@10, docs/evaluation.md; 0: users without history only)",
    )
    new_item_slots: int = Field(
        2, ge=0, description="at most this many places per list for new, barely sold items, ranked for each user by "
        "the content path; the nightly tuning may lower it on the hold-out (see docs)"
    )
    new_item_max_interactions: int = Field(
        5, ge=0, description="a new item with interactions from more users than this competes in the blend only"
    )
    new_user_days: int = Field(
        14, ge=1, description="a user whose first event is this many days back up to the list's date is new: the "
        "backtest's new-user segment"
    )


class PublishConfig(BaseModel):
    min_user_coverage: float = Field(0.95, ge=0, le=1)
    min_list_length: int = Field(10, ge=1)
    max_metric_drop: float = Field(0.2, ge=0, le=1, description="relative NDCG drop vs the last published run")
    active_days: int = Field(30, ge=1, description="users active (or signed up) this many days back need a list")
    min_item_coverage: float = Field(
        0.05,
        ge=0,
        le=1,
        description="share of the catalog items the lists could show (silver.items, at most one per list row) that "
        "must appear in at least one list",
    )
    require_model: bool = Field(
        False, description="fail the gate when the lists were made without the champion model (none or unloadable)"
    )
    vacuum_retention_hours: int = Field(168, ge=0, description="VACUUM keeps files needed for this much time travel")
    quarantine_retention_days: int = Field(90, ge=1, description="silver.rejected rows older than this are deleted")
    run_metrics_retention_days: int = Field(400, ge=1, description="ops.run_metrics rows older than this are deleted")


class UIConfig(BaseModel):
    """``coldrec ui``: where the local Airflow UI listens and who may log in (Airflow's simple auth manager)."""

    host: str = Field("127.0.0.1", description="bind address of the api-server (0.0.0.0 exposes it to the network)")
    port: int = Field(8080, ge=1, le=65535)
    users: str = Field("admin:admin", description="simple auth manager users, 'name:role' comma-separated")
    all_admins: bool = Field(False, description="no login at all: every visitor is admin (a trusted machine only)")


class Settings(BaseSettings):
    """Everything a coldrec run needs to know; see the README for the environment variables."""

    model_config = SettingsConfigDict(env_prefix="COLDREC_", env_nested_delimiter="__", extra="ignore")

    landing_uri: str = Field("landing", description="raw input: events/date=YYYY-MM-DD/, items/, users/")
    lake_uri: str = Field("lake", description="root of the Delta lake (local folder, s3a://, abfss://, ...)")
    home: str = Field(".coldrec", description="local state: Airflow home, MLflow DB, Ivy cache, reports")
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = Field(default_factory=dict, description="extra Spark confs, JSON in the env var")
    spark_driver_memory: str = "4g"
    shuffle_partitions: int = Field(8, ge=1)
    mlflow_uri: str | None = Field(None, description="falls back to MLFLOW_TRACKING_URI, then SQLite under home")
    mlflow_experiment: str = "coldrec"
    top_n: int = Field(20, ge=1)
    seed: int = 42

    clean: CleanConfig = CleanConfig()
    interactions: InteractionsConfig = InteractionsConfig()
    similarity: SimilarityConfig = SimilarityConfig()
    features: FeaturesConfig = FeaturesConfig()
    train: TrainConfig = TrainConfig()
    recommend: RecommendConfig = RecommendConfig()
    publish: PublishConfig = PublishConfig()
    ui: UIConfig = UIConfig()

    @model_validator(mode="after")
    def _absolute_local_paths(self) -> Settings:
        """Relative local paths are anchored at the current directory once, so Spark executors and Airflow tasks
        started elsewhere agree on where the lake is."""
        for name in ("landing_uri", "lake_uri", "home"):
            value = getattr(self, name)
            if "://" not in value and not value.startswith("/"):
                object.__setattr__(self, name, str(Path(value).resolve()))
        return self

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_uri:
            return self.mlflow_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{Path(self.home) / 'mlflow.db'}"

    @property
    def ivy_dir(self) -> str:
        return os.environ.get("COLDREC_IVY_DIR", str(PROJECT_ROOT / ".coldrec" / "ivy"))


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from the environment, with per-run overrides on top (nested dicts merge, ``None`` values ignored).

    ``load_settings({"lake_uri": "/tmp/lake", "train": {"epochs": 3}})`` is what a CLI flag does. A DAG run's
    params travel to its tasks (Python or spark-submit) as JSON in ``COLDREC_RUN_OVERRIDES``, applied between the
    environment and the explicit overrides.
    """
    base = _env_settings()
    run_json = os.environ.get("COLDREC_RUN_OVERRIDES", "").strip()
    run_overrides = json.loads(run_json) if run_json else {}
    if not isinstance(run_overrides, dict):
        raise ValueError("COLDREC_RUN_OVERRIDES must be a JSON object")
    clean = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not clean and not run_overrides:
        return base
    merged = _deep_merge(_deep_merge(base.model_dump(), run_overrides), clean)
    return Settings.model_validate(merged)


@lru_cache(maxsize=1)
def _env_settings_cached(env_key: tuple[tuple[str, str], ...]) -> Settings:
    return Settings()


def _env_settings() -> Settings:
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("COLDREC_") or k == "MLFLOW_TRACKING_URI"))
    return _env_settings_cached(key)
