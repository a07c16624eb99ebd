"""``coldrec evaluate --dataset PATH``: every method (baselines and coldrec) on the warm, cold-user, cold-item and
stratified-anchor splits of a data set, in one run; a rich table, JSON rows, a Markdown report with plots, MLflow."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
import time
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        dataset: str = typer.Option(..., "--dataset", help="MovieLens-100K / Amazon S3-Rec / ratings.csv+items.csv folder or a landing folder"),
        json_path: str | None = typer.Option(None, "--json", help="also write the table as JSON rows to this file"),
        k: list[int] = typer.Option([10, 50], "--k", help="cut-offs (repeat: --k 10 --k 50)"),
        seed: int = typer.Option(42, "--seed", help="seed of every split and model"),
        splits: str = typer.Option(
            "warm,cold_user,cold_item,stratified",
            "--splits",
            help="comma-separated: warm, cold_user, cold_item, stratified",
        ),
        methods: str | None = typer.Option(
            None, "--methods", help="comma-separated subset of methods (default: every baseline + coldrec)"
        ),
        min_rating: float = typer.Option(4.0, "--min-rating", help="a rating >= this is a positive"),
        test_share: float = typer.Option(0.2, "--test-share", help="held-out share of the warm/cold splits"),
        epochs: int | None = typer.Option(None, "--epochs", help="training epochs of the coldrec models"),
        no_coldrec: bool = typer.Option(False, "--no-coldrec", help="baselines only (no model training)"),
        models: bool = typer.Option(
            True, "--models/--no-models", help="coldrec with the autoencoder + GAN (off: only untrained sources)"
        ),
        out: str | None = typer.Option(None, "--out", help="run folder (default: <home>/reports/evaluate/<name>-<ts>)"),
        mlflow: bool = typer.Option(True, "--mlflow/--no-mlflow", help="log the run to MLflow"),
    ) -> None:
        """Evaluate baselines and coldrec on reproducible splits; print the full table (methods x splits x metrics)."""
        from rich.console import Console

        from coldrec.commands._common import settings_for
        from coldrec.evaluate import baselines as B
        from coldrec.evaluate import report
        from coldrec.evaluate.dataset import load_dataset
        from coldrec.evaluate.harness import Prepared, run_harness

        console = Console() if sys.stdout.isatty() else Console(width=140)
        overrides: dict[str, object] = {"seed": seed}
        if epochs is not None:
            overrides["train"] = {"epochs": epochs}
        settings = settings_for(**overrides)
        split_list = [s.strip() for s in splits.split(",") if s.strip()]
        t0 = time.perf_counter()
        with console.status(f"loading {dataset}"):
            ds = load_dataset(dataset)
            prepared = Prepared.build(ds, min_rating=min_rating)
        console.print(
            f"[bold]{ds.name}[/] ({ds.source}): {len(ds.events):,} events, {prepared.enc.n_users:,} users, "
            f"{prepared.enc.n_items:,} items, {int(prepared.inter['positive'].sum()):,} positive pairs "
            f"(rating >= {min_rating:g} or purchase/cart/favorite)"
        )
        candidates = B.default_baselines()
        if not no_coldrec:
            from coldrec.evaluate.coldrec_method import ColdrecMethod

            candidates.append(
                ColdrecMethod(settings.train, settings.recommend, seed, console.print, test_share, use_models=models)
            )
        if methods:
            wanted = {m.strip() for m in methods.split(",")}
            unknown = wanted - {m.name for m in candidates}
            if unknown:
                raise typer.BadParameter(f"unknown method(s) {sorted(unknown)}; have {[m.name for m in candidates]}")
            candidates = [m for m in candidates if m.name in wanted]

        def progress(method: str, split: str, values: dict[str, float]) -> None:
            console.print(
                f"  {split:<10} {method:<20} NDCG@{k[0]} {values.get(f'ndcg@{k[0]}', float('nan')):.4f}  "
                f"fit {values['fit_s']:.1f}s  score {values['score_s']:.1f}s",
                highlight=False,
            )

        result = run_harness(prepared, candidates, split_list, tuple(k), seed, test_share, on_progress=progress)
        coldrec = next((m for m in candidates if m.name == "coldrec"), None)
        if coldrec is not None and getattr(coldrec, "reports", None):
            result.notes.extend(f"coldrec [{s}]: {r}" for s, r in coldrec.reports.items())
        result.notes.append(f"positives: rating >= {min_rating:g}, or purchase/cart/favorite events when unrated")
        if not models and not no_coldrec:
            result.notes.append(
                "coldrec ran without the learned models (--no-models): item-kNN, EASE, content, "
                "content neighbours and popularity only"
            )
        result.notes.append(f"total wall time {time.perf_counter() - t0:.0f} s")
        report.print_tables(result, console)
        if json_path:
            console.print(f"JSON rows: {report.write_json(result, json_path)}")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = Path(out) if out else Path(settings.home) / "reports" / "evaluate" / f"{ds.name}-{stamp}"
        report.write_json(result, folder / "results.json")
        command = "coldrec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        md = report.write_markdown(result, folder, command)
        console.print(f"report: {md}")
        if mlflow:
            params = {"dataset": ds.name, "seed": seed, "k": ",".join(map(str, k)), "splits": splits,
                      "min_rating": min_rating, "test_share": test_share, "epochs": settings.train.epochs,
                      "models": models}  # fmt: skip
            run_id = report.log_to_mlflow(result, folder, settings.tracking_uri, settings.mlflow_experiment, params)
            console.print(f"MLflow run {run_id} at {settings.tracking_uri}")
