"""The blend tuning's coverage weight on a kept nightly lake: hold-out NDCG@10 against coverage, one point per weight.

    python bench/coverage_curve.py --base /tmp/eval3/nightly/1m --date 2026-11-14 [--weights 0,0.05,0.1,0.25,1.0]
                                   [--out DIR] [--png docs/img/coverage_curve.png]
    python bench/coverage_curve.py --plot-only --out DIR --png docs/img/coverage_curve.png

``--base`` is one size's folder of ``bench/nightly.py --keep DIR`` (``DIR/1m``: its ``lake``, ``home`` with the
champion, ``landing``). The lake (``--lake``: ``lake``, as the last night left it, or ``prepared-lake``, the
preparation's, whose item-kNN similarities of D are then built first with ``coldrec similarities``; but the blend
is tuned only on a hold-out after the champion's training data, so on the preparation's date, the champion's
training day, nothing is tuned and every weight gives the same lists: use a later night's date) is copied once to
``OUT/lake`` (the original stays as it is), then
for each weight ``coldrec score --date D`` runs on the copy with the bench's environment (``bench.nightly.env_for``,
same Spark settings and champion) and ``COLDREC_RECOMMEND__COVERAGE_WEIGHT`` set: the scoring re-tunes the blend on
its hold-out with that weight and records the measuring half's figures in ``ops.run_metrics`` (stage ``evaluate``:
``holdout_ndcg_at_10``, ``holdout_item_coverage_at_10``); its rows (``--out``) give the distinct items of the lists.
One JSON line per weight goes to ``OUT/curve.jsonl`` as it finishes (a rerun skips the weights already there), and
the PNG plots hold-out coverage against hold-out NDCG@10, each point labelled with its weight. Last line: one JSON
object with every point.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.nightly import BIN, PROFILES, env_for  # noqa: E402
from bench.tradeoff_plot import plot_tradeoff  # noqa: E402


def evaluate_metrics(lake: Path, day: dt.date) -> dict[str, float]:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from coldrec.delta_read import read_delta

    rows = read_delta(
        str(lake / "ops" / "run_metrics"), filter=ds.field("run_date") == pa.scalar(day, pa.date32())
    ).to_pandas()
    rows = rows[rows["stage"] == "evaluate"]
    return {m: float(v) for m, v in zip(rows["metric"], rows["value"], strict=True) if v is not None}


def run_coldrec(args: list[str], env: dict[str, str], log: Path, note: str = "") -> float:
    started = time.perf_counter()
    cmd = [str(BIN / "coldrec"), *args]
    with log.open("a") as fh:
        fh.write(f"\n$ {note}{' '.join(cmd)}\n")
        fh.flush()
        rc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        raise RuntimeError(f"{' '.join(args)} failed (exit {rc}); see {log}")
    return time.perf_counter() - started


def ensure_similarities(base: Path, out: Path, day: dt.date, size: str, epochs: int, master: str) -> None:
    """A lake left by ``--prepare-only`` (interactions and features of D-1, no similarities): build them first."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from coldrec.delta_read import read_delta

    env = env_for(base, PROFILES[size], epochs, master)
    env["COLDREC_LAKE_URI"] = str(out / "lake")
    table = out / "lake" / "gold" / "item_similarity"
    on_day = ds.field("run_date") == pa.scalar(day, pa.date32())
    if table.exists() and read_delta(str(table), columns=["run_date"], filter=on_day).num_rows:
        return
    seconds = run_coldrec(["similarities", "--date", day.isoformat()], env, out / "score.log")
    print(f"similarities {day}: {seconds:.0f} s", file=sys.stderr)


def score_once(base: Path, out: Path, day: dt.date, weight: float, size: str, epochs: int, master: str) -> dict:
    import pandas as pd

    env = env_for(base, PROFILES[size], epochs, master)
    env["COLDREC_LAKE_URI"] = str(out / "lake")
    env["COLDREC_RECOMMEND__COVERAGE_WEIGHT"] = str(weight)
    rows_path = out / f"rows-{weight:g}.parquet"
    args = ["score", "--date", day.isoformat(), "--out", str(rows_path), "--show", "0"]
    seconds = run_coldrec(args, env, out / "score.log", f"COLDREC_RECOMMEND__COVERAGE_WEIGHT={weight} ")
    m = evaluate_metrics(out / "lake", day)
    rows = pd.read_parquet(rows_path, columns=["user_id", "item_id", "source"])
    return {
        "coverage_weight": weight,
        "recorded_coverage_weight": m.get("coverage_weight"),
        "holdout_ndcg_at_10": m.get("holdout_ndcg_at_10"),
        "holdout_hit_rate_at_10": m.get("holdout_hit_rate_at_10"),
        "holdout_item_coverage_at_10": m.get("holdout_item_coverage_at_10"),
        "holdout_users": m.get("holdout_users"),
        "new_item_slots": m.get("new_item_slots"),
        "cross_category_slots": m.get("cross_category_slots"),
        "items": m.get("items"),  # the items the scoring ranked
        "rows": len(rows),
        "users": int(rows["user_id"].nunique()),
        "distinct_items": int(rows["item_id"].nunique()),
        "share_by_source": {k: float(v) for k, v in rows["source"].value_counts(normalize=True).items()},
        "seconds": round(seconds, 1),
    }


def plot(points: list[dict], png: Path, title: str) -> None:
    plot_tradeoff(
        [(p["coverage_weight"], p["holdout_item_coverage_at_10"] * 100, p["holdout_ndcg_at_10"],
          f"{p['distinct_items']:,} items listed") for p in points],
        png, title, "hold-out catalog coverage@10 (%)", "hold-out NDCG@10 (measuring half)",
        "w = COLDREC_RECOMMEND__COVERAGE_WEIGHT; items listed: distinct items in the lists",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="bench/nightly.py --keep DIR's size folder, e.g. DIR/1m")
    parser.add_argument("--date", help="run date to re-score (the lake's last night)")
    parser.add_argument("--weights", default="0,0.05,0.1,0.25,1.0")
    parser.add_argument("--lake", default="lake", help="the lake under --base: lake (after a night) or prepared-lake")
    parser.add_argument("--size", default="1m", help="the bench size (its Spark settings)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--out", default="/tmp/coldrec-coverage-curve")
    parser.add_argument("--png", default=None)
    parser.add_argument("--title", default="coverage weight: generated shop, hold-out of the nightly tuning")
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "curve.jsonl"
    done = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] if results.exists() else []
    if not args.plot_only:
        if not args.base or not args.date:
            parser.error("--base and --date are needed unless --plot-only")
        base = Path(args.base).resolve()
        day = dt.date.fromisoformat(args.date)
        if not (out / "lake").exists():
            shutil.copytree(base / args.lake, out / "lake")
        ensure_similarities(base, out, day, args.size, args.epochs, args.master)
        for weight in [float(w) for w in args.weights.split(",") if w.strip()]:
            if any(p["coverage_weight"] == weight for p in done):
                continue
            point = score_once(base, out, day, weight, args.size, args.epochs, args.master)
            print(json.dumps(point, sort_keys=True), file=sys.stderr)
            with results.open("a") as fh:
                fh.write(json.dumps(point, sort_keys=True) + "\n")
            done.append(point)
    if args.png and done:
        plot(done, Path(args.png), args.title)
    print(json.dumps({"bench": "coverage_curve", "points": sorted(done, key=lambda p: p["coverage_weight"])},
                     sort_keys=True))  # fmt: skip


if __name__ == "__main__":
    main()
