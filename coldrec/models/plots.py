"""Training figures logged as MLflow artifacts: loss curves, validation metric curves, and a 2-D projection of the
item embeddings coloured by top category (matplotlib's Agg backend: no display needed on a worker)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from coldrec.models.data import TrainedModels


def _curves(history: dict[str, list[float]], keys: list[str], title: str, ylabel: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        values = history.get(key)
        if values:
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(models: TrainedModels, folder: Path) -> Path:
    keys = ["ae_loss", "gan_loss"]
    return _curves(models.history, keys, "training loss", "loss per user", folder / "loss_curves.png")


def metric_curves(models: TrainedModels, folder: Path) -> Path:
    keys = ["ae_ndcg_cold_users", "ae_ndcg_cold_items", "ae_val_score", "gan_ndcg_cold_users"]
    k = models.config.eval_k
    title = f"validation NDCG@{k} (cold splits)"
    return _curves(models.history, keys, title, f"NDCG@{k}", folder / "metric_curves.png")


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components (SVD of the centred matrix; deterministic up to sign, fixed here)."""
    centred = x - x.mean(axis=0, keepdims=True)
    if centred.shape[0] < 2:
        return np.zeros((centred.shape[0], 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    out = centred @ comps.T
    return out if out.shape[1] == 2 else np.c_[out, np.zeros(len(out))]


def embedding_projection(
    models: TrainedModels, folder: Path, category_names: np.ndarray | None = None, max_categories: int = 10
) -> Path:
    """Item embeddings (learned + content; cold items from content) projected by PCA, one colour per top category
    (the ``max_categories`` largest; the rest grey)."""
    vectors, _ = models.item_embeddings()
    xy = pca_2d(vectors.astype(np.float64))
    cats = models.item_category if models.item_category is not None else np.zeros(len(xy), dtype=int)
    codes, counts = np.unique(cats, return_counts=True)
    top = codes[np.argsort(-counts, kind="stable")[:max_categories]]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    other = ~np.isin(cats, top)
    if other.any():
        ax.scatter(xy[other, 0], xy[other, 1], s=6, c="lightgrey", label="other")
    cmap = plt.get_cmap("tab10")
    for i, code in enumerate(top):
        sel = cats == code
        name = str(category_names[code]) if category_names is not None and code < len(category_names) else str(code)
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8, color=cmap(i % 10), label=name)
    cold = ~models.learned_items
    if cold.any():
        ax.scatter(
            xy[cold, 0], xy[cold, 1], s=30, facecolors="none", edgecolors="black", linewidths=0.5, label="content only"
        )
    ax.set_title("item embeddings (PCA), coloured by top category")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    fig.tight_layout()
    path = folder / "item_embeddings_pca.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
