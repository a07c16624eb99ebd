"""What a cleaning run saw and did, per run date, and the data-quality gate that reads it.

Why a report object: the same numbers are logged, stored in ``ops.run_metrics`` (stage ``clean``), printed by the
CLI and returned to Airflow; the accounting identity ``input = accepted + rejected + duplicates removed`` is checked
on it, so a record that vanished without a name would show up as a failed run instead of a silent loss.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from coldrec.clean.rules import EVENT_REASONS
from coldrec.config import CleanConfig

STAGE = "clean"


@dataclass
class DatasetCounts:
    """Counts for one catalog dataset (items or users) of one run date."""

    input_rows: int = 0
    accepted: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    superseded: int = 0  # valid records of this run replaced by a later record with the same id
    inserted: int = 0  # rows the run's MERGE inserted / updated (filed under the run's last date)
    updated: int = 0

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())


@dataclass
class CleanReport:
    """One run date's cleaning outcome (events, plus the items/users records filed under that date)."""

    run_date: dt.date
    input_files: int = 0
    input_rows: int = 0
    blank_lines: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates_removed: int = 0
    accepted: int = 0
    late_events: int = 0
    bot_users: int = 0
    bot_events: int = 0
    events_without_session: int = 0
    items: DatasetCounts = field(default_factory=DatasetCounts)
    users: DatasetCounts = field(default_factory=DatasetCounts)
    gate_passed: bool = True
    gate_message: str = ""
    seconds: float = 0.0  # wall time of the whole run (all its dates)
    phase_seconds: dict[str, float] = field(default_factory=dict)  # catalog (overlaps validate), validate, ...

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def valid(self) -> int:
        """Records that passed validation (duplicates included)."""
        return self.input_rows - self.rejected

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.input_rows if self.input_rows else 0.0

    @property
    def balanced(self) -> bool:
        """The accounting identity; on a gate failure nothing is accepted and duplicates are not counted."""
        if not self.gate_passed:
            return True
        return self.input_rows == self.accepted + self.rejected + self.duplicates_removed

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics for ``ops.run_metrics`` (every named reason, also the zero ones)."""
        out: dict[str, float] = {
            "input_files": self.input_files,
            "input_rows": self.input_rows,
            "blank_lines": self.blank_lines,
            "rejected": self.rejected,
            "rejected_share": self.rejected_share,
            "duplicates_removed": self.duplicates_removed,
            "accepted": self.accepted,
            "late_events": self.late_events,
            "bot_users": self.bot_users,
            "bot_events": self.bot_events,
            "events_without_session": self.events_without_session,
            "gate_passed": int(self.gate_passed),
            "seconds": round(self.seconds, 3),
        }
        out.update({f"seconds_{name}": round(value, 3) for name, value in self.phase_seconds.items()})
        for reason in (*EVENT_REASONS, *sorted(set(self.rejected_by_reason) - set(EVENT_REASONS))):
            out[f"rejected_{reason}"] = self.rejected_by_reason.get(reason, 0)
        for name, counts in (("items", self.items), ("users", self.users)):
            out[f"{name}_input_rows"] = counts.input_rows
            out[f"{name}_accepted"] = counts.accepted
            out[f"{name}_rejected"] = counts.rejected
            out[f"{name}_superseded"] = counts.superseded
            out[f"{name}_inserted"] = counts.inserted
            out[f"{name}_updated"] = counts.updated
        return {k: float(v) for k, v in out.items()}

    def details(self) -> dict[str, str]:
        """JSON detail strings stored beside a few metrics (the catalog reasons, the gate message)."""
        out = {"gate_passed": self.gate_message} if self.gate_message else {}
        for name, counts in (("items", self.items), ("users", self.users)):
            if counts.rejected_by_reason:
                out[f"{name}_rejected"] = json.dumps(counts.rejected_by_reason, sort_keys=True)
        return out

    def to_dict(self) -> dict:
        data = asdict(self)
        data["run_date"] = self.run_date.isoformat()
        data.update(rejected=self.rejected, rejected_share=self.rejected_share, balanced=self.balanced)
        return data


class DataQualityError(RuntimeError):
    """A run date failed the data-quality gate: nothing was written to ``silver.events`` for it.

    The quarantine (``silver.rejected``) and the metrics (``ops.run_metrics``) of the failed date were written, so
    the reason can be inspected; ``reports`` holds every date of the run (passed ones were written normally).
    """

    def __init__(self, message: str, reports: list[CleanReport]) -> None:
        super().__init__(message)
        self.reports = reports


def check_gate(report: CleanReport, cfg: CleanConfig, folder: str) -> None:
    """Set ``gate_passed`` / ``gate_message`` from the validation counts, before anything is written.

    Fails when the day has fewer valid records than ``min_events`` (an empty or missing folder included) or when
    the rejected share exceeds ``max_reject_share``. ``min_events`` counts valid records before deduplication:
    the gate is decided before the events are written, and a day of only duplicates is still a day with data.
    """
    problems = []
    if report.valid < cfg.min_events:
        where = "no input files" if report.input_files == 0 else f"{report.input_rows} records read"
        problems.append(f"{report.valid} valid events < min_events={cfg.min_events} ({where} in {folder})")
    if report.rejected_share > cfg.max_reject_share:
        top = sorted(report.rejected_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
        reasons = ", ".join(f"{name}={n}" for name, n in top if n)
        problems.append(
            f"{report.rejected}/{report.input_rows} records rejected ({report.rejected_share:.2%}) > "
            f"max_reject_share={cfg.max_reject_share:.2%} ({reasons})"
        )
    report.gate_passed = not problems
    report.gate_message = "; ".join(problems)
