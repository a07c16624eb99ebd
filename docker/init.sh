#!/usr/bin/env bash
# One-shot initialization of the coldrec cluster (the `airflow-init` service). Idempotent: rerunning it
# (`docker compose run --rm airflow-init`) changes nothing that is already in place.
#
#   1. object store buckets (the lake/landing bucket and MLflow's artifact bucket) on MinIO
#   2. Airflow metadata DB migration (Postgres)
#   3. Airflow pools `spark` and `gpu` (what the DAGs' Spark and GPU tasks queue on)
#   4. Airflow connection `spark_default` -> the Spark standalone master (COLDREC_SPARK_MASTER)
#   5. the MLflow experiment (COLDREC_MLFLOW_EXPERIMENT) on the tracking server (COLDREC_MLFLOW_URI)
#
# Everything comes from environment variables set in docker-compose.yml.
set -euo pipefail

: "${COLDREC_BUCKETS:?comma-separated bucket names}"
: "${COLDREC_SPARK_MASTER:?spark://host:port of the Spark master}"
: "${COLDREC_MLFLOW_URI:?MLflow tracking server URL}"
: "${COLDREC_SPARK_POOL_SLOTS:=2}"
: "${COLDREC_GPU_POOL_SLOTS:=1}"

echo "== 1/5 buckets: ${COLDREC_BUCKETS} on ${AWS_ENDPOINT_URL}"
python - <<'PY'
import os

import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for bucket in filter(None, (b.strip() for b in os.environ["COLDREC_BUCKETS"].split(","))):
    try:
        s3.head_bucket(Bucket=bucket)
        print(f"bucket {bucket}: exists")
    except ClientError:
        s3.create_bucket(Bucket=bucket)
        print(f"bucket {bucket}: created")
PY

echo "== 2/5 Airflow metadata DB"
airflow db migrate

echo "== 3/5 pools"
airflow pools set spark "${COLDREC_SPARK_POOL_SLOTS}" "coldrec Spark jobs (spark-submit to the cluster)"
airflow pools set gpu "${COLDREC_GPU_POOL_SLOTS}" "coldrec GPU tasks (training, scoring) on the gpu queue"

echo "== 4/5 connection spark_default -> ${COLDREC_SPARK_MASTER}"
airflow connections delete spark_default >/dev/null 2>&1 || true
airflow connections add spark_default \
  --conn-type spark \
  --conn-host "${COLDREC_SPARK_MASTER%:*}" --conn-port "${COLDREC_SPARK_MASTER##*:}" \
  --conn-extra '{"deploy-mode": "client", "spark-binary": "spark-submit"}'

echo "== 5/5 MLflow experiment ${COLDREC_MLFLOW_EXPERIMENT:-coldrec} on ${COLDREC_MLFLOW_URI}"
python - <<'PY'
import os

from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=os.environ["COLDREC_MLFLOW_URI"])
name = os.environ.get("COLDREC_MLFLOW_EXPERIMENT", "coldrec")
experiment = client.get_experiment_by_name(name)
if experiment is None:
    experiment_id = client.create_experiment(name, tags={"project": "coldrec"})
    print(f"experiment {name}: created ({experiment_id})")
else:
    print(f"experiment {name}: exists ({experiment.experiment_id}, artifacts at {experiment.artifact_location})")
PY

echo "coldrec cluster initialized"
