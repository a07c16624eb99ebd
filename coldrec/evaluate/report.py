"""Turn a :class:`HarnessResult` into what people and machines read: a rich console table, JSON rows, a Markdown
report with PNG plots in the run folder, and an MLflow run.

Why all four from one object: the console is for the person who ran the command, the JSON for scripts and CI, the
Markdown + plots for the README and reviews, and MLflow for comparing runs over time; deriving them from the same rows
means they can never disagree.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import pandas as pd

from coldrec.evaluate.harness import HarnessResult
from coldrec.evaluate.splits import FEW_SHOT_KINDS, is_few_shot
from coldrec.ranking.metrics import ALL_METRICS

if TYPE_CHECKING:
    from rich.console import Console

#: the method the goals are about, and the goal ratios of NDCG@10 over the best tuned baseline (issue 21)
COLDREC = "coldrec"
GOALS: dict[str, float] = {"cold_item": 1.3, "cold_user": 1.05, "warm": 1.0,
                           **{kind: 1.1 for kind in FEW_SHOT_KINDS}}  # fmt: skip
#: the published microsoft/recommenders MovieLens-100K rows (before their 2026 re-run) the anchor compares with
PUBLISHED_ANCHOR: dict[str, dict[str, float]] = {
    "bpr_cornac": {"ndcg": 0.442, "precision": 0.388},
    "sar": {"ndcg": 0.382, "precision": 0.331},
}
SHORT = {"precision": "P", "recall": "R", "ndcg": "NDCG", "map": "MAP", "hit_rate": "HR", "coverage": "Cov",
         "novelty": "Nov", "cross_category_hit_rate": "XCat", "cold_item_hit_rate": "ColdHR",
         "cross_category_pair_hit_rate": "XCatPairs"}  # fmt: skip


class GoalRatio(TypedDict):
    """One split's row of :func:`goal_ratios` (None: coldrec did not run there, or no goal / ratio)."""

    split: str
    coldrec: float | None
    best_baseline: str
    best_value: float
    ratio: float | None
    goal: float | None
    met: bool | None


class AnchorRow(TypedDict):
    """One row of :func:`anchor_rows`: our figure beside the published one."""

    method: str
    metric: str
    published: float
    ours: float
    relative: float


def goal_of(split: str) -> float | None:
    """The issue's goal ratio for a split (every ``few_shot_<n>``: 1.1x)."""
    return GOALS.get(split, 1.1 if is_few_shot(split) else None)


def pivot(result: HarnessResult, split: str) -> pd.DataFrame:
    """methods x "metric@k" for one split, columns in report order."""
    df = result.frame()
    df = df[df["split"] == split]
    if df.empty:
        return pd.DataFrame()
    df = df.assign(col=df["metric"].map(SHORT).fillna(df["metric"]) + "@" + df["k"].astype(str))
    order_metric = {m: i for i, m in enumerate(ALL_METRICS)}
    cols = (
        df[["metric", "k", "col"]]
        .drop_duplicates()
        .assign(o=lambda d: d["metric"].map(order_metric).fillna(len(order_metric)))
        .sort_values(["k", "o"])["col"]
        .tolist()
    )
    methods = list(dict.fromkeys(df["method"]))
    return df.pivot_table(index="method", columns="col", values="value", aggfunc="first").reindex(methods)[cols]


def goal_ratios(result: HarnessResult, metric: str = "ndcg", k: int = 10) -> list[GoalRatio]:
    """Per split: coldrec's value, the best baseline (name, value) and the ratio, beside the goal."""
    out: list[GoalRatio] = []
    df = result.frame()
    for split in result.splits:
        sub = df[(df["split"] == split) & (df["metric"] == metric) & (df["k"] == k)]
        if sub.empty:
            continue
        base = sub[~sub["method"].str.startswith(COLDREC)]  # coldrec's list variants are not baselines
        ours = sub[sub["method"] == COLDREC]
        if base.empty:
            continue
        best = base.loc[base["value"].idxmax()]
        value = float(ours["value"].iloc[0]) if not ours.empty else None
        ratio = value / float(best["value"]) if value is not None and float(best["value"]) > 0 else None
        goal = goal_of(split)
        out.append(
            {
                "split": split,
                "coldrec": value,
                "best_baseline": str(best["method"]),
                "best_value": float(best["value"]),
                "ratio": ratio,
                "goal": goal,
                "met": None if ratio is None or goal is None else bool(ratio >= goal),
            }
        )
    return out


def anchor_rows(result: HarnessResult) -> list[AnchorRow]:
    """Our stratified-split numbers beside the published recommenders rows."""
    out: list[AnchorRow] = []
    for method, published in PUBLISHED_ANCHOR.items():
        for metric, value in published.items():
            ours = result.value(method, "stratified", metric, 10)
            if ours is None:
                continue
            out.append({"method": method, "metric": f"{metric}@10", "published": value, "ours": ours,
                        "relative": ours / value})  # fmt: skip
    return out


