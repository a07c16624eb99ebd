"""What one night published, from the lake alone (no Spark): the mix of the lists and how the previous night's did.

    python scripts/published_mix.py LAKE DATE [--new-item-days N] [--new-user-days N] [--k 10]

``LAKE`` is the lake's root (``COLDREC_LAKE_URI``, e.g. ``/tmp/eval3/nightly/1m/lake`` after ``bench/nightly.py
--keep``), ``DATE`` the run date. Read with :func:`coldrec.delta_read.read_delta` from ``gold.recommendations``,
``silver.items``, ``silver.events`` and ``ops.run_metrics``; prints markdown tables, then one JSON line:

- **rows by source**: rows and share of the day's ``gold.recommendations`` per ``source`` (``new_item`` and
  ``cross_category`` are the two slot kinds, the rest the blend's sources);
- **new items and cross-category**: rows in new-item slots (``source = new_item``) and the users whose list holds
  one; rows whose reason says new (``new in ...``, ``new: ...``: slot rows and blend rows on items without
  interactions); rows on items *new by the backtest's definition* (``created_at`` within ``--new-item-days`` up to
  DATE, items without it by their first non-bot event) and how many such items the catalog has; rows in
  cross-category slots and their users; rows for new users (first non-bot event within ``--new-user-days``);
- **coverage**: distinct items in the lists over the items of ``silver.items`` (catalog coverage), users listed;
- **hold-out and gate figures** of DATE from ``ops.run_metrics``: the scoring's hold-out (stage ``evaluate``:
  NDCG@10, item coverage@10, tuned slot counts, share per source) and the gate's (stage ``gate``): user coverage
  and, when an earlier night's lists exist, the backtest of those lists on DATE's positive events, overall and by
  segment (hit rate / NDCG overall; hit rate on new items, new users, cross-category pairs, with denominators).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from coldrec.config import load_settings
from coldrec.delta_read import read_delta

NEW_REASON = r"^new(?: in |: )"
EVALUATE_KEYS = (
    "holdout_ndcg_at_10",
    "holdout_hit_rate_at_10",
    "holdout_item_coverage_at_10",
    "holdout_users",
    "coverage_weight",
    "new_item_slots",
    "cross_category_slots",
    "new_item_candidates",
    "model_used",
)


def table(lake: str, name: str) -> str:
    layer, _, tbl = name.partition(".")
    return f"{lake.rstrip('/')}/{layer}/{tbl}"


def on_date(lake: str, name: str, day: dt.date, columns: list[str] | None = None) -> pd.DataFrame:
    rows = read_delta(table(lake, name), columns=columns, filter=ds.field("run_date") == pa.scalar(day, pa.date32()))
    return rows.to_pandas()


def born_dates(lake: str, day: dt.date) -> tuple[pd.Series, pd.Series]:
    """Per item its creation date (``created_at``, else the first non-bot event) and per user the first non-bot
    event date, both up to ``day``."""
    events = read_delta(
        table(lake, "silver.events"),
        columns=["user_id", "item_id", "event_date", "is_bot"],
        filter=ds.field("event_date") <= pa.scalar(day, pa.date32()),
    ).to_pandas()
    events = events[~events["is_bot"].fillna(False).astype(bool)]
    events["event_date"] = pd.to_datetime(events["event_date"])
    first_item = events.groupby("item_id")["event_date"].min()
    first_user = events.groupby("user_id")["event_date"].min()
    items = read_delta(table(lake, "silver.items"), columns=["item_id", "created_at"]).to_pandas()
    created = pd.to_datetime(items.set_index("item_id")["created_at"], utc=True, errors="coerce")
    created = created.dt.tz_localize(None).dt.normalize()
    created = created[~created.index.duplicated()]
    born = created.reindex(created.index.union(first_item.index))
    born = born.where(born.notna(), first_item.reindex(born.index))
    born = born[born.isna() | (born <= pd.Timestamp(day))]  # created after the day: not in the catalog yet
    return born, first_user


def mix(lake: str, day: dt.date, new_item_days: int, new_user_days: int) -> dict:
    recs = on_date(lake, "gold.recommendations", day, ["user_id", "rank", "item_id", "source", "reason"])
    if recs.empty:
        raise SystemExit(f"no rows in gold.recommendations for {day} under {lake}")
    n_rows, n_users = len(recs), recs["user_id"].nunique()
    born, first_user = born_dates(lake, day)
    new_items = set(born[born >= pd.Timestamp(day - dt.timedelta(days=new_item_days - 1))].index)
    new_users = set(first_user[first_user >= pd.Timestamp(day - dt.timedelta(days=new_user_days - 1))].index)
    catalog = read_delta(table(lake, "silver.items"), columns=["item_id"]).column("item_id").to_pandas().nunique()

    by_source = recs["source"].value_counts()
    slot_new = recs["source"] == "new_item"
    slot_cross = recs["source"] == "cross_category"
    reason_new = recs["reason"].str.contains(NEW_REASON, regex=True)
    on_new = recs["item_id"].isin(new_items)
    for_new_user = recs["user_id"].isin(new_users)

    def part(mask: pd.Series) -> dict:
        return {"rows": int(mask.sum()), "share": float(mask.mean()), "users": int(recs.loc[mask, "user_id"].nunique())}

    out = {
        "lake": lake,
        "run_date": day.isoformat(),
        "rows": n_rows,
        "users_listed": n_users,
        "mean_list_length": n_rows / max(n_users, 1),
        "by_source": {s: {"rows": int(c), "share": c / n_rows} for s, c in by_source.items()},
        "new_item_slot": part(slot_new),
        "new_reason": part(reason_new),
        "on_new_items": part(on_new),
        "new_items_in_catalog": len(new_items),
        "new_items_listed": int(recs.loc[on_new, "item_id"].nunique()),
        "cross_category_slot": part(slot_cross),
        "for_new_users": part(for_new_user),
        "new_users": len(new_users),
        "distinct_items": int(recs["item_id"].nunique()),
        "catalog_items": int(catalog),
        "catalog_coverage": recs["item_id"].nunique() / max(catalog, 1),
        "new_item_days": new_item_days,
        "new_user_days": new_user_days,
    }
    metrics = on_date(lake, "ops.run_metrics", day, ["stage", "metric", "value"])
    evaluate = metrics[metrics["stage"] == "evaluate"].set_index("metric")["value"]
    gate = metrics[metrics["stage"] == "gate"].set_index("metric")["value"]
    out["evaluate"] = {k: float(evaluate[k]) for k in EVALUATE_KEYS if k in evaluate.index}
    keep = [k for k in gate.index if k.startswith("backtest_") or k in ("user_coverage", "passed")]
    out["gate"] = {k: float(gate[k]) for k in keep}
    return out


def pct(x: float) -> str:
    return f"{x:.1%}"


def markdown(m: dict) -> str:
    lines = [
        f"### {m['run_date']}: {m['rows']:,} rows, {m['users_listed']:,} users "
        f"({m['mean_list_length']:.1f} per list), {m['distinct_items']:,} of {m['catalog_items']:,} items "
        f"(catalog coverage {pct(m['catalog_coverage'])})",
        "",
        "| source | rows | share |",
        "|---|---:|---:|",
    ]
    lines += [f"| {s} | {v['rows']:,} | {pct(v['share'])} |" for s, v in m["by_source"].items()]
    lines += ["", "| slice | rows | share of rows | users |", "|---|---:|---:|---:|"]
    slices = [
        ("new-item slots (source new_item)", "new_item_slot"),
        ("reason says new", "new_reason"),
        (f"on items new by the backtest rule ({m['new_items_listed']:,} of {m['new_items_in_catalog']:,} listed; "
         f"created within {m['new_item_days']} days)", "on_new_items"),
        ("cross-category slots", "cross_category_slot"),
        (f"for new users ({m['new_users']:,}; first event within {m['new_user_days']} days)", "for_new_users"),
    ]  # fmt: skip
    for label, key in slices:
        v = m[key]
        lines.append(f"| {label} | {v['rows']:,} | {pct(v['share'])} | {v['users']:,} |")
    lines += ["", "| figure (ops.run_metrics) | value |", "|---|---:|"]
    lines += [f"| evaluate: {k} | {v:.4g} |" for k, v in m["evaluate"].items()]
    lines += [f"| gate: {k} | {v:.4g} |" for k, v in sorted(m["gate"].items())]
    if not any(k.startswith("backtest_") for k in m["gate"]):
        lines.append("| gate: backtest | - (no earlier published lists) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", help="the lake's root (COLDREC_LAKE_URI)")
    parser.add_argument("date", help="run date, YYYY-MM-DD")
    rec = load_settings().recommend
    parser.add_argument("--new-item-days", type=int, default=rec.new_item_days)
    parser.add_argument("--new-user-days", type=int, default=rec.new_user_days)
    args = parser.parse_args()
    m = mix(args.lake, dt.date.fromisoformat(args.date), args.new_item_days, args.new_user_days)
    print(markdown(m))
    print()
    print(json.dumps(m, sort_keys=True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
