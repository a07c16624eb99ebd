"""The data the cold-start models take and give: training input, validation splits, the trained models.

Kept apart from :mod:`coldrec.models.api` (the public facade that also trains) so that training, validation,
tracking and the MLflow wrappers can all use these classes without importing one another in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from coldrec.models import scoring

if TYPE_CHECKING:
    import torch

    from coldrec.config import TrainConfig


class UsersByItems:
    """``n_users`` and ``n_items`` of a class holding a users x items matrix ``X`` (the training input here, a
    split's training view in :mod:`coldrec.evaluate.baselines`)."""

    X: sp.csr_matrix

    @property
    def n_users(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.X.shape[1])


@dataclass
class ColdStartData(UsersByItems):
    """Training input, everything indexed ``0..n-1``.

    Attributes:
        X: users x items interaction weights (``gold.interactions.weight`` or ratings); cold users are empty rows,
            cold items empty columns.
        user_features: float32 ``[n_users, du]`` (``gold.user_features``: demographics + behavior aggregates).
        item_features: float32 ``[n_items, di]`` (``gold.item_features``: category levels, brand, price, age, text).
        item_category: int top-level category per item (plots, per-category reports); ``None`` when unknown.
        user_history_columns: bool ``[du]``, True for feature columns derived from the user's history (behavior
            aggregates). They are zeroed together with the history when training simulates a cold user, so the
            model never learns to rely on something a cold user cannot have. ``None``: all columns are demographics.
        user_segment: int segment per user (e.g. gender x age band) for the segment-popularity comparison of the
            cold-user split; ``None`` falls back to global popularity.
        user_ids / item_ids: optional external ids (carried into the logged model so scores map back to ids).
    """

    X: sp.csr_matrix
    user_features: np.ndarray
    item_features: np.ndarray
    item_category: np.ndarray | None = None
    user_history_columns: np.ndarray | None = None
    user_segment: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.X = sp.csr_matrix(self.X, dtype=np.float32)
        self.user_features = np.ascontiguousarray(self.user_features, dtype=np.float32)
        self.item_features = np.ascontiguousarray(self.item_features, dtype=np.float32)
        n_users, n_items = self.X.shape
        if self.user_features.shape[0] != n_users:
            raise ValueError(f"user_features has {self.user_features.shape[0]} rows, X has {n_users} users")
        if self.item_features.shape[0] != n_items:
            raise ValueError(f"item_features has {self.item_features.shape[0]} rows, X has {n_items} items")
        if self.user_history_columns is not None:
            self.user_history_columns = np.asarray(self.user_history_columns, dtype=bool)
            if self.user_history_columns.shape != (self.user_features.shape[1],):
                raise ValueError("user_history_columns must have one flag per user feature column")


@dataclass
class ValidationData:
    """Held-out cold splits, for early stopping (NDCG@k) and for the champion comparison.

    Attributes:
        cold_user_features: ``[m, du]`` features of users held out of training entirely.
        cold_user_truth: ``[m, n_items]`` their positives over the training catalog (ranked among all items).
        cold_item_features: ``[c, di]`` content of items held out of training entirely.
        cold_item_truth: ``[n_users, c]`` positives of the *training* users (rows of ``ColdStartData.X``, whose
            histories are the model input) on the held-out items; ranking is among the held-out items only.
        cold_user_segment: segment of each held-out user (segment-popularity comparison); optional.
        k: cut-off of the NDCG that drives early stopping.
    """

    cold_user_features: np.ndarray
    cold_user_truth: sp.csr_matrix
    cold_item_features: np.ndarray
    cold_item_truth: sp.csr_matrix
    cold_user_segment: np.ndarray | None = None
    k: int = 10


@dataclass
class TrainedModels:
    """The trained autoencoder (+ item content encoder) and the conditional GAN, ready to score on CPU or CUDA.

    ``learned_items`` flags the catalog items that have a learned embedding (the others are scored from content).
    ``history`` holds per-epoch losses and validation metrics, ``validation`` the final validation figures
    (``val_score`` is what the champion comparison uses), ``cold_user_choice`` which cold-user scorer won on
    validation among the model-based ones ("autoencoder", "gan": generated interactions ranked directly,
    "gan_ae": generated interactions folded into the autoencoder as a pseudo history; the comparators segment
    popularity and GAN-densified item-kNN are reported in ``validation``), ``mlflow`` the run/model versions when
    logged.
    """

    autoencoder: Any
    gan: Any | None
    config: TrainConfig
    item_catalog_features: np.ndarray
    learned_items: np.ndarray
    user_history_columns: np.ndarray | None
    item_category: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    cold_user_choice: str = "autoencoder"
    item_popularity: np.ndarray | None = None
    mlflow: dict[str, Any] = field(default_factory=dict)

    # -- scoring ----------------------------------------------------------------------------------------------
    def score_users(
        self,
        X_rows: sp.spmatrix | np.ndarray,
        user_features: np.ndarray,
        item_features: np.ndarray | None = None,
        *,
        batch_size: int = 2048,
        device: str | torch.device | None = None,
    ) -> np.ndarray:
        """Autoencoder scores ``[n, n_items]`` (higher = better) for users given by history and features.

        ``X_rows`` is ``[n, n_catalog]`` over the training catalog (an empty row is a cold user: features only; a
        new user's few events are folded in without retraining). Without ``item_features`` the columns are the
        training catalog (items never seen in training scored from their content); with ``item_features`` ``[c, di]``
        the columns are those items, embedded by the content encoder alone (cold items).
        """
        return scoring.score_users(self, X_rows, user_features, item_features, batch_size=batch_size, device=device)

    def user_embeddings(
        self, X_rows: sp.spmatrix | np.ndarray, user_features: np.ndarray, *, batch_size: int = 2048
    ) -> np.ndarray:
        """Latent user vectors ``[n, latent_dim]`` (same space as :meth:`item_embeddings`)."""
        return scoring.user_embeddings(self, X_rows, user_features, batch_size=batch_size)

    def item_embeddings(self, item_features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings ``[c, latent_dim]``, biases ``[c]``) of the catalog (learned embedding, or content for items
        without one), or of the given items from their content alone."""
        return scoring.item_embeddings(self, item_features)

    def gan_interactions(
        self, user_features: np.ndarray, *, n_samples: int = 8, seed: int = 0, batch_size: int = 2048
    ) -> np.ndarray:
        """Generated interaction probabilities ``[n, n_items]`` in [0, 1] for users known by features only.

        The mean over ``n_samples`` noise draws (seeded, so repeatable); feed it to item-kNN CF as a pseudo history
        ("GAN-densified CF") or rank it directly.
        """
        return scoring.gan_interactions(self, user_features, n_samples=n_samples, seed=seed, batch_size=batch_size)

    def cold_user_scores(self, user_features: np.ndarray, user_segment: np.ndarray | None = None) -> np.ndarray:
        """Scores for users with no history from the scorer that won the cold-user validation split."""
        return scoring.cold_user_scores(self, user_features, user_segment)
