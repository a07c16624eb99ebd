"""Print the fault-injection suite's measured figures as a Markdown table; ``--write FILE`` also replaces the table
between the ``<!-- faults:begin -->`` / ``<!-- faults:end -->`` markers of FILE (``docs/reliability.md``).

Why a script: the figures are written by the tests that measured them (``tests/faults/conftest.py``); this only
formats them, so the published table is never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = Path(os.environ.get("COLDREC_FAULTS_FIGURES", ROOT / ".coldrec" / "faults" / "figures.json"))
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"


def table(figures: dict[str, dict]) -> str:
    head = ("scenario", "runs", "records or kill points", "lost", "partial states seen by readers",
            "reruns identical", "date")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---|---:|---:|---|---|"]
    for name, f in sorted(figures.items()):
        cells = (name, f["runs"], f"{f['points']:,} {f['unit']}", f["lost"], f["partial"], f["reruns_identical"],
                 f["date"])  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [f"- {name}: {f['note']}" for name, f in sorted(figures.items()) if f.get("note")]
    return "\n".join(lines + (["", *notes] if notes else []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", type=Path, default=FIGURES)
    parser.add_argument("--write", type=Path, help="Markdown file whose marked table to replace")
    args = parser.parse_args()
    if not args.figures.exists():
        print(f"no figures at {args.figures}: run `make faults` first", file=sys.stderr)
        return 1
    text = table(json.loads(args.figures.read_text()))
    print(text)
    if args.write:
        doc = args.write.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pattern.search(doc):
            print(f"{args.write} has no {BEGIN} ... {END} block", file=sys.stderr)
            return 1
        args.write.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
