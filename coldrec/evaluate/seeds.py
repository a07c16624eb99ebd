"""Several seeds of the harness summarized: mean, standard deviation and a 95% t-interval of every metric, and of
coldrec's ratio to the best baseline per split.

Why intervals: one seed of a 20% hold-out moves NDCG@10 by several percent on these data sets, which is the size of
the wins the goals ask for. A goal is "met" only where the lower end of the ratio's interval clears it; "not met"
where the upper end stays below it; otherwise "open" (the seeds cannot tell). With one seed nothing is claimed.

The ratio is paired: per seed, coldrec's NDCG@10 over that seed's value of the baseline with the best mean NDCG@10
over the seeds (one named baseline, not a per-seed maximum that would pick each seed's luckiest baseline).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import pandas as pd
from scipy import stats

from coldrec.evaluate.harness import HarnessResult
from coldrec.evaluate.report import COLDREC, goal_of

if TYPE_CHECKING:
    from rich.console import Console


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sample std, low, high): Student-t interval of the mean; std and bounds NaN for fewer than 2 values."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean()) if x.size else float("nan")
    if x.size < 2:
        return mean, float("nan"), float("nan"), float("nan")
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * std / np.sqrt(x.size)
    return mean, std, mean - half, mean + half


def verdict(low: float, high: float, goal: float | None) -> str:
    """``met`` (interval above the goal), ``not met`` (below), ``open`` (straddles), ``-`` (no goal or no interval)."""
    if goal is None or np.isnan(low):
        return "-"
    if low >= goal:
        return "met"
    if high < goal:
        return "not met"
    return "open"


class SeedRatio(TypedDict):
    """Per split: coldrec over the best baseline, paired by seed (see the module docstring)."""

    split: str
    coldrec: float
    coldrec_std: float
    best_baseline: str
    best_mean: float
    best_std: float
    ratio: float
    ratio_std: float
    ratio_low: float
    ratio_high: float
    ratios: list[float]  # per seed
    goal: float | None
    verdict: str


#: Per split and metric: the lists with cross-category slots over the same lists without, paired by seed
#: (functional form: ``with`` is a keyword).
SlotEffect = TypedDict(
    "SlotEffect",
    {"split": str, "metric": str, "with": float, "without": float, "ratio": float, "ratio_low": float,
     "ratio_high": float},
)  # fmt: skip


def _interval(low: float, high: float) -> str:
    """``[low, high]`` of a ratio's 95% interval; ``-`` where there is none (one seed: NaN)."""
    return "-" if np.isnan(low) else f"[{low:.3f}, {high:.3f}]"


@dataclass
class SeedSummary:
    dataset: str
    seeds: list[int]
    #: rows {split, method, metric, k, n, mean, std, low, high}
    metrics: list[dict[str, object]]
    ratios: list[SeedRatio]
    #: method -> split -> the settings chosen per seed
    tuned: dict[str, dict[str, list[dict[str, object]]]] = field(default_factory=dict)
    #: the cross-category slots' effect (paired)
    slots: list[SlotEffect] = field(default_factory=list)
    #: the same rows for coldrec over ``coldrec-nogan`` (the blend tuned without the GAN, same fit): the GAN's effect
    gan: list[SlotEffect] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.metrics)


