"""Save and load :class:`TrainedModels` as a plain folder: ``state.pt`` (tensors only), ``arrays.npz`` (no pickles),
``meta.json`` (config, dimensions, validation figures).

Why not pickle the object: a folder of tensors, arrays and JSON loads with ``weights_only=True`` and
``allow_pickle=False`` (no code execution from a model file) and survives refactors of the Python classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from coldrec.config import TrainConfig
from coldrec.models.data import TrainedModels
from coldrec.models.networks import ConditionalDAE, Generator

_ARRAYS = ("item_catalog_features", "learned_items", "user_history_columns", "item_category", "item_popularity")


def save_bundle(models: TrainedModels, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ae: ConditionalDAE = models.autoencoder
    state = {"autoencoder": {k: v.detach().cpu() for k, v in ae.state_dict().items()}}
    gan_dims = None
    if models.gan is not None:
        gen: Generator = models.gan
        state["gan"] = {k: v.detach().cpu() for k, v in gen.state_dict().items()}
        gan_dims = {"noise_dim": gen.noise_dim, "hidden": gen.net[0].out_features}
    torch.save(state, folder / "state.pt")
    arrays = {name: getattr(models, name) for name in _ARRAYS if getattr(models, name) is not None}
    for name in ("user_ids", "item_ids"):
        if getattr(models, name) is not None:
            arrays[name] = np.asarray(getattr(models, name)).astype(str)
    np.savez(folder / "arrays.npz", **arrays)
    meta = {
        "config": models.config.model_dump(mode="json"),
        "ae_dims": {
            "n_items": ae.n_items,
            "d_user": ae.features_in.in_features,
            "d_item": ae.content.first.in_features,
            "hidden": ae.history_in.out_features,
            "latent": ae.to_latent.out_features,
        },
        "gan_dims": gan_dims,
        "history": models.history,
        "validation": models.validation,
        "cold_user_choice": models.cold_user_choice,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True, allow_nan=True))
    return folder


def load_bundle(folder: str | Path) -> TrainedModels:
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    d = meta["ae_dims"]
    ae = ConditionalDAE(d["n_items"], d["d_user"], d["d_item"], d["hidden"], d["latent"])
    ae.load_state_dict(state["autoencoder"])
    ae.eval()
    gan = None
    if meta.get("gan_dims") and "gan" in state:
        g = meta["gan_dims"]
        gan = Generator(g["noise_dim"], d["d_user"], g["hidden"], d["n_items"])
        gan.load_state_dict(state["gan"])
        gan.eval()
    return TrainedModels(
        autoencoder=ae,
        gan=gan,
        config=TrainConfig.model_validate(meta["config"]),
        item_catalog_features=arrays["item_catalog_features"],
        learned_items=arrays["learned_items"].astype(bool),
        user_history_columns=arrays.get("user_history_columns"),
        item_category=arrays.get("item_category"),
        user_ids=arrays.get("user_ids"),
        item_ids=arrays.get("item_ids"),
        history=meta.get("history", {}),
        validation=meta.get("validation", {}),
        cold_user_choice=meta.get("cold_user_choice", "autoencoder"),
        item_popularity=arrays.get("item_popularity"),
    )
