"""One picture for the coverage-weight trade-off benches (``coverage_curve.py``, ``coverage_weights.py``): NDCG@10
against catalog coverage, one point per weight, weights that gave the same point labelled together."""

from __future__ import annotations

from pathlib import Path


def plot_tradeoff(
    points: list[tuple[float, float, float, str]], png: Path, title: str, xlabel: str, ylabel: str, footnote: str
) -> None:
    """``points``: (weight, coverage, NDCG, extra label text) per weight; drawn in weight order, points with the
    same coverage and NDCG (to 4 digits) share one label so none is written over another."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(points, key=lambda p: p[0])
    groups: dict[tuple[float, float], list[tuple[float, str]]] = {}
    for weight, x, y, extra in points:
        groups.setdefault((round(x, 4), round(y, 4)), []).append((weight, extra))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot([p[1] for p in points], [p[2] for p in points], "-o", color="tab:blue")
    for i, ((x, y), members) in enumerate(groups.items()):  # labels alternate above-right / below-left
        weights = ", ".join(f"{w:g}" for w, _ in members)
        extra = members[0][1]
        above = i % 2 == 0
        ax.annotate(f"w={weights}{f' ({extra})' if extra else ''}", (x, y), textcoords="offset points",
                    xytext=(6, 6) if above else (-6, -14), ha="left" if above else "right", fontsize=8)  # fmt: skip
    ax.text(0.01, 0.01, footnote, transform=ax.transAxes, fontsize=7, color="gray")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(x=0.15, y=0.15)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
