"""Which text encoder serves cold items better? TF-IDF vs MiniLM on the MovieLens-100K cold-item split.

Both runs use the same seeded split (20% users + 20% items held out), the same models and epochs; only
``FeaturesConfig.text_encoder`` differs. Baseline measured in the same run: user genre-profile cosine; the ratios
printed are NDCG@10 of the autoencoder's content path over that baseline. Needs ../shared/data/movielens-100k (or
--dataset) and a local Spark.

    python bench/text_encoders.py [--dataset PATH] [--epochs 20] [--seed 42]

Last line: JSON with ndcg_cold_items per encoder, the baseline, ratios, and the winner.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from coldrec.config import FeaturesConfig, TrainConfig, load_settings
from coldrec.models.movielens_check import run_movielens_check
from coldrec.spark import build_spark

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    console = Console(stderr=True)
    settings = load_settings({"spark_master": "local[2]", "shuffle_partitions": 2})
    spark = build_spark("coldrec-bench-text", settings, extra_conf={"spark.ui.enabled": "false"})
    cfg = TrainConfig(epochs=args.epochs, device="cpu", seed=args.seed)
    results = {}
    try:
        for encoder in ("tfidf", "minilm"):
            console.print(f"[bold]{encoder}[/]: features + training on MovieLens-100K ...")
            results[encoder] = run_movielens_check(
                spark, args.dataset, cfg, FeaturesConfig(text_encoder=encoder), seed=args.seed
            )
    finally:
        spark.stop()
    baseline = results["tfidf"].ndcg["cold_items_genre_profile"]
    table = Table(title="cold items, NDCG@10 (ranked among held-out items)")
    for col in ("encoder", "autoencoder", "genre-profile", "ratio", "cold users", "features s", "train s"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        table.add_row(name, f"{r.ndcg['cold_items_autoencoder']:.4f}", f"{r.ndcg['cold_items_genre_profile']:.4f}",
                      f"{r.ndcg['cold_items_autoencoder'] / baseline:.2f}x", f"{r.ndcg['cold_users_autoencoder']:.4f}",
                      f"{r.seconds['features']:.0f}", f"{r.seconds['train']:.0f}")
    console.print(table)
    summary = {
        "ndcg_cold_items": {k: round(r.ndcg["cold_items_autoencoder"], 4) for k, r in results.items()},
        "baseline_genre_profile": round(baseline, 4),
        "ratio_to_baseline": {k: round(r.ndcg["cold_items_autoencoder"] / baseline, 3) for k, r in results.items()},
        "ndcg_cold_users": {k: round(r.ndcg["cold_users_autoencoder"], 4) for k, r in results.items()},
        "winner": max(results, key=lambda k: results[k].ndcg["cold_items_autoencoder"]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
