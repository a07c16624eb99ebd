"""MLflow: one run per training, both models registered, the ``champion`` alias moved only by a better model.

- Tracking URI: ``Settings.tracking_uri`` (``COLDREC_MLFLOW_URI``, else MLflow's own ``MLFLOW_TRACKING_URI``, else
  SQLite under ``COLDREC_HOME``; the file store is deprecated). Artifacts of a local SQLite store go to
  ``<home>/mlartifacts``.
- The experiment is created once: a file lock serializes first-time creation (SQLite schema migrations included)
  between concurrent local processes, and a lost creation race is caught and resolved by reading the winner's id.
- Champion rule: the new version gets the alias when no champion exists or its ``val_score`` (mean NDCG@k of the
  cold-user and cold-item validation splits) beats the champion's, as tagged on its model version. Otherwise the
  run and the version are kept, and the alias stays. The GAN is served as part of the autoencoder's bundle, so
  ``coldrec-gan@champion`` follows the autoencoder's alias (its ``gan_val_score`` is tagged, not compared): see
  :func:`promote_gan_with_autoencoder`.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from coldrec.config import Settings, TrainConfig, load_settings
from coldrec.models import plots
from coldrec.models.bundle import save_bundle
from coldrec.models.data import ColdStartData, TrainedModels, ValidationData
from coldrec.models.pyfunc import BUNDLE

AUTOENCODER_NAME = "coldrec-autoencoder"
GAN_NAME = "coldrec-gan"
CHAMPION = "champion"

log = logging.getLogger(__name__)


def configure(settings: Settings) -> MlflowClient:
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri, settings.tracking_uri)


def _is_local_db(uri: str) -> bool:
    return uri.startswith("sqlite:")


def ensure_experiment(settings: Settings) -> str:
    """The experiment id, creating the experiment on first use without racing other processes."""
    from filelock import FileLock

    uri = settings.tracking_uri
    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(home / ".mlflow-experiment.lock")) if _is_local_db(uri) else None
    if lock is not None:
        lock.acquire(timeout=300)
    try:
        client = configure(settings)
        existing = client.get_experiment_by_name(settings.mlflow_experiment)
        if existing is not None:
            return existing.experiment_id
        location = (home / "mlartifacts").resolve().as_uri() if _is_local_db(uri) else None
        try:
            return client.create_experiment(settings.mlflow_experiment, artifact_location=location)
        except MlflowException:
            # another process (e.g. on a remote server) created it between our lookup and create
            existing = client.get_experiment_by_name(settings.mlflow_experiment)
            if existing is None:
                raise
            return existing.experiment_id
    finally:
        if lock is not None:
            lock.release()


def _flat(prefix: str, cfg: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{k}": (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in cfg.items()}


def start_training_run(
    settings: Settings | None,
    cfg: TrainConfig,
    data: ColdStartData,
    validation: ValidationData,
    device: Any,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> mlflow.ActiveRun:
    """Start the run and log parameters (train + feature config, data shapes, device)."""
    settings = settings or load_settings()
    experiment_id = ensure_experiment(settings)
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    params = {
        **_flat("train", cfg.model_dump(mode="json")),
        **_flat("features", settings.features.model_dump(mode="json")),
        "data.n_users": data.n_users,
        "data.n_items": data.n_items,
        "data.n_interactions": int(data.X.nnz),
        "data.user_feature_dim": data.user_features.shape[1],
        "data.item_feature_dim": data.item_features.shape[1],
        "data.val_cold_users": validation.cold_user_features.shape[0],
        "data.val_cold_items": validation.cold_item_features.shape[0],
        "device": str(device),
        "seed": cfg.seed if cfg.seed is not None else settings.seed,
    }
    mlflow.log_params(params)
    mlflow.log_dict(cfg.model_dump(mode="json"), "config/train_config.json")
    mlflow.log_dict(settings.features.model_dump(mode="json"), "config/features_config.json")
    return run


def log_epoch_metrics(model: str, epoch: int, metrics: dict[str, float]) -> None:
    """Per-epoch losses and validation metrics of the active run, ``step=epoch``."""
    if mlflow.active_run() is None:
        return
    clean = {f"{model}_{k}": float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    mlflow.log_metrics(clean, step=epoch)


def chain_callbacks(
    *callbacks: Callable[[str, int, dict[str, float]], None] | None,
) -> Callable[[str, int, dict[str, float]], None]:
    active = [c for c in callbacks if c is not None]

    def call(model: str, epoch: int, metrics: dict[str, float]) -> None:
        for c in active:
            c(model, epoch, metrics)

    return call


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("torch", "numpy", "scipy", "mlflow", "pydantic")]


def _log_model(models: TrainedModels, bundle: Path, kind: str, data: ColdStartData) -> Any:
    code_dir = Path(__file__).resolve().parent
    n = min(2, data.n_users)
    features = data.user_features[:n]
    if kind == "autoencoder":
        example = {"history": data.X[:n].toarray().astype(np.float32), "user_features": features}
        output = models.score_users(example["history"], features)
        python_model, name, registered = str(code_dir / "mlflow_autoencoder.py"), "autoencoder", AUTOENCODER_NAME
    else:
        example = {"user_features": features}
        output = models.gan_interactions(features)
        python_model, name, registered = str(code_dir / "mlflow_gan.py"), "gan", GAN_NAME
    signature = mlflow.models.infer_signature(example, output)
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=python_model,
        artifacts={BUNDLE: str(bundle)},
        signature=signature,
        input_example=example,
        registered_model_name=registered,
        pip_requirements=_pip_requirements(),
    )


def promote_if_better(client: MlflowClient, name: str, version: str, score: float, key: str = "val_score") -> bool:
    """Tag the version with its score; move ``champion`` to it if there is none or it beats the champion's score."""
    client.set_model_version_tag(name, version, key, repr(float(score)))
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    if champion is not None and champion.version == str(version):
        return True
    champion_score = -math.inf
    if champion is not None:
        raw = (champion.tags or {}).get(key)
        champion_score = float(raw) if raw is not None else -math.inf
    better = math.isfinite(score) and (champion is None or score > champion_score)
    if better:
        client.set_registered_model_alias(name, CHAMPION, str(version))
    return better


