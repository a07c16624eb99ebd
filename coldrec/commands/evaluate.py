"""``coldrec evaluate --dataset PATH``: every method (tuned baselines and coldrec) on the warm, cold-user, cold-item
(two variants), few-shot and stratified-anchor splits of a data set, over one or several seeds; a rich table, JSON
rows, a Markdown report with plots, MLflow."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # the command imports its stage on call (``coldrec --help`` stays light)
    from rich.console import Console

    from coldrec.config import Settings
    from coldrec.evaluate.baselines import Method
    from coldrec.evaluate.dataset import EvalDataset
    from coldrec.evaluate.harness import HarnessResult, Prepared


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        dataset: str = typer.Option(
            ..., "--dataset", help="MovieLens-100K, Amazon S3-Rec, ratings.csv + items.csv folder or landing folder"
        ),
        json_path: str | None = typer.Option(None, "--json", help="also write the table as JSON rows to this file"),
        k: list[int] = typer.Option([10, 50], "--k", help="cut-offs (repeat: --k 10 --k 50)"),
        seed: int = typer.Option(42, "--seed", help="seed of every split and model (the first seed with --seeds)"),
        seeds: int = typer.Option(
            1, "--seeds", min=1, help="run N seeds (seed, seed+1, ...): mean, std and 95%% interval of every metric"
        ),
        splits: str = typer.Option(
            "warm,cold_user,cold_item,stratified",
            "--splits",
            help="comma-separated: warm, cold_user, cold_item, cold_item_all, few_shot (= few_shot_1,3,5), "
            "few_shot_<n>, stratified",
        ),
        lists: bool = typer.Option(
            True, "--lists/--no-lists", help="also coldrec's lists without the cross-category slots (same fit)"
        ),
        tune: bool = typer.Option(
            True, "--tune/--no-tune", help="tune the baselines' settings on coldrec's validation split"
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
        from coldrec.evaluate.splits import expand_splits

        opts = EvalOptions(dataset, json_path, tuple(k), seed, seeds, splits, lists, tune, methods, min_rating,
                           test_share, no_coldrec, models, out, mlflow)  # fmt: skip
        console = Console() if sys.stdout.isatty() else Console(width=140)
        overrides: dict[str, Any] = {"seed": seed}
        if epochs is not None:
            overrides["train"] = {"epochs": epochs}
        settings = settings_for(**overrides)
        try:
            split_list = expand_splits([s.strip() for s in splits.split(",") if s.strip()])
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        t0 = time.perf_counter()
        ds, prepared = _load(opts, console)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = Path(out) if out else Path(settings.home) / "reports" / "evaluate" / f"{ds.name}-{stamp}"
        results = _run_seeds(opts, settings, prepared, split_list, folder, console)
        _report(opts, settings, ds.name, results, folder, time.perf_counter() - t0, console)


@dataclass(frozen=True)
class EvalOptions:
    """The flags of ``coldrec evaluate`` that its steps read (see the command's help for each)."""

    dataset: str
    json_path: str | None
    k: tuple[int, ...]
    seed: int
    seeds: int
    splits: str
    lists: bool
    tune: bool
    methods: str | None
    min_rating: float
    test_share: float
    no_coldrec: bool
    models: bool
    out: str | None
    mlflow: bool


def _load(opts: EvalOptions, console: Console) -> tuple[EvalDataset, Prepared]:
    """The data set and its prepared interactions, with a one-line description of what was read."""
    from coldrec.evaluate.dataset import load_dataset
    from coldrec.evaluate.harness import Prepared

    with console.status(f"loading {opts.dataset}"):
        ds = load_dataset(opts.dataset)
        prepared = Prepared.build(ds, min_rating=opts.min_rating)
    console.print(
        f"[bold]{ds.name}[/] ({ds.source}): {len(ds.events):,} events, {prepared.enc.n_users:,} users, "
        f"{prepared.enc.n_items:,} items, {int(prepared.inter['positive'].sum()):,} positive pairs "
        f"(rating >= {opts.min_rating:g} or purchase/cart/favorite)"
    )
    return ds, prepared


def _methods_for(opts: EvalOptions, settings: Settings, run_seed: int, console: Console) -> list[Method]:
    """Fresh methods per seed (the tuned settings and coldrec's models are per split and seed)."""
    from coldrec.evaluate import baselines as B
    from coldrec.evaluate.tuning import tuned_baselines

    out = tuned_baselines(opts.test_share) if opts.tune else B.default_baselines()
    if not opts.no_coldrec:
        from coldrec.evaluate.coldrec_method import ColdrecMethod
        from coldrec.evaluate.published import PublishedLists, WithoutSource

        ours = ColdrecMethod(settings.train, settings.recommend, run_seed, console.print, opts.test_share,
                             use_models=opts.models)  # fmt: skip
        rec = settings.recommend
        out.append(ours)
        if opts.lists:  # coldrec ranks through the published path (caps + slots); the same fit without slots
            out.append(PublishedLists(ours, max(opts.k), rec.per_category_cap, 0, rec.candidate_pool,
                                      name="coldrec-noslots"))  # fmt: skip
        if opts.models and "gan" in settings.train.models:  # the same fit with the GAN's weight set to 0
            out.append(WithoutSource(ours, "gan", name="coldrec-nogan"))
    if opts.methods:
        wanted = {m.strip() for m in opts.methods.split(",")}
        unknown = wanted - {m.name for m in out}
        if unknown:
            raise typer.BadParameter(f"unknown method(s) {sorted(unknown)}; have {[m.name for m in out]}")
        out = [m for m in out if m.name in wanted or (m.name.startswith("coldrec-") and "coldrec" in wanted)]
    return out


def _run_seeds(opts: EvalOptions, settings: Settings, prepared: Prepared, split_list: list[str], folder: Path,
               console: Console) -> list[HarnessResult]:  # fmt: skip
    """The harness once per seed; each seed's rows are written to ``seed-<n>.json`` as soon as it is done."""
    from coldrec.evaluate import report
    from coldrec.evaluate.harness import run_harness

    k = opts.k

    def progress(method: str, split: str, values: dict[str, float]) -> None:
        console.print(
            f"  {split:<14} {method:<20} NDCG@{k[0]} {values.get(f'ndcg@{k[0]}', float('nan')):.4f}  "
            f"fit {values['fit_s']:.1f}s  score {values['score_s']:.1f}s",
            highlight=False,
        )

    results = []
    for run_seed in range(opts.seed, opts.seed + opts.seeds):
        if opts.seeds > 1:
            console.print(f"[bold]seed {run_seed}[/] ({run_seed - opts.seed + 1} of {opts.seeds})")
        candidates = _methods_for(opts, settings, run_seed, console)
        res = run_harness(prepared, candidates, split_list, k, run_seed, opts.test_share, on_progress=progress)
        coldrec = next((m for m in candidates if m.name == "coldrec"), None)
        reports: dict[str, object] | None = getattr(coldrec, "reports", None)
        if reports:
            res.notes.extend(f"coldrec [{s}] seed {run_seed}: {r}" for s, r in reports.items())
        results.append(res)
        # a long run keeps what it finished: one file per seed as it goes (single-seed runs can be pooled later)
        report.write_json_rows({"seed": run_seed, "rows": res.rows, "tuned": res.tuned, "notes": res.notes},
                               folder / f"seed-{run_seed}.json")  # fmt: skip
    return results


def _report(opts: EvalOptions, settings: Settings, dataset: str, results: list[HarnessResult], folder: Path,
            seconds: float, console: Console) -> None:  # fmt: skip
    """The seeds pooled: tables on the console, JSON rows, summary, Markdown report, and the MLflow run."""
    from coldrec.evaluate import report
    from coldrec.evaluate import seeds as SD

    summary = SD.summarize(results)
    result = results[0] if opts.seeds == 1 else SD.mean_result(results, summary)
    result.notes.extend(_notes(opts, summary.seeds, seconds))
    report.print_tables(result, console, ratios=opts.seeds == 1)
    if opts.seeds > 1:
        SD.print_summary(summary, console)
    rows = [{**row, "seed": r.seed} for r in results for row in r.rows]
    if opts.json_path:
        console.print(f"JSON rows: {report.write_json_rows(rows, opts.json_path)}")
    report.write_json_rows(rows, folder / "results.json")
    report.write_json_rows(
        {
            "seeds": summary.seeds,
            "metrics": summary.metrics,
            "ratios": summary.ratios,
            "tuned": summary.tuned,
            "slots": summary.slots,
        },
        folder / "summary.json",
    )
    command = "coldrec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    md = report.write_markdown(result, folder, command, extra=SD.markdown(summary, ratios=opts.seeds > 1),
                               ratios=opts.seeds == 1)  # fmt: skip
    console.print(f"report: {md}")
    if opts.mlflow:
        params = {"dataset": dataset, "seed": opts.seed, "seeds": opts.seeds, "tune": opts.tune,
                  "k": ",".join(map(str, opts.k)), "splits": opts.splits, "min_rating": opts.min_rating,
                  "test_share": opts.test_share, "epochs": settings.train.epochs, "models": opts.models}  # fmt: skip
        extra = {f"{r['split']}.ratio_ndcg_at_10_{end}": float(value) for r in summary.ratios
                 for end, value in (("low", r["ratio_low"]), ("high", r["ratio_high"])) if opts.seeds > 1}  # fmt: skip
        run_id = report.log_to_mlflow(result, folder, settings.tracking_uri, settings.mlflow_experiment, params,
                                      extra)  # fmt: skip
        console.print(f"MLflow run {run_id} at {settings.tracking_uri}")


def _notes(opts: EvalOptions, seed_list: list[int], seconds: float) -> list[str]:
    """What the report says about how the figures were made."""
    notes = [f"positives: rating >= {opts.min_rating:g}, or purchase/cart/favorite events when unrated"]
    if not opts.models and not opts.no_coldrec:
        notes.append(
            "coldrec ran without the learned models (--no-models): item-kNN, EASE, content, "
            "content neighbours and popularity only"
        )
    if opts.tune:
        notes.append("baselines tuned on coldrec's validation split (settings: 'Tuned baseline settings')")
    if opts.seeds > 1:
        notes.append(f"per-split tables hold the means over seeds {seed_list}")
    notes.append(f"total wall time {seconds:.0f} s")
    return notes
