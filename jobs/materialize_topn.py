"""spark-submit entry point: quality gate, then publish the run's top-N lists to gold.recommendations.

spark-submit jobs/materialize_topn.py --date 2026-11-01 [--landing ... --lake ...] [--gate-only | --skip-gate]
"""

from __future__ import annotations

import argparse
import datetime as dt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--landing")
    parser.add_argument("--lake")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--gate-only", action="store_true", help="run the quality gate and stop")
    mode.add_argument("--publish-only", action="store_true", help="publish a run whose gate already passed")
    args = parser.parse_args(argv)

    from coldrec.config import load_settings
    from coldrec.publish import publish_recommendations, run_gate
    from coldrec.spark import build_spark

    settings = load_settings({"landing_uri": args.landing, "lake_uri": args.lake})
    spark = build_spark("coldrec-materialize-topn", settings)
    try:
        if not args.publish_only:
            run_gate(spark, settings, args.date)
        if not args.gate_only:
            rows = publish_recommendations(spark, settings, args.date)
            print(f"published {rows} rows to gold.recommendations for {args.date}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