def promote_gan_with_autoencoder(client: MlflowClient, gan_version: str, gan_score: float, ae_promoted: bool) -> bool:
    """Tag the GAN version with its own validation score; move ``coldrec-gan@champion`` to it exactly when the
    autoencoder of the same training run was promoted.

    Why not a champion rule of its own: serving uses the GAN bundled with the autoencoder champion (GAN-densified
    CF, and the cold-user scorer "gan_ae" folds its generated interactions into that autoencoder), and that pairing
    is what was validated. A GAN alias moved by its own score would name a generator that serving never loads (or
    pair an autoencoder with a GAN of another run, on another catalog, never validated together). So the alias
    always names the GAN that serving uses, and :func:`load_champion` checks that it does.
    """
    client.set_model_version_tag(GAN_NAME, gan_version, "gan_val_score", repr(float(gan_score)))
    if ae_promoted:
        client.set_registered_model_alias(GAN_NAME, CHAMPION, str(gan_version))
    return ae_promoted


def finish_training_run(
    models: TrainedModels,
    settings: Settings | None,
    data: ColdStartData,
    validation: ValidationData,
    *,
    category_names: np.ndarray | None = None,
    extra_artifacts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Log final metrics, plots and both models; register them; apply the champion rule; end the run."""
    settings = settings or load_settings()
    client = configure(settings)
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("finish_training_run needs the run start_training_run opened")
    info: dict[str, Any] = {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id}
    try:
        final = {f"final_{k}": float(v) for k, v in models.validation.items() if math.isfinite(float(v))}
        mlflow.log_metrics(final)
        mlflow.set_tag("cold_user_choice", models.cold_user_choice)
        for name, payload in (extra_artifacts or {}).items():
            mlflow.log_dict(payload, name)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for path in (
                plots.loss_curves(models, folder),
                plots.metric_curves(models, folder),
                plots.embedding_projection(models, folder, category_names),
            ):
                mlflow.log_artifact(str(path), "plots")
            bundle = save_bundle(models, folder / "bundle")
            cfg = models.config
            ae_info = _log_model(models, bundle, "autoencoder", data)
            ae_version = str(ae_info.registered_model_version)
            info["autoencoder_version"] = ae_version
            info["autoencoder_uri"] = ae_info.model_uri
            score = float(models.validation.get("val_score", float("nan")))
            if cfg.promote:
                info["autoencoder_promoted"] = promote_if_better(client, AUTOENCODER_NAME, ae_version, score)
            else:
                client.set_model_version_tag(AUTOENCODER_NAME, ae_version, "val_score", repr(score))
                info["autoencoder_promoted"] = False
            if models.gan is not None:
                gan_info = _log_model(models, bundle, "gan", data)
                gan_version = str(gan_info.registered_model_version)
                gan_score = float(models.validation.get("gan_val_score", float("nan")))
                info["gan_version"] = gan_version
                info["gan_promoted"] = promote_gan_with_autoencoder(
                    client, gan_version, gan_score, bool(info["autoencoder_promoted"])
                )
        mlflow.set_tags({k: str(v) for k, v in info.items() if k.endswith(("promoted", "version"))})
    finally:
        mlflow.end_run()
    models.mlflow = info
    return info


def load_champion(settings: Settings | None = None, name: str = AUTOENCODER_NAME) -> TrainedModels:
    """The champion's :class:`TrainedModels` (``models:/coldrec-autoencoder@champion`` by default)."""
    settings = settings or load_settings()
    client = configure(settings)
    # resolve the alias once, then load that exact version: a promotion in between cannot mix two versions
    version = client.get_model_version_by_alias(name, CHAMPION).version
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    models = model.unwrap_python_model().models
    models.mlflow = {**(models.mlflow or {}), "version": f"{name}/{version}"}
    # the last day of data it was trained on (the training run's tag): the nightly tuning must not measure the
    # champion on interactions it has seen
    run_id = client.get_model_version(name, version).run_id
    trained_through = client.get_run(run_id).data.tags.get("run_date") if run_id else None
    if trained_through:
        models.mlflow["trained_through"] = trained_through
    if name == AUTOENCODER_NAME and models.gan is not None:
        _check_bundled_gan(client, models, run_id)
    return models


def _check_bundled_gan(client: MlflowClient, models: TrainedModels, ae_run_id: str | None) -> None:
    """Keep the GAN bundled with the autoencoder champion only if it is ``coldrec-gan@champion`` (same training
    run); otherwise serving would use a GAN that was never promoted, so it scores without one (and says so)."""
    try:
        gan = client.get_model_version_by_alias(GAN_NAME, CHAMPION)
    except MlflowException:
        gan = None
    if gan is not None and ae_run_id is not None and gan.run_id == ae_run_id:
        models.mlflow["gan_version"] = f"{GAN_NAME}/{gan.version}"
        return
    where = "no coldrec-gan champion" if gan is None else f"{GAN_NAME}@{CHAMPION} is version {gan.version} of run " \
        f"{gan.run_id}, not the autoencoder champion's run {ae_run_id}"  # fmt: skip
    log.warning("the GAN bundled with the autoencoder champion is not the promoted GAN (%s): serving without it", where)
    models.gan = None
    models.mlflow["gan_dropped"] = where


class RegistryUnavailableError(RuntimeError):
    """The MLflow registry could not be asked (down, unreachable, refusing): not the same as "no champion"."""


#: what the registry answers when the model or its alias does not exist (the only "no champion" answers)
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def no_champion(exc: BaseException) -> bool:
    """Whether ``exc`` says there is no champion, as opposed to the registry being unreachable.

    Why the distinction matters: treating "MLflow is down" as "no champion" made ``ensure_champion`` train and try
    to register a new model, and made scoring silently publish lists without the learned models. The decision
    (docs/reliability.md): no local cache of the champion; the task fails with :class:`RegistryUnavailableError`
    and Airflow's retries try again, so a night never publishes lists of a different kind than its champion's.
    """
    return isinstance(exc, MlflowException) and exc.error_code in _NOT_FOUND


def registry_unavailable(settings: Settings, exc: BaseException) -> RegistryUnavailableError:
    return RegistryUnavailableError(
        f"the MLflow registry at {settings.tracking_uri} could not be reached ({type(exc).__name__}: "
        f"{str(exc)[:300]}); the task fails so that Airflow retries it: nothing was trained, scored or published"
    )


def champion_version(settings: Settings | None = None, name: str = AUTOENCODER_NAME) -> str | None:
    """The version number the ``champion`` alias points at, or None when there is none; raises
    :class:`RegistryUnavailableError` when the registry cannot be asked."""
    settings = settings or load_settings()
    client = configure(settings)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception as exc:
        if no_champion(exc):
            return None
        raise registry_unavailable(settings, exc) from exc
