"""Training throughput of the autoencoder (and the GAN): samples/s per epoch, batch size, data-loading share.

Baseline, measured in the same run on the same shapes: a bare forward/backward/step of the same network on one
pre-built dense batch (no batch slicing, no masking, no validation) -- the compute ceiling; the ratio says how much
of it the real loop achieves. Runs on CPU, and on CUDA too when one is present.

    python bench/train.py [--users 20000] [--items 2000] [--epochs 3] [--batch-size 256] [--threads N]

Last line: JSON with samples_per_s, device, data_loading_share, batch_size, ratio_to_bare_step (+ per device).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scipy.sparse as sp
import torch
from rich.console import Console
from rich.table import Table

from coldrec.config import TrainConfig
from coldrec.models.api import ColdStartData
from coldrec.models.networks import ConditionalDAE, Discriminator, Generator
from coldrec.models.training import Batches, ae_loss, build_context, gan_step
from coldrec.models.validation import split_validation


def synthetic(n_users: int, n_items: int, per_user: int, seed: int = 0) -> ColdStartData:
    """A shop-like data set: Zipf item popularity, 40 user feature columns, 300 sparse item content columns."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    pop /= pop.sum()
    rows = np.repeat(np.arange(n_users), per_user)
    cols = rng.choice(n_items, size=rows.size, p=pop)
    X = sp.csr_matrix((rng.uniform(0.5, 2, rows.size).astype(np.float32), (rows, cols)), shape=(n_users, n_items))
    X.sum_duplicates()
    U = (rng.random((n_users, 40)) < 0.15).astype(np.float32)
    content = np.zeros((n_items, 300), np.float32)
    for j in range(n_items):
        content[j, rng.choice(300, size=8, replace=False)] = rng.random(8)
    return ColdStartData(X=X, user_features=U, item_features=content, item_category=np.arange(n_items) % 10)


def bench_device(data: ColdStartData, cfg: TrainConfig, device: torch.device, epochs: int) -> dict[str, float]:
    train, val, _, _ = split_validation(data, 0.05, 0.05, np.random.default_rng(0))
    ctx = build_context(train, val, cfg, device)
    torch.manual_seed(0)
    net = ConditionalDAE(data.n_items, data.user_features.shape[1], data.item_features.shape[1],
                         cfg.hidden_dim, cfg.latent_dim).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(1)
    batches = Batches(ctx.X, ctx.train_users, cfg.batch_size, device, np.random.default_rng(2))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    # bare step: one pre-built batch on the device, the same loss without data loading
    idx0 = torch.from_numpy(ctx.train_users[: cfg.batch_size])
    x0 = torch.from_numpy(ctx.X[ctx.train_users[: cfg.batch_size]].toarray()).to(device)
    for _ in range(2):  # warm-up
        opt.zero_grad()
        ae_loss(net, ctx, x0, idx0, cfg, gen).backward()
        opt.step()
    sync()
    n_bare = max(5, len(batches) // 2)
    t0 = time.perf_counter()
    for _ in range(n_bare):
        opt.zero_grad()
        ae_loss(net, ctx, x0, idx0, cfg, gen).backward()
        opt.step()
    sync()
    bare = n_bare * x0.shape[0] / (time.perf_counter() - t0)

    per_epoch = []
    for _ in range(epochs):
        batches.loading_seconds = 0.0
        seen = 0
        t0 = time.perf_counter()
        for idx, x in batches:
            opt.zero_grad(set_to_none=True)
            ae_loss(net, ctx, x, idx, cfg, gen).backward()
            opt.step()
            seen += x.shape[0]
        sync()
        elapsed = time.perf_counter() - t0
        per_epoch.append((seen / elapsed, batches.loading_seconds / elapsed))

    g = Generator(cfg.gan_noise_dim, data.user_features.shape[1], cfg.gan_hidden_dim, data.n_items).to(device)
    d = Discriminator(data.n_items, data.user_features.shape[1], cfg.gan_hidden_dim).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3)
    seen, t0 = 0, time.perf_counter()
    for idx, x in batches:
        gan_step(g, d, opt_g, opt_d, ctx, x, idx, cfg, gen)
        seen += x.shape[0]
    sync()
    gan_rate = seen / (time.perf_counter() - t0)

    rates = [r for r, _ in per_epoch]
    return {
        "per_epoch": rates,
        "samples_per_s": float(np.median(rates)),
        "data_loading_share": float(np.median([s for _, s in per_epoch])),
        "bare_step_samples_per_s": bare,
        "ratio_to_bare_step": float(np.median(rates)) / bare,
        "gan_samples_per_s": gan_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--per-user", type=int, default=30, help="interactions per user")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console(stderr=True)
    data = synthetic(args.users, args.items, args.per_user)
    cfg = TrainConfig(batch_size=args.batch_size, device="cpu")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    results: dict[str, dict[str, float]] = {}
    for device in devices:
        dev_cfg = cfg.model_copy(update={"device": device.type})
        shape = f"{args.users:,} users x {args.items:,} items, batch {args.batch_size}"
        console.print(f"benchmarking on {device} ({shape})")
        results[device.type] = bench_device(data, dev_cfg, device, args.epochs)

    table = Table(title="autoencoder training throughput")
    for col in ("device", "epoch samples/s", "data loading", "bare step samples/s", "ratio", "GAN samples/s"):
        table.add_column(col, justify="right")
    for dev, r in results.items():
        table.add_row(dev, " / ".join(f"{v:,.0f}" for v in r["per_epoch"]), f"{r['data_loading_share']:.1%}",
                      f"{r['bare_step_samples_per_s']:,.0f}", f"{r['ratio_to_bare_step']:.2f}",
                      f"{r['gan_samples_per_s']:,.0f}")
    console.print(table)
    best = "cuda" if "cuda" in results else "cpu"
    summary = {
        "samples_per_s": round(results[best]["samples_per_s"], 1),
        "device": best,
        "data_loading_share": round(results[best]["data_loading_share"], 4),
        "batch_size": args.batch_size,
        "ratio_to_bare_step": round(results[best]["ratio_to_bare_step"], 3),
        "cpu_samples_per_s": round(results["cpu"]["samples_per_s"], 1),
        "cpu_threads": torch.get_num_threads(),
        "gan_samples_per_s": round(results[best]["gan_samples_per_s"], 1),
        "users": args.users,
        "items": args.items,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