def print_tables(result: HarnessResult, console: Console | None = None, ratios: bool = True) -> None:
    """The full table, one rich table per split (methods x metrics@k), then the goal ratios."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for split, size in result.splits.items():
        full = pivot(result, split)
        if full.empty:
            continue
        for k in sorted({int(c.rsplit("@", 1)[1]) for c in full.columns}):
            table_df = full[[c for c in full.columns if c.endswith(f"@{k}")]]
            title = (
                f"{result.dataset} - {split} @{k}: {size['eval_users']} users, {size['test_positives']} test "
                f"positives, {size['candidates']} candidate items"
            )
            table = Table(title=title, title_justify="left", header_style="bold")
            table.add_column("method")
            for col in table_df.columns:
                table.add_column(col, justify="right")
            best = table_df.max(axis=0)
            for method, row in table_df.iterrows():
                cells = []
                for col, v in row.items():
                    text = "" if pd.isna(v) else f"{v:.4f}" if not col.startswith("Nov") else f"{v:.2f}"
                    cells.append(f"[bold green]{text}[/]" if not pd.isna(v) and v == best[col] else text)
                table.add_row(str(method), *cells, style="bold" if method == COLDREC else None)
            console.print(table)
    ratio_rows = goal_ratios(result) if ratios else []
    if ratio_rows:
        table = Table(title=f"{result.dataset} - NDCG@10 of coldrec over the best baseline", title_justify="left")
        for col in ("split", "coldrec", "best baseline", "ratio", "goal", "met"):
            table.add_column(col)
        for r in ratio_rows:
            table.add_row(
                str(r["split"]),
                "-" if r["coldrec"] is None else f"{r['coldrec']:.4f}",
                f"{r['best_baseline']} {r['best_value']:.4f}",
                "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
                "-" if r["goal"] is None else f"{r['goal']:.1f}x",
                {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[r["met"]],
            )
        console.print(table)
    anchors = anchor_rows(result)
    if anchors:
        table = Table(title="sanity anchor: recommenders ML-100K protocol (stratified 75/25, seed 42)",
                      title_justify="left")  # fmt: skip
        for col in ("method", "metric", "published", "ours", "ours/published"):
            table.add_column(col)
        for a in anchors:
            table.add_row(a["method"], a["metric"], f"{a['published']:.3f}", f"{a['ours']:.3f}",
                          f"{a['relative']:.2f}")  # fmt: skip
        console.print(table)


def write_json(result: HarnessResult, path: str | Path) -> Path:
    """The whole table as a JSON list of ``{method, split, metric, k, value}``."""
    return write_json_rows(result.rows, path)


def write_json_rows(rows: object, path: str | Path) -> Path:
    """Any JSON-able rows (NaN written as null) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_nan_to_none(rows), indent=1) + "\n", encoding="utf-8")
    return path


def _nan_to_none(obj: object) -> object:
    if isinstance(obj, float) and np.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    return obj