def summarize(results: Sequence[HarnessResult], metric: str = "ndcg", k: int = 10,
              goals: dict[str, float] | None = None) -> SeedSummary:  # fmt: skip
    """Aggregate one :class:`HarnessResult` per seed (see the module docstring)."""
    frames = [r.frame().assign(seed=r.seed) for r in results]
    df = pd.concat(frames, ignore_index=True)
    rows: list[dict[str, object]] = []
    for (split, method, m, kk), grp in df.groupby(["split", "method", "metric", "k"], sort=False):
        mean, std, low, high = t_interval(grp["value"].to_numpy())
        rows.append({"split": split, "method": method, "metric": m, "k": int(kk), "n": len(grp), "mean": mean,
                     "std": std, "low": low, "high": high})  # fmt: skip
    ratios: list[SeedRatio] = []
    sub = df[(df["metric"] == metric) & (df["k"] == k)]
    for split in dict.fromkeys(sub["split"]):
        table = sub[sub["split"] == split].pivot_table(index="seed", columns="method", values="value", aggfunc="first")
        if COLDREC not in table.columns:
            continue
        base = table[[c for c in table.columns if not str(c).startswith(COLDREC)]].dropna(axis=1)
        if base.empty:
            continue
        best = str(base.mean(axis=0).idxmax())
        paired = table[[COLDREC, best]].dropna()
        per_seed = (paired[COLDREC] / paired[best].where(paired[best] > 0)).dropna().to_numpy()
        r_mean, r_std, r_low, r_high = t_interval(per_seed)
        c_mean, c_std, _, _ = t_interval(paired[COLDREC].to_numpy())
        b_mean, b_std, _, _ = t_interval(paired[best].to_numpy())
        goal = (goals or {}).get(split, goal_of(split))
        ratios.append({"split": split, "coldrec": c_mean, "coldrec_std": c_std, "best_baseline": best,
                       "best_mean": b_mean, "best_std": b_std, "ratio": r_mean, "ratio_std": r_std,
                       "ratio_low": r_low, "ratio_high": r_high, "ratios": [float(x) for x in per_seed],
                       "goal": goal, "verdict": verdict(r_low, r_high, goal)})  # fmt: skip
    tuned: dict[str, dict[str, list[dict[str, object]]]] = {}
    for r in results:
        for method, per_split in r.tuned.items():
            for split, chosen in per_split.items():
                tuned.setdefault(method, {}).setdefault(split, []).append({"seed": r.seed, **chosen})
    slots = _slot_effect(df, k)
    gan = _paired_effect(df, k, COLDREC, WITHOUT_GAN)
    return SeedSummary(results[0].dataset if results else "", [r.seed for r in results], rows, ratios, tuned, slots,
                       gan)  # fmt: skip


#: (with slots, without) method pairs: coldrec (the published path, slots included) and its no-slot variant; the
#: names of runs made before coldrec ranked through the published path (plain blend + list variants) also read
SLOT_PAIRS: tuple[tuple[str, str], ...] = (("coldrec", "coldrec-noslots"), ("coldrec+cap+slots", "coldrec+cap"))
WITH_SLOTS, WITHOUT_SLOTS = SLOT_PAIRS[0]
#: coldrec's blend tuned without the GAN on the same fit (``--models``)
WITHOUT_GAN = "coldrec-nogan"
SLOT_METRICS: tuple[str, ...] = ("cross_category_pair_hit_rate", "ndcg")


def _slot_effect(df: pd.DataFrame, k: int) -> list[SlotEffect]:
    """Per split, the lists with slots over the same lists without (paired by seed): cross-category pair hit rate
    and NDCG@k (the issue's goal: >= 1.5x the hit rate at <= 3% NDCG cost)."""
    with_slots, without = next((p for p in SLOT_PAIRS if p[1] in set(df["method"])), SLOT_PAIRS[0])
    return _paired_effect(df, k, with_slots, without)


def _paired_effect(df: pd.DataFrame, k: int, with_slots: str, without: str) -> list[SlotEffect]:
    out: list[SlotEffect] = []
    sub = df[(df["k"] == k) & df["method"].isin([with_slots, without]) & df["metric"].isin(SLOT_METRICS)]
    for (split, metric), grp in sub.groupby(["split", "metric"], sort=False):
        table = grp.pivot_table(index="seed", columns="method", values="value", aggfunc="first")
        if not {with_slots, without} <= set(table.columns):
            continue
        paired = table[[with_slots, without]].dropna()
        ratio = (paired[with_slots] / paired[without].where(paired[without] > 0)).dropna().to_numpy()
        r_mean, _, r_low, r_high = t_interval(ratio)
        out.append({"split": split, "metric": metric, "with": float(paired[with_slots].mean()),
                    "without": float(paired[without].mean()), "ratio": r_mean, "ratio_low": r_low,
                    "ratio_high": r_high})  # fmt: skip
    return out


