"""Torch modules: the feature-conditioned denoising autoencoder with its item content encoder, and the CFGAN pair.

Why this shape (DropoutNet + Mult-DAE): one latent space serves every case. A user vector comes from the history
(denoised, Liang et al. 2018) *and* the user features; training drops the whole history of some users, so features
alone (a cold user) still land in the right place, and a new user's few events fold in at inference without
retraining (no per-user parameters). An item vector is its learned embedding *plus* a content encoding; training
drops the learned part of some items, so content alone (a cold item) lands in the same space, with a content-predicted
bias that carries "how popular will this kind of item be".
"""

from __future__ import annotations

import torch
from torch import nn


class ContentEncoder(nn.Module):
    """Item content (category levels, brand, price, age, text vector) -> (latent vector, bias).

    Accepts a dense or a sparse COO content matrix: TF-IDF blocks are >99% zeros, and a sparse first layer makes
    encoding the whole catalog every batch cost ``nnz x hidden`` instead of ``items x dims x hidden``.
    """

    def __init__(self, d_item: int, hidden: int, latent: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.dropout = dropout
        self.first = nn.Linear(d_item, hidden)
        self.out = nn.Linear(hidden, latent + 1)

    def forward(self, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if content.is_sparse:
            if self.training and self.dropout > 0:
                values = nn.functional.dropout(content.values(), self.dropout, training=True)
                content = torch.sparse_coo_tensor(content.indices(), values, content.shape, is_coalesced=True)
            with torch.autocast(device_type=content.device.type, enabled=False):  # no bf16 sparse kernels
                hidden = torch.sparse.mm(content.float(), self.first.weight.float().T) + self.first.bias.float()
        else:
            hidden = self.first(nn.functional.dropout(content, self.dropout, training=self.training))
        out = self.out(torch.tanh(hidden))
        return out[:, :-1], out[:, -1]


class ConditionalDAE(nn.Module):
    """Denoising autoencoder over a user's interaction vector, conditioned on user features.

    ``encode(x, f)`` gives the user vector, ``items(...)`` the item vectors and biases; a score is their dot product
    plus the bias, trained with the multinomial log-likelihood of the user's interactions (softmax over items).
    """

    def __init__(self, n_items: int, d_user: int, d_item: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.history_in = nn.Linear(n_items, hidden)
        self.features_in = nn.Linear(d_user, hidden, bias=False)
        self.to_latent = nn.Linear(hidden, latent)
        self.item_embedding = nn.Parameter(torch.zeros(n_items, latent))
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.content = ContentEncoder(d_item, hidden, latent)
        nn.init.normal_(self.item_embedding, std=0.01)

    def encode(self, history: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor:
        """User vector from an (L2-normalized, possibly empty) history and the user features.

        ``history`` may be dense, sparse COO (a history holds a handful of the catalog's items: the first layer then
        costs ``nnz x hidden`` instead of ``users x items x hidden``, forward and backward) or ``None`` for users
        without any history (only the layer's bias)."""
        if history is None:
            h = self.history_in.bias.expand(features.shape[0], -1)
        elif history.is_sparse:
            with torch.autocast(device_type=history.device.type, enabled=False):  # no bf16 sparse kernels
                h = torch.sparse.mm(history.float(), self.history_in.weight.float().T) + self.history_in.bias.float()
        else:
            h = self.history_in(history)
        hidden = torch.tanh(h + self.features_in(features))
        return self.to_latent(hidden)

    def items(
        self, content: torch.Tensor, learned_mask: torch.Tensor | None = None, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Item vectors and biases: content encoding, plus the learned part where ``learned_mask`` is 1.

        ``index`` selects catalog rows of the learned part (default: the whole catalog, aligned with ``content``);
        ``learned_mask=None`` means content only (cold items given by content).
        """
        vec, bias = self.content(content)
        if learned_mask is None:
            return vec, bias
        emb = self.item_embedding if index is None else self.item_embedding[index]
        b = self.item_bias if index is None else self.item_bias[index]
        mask = learned_mask.to(vec.dtype)
        return vec + mask[:, None] * emb, bias + mask * b

    @staticmethod
    def score(user: torch.Tensor, item_vec: torch.Tensor, item_bias: torch.Tensor) -> torch.Tensor:
        return user @ item_vec.T + item_bias


class Generator(nn.Module):
    """CFGAN generator conditioned on user features, with a real noise input (without noise CFGAN degenerates into
    an autoencoder, Chae et al. 2019 / Lee et al. 2021): ``(z, f) -> per-item interaction probabilities``."""

    def __init__(self, noise_dim: int, d_user: int, hidden: int, n_items: int) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.net = nn.Sequential(
            nn.Linear(noise_dim + d_user, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, n_items),
        )

    def forward(self, noise: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([noise, features], dim=1)))


class Discriminator(nn.Module):
    """Tells real interaction vectors from generated ones, given the same user features (a logit per user)."""

    def __init__(self, n_items: int, d_user: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_items + d_user, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden // 2),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, interactions: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([interactions, features], dim=1)).squeeze(1)
