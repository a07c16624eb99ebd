"""spark-submit entry point: CF similarities of a run date (``gold.item_similarity``, ``gold.user_similarity``,
``gold.similar_items``), building ``gold.interactions`` first when it is missing.

    spark-submit --conf ... jobs/compute_similarities.py --date 2024-05-01 [--metric pearson] [--shrinkage 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="run date YYYY-MM-DD")
    parser.add_argument("--metric", choices=["cosine", "pearson", "jaccard"])
    parser.add_argument("--shrinkage", type=float)
    parser.add_argument("--min-support", type=int)
    parser.add_argument("--top-k", type=int)
    args = parser.parse_args(argv)

    from coldrec.cf.pipeline import run_similarities
    from coldrec.config import load_settings
    from coldrec.spark import build_spark

    overrides = {
        "metric": args.metric,
        "shrinkage": args.shrinkage,
        "min_support": args.min_support,
        "top_k": args.top_k,
    }
    settings = load_settings({"similarity": {k: v for k, v in overrides.items() if v is not None}})
    spark = build_spark("coldrec-similarities", settings)
    try:
        print(json.dumps(run_similarities(spark, settings, args.date), sort_keys=True))
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
