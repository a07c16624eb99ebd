#!/usr/bin/env bash
# `make demo`: a sample shop through the whole nightly pipeline, locally, on embedded defaults.
#   landing/ (generated raw logs) -> lake/ (Delta tables) ; Airflow (SQLite) and MLflow (SQLite) under .coldrec/
# Environment knobs: DEMO_USERS, DEMO_ITEMS, DEMO_DAYS, DEMO_SEED, DEMO_START (first day), DEMO_EPOCHS.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

USERS="${DEMO_USERS:-2000}"; ITEMS="${DEMO_ITEMS:-500}"; DAYS="${DEMO_DAYS:-7}"; SEED="${DEMO_SEED:-1}"
START="${DEMO_START:-2026-11-01}"
LAST=$(python -c "import datetime as d; print(d.date.fromisoformat('$START') + d.timedelta(days=$DAYS - 1))")

export COLDREC_LANDING_URI="${COLDREC_LANDING_URI:-$ROOT/landing}"
export COLDREC_LAKE_URI="${COLDREC_LAKE_URI:-$ROOT/lake}"
export COLDREC_HOME="${COLDREC_HOME:-$ROOT/.coldrec}"
export COLDREC_SPARK_MASTER="${COLDREC_SPARK_MASTER:-local[2]}"
export COLDREC_SHUFFLE_PARTITIONS="${COLDREC_SHUFFLE_PARTITIONS:-4}"
export COLDREC_TRAIN__EPOCHS="${DEMO_EPOCHS:-${COLDREC_TRAIN__EPOCHS:-15}}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$COLDREC_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
# local mode: an Airflow API server / `airflow standalone` started from this environment listens on loopback only
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW_CONN_SPARK_DEFAULT="${AIRFLOW_CONN_SPARK_DEFAULT:-{\"conn_type\": \"spark\", \"host\": \"$COLDREC_SPARK_MASTER\"}}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$ROOT/.venv/bin/python}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$COLDREC_HOME/mlflow.db}"
mkdir -p "$COLDREC_HOME" "$AIRFLOW_HOME"

step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "1/5 sample shop: $USERS users, $ITEMS items, $DAYS days from $START (seed $SEED) -> $COLDREC_LANDING_URI"
if [ -f "$COLDREC_LANDING_URI/_ground_truth.json" ]; then
  echo "landing data already there (delete $COLDREC_LANDING_URI to regenerate)"
else
  coldrec generate --users "$USERS" --items "$ITEMS" --days "$DAYS" --seed "$SEED" --start-date "$START" \
    --out "$COLDREC_LANDING_URI"
fi

step "2/5 history: clean the days before $LAST into the lake (one Spark pass)"
if [ "$DAYS" -gt 1 ]; then
  PREV=$(python -c "import datetime as d; print(d.date.fromisoformat('$LAST') - d.timedelta(days=1))")
  coldrec clean --date "$START" --until "$PREV"
fi

step "3/5 Airflow metadata DB (SQLite) and pools"
airflow db migrate >/dev/null
airflow pools set spark 2 "Spark jobs" >/dev/null
airflow pools set gpu 1 "GPU training and scoring" >/dev/null

step "4/5 airflow dags test coldrec_nightly $LAST (clean, interactions, similarities, features, train, score, gate, publish)"
echo "(full log: $COLDREC_HOME/demo-nightly.log)"
airflow dags test coldrec_nightly "$LAST" > "$COLDREC_HOME/demo-nightly.log" 2>&1 || true
python scripts/demo_summary.py --tasks-only --log "$COLDREC_HOME/demo-nightly.log"

step "5/5 results"
python scripts/demo_summary.py --run-date "$LAST"
