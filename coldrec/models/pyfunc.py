"""MLflow pyfunc wrappers: ``coldrec-autoencoder`` scores users, ``coldrec-gan`` generates interactions.

Both load the same bundle folder (see :mod:`coldrec.models.bundle`); ``unwrap_python_model().models`` gives the
:class:`~coldrec.models.data.TrainedModels` back, which is what :func:`coldrec.models.tracking.load_champion` returns.
Inputs are tensors (a dict of float32 arrays), so the signature pins shapes and dtypes. The models are logged "from
code" (``mlflow_autoencoder.py`` / ``mlflow_gan.py`` beside this module), so no pickled Python object is stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mlflow.pyfunc import PythonModel

from coldrec.models.bundle import load_bundle
from coldrec.models.data import TrainedModels

BUNDLE = "bundle"


class _BundleModel(PythonModel):
    models: TrainedModels | None = None

    def load_context(self, context: Any) -> None:
        self.models = load_bundle(context.artifacts[BUNDLE])


class AutoencoderModel(_BundleModel):
    """``{"history": [n, n_items], "user_features": [n, du]}`` -> autoencoder scores ``[n, n_items]``.

    An all-zero history row is a cold user (features only); a few non-zero entries fold a new user in.
    """

    def predict(self, context, model_input, params=None):
        assert self.models is not None
        history = np.asarray(model_input["history"], dtype=np.float32)
        features = np.asarray(model_input["user_features"], dtype=np.float32)
        return self.models.score_users(history, features)


class GanModel(_BundleModel):
    """``{"user_features": [n, du]}`` -> generated interaction probabilities ``[n, n_items]`` (mean over seeded noise
    draws, so repeatable)."""

    def predict(self, context, model_input, params=None):
        assert self.models is not None
        features = np.asarray(model_input["user_features"], dtype=np.float32)
        return self.models.gan_interactions(features)
