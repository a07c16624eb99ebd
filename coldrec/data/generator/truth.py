"""The ground truth of a generated shop: everything planted, so tests can check what the pipeline recovers.

Written to ``<out>/_ground_truth.json`` (the leading underscore keeps Spark and Hadoop readers from ever taking it
for data). Keys, in short:

- ``config``: the :class:`ShopConfig` the shop was generated with;
- ``category_tree``, ``leaves``, ``leaf_prices`` (lognormal median and sigma per leaf);
- ``taste_clusters`` (name, core leaves, leaf weights aligned with ``leaves``), ``user_clusters``
  (``user_id -> [primary, secondary]``), ``demographic_taste_map`` (planted logit tables);
- ``complementary_pairs`` (``from`` leaf buyers later shop ``to``), ``funnel``, ``popularity`` (Zipf alpha and the
  planted weight of every item), ``time_of_day``;
- ``bots`` (user ids), ``late_events`` (delivered a day late: ``event_id``, ``file``, ``ts_date``);
- ``bad_records``: one entry per injected line: ``dataset`` (events/items/users), ``kind``, ``file`` (relative to the
  shop root), ``line`` (1-based), the id (``event_id`` / ``item_id`` / ``user_id``, null when the line cannot carry
  it), ``raw`` for malformed lines and kind details (``field``, ``event_type``, ``price``, ``ts``, ``original_line``);
  ``bad_record_counts``: dataset -> kind -> count;
- ``days``: per date, ``new_users`` / ``new_items`` (cold arrivals: new items are published in the evening and get
  their first events the next day), ``price_updates`` and line counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

GROUND_TRUTH_FILE = "_ground_truth.json"


@dataclass
class GroundTruth:
    config: dict[str, Any]
    category_tree: dict[str, dict[str, list[str]]]
    leaves: list[str]
    leaf_prices: dict[str, dict[str, float]]
    taste_clusters: list[dict[str, Any]]
    user_clusters: dict[str, list[int]]
    demographic_taste_map: dict[str, Any]
    complementary_pairs: list[dict[str, str]]
    funnel: dict[str, Any]
    popularity: dict[str, Any]
    time_of_day: dict[str, Any]
    bots: list[str]
    days: list[dict[str, Any]] = field(default_factory=list)
    bad_records: list[dict[str, Any]] = field(default_factory=list)
    bad_record_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    late_events: list[dict[str, str]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Shallow (the fields are plain JSON values already); ``asdict`` would deep-copy a million entries."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def save(self, out: str | Path) -> Path:
        """Write ``<out>/_ground_truth.json`` (compact; it can hold one entry per user and per bad line)."""
        path = Path(out) / GROUND_TRUTH_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        """From the shop root or the file itself."""
        path = Path(path)
        if path.is_dir():
            path = path / GROUND_TRUTH_FILE
        return cls(**json.loads(path.read_text()))

    # Convenience views used by tests of later stages --------------------------------------------------------------
    def bad_records_of(self, dataset: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.bad_records if r["dataset"] == dataset and (kind is None or r["kind"] == kind)]

    def new_users_on(self, date: str) -> list[str]:
        return next(d["new_users"] for d in self.days if d["date"] == date)

    def new_items_on(self, date: str) -> list[str]:
        return next(d["new_items"] for d in self.days if d["date"] == date)
