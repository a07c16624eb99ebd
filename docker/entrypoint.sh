#!/usr/bin/env bash
# Entry point of every coldrec container (run under tini, which reaps children and forwards signals).
#
# Why SPARK_LOCAL_HOSTNAME: a Spark driver in client mode (a spark-submit from a Celery worker, or a Python task's
# session) advertises its host name to the executors, and a container's own host name (its id) is not resolvable
# from other containers. Advertising the container's IP on the compose network works for any number of replicas
# (`--scale airflow-worker=N`), where a fixed `hostname:` would not.
set -euo pipefail

if [[ -z "${SPARK_LOCAL_HOSTNAME:-}" ]]; then
  ip="$(hostname -i 2>/dev/null | awk '{print $1}')"
  if [[ -n "${ip}" ]]; then
    export SPARK_LOCAL_HOSTNAME="${ip}"
  fi
fi

mkdir -p "${COLDREC_HOME:-/opt/coldrec/state}" "${AIRFLOW_HOME:-/opt/airflow}/logs" 2>/dev/null || true

exec "$@"
