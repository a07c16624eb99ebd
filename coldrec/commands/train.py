"""``coldrec features`` and ``coldrec train``: the feature step and the training step of a run date."""

from __future__ import annotations

import json
from typing import Literal

import typer

from coldrec.commands._common import DateOpt, LakeOpt, LandingOpt, parse_date, settings_for


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def register(app: typer.Typer) -> None:
    @app.command("features")
    def features_cmd(
        date: str = DateOpt,
        text_encoder: Literal["tfidf", "minilm"] | None = typer.Option(
            None, "--text-encoder", help="title/description encoder (COLDREC_FEATURES__TEXT_ENCODER, default tfidf)"
        ),
        kmeans_k: int | None = typer.Option(
            None, "--kmeans-k", min=2, help="fixed user-portrait k (default: chosen by silhouette)"
        ),
        landing: str | None = LandingOpt,
        lake: str | None = LakeOpt,
    ) -> None:
        """Build gold.item_features and gold.user_features for --date from silver.items/users + gold.interactions."""
        from pyspark.sql import SparkSession

        from coldrec.features.job import run_features
        from coldrec.spark import build_spark

        run_date = parse_date(date)
        settings = settings_for(landing, lake, features=_clean({"text_encoder": text_encoder, "kmeans_k": kmeans_k}))
        owned = SparkSession.getActiveSession() is None  # never stop a session somebody else started (tests)
        spark = build_spark("coldrec-features", settings)
        try:
            typer.echo(json.dumps(run_features(spark, settings, run_date), sort_keys=True))
        finally:
            if owned:
                spark.stop()

    @app.command("train")
    def train_cmd(
        date: str = DateOpt,
        epochs: int | None = typer.Option(None, "--epochs", min=1, help="max epochs (COLDREC_TRAIN__EPOCHS)"),
        models: str | None = typer.Option(
            None, "--models", help="comma-separated: autoencoder,gan (COLDREC_TRAIN__MODELS)"
        ),
        batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="users per batch"),
        device: Literal["auto", "cpu", "cuda"] | None = typer.Option(None, "--device", help="default auto"),
        seed: int | None = typer.Option(None, "--seed", help="default COLDREC_SEED"),
        patience: int | None = typer.Option(None, "--patience", min=1, help="early-stopping patience (epochs)"),
        promote: bool = typer.Option(
            True, "--promote/--no-promote", help="move the 'champion' alias when the new version beats it"
        ),
        record_metrics: bool = typer.Option(
            True, "--record-metrics/--no-record-metrics", help="write the run's figures to ops.run_metrics (Spark)"
        ),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="rich progress bars"),
        landing: str | None = LandingOpt,
        lake: str | None = LakeOpt,
    ) -> None:
        """Train the autoencoder and the GAN on --date's features and interactions; log, register, pick champion."""
        from coldrec.models.pipeline import run_training

        run_date = parse_date(date)
        model_list = None
        if models is not None:
            model_list = [m.strip() for m in models.split(",") if m.strip()]
            unknown = set(model_list) - {"autoencoder", "gan"}
            if unknown or "autoencoder" not in model_list:
                raise typer.BadParameter("--models takes autoencoder[,gan] (the autoencoder is always trained)")
        train = _clean(
            {
                "epochs": epochs,
                "models": model_list,
                "batch_size": batch_size,
                "device": device,
                "seed": seed,
                "patience": patience,
                "promote": promote,
            }
        )
        settings = settings_for(landing, lake, train=train)
        _, summary = run_training(settings, run_date, record_metrics=record_metrics, show_progress=progress)
        typer.echo(json.dumps(summary, sort_keys=True, default=str))