def segment_markdown(summary: SeedSummary, k: int = 10) -> list[str]:
    """Cross-category and new-item hit rates of coldrec's lists (plain, capped, capped + slots) and of the best
    baseline per split, mean ± std over seeds; then the slots' paired effect."""
    best: dict[object, str] = {r["split"]: r["best_baseline"] for r in summary.ratios}
    index = {(m["split"], m["method"], m["metric"]): m for m in summary.metrics if m["k"] == k}
    lines = [f"### Segment hit rates @{k} (mean ± std over seeds)", "",
             "| split | method | NDCG | cross-category pair hit rate | cold-item pair hit rate |",
             "|---|---|---:|---:|---:|"]  # fmt: skip
    for split in dict.fromkeys(m["split"] for m in summary.metrics):
        for method in (COLDREC, *(m for pair in SLOT_PAIRS for m in pair[::-1] if m != COLDREC), best.get(split)):
            if method is None or (split, method, "ndcg") not in index:
                continue
            cells = []
            for metric in ("ndcg", "cross_category_pair_hit_rate", "cold_item_hit_rate"):
                m = index.get((split, method, metric))
                cells.append("-" if m is None else f"{_fmt(m['mean'])} ± {_fmt(m['std'])}")
            lines.append(f"| {split} | {method} | " + " | ".join(cells) + " |")
    lines.append("")
    if summary.slots:
        lines += [
            "### Cross-category slots: lists with slots / the same lists without (paired, 95% interval)",
            "",
            "| split | metric | without | with | ratio | 95% interval |",
            "|---|---|---:|---:|---:|---|",
        ]
        for r in summary.slots:
            interval = _interval(r["ratio_low"], r["ratio_high"])
            lines.append(f"| {r['split']} | {r['metric']} | {_fmt(r['without'])} | {_fmt(r['with'])} | "
                         f"{_fmt(r['ratio'], 3)}x | {interval} |")  # fmt: skip
        lines.append("")
    if summary.gan:
        lines += [
            "### The GAN: coldrec / the same fit with the blend tuned without the GAN (paired, 95% interval)",
            "",
            "| split | metric | without GAN | with GAN | ratio | 95% interval |",
            "|---|---|---:|---:|---:|---|",
        ]
        for r in summary.gan:
            interval = "-" if np.isnan(r["ratio_low"]) else f"[{r['ratio_low']:.3f}, {r['ratio_high']:.3f}]"
            lines.append(f"| {r['split']} | {r['metric']} | {_fmt(r['without'])} | {_fmt(r['with'])} | "
                         f"{_fmt(r['ratio'], 3)}x | {interval} |")  # fmt: skip
        lines.append("")
    return lines


def mean_result(results: Sequence[HarnessResult], summary: SeedSummary) -> HarnessResult:
    """A :class:`HarnessResult` holding the seed means (for the per-split tables and plots of the report)."""
    first = results[0]
    rows = [{"method": r["method"], "split": r["split"], "metric": r["metric"], "k": r["k"], "value": r["mean"]}
            for r in summary.metrics]  # fmt: skip
    timings = [t for r in results for t in r.timings]
    notes = [n for r in results for n in r.notes]
    return HarnessResult(first.dataset, rows, timings, first.splits, notes, seed=first.seed)


