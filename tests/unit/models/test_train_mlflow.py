"""MLflow side of training: run contents, save/load round trip, champion rule, experiment creation without races,
and the ``coldrec features`` + ``coldrec train`` commands end to end on a hand-made lake."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from tests.unit.models.test_models import planted, small_cfg

RUN_DATE = dt.date(2024, 3, 10)


@pytest.fixture(scope="module")
def empty_tracking_db(tmp_path_factory):
    """An MLflow SQLite database with its schema migrated once; each test gets a copy (migrations take seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_settings(settings, monkeypatch, empty_tracking_db):
    """Settings whose tracking URI is a fresh SQLite file in the test's home (MLflow's own env var removed)."""
    import shutil
    from pathlib import Path

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("COLDREC_MLFLOW_URI", raising=False)
    assert settings.tracking_uri == f"sqlite:///{Path(settings.home) / 'mlflow.db'}"
    shutil.copy(empty_tracking_db, Path(settings.home) / "mlflow.db")
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)  # MLflow's globals must not point at a previous test's database
    mlflow.set_registry_uri(settings.tracking_uri)
    return settings


def _train(settings, **cfg):
    from coldrec.models.api import train_models

    data, _, _ = planted()
    models = train_models(
        data, small_cfg(epochs=2, **cfg), None, log_to_mlflow=True, settings=settings, show_progress=False
    )
    return data, models


def test_save_load_round_trip_gives_identical_scores(mlflow_settings):
    import mlflow

    from coldrec.models.tracking import champion_version, load_champion

    data, models = _train(mlflow_settings)
    assert models.mlflow["autoencoder_promoted"] is True and champion_version(mlflow_settings) == "1"
    loaded = load_champion(mlflow_settings)
    empty = sp.csr_matrix(data.X.shape, dtype=np.float32)
    for X in (data.X, empty):
        np.testing.assert_array_equal(
            loaded.score_users(X, data.user_features), models.score_users(X, data.user_features)
        )
    np.testing.assert_array_equal(
        loaded.score_users(data.X, data.user_features, item_features=data.item_features[:9]),
        models.score_users(data.X, data.user_features, item_features=data.item_features[:9]),
    )
    np.testing.assert_array_equal(
        loaded.gan_interactions(data.user_features), models.gan_interactions(data.user_features)
    )
    assert loaded.cold_user_choice == models.cold_user_choice
    # the registered pyfunc answers with the same numbers through its signature-checked predict
    pyfunc = mlflow.pyfunc.load_model("models:/coldrec-autoencoder@champion")
    out = pyfunc.predict({"history": data.X[:3].toarray(), "user_features": data.user_features[:3]})
    np.testing.assert_array_equal(out, models.score_users(data.X[:3], data.user_features[:3]))
    assert pyfunc.metadata.get_input_schema() is not None
    gan = mlflow.pyfunc.load_model("models:/coldrec-gan@champion")
    np.testing.assert_array_equal(
        gan.predict({"user_features": data.user_features[:3]}), models.gan_interactions(data.user_features[:3])
    )


def test_run_has_params_per_epoch_metrics_plots_and_configs(mlflow_settings):
    from mlflow import MlflowClient

    _, models = _train(mlflow_settings)
    client = MlflowClient(mlflow_settings.tracking_uri, mlflow_settings.tracking_uri)
    run = client.get_run(models.mlflow["run_id"])
    assert run.data.params["train.epochs"] == "2" and run.data.params["device"] == "cpu"
    history = client.get_metric_history(run.info.run_id, "autoencoder_val_score")
    assert [m.step for m in history] == list(range(len(models.history["ae_val_score"])))
    assert [m.value for m in history] == pytest.approx(models.history["ae_val_score"])
    assert len(client.get_metric_history(run.info.run_id, "gan_loss")) >= 1
    assert "final_val_score" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/loss_curves.png", "plots/metric_curves.png", "plots/item_embeddings_pca.png"}
    configs = {a.path for a in client.list_artifacts(run.info.run_id, "config")}
    assert {"config/train_config.json", "config/features_config.json"} <= configs
    version = client.get_model_version("coldrec-autoencoder", models.mlflow["autoencoder_version"])
    assert float(version.tags["val_score"]) == pytest.approx(models.validation["val_score"])


