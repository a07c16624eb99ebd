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
# AIRFLOW_HOME, the DAG folder, the Spark connection, PYSPARK_PYTHON, MLflow: the same as `coldrec ui` uses
eval "$(python -m coldrec.local_airflow --export)"
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
python -m coldrec.local_airflow --prepare

# The run starts now (no logical date) and processes $LAST through the run_date param, so the UI shows it as the
# run it was (started minutes ago), not as a run of a past logical date.
CONF="{\"run_date\": \"$LAST\"}"
step "4/5 airflow dags test coldrec_nightly -c '$CONF' (clean, interactions, similarities, features, train, score, gate, publish)"
echo "(full log: $COLDREC_HOME/demo-nightly.log)"
airflow dags test coldrec_nightly -c "$CONF" > "$COLDREC_HOME/demo-nightly.log" 2>&1 || true
python scripts/demo_summary.py --tasks-only --log "$COLDREC_HOME/demo-nightly.log"

step "5/5 results"
python scripts/demo_summary.py --run-date "$LAST"
echo "Browse the run in the Airflow UI: make ui"
