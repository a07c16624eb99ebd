"""spark-submit entry point: item and user features of a run date (``gold.item_features``, ``gold.user_features``).

    spark-submit --conf ... jobs/build_features.py --date 2024-05-01 [--text-encoder minilm] [--kmeans-k 6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="run date YYYY-MM-DD")
    parser.add_argument("--text-encoder", choices=["tfidf", "minilm"], help="COLDREC_FEATURES__TEXT_ENCODER")
    parser.add_argument("--kmeans-k", type=int, help="fixed user-portrait k (default: chosen by silhouette)")
    args = parser.parse_args(argv)

    from coldrec.config import load_settings
    from coldrec.features.job import run_features
    from coldrec.spark import build_spark

    overrides = {"text_encoder": args.text_encoder, "kmeans_k": args.kmeans_k}
    settings = load_settings({"features": {k: v for k, v in overrides.items() if v is not None}})
    spark = build_spark("coldrec-features", settings)
    try:
        print(json.dumps(run_features(spark, settings, args.date), sort_keys=True))
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
