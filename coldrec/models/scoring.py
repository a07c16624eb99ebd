"""Batched scoring with trained networks: user vectors, item vectors, autoencoder scores, GAN interactions.

Why one module for training-time validation and serving: the numbers that pick the champion must come from exactly
the code that later scores users, so both go through these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from coldrec.models.networks import ConditionalDAE, Generator

if TYPE_CHECKING:
    from coldrec.models.data import TrainedModels


def as_dense_rows(X_rows: sp.spmatrix | np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a sparse or dense matrix as dense float32."""
    block: Any = X_rows[start:stop]
    if sp.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)


def content_tensor(features: np.ndarray, device: torch.device, max_density: float = 0.2) -> torch.Tensor:
    """Item content as a torch tensor: sparse COO when mostly zeros (TF-IDF), dense otherwise."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    dense = torch.from_numpy(features)
    if features.size and np.count_nonzero(features) / features.size <= max_density:
        return dense.to_sparse().coalesce().to(device)
    return dense.to(device)


def normalize_history(x: torch.Tensor) -> torch.Tensor:
    """L2-normalize each history row (Mult-DAE input); an empty history stays all-zero."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sparse_history(rows: sp.spmatrix | np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2-normalized history rows as a sparse COO tensor, bool "row is empty") - what ``ConditionalDAE.encode``
    reads; the same values as :func:`normalize_history` of the dense rows."""
    csr = sp.csr_matrix(rows, dtype=np.float32)
    csr.eliminate_zeros()
    csr.sort_indices()
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1), dtype=np.float64).ravel())
    row = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    values = (csr.data / np.maximum(norms[row], 1e-12)).astype(np.float32)
    index = torch.from_numpy(np.vstack([row, csr.indices]).astype(np.int64))
    x = torch.sparse_coo_tensor(index, torch.from_numpy(values), csr.shape, is_coalesced=True).to(device)
    return x, torch.from_numpy(np.diff(csr.indptr) == 0).to(device)


def mask_history_features(features: torch.Tensor, history_columns: torch.Tensor | None) -> torch.Tensor:
    """Zero the history-derived feature columns (what a cold user looks like)."""
    if history_columns is None or not bool(history_columns.any()):
        return features
    return features * (~history_columns).to(features.dtype)


@torch.no_grad()
def ae_item_vectors(
    net: ConditionalDAE, content: torch.Tensor, learned: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    return net.items(content, learned)


@torch.no_grad()
def ae_user_vectors(
    net: ConditionalDAE,
    X_rows: sp.spmatrix | np.ndarray,
    features: np.ndarray,
    history_columns: torch.Tensor | None,
    device: torch.device,
    batch_size: int = 2048,
) -> torch.Tensor:
    """User vectors ``[n, latent]`` on ``device``; users with an empty history get their history columns zeroed, so
    a cold user is encoded exactly as training simulated it."""
    out = []
    n = features.shape[0]
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        x, empty = sparse_history(X_rows[start:stop], device)
        f = torch.from_numpy(np.ascontiguousarray(features[start:stop], dtype=np.float32)).to(device)
        if history_columns is not None and bool(empty.any()):
            f = torch.where(empty[:, None], mask_history_features(f, history_columns), f)
        out.append(net.encode(x, f))
    return torch.cat(out) if out else torch.zeros(0, net.to_latent.out_features, device=device)


def _device(models: TrainedModels, device: str | torch.device | None) -> torch.device:
    if device is None:
        return next(models.autoencoder.parameters()).device
    return torch.device(device)


def _history_columns(models: TrainedModels, device: torch.device) -> torch.Tensor | None:
    if models.user_history_columns is None:
        return None
    return torch.from_numpy(np.asarray(models.user_history_columns, dtype=bool)).to(device)


def item_embeddings(models: TrainedModels, item_features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    net = models.autoencoder
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    if item_features is None:
        content = content_tensor(models.item_catalog_features, device)
        learned = torch.from_numpy(models.learned_items.astype(np.float32)).to(device)
    else:
        content = content_tensor(item_features, device)
        learned = None
    vec, bias = ae_item_vectors(net, content, learned)
    net.train(was_training)
    return vec.float().cpu().numpy(), bias.float().cpu().numpy()


def user_embeddings(
    models: TrainedModels, X_rows: sp.spmatrix | np.ndarray, user_features: np.ndarray, *, batch_size: int = 2048
) -> np.ndarray:
    net = models.autoencoder
    device = next(net.parameters()).device
    net.eval()
    u = ae_user_vectors(net, X_rows, user_features, _history_columns(models, device), device, batch_size)
    return u.float().cpu().numpy()


@torch.no_grad()
def score_users(
    models: TrainedModels,
    X_rows: sp.spmatrix | np.ndarray,
    user_features: np.ndarray,
    item_features: np.ndarray | None = None,
    *,
    batch_size: int = 2048,
    device: str | torch.device | None = None,
) -> np.ndarray:
    dev = _device(models, device)
    net = models.autoencoder.to(dev)
    net.eval()
    n_catalog = models.item_catalog_features.shape[0]
    if X_rows.shape[1] != n_catalog:
        raise ValueError(f"X_rows has {X_rows.shape[1]} columns; the model's catalog has {n_catalog} items")
    if X_rows.shape[0] != user_features.shape[0]:
        raise ValueError("X_rows and user_features must have the same number of rows")
    if item_features is None:
        content = content_tensor(models.item_catalog_features, dev)
        learned = torch.from_numpy(models.learned_items.astype(np.float32)).to(dev)
    else:
        content = content_tensor(item_features, dev)
        learned = None
    vec, bias = ae_item_vectors(net, content, learned)
    hist = _history_columns(models, dev)
    out = np.empty((user_features.shape[0], vec.shape[0]), dtype=np.float32)
    for start in range(0, user_features.shape[0], batch_size):
        stop = min(user_features.shape[0], start + batch_size)
        u = ae_user_vectors(net, X_rows[start:stop], user_features[start:stop], hist, dev, batch_size)
        out[start:stop] = (u @ vec.T + bias).float().cpu().numpy()
    return out


@torch.no_grad()
def generate(
    gen: Generator,
    features: np.ndarray | torch.Tensor,
    history_columns: torch.Tensor | None,
    device: torch.device,
    n_samples: int,
    seed: int,
    batch_size: int = 2048,
) -> torch.Tensor:
    """Mean generated interaction probabilities over ``n_samples`` seeded noise draws (features of cold users)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    f_all = torch.as_tensor(np.asarray(features, dtype=np.float32) if not torch.is_tensor(features) else features)
    out: list[torch.Tensor] = []
    for start in range(0, f_all.shape[0], batch_size):
        f = mask_history_features(f_all[start : start + batch_size].to(device), history_columns)
        acc: torch.Tensor | None = None
        for _ in range(n_samples):
            z = torch.randn(f.shape[0], gen.noise_dim, generator=g).to(device)
            p = gen(z, f).float()
            acc = p if acc is None else acc + p
        assert acc is not None, "n_samples must be at least 1"
        out.append(acc / n_samples)
    if not out:
        last: Any = gen.net[-1]  # the output Linear layer
        return torch.zeros(0, last.out_features, device=device)
    return torch.cat(out)


