"""MLflow models-from-code entry of ``coldrec-gan`` (logged as code, so no pickled Python object)."""

import mlflow

from coldrec.models.pyfunc import GanModel

mlflow.models.set_model(GanModel())