def test_champion_moves_only_to_a_better_version(mlflow_settings):
    from mlflow import MlflowClient

    from coldrec.models.tracking import AUTOENCODER_NAME, champion_version

    client = MlflowClient(mlflow_settings.tracking_uri, mlflow_settings.tracking_uri)
    _, first = _train(mlflow_settings)
    assert first.mlflow["autoencoder_promoted"] and champion_version(mlflow_settings) == "1"

    # the champion's recorded score is unbeatable: the new version is registered and kept, the alias stays
    client.set_model_version_tag(AUTOENCODER_NAME, "1", "val_score", "1.0")
    _, second = _train(mlflow_settings)
    assert second.mlflow["autoencoder_version"] == "2" and second.mlflow["autoencoder_promoted"] is False
    assert champion_version(mlflow_settings) == "1"
    assert client.get_run(second.mlflow["run_id"]).data.tags["autoencoder_promoted"] == "False"

    # --no-promote: never moves, even past a champion it beats
    client.set_model_version_tag(AUTOENCODER_NAME, "1", "val_score", "0.0")
    _, third = _train(mlflow_settings, promote=False)
    assert third.mlflow["autoencoder_promoted"] is False and champion_version(mlflow_settings) == "1"

    # a version that beats the champion's score takes the alias
    _, fourth = _train(mlflow_settings)
    detail = (fourth.mlflow, fourth.validation.get("val_score"), client.get_model_version(AUTOENCODER_NAME, "1").tags)
    assert fourth.mlflow["autoencoder_promoted"] is True, detail
    assert champion_version(mlflow_settings) == "4"


def test_gan_champion_follows_the_autoencoder_champion_that_serving_loads(mlflow_settings):
    """Serving uses the GAN bundled with the autoencoder champion: coldrec-gan@champion must name exactly that GAN
    (same training run), never one promoted by its own score; a registry where it does not is served without GAN."""
    from mlflow import MlflowClient

    from coldrec.models.tracking import AUTOENCODER_NAME, GAN_NAME, load_champion

    client = MlflowClient(mlflow_settings.tracking_uri, mlflow_settings.tracking_uri)
    _, first = _train(mlflow_settings)
    assert first.mlflow["gan_promoted"] is True
    assert str(client.get_model_version_by_alias(GAN_NAME, "champion").version) == "1"
    served = load_champion(mlflow_settings)
    assert served.gan is not None and served.mlflow["gan_version"] == f"{GAN_NAME}/1"

    # the autoencoder champion is unbeatable, the GAN champion's score trivially beaten: neither alias moves
    client.set_model_version_tag(AUTOENCODER_NAME, "1", "val_score", "1.0")
    client.set_model_version_tag(GAN_NAME, "1", "gan_val_score", "-1.0")
    _, second = _train(mlflow_settings)
    assert second.mlflow["autoencoder_promoted"] is False and second.mlflow["gan_promoted"] is False
    assert str(client.get_model_version_by_alias(GAN_NAME, "champion").version) == "1"
    assert float(client.get_model_version(GAN_NAME, "2").tags["gan_val_score"]) == pytest.approx(
        second.validation["gan_val_score"]
    )

    # a registry whose GAN alias moved on its own (the old rule): the bundled GAN is not the promoted one
    client.set_registered_model_alias(GAN_NAME, "champion", "2")
    served = load_champion(mlflow_settings)
    assert served.gan is None and "not the autoencoder champion's run" in served.mlflow["gan_dropped"]
    assert served.score_users(sp.csr_matrix((1, served.item_catalog_features.shape[0]), dtype=np.float32),
                              planted()[0].user_features[:1]).shape[0] == 1  # fmt: skip


def test_experiment_is_created_once_by_racing_processes(mlflow_settings, tmp_path):
    code = (
        "from coldrec.config import load_settings\n"
        "from coldrec.models.tracking import ensure_experiment\n"
        "print(ensure_experiment(load_settings()))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    ids = {p.communicate(timeout=300)[0].strip().splitlines()[-1] for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(ids) == 1
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_settings.tracking_uri, mlflow_settings.tracking_uri)
    names = [e.name for e in client.search_experiments()]
    assert names.count(mlflow_settings.mlflow_experiment) == 1