def gan_interactions(
    models: TrainedModels, user_features: np.ndarray, *, n_samples: int = 8, seed: int = 0, batch_size: int = 2048
) -> np.ndarray:
    if models.gan is None:
        raise RuntimeError("no GAN was trained (TrainConfig.models lacks 'gan')")
    gen = models.gan
    device = next(gen.parameters()).device
    gen.eval()
    probs = generate(gen, user_features, _history_columns(models, device), device, n_samples, seed, batch_size)
    return probs.cpu().numpy()


def cf_densified_scores(pseudo: np.ndarray, X_train: sp.csr_matrix) -> np.ndarray:
    """Item-kNN CF scores of pseudo histories: ``pseudo @ S`` with S the item-item cosine of the training X,
    computed as two sparse products so the items x items matrix is never materialized."""
    binary = sp.csr_matrix((X_train > 0).astype(np.float32))
    norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
    left = (pseudo * inv[None, :]).astype(np.float32)  # [m, n]
    via_users = (binary @ left.T).T  # [m, n_users]
    return np.asarray(binary.T @ via_users.T).T * inv[None, :]


def cold_user_scores(
    models: TrainedModels, user_features: np.ndarray, user_segment: np.ndarray | None = None
) -> np.ndarray:
    """Scores of users without history from the model-based scorer that won the cold-user validation split.

    ``user_segment`` is accepted for API symmetry with segment popularity, which the blender (coldrec.recommend)
    owns; the model choice itself does not depend on it.
    """
    del user_segment
    n_catalog = models.item_catalog_features.shape[0]
    empty = sp.csr_matrix((user_features.shape[0], n_catalog), dtype=np.float32)
    choice = models.cold_user_choice
    if choice == "gan" and models.gan is not None:
        return gan_interactions(models, user_features)
    if choice == "gan_ae" and models.gan is not None:
        return gan_ae_scores(models, user_features)
    return score_users(models, empty, user_features)


def cold_user_features(user_features: np.ndarray, history_columns: np.ndarray | None) -> np.ndarray:
    """``user_features`` with the history-derived columns zeroed: what a user without history looks like.

    Why explicit: the autoencoder zeroes them only for an empty history row, and a GAN's pseudo history is not empty,
    so without this a "cold" user's real behaviour columns reach the encoder (for a validation user held out of
    training they encode the very history that is the answer)."""
    if history_columns is None or not np.any(history_columns):
        return user_features
    return np.where(np.asarray(history_columns, dtype=bool)[None, :], 0.0, user_features).astype(user_features.dtype)


def gan_ae_scores(models: TrainedModels, user_features: np.ndarray) -> np.ndarray:
    """Cold users scored by the autoencoder over the GAN's generated interactions as their pseudo history, from
    their history-free features only (:func:`cold_user_features`)."""
    features = cold_user_features(user_features, models.user_history_columns)
    return score_users(models, gan_interactions(models, features), features)
