"""The blend tuning's coverage weight on an evaluation data set: NDCG@10 against catalog coverage of coldrec's
published lists, one point per ``COLDREC_RECOMMEND__COVERAGE_WEIGHT``, on the validation fold and the test side.

Why a bench and not one harness run per weight: the weight changes only the tuning objective. One fit per seed
(validation folds, features, sources) serves every weight: :meth:`ColdrecMethod.tune_on` re-tunes the blend and
the list slots on the same folds, and the lists are ranked by the harness's own path (the nightly's ``Ranker``).
``bench/coverage_curve.py`` measures the same trade-off on a kept nightly lake.

    python bench/coverage_weights.py --dataset ../shared/data/amazon-beauty --split warm --seeds 42,43,44 \
        [--weights 0,0.05,0.1,0.25,1.0] [--models] [--png docs/img/coverage-weight-beauty.png]

Per seed and weight one line (validation and test NDCG@10, coverage@10 = distinct items in the users' top 10 over
the catalogue, the ratio of both to weight 0 of the same seed); then, over the seeds, the mean and 95% interval of
each ratio. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.tradeoff_plot import plot_tradeoff
from coldrec.config import Settings
from coldrec.evaluate.coldrec_method import ColdrecMethod, _rows_of
from coldrec.evaluate.dataset import load_dataset
from coldrec.evaluate.harness import Prepared, build_context
from coldrec.evaluate.seeds import t_interval
from coldrec.ranking.blend import list_coverage
from coldrec.ranking.lists import Ranker
from coldrec.ranking.metrics import ndcg_at_k

K = 10


def run_seed(prepared: Prepared, split: str, seed: int, weights: list[float], models: bool) -> list[dict]:
    """One fit of coldrec on ``split`` (seed ``seed``), re-tuned and ranked for every weight."""
    settings = Settings()
    ctx = build_context(prepared, split, seed=seed)
    method = ColdrecMethod(settings.train, settings.recommend, seed, lambda *_: None, use_models=models)
    started = time.perf_counter()
    setups, folds = method.tuning_folds(ctx)
    method.fit_final(ctx)
    fit_s = time.perf_counter() - started
    fold = setups[0]
    n_items = ctx.truth.shape[1]
    rows = []
    for weight in weights:
        method.tune_on(setups, folds, weight)
        vcat = _rows_of(method.catalog(fold.vctx, fold.feats), fold.keep)
        val = Ranker(fold.sources, method.weights, method.list_cfg, K).top_items(vcat)[0]
        test = method.rank_context(ctx, K)
        rows.append({
            "seed": seed, "coverage_weight": weight, "fit_s": round(fit_s, 1),
            "val_ndcg": ndcg_at_k(val, fold.vctx.truth[fold.keep], K), "val_coverage": list_coverage(val, n_items),
            "test_ndcg": ndcg_at_k(test, ctx.truth, K), "test_coverage": list_coverage(test, n_items),
            "cross_category_slots": method.cross_category_slots, "new_item_slots": method.new_item_slots,
            "weights": method.weights.to_dict(),
        })  # fmt: skip
    base = rows[weights.index(0.0)] if 0.0 in weights else rows[0]
    for row in rows:
        for key in ("val_ndcg", "val_coverage", "test_ndcg", "test_coverage"):
            row[f"{key}_ratio"] = row[key] / base[key] if base[key] else float("nan")
    return rows


def pooled(rows: list[dict], weights: list[float]) -> dict[str, dict[str, list[float]]]:
    """Per weight: [mean, low, high] (95% Student-t interval over the seeds) of each figure and ratio."""
    out: dict[str, dict[str, list[float]]] = {}
    for weight in weights:
        mine = [r for r in rows if r["coverage_weight"] == weight]
        out[str(weight)] = {
            key: [round(v, 5) for i, v in enumerate(t_interval([r[key] for r in mine])) if i != 1]
            for key in ("test_ndcg", "test_coverage", "test_ndcg_ratio", "test_coverage_ratio", "val_ndcg",
                        "val_coverage")
        }  # fmt: skip
    return out


def plot(summary: dict[str, dict[str, list[float]]], title: str, png: Path) -> None:
    plot_tradeoff(
        [(float(w), v["test_coverage"][0] * 100, v["test_ndcg"][0], "") for w, v in summary.items()],
        png, title, "catalog coverage@10 of the test users' lists (%)", "test NDCG@10 (mean over the seeds)",
        "w = COLDREC_RECOMMEND__COVERAGE_WEIGHT (tuned on validation, lists as published)",
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="warm")
    ap.add_argument("--seeds", default="42")
    ap.add_argument("--weights", default="0,0.05,0.1,0.25,1.0")
    ap.add_argument("--models", action="store_true")
    ap.add_argument("--png", type=Path)
    a = ap.parse_args()
    weights = [float(w) for w in a.weights.split(",")]
    prepared = Prepared.build(load_dataset(a.dataset))
    rows: list[dict] = []
    for seed in (int(s) for s in a.seeds.split(",")):
        for row in run_seed(prepared, a.split, seed, weights, a.models):
            rows.append(row)
            print(f"seed {seed} w={row['coverage_weight']:<5} val NDCG {row['val_ndcg']:.4f} cov "
                  f"{row['val_coverage']:.3f} | test NDCG {row['test_ndcg']:.4f} ({row['test_ndcg_ratio']:.3f}x) "
                  f"cov {row['test_coverage']:.3f} ({row['test_coverage_ratio']:.2f}x) fit {row['fit_s']} s",
                  flush=True)  # fmt: skip
    summary = pooled(rows, weights)
    for weight, figures in summary.items():
        ndcg, cov = figures["test_ndcg_ratio"], figures["test_coverage_ratio"]
        print(f"w={weight:<5} NDCG ratio {ndcg[0]:.3f} [{ndcg[1]:.3f}, {ndcg[2]:.3f}]  "
              f"coverage ratio {cov[0]:.2f} [{cov[1]:.2f}, {cov[2]:.2f}]")  # fmt: skip
    if a.png:
        n_seeds = len({r["seed"] for r in rows})
        plot(summary, f"{prepared.ds.name} {a.split}: coverage weight ({n_seeds} seeds)", a.png)
    print(json.dumps({"dataset": prepared.ds.name, "split": a.split, "models": a.models, "summary": summary,
                      "runs": rows}, default=float))  # fmt: skip


if __name__ == "__main__":
    main()
