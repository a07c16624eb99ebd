"""spark-submit entry point: the run date's user x item interactions (``gold.interactions``) from ``silver.events``.

spark-submit jobs/build_interactions.py --date 2026-11-01 [--lake ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="run date YYYY-MM-DD")
    parser.add_argument("--lake")
    args = parser.parse_args(argv)

    from coldrec.config import load_settings
    from coldrec.interactions import run_interactions
    from coldrec.spark import build_spark

    settings = load_settings({"lake_uri": args.lake})
    spark = build_spark("coldrec-interactions", settings)
    try:
        print(json.dumps(run_interactions(spark, settings, args.date), sort_keys=True))
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
