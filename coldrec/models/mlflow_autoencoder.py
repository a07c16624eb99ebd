"""MLflow models-from-code entry of ``coldrec-autoencoder`` (logged as code, so no pickled Python object)."""

import mlflow

from coldrec.models.pyfunc import AutoencoderModel

mlflow.models.set_model(AutoencoderModel())
