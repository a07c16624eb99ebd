"""The backfill's own logic without Spark: its range check, its clean rules, and how it sums the days' reports.

The end-to-end behaviour (a whole history through import, backfill twice and the nightly DAG) is
``tests/integration/test_shop_import.py`` (slow).
"""

from __future__ import annotations

import datetime as dt

import pytest

from coldrec.backfill import BackfillSummary, add_clean_counts, check_range, history_settings
from coldrec.clean.report import CleanReport
from coldrec.config import load_settings


def test_history_lets_quiet_days_pass_and_keeps_every_other_rule() -> None:
    base = load_settings({"clean": {"max_reject_share": 0.2, "min_events": 5}})
    history = history_settings(base)
    assert history.clean.min_events == 0
    assert history.clean.max_reject_share == 0.2
    assert history.model_dump(exclude={"clean"}) == base.model_dump(exclude={"clean"})
    assert base.clean.min_events == 5  # the caller's settings are not changed


def test_range_must_not_run_backwards() -> None:
    check_range(dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    with pytest.raises(ValueError, match="before"):
        check_range(dt.date(2025, 1, 2), dt.date(2025, 1, 1))


def test_summary_adds_up_the_days() -> None:
    day = dt.date(2025, 1, 1)
    busy = CleanReport(run_date=day, input_rows=100, accepted=90, duplicates_removed=4, rejected_by_reason={"x": 6})
    quiet = CleanReport(run_date=day + dt.timedelta(1))
    bad = CleanReport(run_date=day + dt.timedelta(2), input_rows=10, rejected_by_reason={"y": 7, "z": 1})
    bad.gate_passed = False
    summary = BackfillSummary("2025-01-01", "2025-01-03", 3)
    add_clean_counts(summary, [busy, quiet, bad])
    assert summary.days_with_events == 2
    assert (summary.input_rows, summary.accepted, summary.rejected, summary.duplicates_removed) == (110, 90, 14, 4)
    assert summary.failed_days == ["2025-01-03"]
