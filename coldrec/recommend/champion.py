"""The champion models on tonight's catalog and users: what the nightly scoring feeds the autoencoder and the GAN.

Why apart from :mod:`coldrec.recommend.nightly`: re-indexing a model trained on an earlier catalog, and aligning the
run's user features with the layout it was trained on, are pure array logic, tested on hand-made models.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

log = logging.getLogger(__name__)


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
        fill_values = np.asarray(fill, np.float32)
        fill_col = torch.full((src.shape[0], 1), float(fill_values)) if np.isscalar(fill) else torch.from_numpy(
            fill_values.reshape(-1, 1))  # fmt: skip
        return torch.cat([src, fill_col], dim=1).index_select(1, self._source_col).numpy()

    def score_users(self, history: sp.spmatrix | np.ndarray, user_features: np.ndarray) -> np.ndarray:
        rows = sp.csr_matrix(history, dtype=np.float32) @ self._gather
        scores = np.asarray(self.models.score_users(rows, user_features), dtype=np.float32)
        return self._scatter(scores, scores.min(axis=1) if scores.size else 0.0)

    def gan_interactions(self, user_features: np.ndarray, *, n_samples: int = 8, seed: int = 0) -> np.ndarray:
        probs = np.asarray(self.models.gan_interactions(user_features, n_samples=n_samples, seed=seed), np.float32)
        return self._scatter(probs, 0.0)


def model_feature_dim(models: Any) -> int | None:
    cols = getattr(models, "user_history_columns", None)
    return None if cols is None else int(np.asarray(cols).shape[0])


def align_user_features(feature_user_ids: np.ndarray, user_features: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
    """The run's user feature rows in ``user_ids`` order; users without a feature row get zeros."""
    at = pd.Index(feature_user_ids).get_indexer(user_ids)
    out = np.zeros((len(user_ids), user_features.shape[1]), dtype=np.float32)
    out[at >= 0] = user_features[at[at >= 0]]
    if (at < 0).any():
        log.warning("%d users have no feature row: zeros", int((at < 0).sum()))
    return out


def usable_champion(models: Any, user_features: np.ndarray | None, item_ids: np.ndarray) -> Any | None:
    """The champion aligned on tonight's catalog, or None when the run's user features do not fit it (the
    scoring then runs without the models)."""
    if models is None:
        return None
    expected = model_feature_dim(models)
    if user_features is None or (expected is not None and user_features.shape[1] != expected):
        got = None if user_features is None else user_features.shape[1]
        log.warning("champion expects %s user feature columns, the run has %s: scoring without it", expected, got)
        return None
    aligned = CatalogAlignedModels(models, item_ids)
    log.info("champion on tonight's catalog: %d of %d items known to it", aligned.n_known, len(item_ids))
    return aligned
