"""The numpy-level public API of coldrec's cold-start models (what the nightly run and the evaluation harness call).

Why a numpy API: two consumers train and score the same models, the nightly ``coldrec train`` (features from the
lake) and the evaluation harness (features built from a public data set with the same Spark transforms, train split
only). Both hand over plain matrices indexed ``0..n-1``; neither needs to know torch.

Typical use::

    data = ColdStartData(X=train_csr, user_features=U, item_features=I, item_category=top_cat,
                         user_history_columns=behavior_mask, user_segment=segments)
    models = train_models(data, settings.train, validation=None, log_to_mlflow=False)
    scores = models.score_users(X_rows, U_rows)                  # warm or cold users x catalog items
    cold_item_scores = models.score_users(X_rows, U_rows, item_features=I_cold)   # cold items: content only
    pseudo = models.gan_interactions(U_cold)                     # generated interaction probabilities

Cold users are rows of ``X`` without any entry (features only); cold items are columns of ``X`` without any entry
(content only). Neither takes part in training as a target: cold users have nothing to reconstruct, and cold items
would otherwise only ever be seen as negatives, which would teach the content encoder to push exactly the held-out
items down (a leak of the split into the model).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from coldrec.config import TrainConfig
from coldrec.models.data import ColdStartData, TrainedModels, ValidationData
from coldrec.models.training import train_models as _train
from coldrec.models.validation import ndcg_at_k as _ndcg


def train_models(
    data: ColdStartData,
    cfg: TrainConfig,
    validation: ValidationData | None = None,
    *,
    log_to_mlflow: bool = False,
    seed: int | None = None,
    settings: Any | None = None,
    show_progress: bool = True,
) -> TrainedModels:
    """Train the autoencoder (always) and the GAN (when ``"gan" in cfg.models``); return them ready to score.

    Without ``validation`` a validation split is carved out of ``data`` (``cfg.val_user_share`` of the users with a
    history become cold users, ``cfg.val_item_share`` of the items with interactions become cold items; both are
    then excluded from training, and still served: users by fold-in, items by their content). Early stopping
    watches ``val_score`` = mean NDCG@k of the two cold splits. ``log_to_mlflow`` logs params, per-epoch metrics,
    plots and both models to the tracking server of ``settings`` (see :mod:`coldrec.models.tracking`).
    """
    return _train(
        data, cfg, validation, log_to_mlflow=log_to_mlflow, seed=seed, settings=settings, show_progress=show_progress
    )


def ndcg_at_k(scores: np.ndarray, truth: sp.spmatrix, k: int = 10, exclude: sp.spmatrix | None = None) -> float:
    """Mean binary NDCG@k over the rows of ``truth`` that have at least one positive (rows without are skipped).

    ``exclude`` (same shape) marks entries never to rank (e.g. a warm user's training items).
    """
    return _ndcg(scores, truth, k, exclude)


__all__ = ["ColdStartData", "TrainedModels", "ValidationData", "ndcg_at_k", "train_models"]
