"""``coldrec interactions`` and ``coldrec similarities``: the CF steps of a run date."""

from __future__ import annotations

import json
from typing import Literal

import typer

from coldrec.commands._common import DateOpt, LakeOpt, LandingOpt, parse_date, settings_for


def register(app: typer.Typer) -> None:
    @app.command("interactions")
    def interactions_cmd(
        date: str = DateOpt,
        landing: str | None = LandingOpt,
        lake: str | None = LakeOpt,
    ) -> None:
        """Build gold.interactions for --date from silver.events (weights, time decay, per-user normalization)."""
        from coldrec.interactions import run_interactions
        from coldrec.spark import build_spark

        run_date = parse_date(date)
        settings = settings_for(landing, lake)
        spark = build_spark("coldrec-interactions", settings)
        try:
            typer.echo(json.dumps(run_interactions(spark, settings, run_date), sort_keys=True))
        finally:
            spark.stop()

    @app.command("similarities")
    def similarities_cmd(
        date: str = DateOpt,
        metric: Literal["cosine", "pearson", "jaccard"] | None = typer.Option(
            None, "--metric", help="similarity metric (COLDREC_SIMILARITY__METRIC, default cosine)"
        ),
        shrinkage: float | None = typer.Option(None, "--shrinkage", min=0, help="sim * n / (n + L)"),
        min_support: int | None = typer.Option(None, "--min-support", min=1, help="min co-occurring users"),
        top_k: int | None = typer.Option(None, "--top-k", min=1, help="neighbours per item / user"),
        landing: str | None = LandingOpt,
        lake: str | None = LakeOpt,
    ) -> None:
        """Item-item and user-user similarities + similar items for --date (builds interactions when missing)."""
        from coldrec.cf.pipeline import run_similarities
        from coldrec.spark import build_spark

        run_date = parse_date(date)
        overrides = {"metric": metric, "shrinkage": shrinkage, "min_support": min_support, "top_k": top_k}
        settings = settings_for(landing, lake, similarity={k: v for k, v in overrides.items() if v is not None})
        spark = build_spark("coldrec-similarities", settings)
        try:
            typer.echo(json.dumps(run_similarities(spark, settings, run_date), sort_keys=True))
        finally:
            spark.stop()
