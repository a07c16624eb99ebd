"""Fixtures of the fault-injection suite: every test here is marked ``faults``; each scenario records its measured
figures (runs, records or kill points, lost, partial states seen, reruns identical) in a JSON file that
``scripts/faults_table.py`` formats into the table of ``docs/reliability.md``.

Why a JSON file and not the test output: the figures are what the promise is judged by, so they are written by the
code that measured them (merged per scenario, newest run wins) and printed by ``make faults``, never typed by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIGURES = Path(os.environ.get("COLDREC_FAULTS_FIGURES", PROJECT_ROOT / ".coldrec" / "faults" / "figures.json"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


def record_figures(scenario: str, *, runs: int, points: int, unit: str, lost: int, partial: int,
                   reruns_identical: str, note: str = "") -> None:
    """File one scenario's measured figures (``unit``: what ``points`` counts, e.g. "records" or "kill points")."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(FIGURES) + ".lock"):
        data: dict[str, Any] = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        data[scenario] = {
            "runs": runs,
            "points": points,
            "unit": unit,
            "lost": lost,
            "partial": partial,
            "reruns_identical": reruns_identical,
            "note": note,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        }
        FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def figures():
    return record_figures
