"""spark-submit entry point: clean one run date's raw events, items and users into the silver tables.

    spark-submit jobs/clean_events.py --date 2026-11-01 [--until 2026-11-07] [--landing ...] [--lake ...]

Prints one JSON line per run date (the CleanReport). Exit code 3 when a date failed the data-quality gate (its
quarantine and metrics were written, its events were not), 1 on any other error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

DATA_QUALITY_EXIT = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="run date YYYY-MM-DD")
    parser.add_argument("--until", type=dt.date.fromisoformat, help="backfill: last run date, inclusive")
    parser.add_argument("--landing", help="raw input root (overrides COLDREC_LANDING_URI)")
    parser.add_argument("--lake", help="Delta lake root (overrides COLDREC_LAKE_URI)")
    args = parser.parse_args(argv)

    from coldrec.clean import DataQualityError, clean_days
    from coldrec.clean.job import date_range
    from coldrec.config import load_settings
    from coldrec.spark import build_spark

    settings = load_settings({"landing_uri": args.landing, "lake_uri": args.lake})
    spark = build_spark("coldrec-clean", settings)
    try:
        reports = clean_days(spark, settings, date_range(args.date, args.until or args.date))
    except DataQualityError as exc:
        for report in exc.reports:
            print(json.dumps(report.to_dict(), sort_keys=True, default=str))
        print(f"coldrec clean: {exc}", file=sys.stderr)
        return DATA_QUALITY_EXIT
    finally:
        spark.stop()
    for report in reports:
        print(json.dumps(report.to_dict(), sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