def _fmt(v: object, digits: int = 4) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def markdown(summary: SeedSummary, metric_label: str = "NDCG@10", ratios: bool = True) -> list[str]:
    """The seeds section of the report: the ratio table (``ratios``), then the tuned settings."""
    n = len(summary.seeds)
    seed_list = ", ".join(map(str, summary.seeds))
    lines: list[str] = (
        []
        if not ratios
        else [
            f"## {metric_label} over {n} seeds ({seed_list}): coldrec vs the best tuned baseline",
            "",
            "Mean ± std over seeds; the ratio's 95% t-interval is of the per-seed ratios (paired). Verdict: met = the "
            "interval's lower end clears the goal; not met = its upper end is below it; open = the seeds cannot tell.",
            "",
            "| split | coldrec | best baseline | ratio (mean) | ratio 95% interval | goal | verdict |",
            "|---|---:|---|---:|---|---:|---|",
        ]
    )
    for r in summary.ratios if ratios else []:
        goal = "-" if r["goal"] is None else f"{r['goal']:.2f}x"
        interval = _interval(r["ratio_low"], r["ratio_high"])
        lines.append(
            f"| {r['split']} | {_fmt(r['coldrec'])} ± {_fmt(r['coldrec_std'])} | {r['best_baseline']} "
            f"{_fmt(r['best_mean'])} ± {_fmt(r['best_std'])} | {_fmt(r['ratio'], 3)}x | {interval} | {goal} | "
            f"{r['verdict']} |"
        )
    if ratios:
        lines.append("")
        lines += segment_markdown(summary)
    if summary.tuned:
        lines += ["## Tuned baseline settings (chosen on the validation split, per seed)", "",
                  "| method | split | settings per seed |", "|---|---|---|"]  # fmt: skip
        for method, per_split in summary.tuned.items():
            for split, chosen in per_split.items():
                text = "; ".join(
                    f"s{c['seed']}: " + ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("seed",))
                    for c in chosen
                )
                lines.append(f"| {method} | {split} | {text} |")
        lines.append("")
    return lines


def print_summary(summary: SeedSummary, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{summary.dataset}: NDCG@10 over {len(summary.seeds)} seeds, coldrec / best tuned baseline",
                  title_justify="left")  # fmt: skip
    for col in ("split", "coldrec", "best baseline", "ratio", "95% interval", "goal", "verdict"):
        table.add_column(col)
    for r in summary.ratios:
        table.add_row(
            str(r["split"]),
            f"{_fmt(r['coldrec'])} ± {_fmt(r['coldrec_std'])}",
            f"{r['best_baseline']} {_fmt(r['best_mean'])} ± {_fmt(r['best_std'])}",
            f"{_fmt(r['ratio'], 3)}x",
            _interval(r["ratio_low"], r["ratio_high"]),
            "-" if r["goal"] is None else f"{r['goal']:.2f}x",
            str(r["verdict"]),
        )
    console.print(table)


def merge_by_seed(results: Sequence[HarnessResult]) -> list[HarnessResult]:
    """One result per seed, in seed order: runs of the same seed on different splits (separate processes) joined."""
    merged: dict[int, HarnessResult] = {}
    for r in results:
        if r.seed not in merged:
            merged[r.seed] = HarnessResult(r.dataset, [], [], {}, [], {}, r.seed)
        m = merged[r.seed]
        m.rows.extend(r.rows)
        m.timings.extend(r.timings)
        m.splits.update(r.splits)
        m.notes.extend(r.notes)
        for method, per_split in r.tuned.items():
            m.tuned.setdefault(method, {}).update(per_split)
    return [merged[s] for s in sorted(merged)]


def load_seed_files(folder: str | Path, dataset: str = "") -> list[HarnessResult]:
    """The ``seed-<n>.json`` files a ``--seeds`` run writes as it goes (a run cut short can still be summarized)."""
    results = []
    for path in sorted(Path(folder).glob("seed-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        data = json.loads(path.read_text(encoding="utf-8"))
        splits: dict[str, dict[str, int]] = {str(r["split"]): {} for r in data["rows"]}
        results.append(HarnessResult(dataset or Path(folder).name, data["rows"], [], splits,
                                     data.get("notes", []), data.get("tuned", {}), int(data["seed"])))  # fmt: skip
    return results