def markdown_table(df: pd.DataFrame, novelty_digits: int = 2) -> str:
    cols = list(df.columns)
    lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    best = df.max(axis=0)
    for method, row in df.iterrows():
        cells = []
        for col, v in row.items():
            if pd.isna(v):
                cells.append("")
                continue
            text = f"{v:.{novelty_digits}f}" if col.startswith("Nov") else f"{v:.4f}"
            cells.append(f"**{text}**" if v == best[col] else text)
        name = f"**{method}**" if method == COLDREC else str(method)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(result: HarnessResult, folder: Path, ks: Sequence[int] = (10,)) -> list[Path]:
    """PNG plots: NDCG@k per method for each split (grouped bars), and recall@k curves where several k exist."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    df = result.frame()
    for k in ks:
        sub = df[(df["metric"] == "ndcg") & (df["k"] == k)]
        if sub.empty:
            continue
        splits = list(result.splits)
        methods = list(dict.fromkeys(sub["method"]))
        fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(splits) + 0.35 * len(methods) * len(splits)), 4.5))
        width = 0.8 / max(len(methods), 1)
        x = np.arange(len(splits))
        cmap = plt.get_cmap("tab20")
        for j, method in enumerate(methods):
            vals = [sub[(sub["split"] == s) & (sub["method"] == method)]["value"] for s in splits]
            heights = [float(v.iloc[0]) if len(v) else np.nan for v in vals]
            ax.bar(
                x + j * width - 0.4 + width / 2,
                heights,
                width,
                label=method,
                color=cmap(j % 20),
                edgecolor="black" if method == COLDREC else None,
                linewidth=1.5 if method == COLDREC else 0,
            )
        ax.set_xticks(x, splits)
        ax.set_ylabel(f"NDCG@{k}")
        ax.set_title(f"{result.dataset}: NDCG@{k} by split and method")
        ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        path = folder / f"ndcg_at_{k}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    ks_all = sorted(df["k"].unique())
    if len(ks_all) > 1:
        fig, axes = plt.subplots(1, len(result.splits), figsize=(4 * len(result.splits), 3.6), squeeze=False)
        for ax, split in zip(axes[0], result.splits, strict=True):
            sub = df[(df["split"] == split) & (df["metric"] == "recall")]
            for method, grp in sub.groupby("method", sort=False):
                grp = grp.sort_values("k")
                ax.plot(grp["k"], grp["value"], marker="o", label=method, linewidth=2.5 if method == COLDREC else 1)
            ax.set_title(split)
            ax.set_xlabel("k")
            ax.set_ylabel("recall@k")
        axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        path = folder / "recall_at_k.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def write_markdown(result: HarnessResult, folder: str | Path, command: str = "", extra: Sequence[str] = (),
                   ratios: bool = True) -> Path:  # fmt: skip
    """``report.md`` + PNG plots in ``folder``; returns the report path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plots = plot(result, folder)
    lines = [f"# coldrec evaluation: {result.dataset}", ""]
    if command:
        lines += [f"`{command}`", ""]
    lines += [
        "Metrics at K over users with at least one relevant test item; NDCG with binary gains; MAP@k divides by "
        "min(relevant, k); coverage = distinct recommended items / candidate items; novelty = mean -log2 of the "
        "item's training popularity; XCat = share of users with a hit in a category new to them; XCatPairs = share of "
        "the test pairs in a top-level category new to the user found in the top k; ColdHR = share of the test pairs "
        "on items without training interactions found in the top k. Best value per column in bold.",
        "",
    ]
    lines += list(extra)
    ratio_rows = goal_ratios(result) if ratios else []
    if ratio_rows:
        lines += [
            "## Goals: NDCG@10 of coldrec over the best baseline (same run, same splits)",
            "",
            "| split | coldrec | best baseline | ratio | goal | met |",
            "|---|---:|---|---:|---:|---|",
        ]
        for r in ratio_rows:
            ours = "-" if r["coldrec"] is None else f"{r['coldrec']:.4f}"
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
            goal = "-" if r["goal"] is None else f"{r['goal']:.1f}x"
            met = {True: "yes", False: "no", None: "-"}[r["met"]]
            best = f"{r['best_baseline']} {r['best_value']:.4f}"
            lines.append(f"| {r['split']} | {ours} | {best} | {ratio} | {goal} | {met} |")
        lines.append("")
    for split, size in result.splits.items():
        df = pivot(result, split)
        if df.empty:
            continue
        lines += [
            f"## {split}",
            "",
            f"{size['eval_users']} evaluated users, {size['train_positives']} training positives, "
            f"{size['test_positives']} test positives, {size['candidates']} candidate items.",
            "",
            markdown_table(df),
            "",
        ]
    anchors = anchor_rows(result)
    if anchors:
        lines += [
            "## Sanity anchor: microsoft/recommenders ML-100K (stratified 75/25 per user, seed 42, k=10)",
            "",
            "| method | metric | published | ours | ours / published |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [f"| {a['method']} | {a['metric']} | {a['published']:.3f} | {a['ours']:.3f} | {a['relative']:.2f} |"
                  for a in anchors]  # fmt: skip
        lines.append("")
    if result.timings:
        lines += ["## Timings (seconds)", "", "| split | method | fit | score |", "|---|---|---:|---:|"]
        lines += [f"| {t['split']} | {t['method']} | {t['fit_s']:.1f} | {t['score_s']:.1f} |" for t in result.timings]
        lines.append("")
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def log_to_mlflow(result: HarnessResult, folder: Path, tracking_uri: str, experiment: str,
                  params: dict[str, object], extra_metrics: dict[str, float] | None = None) -> str | None:  # fmt: skip
    """One MLflow run: params, every value as ``<split>.<method>.<metric>_at_<k>``, the report folder as artifacts."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        with contextlib.suppress(mlflow.exceptions.MlflowException):  # created concurrently: fine, use it
            client.create_experiment(experiment)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"evaluate-{result.dataset}") as run:
        mlflow.set_tags({"coldrec.stage": "evaluate", "coldrec.dataset": result.dataset})
        mlflow.log_params({k: str(v) for k, v in params.items()})
        metrics = {
            f"{r['split']}.{r['method']}.{r['metric']}_at_{r['k']}": float(r["value"])  # type: ignore[arg-type]
            for r in result.rows
        }
        for r in goal_ratios(result):
            if r["ratio"] is not None:
                metrics[f"{r['split']}.ratio_ndcg_at_10"] = float(r["ratio"])
        metrics.update({k: v for k, v in (extra_metrics or {}).items() if not np.isnan(v)})
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(folder))
        return run.info.run_id
