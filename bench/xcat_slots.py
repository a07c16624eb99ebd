"""Cross-category slots: NDCG@10 and the cross-category pair hit rate of coldrec's published lists per slot count
and slot order, on the validation fold (what the tuning sees) and on the test side, from one fitted coldrec.

Why a bench and not a harness row per setting: every setting ranks the same fitted coldrec through the same
:class:`coldrec.ranking.lists.Ranker`; only the list step differs, so one fit serves the whole grid.

    python bench/xcat_slots.py --dataset ../shared/data/movielens-100k --split warm --seed 42 [--models]

Ends with one JSON line: per (order, slots) the validation and test NDCG@10 and pair hit rate, and the ratios to
the same lists without slots.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from coldrec.config import Settings
from coldrec.evaluate.coldrec_method import ColdrecMethod, _rows_of
from coldrec.evaluate.dataset import load_dataset
from coldrec.evaluate.harness import Prepared, build_context, pair_hit_rate
from coldrec.ranking.lists import Ranker
from coldrec.ranking.metrics import ndcg_at_k

K = 10


def _measure(method: ColdrecMethod, sources, catalog, truth, pairs, cfg) -> dict[str, float]:
    top = Ranker(sources, method.weights, cfg, K).top_items(catalog)[0]
    out = {"ndcg": ndcg_at_k(top, truth, K)}
    rate = pair_hit_rate(top, pairs, K)
    out["xcat"] = float("nan") if rate is None else rate
    return out


def run(dataset: str, split: str, seed: int, slots: list[int], orders: list[str], models: bool) -> dict:
    settings = Settings()
    prepared = Prepared.build(load_dataset(dataset))
    ctx = build_context(prepared, split, seed=seed)
    method = ColdrecMethod(settings.train, settings.recommend, seed, lambda *_: None, use_models=models)
    t0 = time.perf_counter()
    method.fit_context(ctx)
    fit_s = time.perf_counter() - t0
    fold = method._validation_fold(ctx, seed + 1)
    vctx, keep = fold.vctx, fold.keep
    vcat = _rows_of(method.catalog(vctx, fold.feats), keep)
    vpairs = vctx.extras["segments"]["cross_category"][keep]
    tcat = method.catalog(ctx)
    tpairs = ctx.extras["segments"]["cross_category"]
    grid: dict[str, dict[str, float]] = {}
    for order in orders:
        for n in slots:
            cfg = settings.recommend.model_copy(update={"cross_category_slots": n, "cross_category_order": order})
            val = _measure(method, fold.sources, vcat, vctx.truth[keep], vpairs, cfg)
            test = _measure(method, method.sources, tcat, ctx.truth, tpairs, cfg)
            grid[f"{order}/{n}"] = {"val_ndcg": val["ndcg"], "val_xcat": val["xcat"], "test_ndcg": test["ndcg"],
                                    "test_xcat": test["xcat"]}  # fmt: skip
    for key, row in grid.items():
        base = grid[f"{key.split('/')[0]}/0"]
        for side in ("val", "test"):
            row[f"{side}_ndcg_ratio"] = row[f"{side}_ndcg"] / base[f"{side}_ndcg"]
            row[f"{side}_xcat_ratio"] = row[f"{side}_xcat"] / base[f"{side}_xcat"] if base[f"{side}_xcat"] else np.nan
    return {"dataset": prepared.ds.name, "split": split, "seed": seed, "models": models, "fit_s": round(fit_s, 1),
            "new_item_slots": getattr(method, "new_item_slots", None), "weights": method.weights.to_dict(),
            "grid": {k: {m: round(float(v), 5) for m, v in row.items()} for k, row in grid.items()}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="warm")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--slots", default="0,1,2,3,4,5")
    ap.add_argument("--orders", default="affinity,score")
    ap.add_argument("--models", action="store_true")
    a = ap.parse_args()
    out = run(a.dataset, a.split, a.seed, [int(x) for x in a.slots.split(",")], a.orders.split(","), a.models)
    for key, row in out["grid"].items():
        print(f"{key:<12} val NDCG {row['val_ndcg']:.4f} ({row['val_ndcg_ratio']:.3f}x) xcat {row['val_xcat']:.4f} "
              f"({row['val_xcat_ratio']:.2f}x) | test NDCG {row['test_ndcg']:.4f} ({row['test_ndcg_ratio']:.3f}x) "
              f"xcat {row['test_xcat']:.4f} ({row['test_xcat_ratio']:.2f}x)")  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