# ---------------------------------------------------------------------------------------------------------------
# end to end: hand-made silver + gold.interactions -> coldrec features -> coldrec train
# ---------------------------------------------------------------------------------------------------------------
def _write_lake(spark, settings):
    from coldrec import lake
    from coldrec.data import schemas as S

    rng = np.random.default_rng(0)
    cats = ["Sports>Shoes", "Books>Fiction", "Home>Kitchen"]
    items = [
        (
            f"i{j:02d}",
            f"{cats[j % 3].split('>')[1]} item {j}",
            f"nice {cats[j % 3].split('>')[0].lower()} thing",
            cats[j % 3],
            f"brand{j % 4}",
            float(5 + 3 * j),
            dt.datetime(2024, 1, 1) + dt.timedelta(days=j),
            RUN_DATE,
        )
        for j in range(30)
    ]
    users = [
        (
            f"u{u:03d}",
            dt.datetime(2024, 1, 1),
            int(18 + u % 50),
            "FM"[u % 2],
            "DE",
            f"r{u % 3}",
            [f"int{u % 3}"],
            RUN_DATE,
        )
        for u in range(90)
    ]
    rows = []
    for u in range(75):  # the last 15 users are cold
        own = [j for j in range(30) if j % 3 == u % 3]
        for j in rng.choice(own, size=5, replace=False):
            rows.append(
                (RUN_DATE, f"u{u:03d}", f"i{j:02d}", float(rng.uniform(0.5, 2)), 1, False, dt.datetime(2024, 3, 9))
            )
    lake.merge_upsert(spark.createDataFrame(items, S.SILVER_ITEMS), settings, "silver.items", [S.ITEM_ID])
    lake.merge_upsert(spark.createDataFrame(users, S.SILVER_USERS), settings, "silver.users", [S.USER_ID])
    lake.overwrite_partition(spark.createDataFrame(rows, S.GOLD_INTERACTIONS), settings, "gold.interactions", RUN_DATE)
    return rows


@pytest.mark.slow
@pytest.mark.spark
def test_features_and_train_commands_end_to_end(spark, mlflow_settings, monkeypatch):
    from typer.testing import CliRunner

    from coldrec.cli import app
    from coldrec.features.loader import load_feature_matrices
    from coldrec.models.tracking import champion_version, load_champion

    rows = _write_lake(spark, mlflow_settings)
    runner = CliRunner()
    day = RUN_DATE.isoformat()
    result = runner.invoke(app, ["features", "--date", day, "--kmeans-k", "3", "--text-encoder", "tfidf"])
    assert result.exit_code == 0, (result.output, "".join(__import__("traceback").format_exception(result.exception)))
    fm = json.loads(result.stdout.strip().splitlines()[-1])
    assert fm["items"] == 30 and fm["users"] == 90 and fm["users_with_history"] == 75 and fm["kmeans_k"] == 3

    features = load_feature_matrices(mlflow_settings, RUN_DATE)
    assert features.user_features.shape[0] == 90 and features.item_features.shape[0] == 30
    assert list(features.user_ids) == sorted(f"u{u:03d}" for u in range(90))

    monkeypatch.setenv("COLDREC_TRAIN__HIDDEN_DIM", "32")
    monkeypatch.setenv("COLDREC_TRAIN__LATENT_DIM", "8")
    result = runner.invoke(app, ["train", "--date", RUN_DATE.isoformat(), "--epochs", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["interactions"] == len(rows) and summary["autoencoder_promoted"] is True
    assert champion_version(mlflow_settings) == summary["autoencoder_version"]
    champion = load_champion(mlflow_settings)
    assert list(champion.item_ids) == list(features.item_ids)

    metrics = spark.read.format("delta").load(f"{mlflow_settings.lake_uri}/ops/run_metrics")
    stages = {r["stage"] for r in metrics.select("stage").distinct().collect()}
    assert {"features", "train"} <= stages

    result = runner.invoke(
        app,
        [
            "train",
            "--date",
            RUN_DATE.isoformat(),
            "--epochs",
            "1",
            "--no-promote",
            "--models",
            "autoencoder",
            "--no-progress",
            "--no-record-metrics",
        ],
    )
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout.strip().splitlines()[-1])
    assert again["autoencoder_promoted"] is False and "gan_version" not in again
    assert champion_version(mlflow_settings) == summary["autoencoder_version"]


def test_training_dag_uses_the_newest_complete_day(settings):
    """The weekly DAG's date may be ahead of the nightly runs: it trains on the newest day that has all three tables
    (a day with features but no interactions does not count); before any such day it fails with a clear message."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from coldrec.lake import table_path
    from coldrec.models.pipeline import newest_training_date

    with pytest.raises(LookupError, match="no run date <= 2024-03-10"):
        newest_training_date(settings, RUN_DATE)

    def write(name: str, days: list[str]) -> None:
        data = pa.table({"run_date": pa.array([dt.date.fromisoformat(d) for d in days]), "x": list(range(len(days)))})
        write_deltalake(table_path(settings, name), data, partition_by=["run_date"], mode="overwrite")

    write("gold.user_features", ["2024-03-01", "2024-03-05", "2024-03-08", "2024-03-12"])
    write("gold.item_features", ["2024-03-01", "2024-03-05", "2024-03-08", "2024-03-12"])
    write("gold.interactions", ["2024-03-01", "2024-03-05", "2024-03-12"])
    assert newest_training_date(settings, RUN_DATE) == dt.date(2024, 3, 5)
    assert newest_training_date(settings, dt.date(2024, 3, 12)) == dt.date(2024, 3, 12)
    assert newest_training_date(settings, dt.date(2024, 3, 5)) == dt.date(2024, 3, 5)
