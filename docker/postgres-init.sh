#!/usr/bin/env bash
# Postgres first-start hook (/docker-entrypoint-initdb.d): runs once, on an empty data volume.
# POSTGRES_USER / POSTGRES_DB (Airflow's metadata DB) are created by the image itself; this adds MLflow's backend
# store as a separate database and role, from environment variables only.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" \
  -v mlflow_user="${MLFLOW_DB_USER}" -v mlflow_password="${MLFLOW_DB_PASSWORD}" -v mlflow_db="${MLFLOW_DB_NAME}" <<'SQL'
CREATE ROLE :"mlflow_user" WITH LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE :"mlflow_db" OWNER :"mlflow_user";
SQL
