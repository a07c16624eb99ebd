"""Pool the ``seed-<n>.json`` files of several ``coldrec evaluate`` runs (e.g. one process per seed) into one summary.

    python scripts/pool_seeds.py RUN_DIR [RUN_DIR ...] [--dataset NAME] [--json OUT]

Prints the seeds section of the report (ratio intervals, segment hit rates, cross-category slot effect, tuned
settings) as Markdown; ``--json`` also writes the summary rows.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from coldrec.evaluate.report import write_json_rows
from coldrec.evaluate.seeds import load_seed_files, markdown, merge_by_seed, summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders holding seed-<n>.json files")
    parser.add_argument("--dataset", default="", help="name shown in the summary")
    parser.add_argument("--json", default=None, help="write the summary rows here")
    args = parser.parse_args()
    results = merge_by_seed([r for folder in args.runs for r in load_seed_files(folder, args.dataset)])
    summary = summarize(results)
    print("\n".join(markdown(summary)))
    if args.json:
        write_json_rows(asdict(summary), args.json)


if __name__ == "__main__":
    main()
