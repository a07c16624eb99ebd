"""spark-submit entry point: retention, OPTIMIZE and VACUUM of every coldrec Delta table.

spark-submit jobs/maintain_tables.py --date 2026-11-01 [--lake ...]
"""

from __future__ import annotations

import argparse
import datetime as dt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="today, for retention cut-offs")
    parser.add_argument("--lake")
    args = parser.parse_args(argv)

    from coldrec.config import load_settings
    from coldrec.maintenance import run_maintenance
    from coldrec.spark import build_spark

    settings = load_settings({"lake_uri": args.lake})
    spark = build_spark("coldrec-maintenance", settings)
    try:
        print(run_maintenance(spark, settings, args.date))
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
