"""All-user top-50 scoring throughput beside a bare torch.matmul of the same shapes, in the same run.

What is timed (default 100k users x 20k items, latent 64, batches of 4096 users, CUDA when present):
- ``scoring``: coldrec.ranking.topk.embedding_topk - per batch one GEMM (+ item bias) into a reused buffer, the
  user's purchased items (``--seen`` per user, random) masked in place, the top-50 in two stages
  (:func:`coldrec.ranking.topk.two_stage_topk`); timed again with one plain ``torch.topk`` for reference;
- ``matmul``: the same GEMMs (same batch shapes, same output buffer), nothing else; on CPU the scorer cuts each
  batch into cache-sized tiles (:func:`coldrec.ranking.topk.cpu_tile_rows`), so the bare GEMM is timed in those
  tiles too, and ``share_of_matmul`` is taken against the faster of the two bare timings (the GEMM's best case);
- ``blend``: the nightly Recommender's block path for a sample of users (an embedding source, item-kNN over a sparse
  top-50 similarity and segment popularity, z-scored and blended per segment, masked, top-200 pool), reported as
  users/s beside it, with the nightly default block size and again in blocks of 4096 users.
GFLOP/s counts the GEMM's 2 * users * items * dim flops for both, so ``share_of_matmul`` = best bare matmul time /
scoring time (``share_of_matmul_batch_shape`` is the share against the bare GEMM at the batch shape alone).
Last line: JSON with share_of_matmul, users_per_s, gflops, matmul_gflops, device.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scipy.sparse as sp
import torch

from coldrec.ranking.topk import cpu_tile_rows, embedding_topk, pick_device


def _seen(n_users: int, n_items: int, per_user: int, rng: np.random.Generator) -> sp.csr_matrix:
    cols = rng.integers(0, n_items, size=(n_users, per_user))
    rows = np.repeat(np.arange(n_users), per_user)
    m = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols.ravel())), shape=(n_users, n_items))
    m.sum_duplicates()
    return m


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_matmul(U: torch.Tensor, V: torch.Tensor, b: torch.Tensor, batch: int) -> float:
    vt = V.T.contiguous()
    buf = torch.empty((min(batch, U.shape[0]), V.shape[0]), dtype=U.dtype, device=U.device)
    _sync(U.device)
    t0 = time.perf_counter()
    for lo in range(0, U.shape[0], batch):
        hi = min(lo + batch, U.shape[0])
        torch.addmm(b[None, :], U[lo:hi], vt, out=buf[: hi - lo])
    _sync(U.device)
    return time.perf_counter() - t0


def bench_scoring(U, V, b, seen, k, batch, two_stage: bool = True) -> float:
    _sync(U.device)
    t0 = time.perf_counter()
    _vals, idx = embedding_topk(U, V, b, k, exclude=seen, batch_size=batch, two_stage=two_stage)
    _sync(U.device)
    assert idx.shape == (U.shape[0], k)
    return time.perf_counter() - t0


def bench_blend(n_users: int, n_items: int, dim: int, rng: np.random.Generator, batch_users: int = 0) -> float:
    """users/s of the nightly Recommender block path on a sample of users (see module doc); ``batch_users`` 0 is
    the nightly default (auto by device)."""
    from coldrec.config import RecommendConfig
    from coldrec.ranking.blend import BlendWeights
    from coldrec.ranking.sources import ItemKNNSource, PopularitySource, Source, UserBatch
    from coldrec.recommend.rows import Catalog, Recommender

    class Embedding(Source):
        name = "autoencoder"

        def __init__(self, U: torch.Tensor, V: torch.Tensor) -> None:
            self.U, self.V = U, V

        def block(self, batch: UserBatch) -> torch.Tensor:
            return self.U[torch.from_numpy(batch.users)] @ self.V.T

    U = torch.randn(n_users, dim)
    V = torch.randn(n_items, dim)
    hist = _seen(n_users, n_items, 20, rng)
    nbr = 50
    sim = sp.csr_matrix((rng.random(n_items * nbr).astype(np.float32),
                         (np.repeat(np.arange(n_items), nbr), rng.integers(0, n_items, n_items * nbr))),
                        shape=(n_items, n_items))  # fmt: skip
    cfg = RecommendConfig(batch_users=batch_users)  # 0: the nightly default, 512 users per block on CPU, 4096 on CUDA
    weights = BlendWeights({s: {"autoencoder": 0.4, "cf": 0.4, "popular": 0.2} for s in ("new", "light", "heavy")})
    sources = {"autoencoder": Embedding(U, V), "cf": ItemKNNSource(sim),
               "popular": PopularitySource(rng.random((4, n_items)).astype(np.float32))}  # fmt: skip
    cat = Catalog(np.arange(n_users).astype(str).astype(object), np.arange(n_items).astype(str).astype(object),
                  hist, hist, hist, rng.integers(0, 20, n_items), [f"c{i}" for i in range(20)],
                  np.arange(n_items).astype(str).astype(object), np.zeros(n_items, bool),
                  rng.integers(0, 4, n_users))  # fmt: skip
    rec = Recommender(sources, weights, cfg, 20)
    t0 = time.perf_counter()
    for lo in range(0, n_users, rec.batch_users):
        rec.score_block(cat, lo, min(lo + rec.batch_users, n_users))
    return n_users / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--seen", type=int, default=20, help="purchased items masked per user")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--blend-users", type=int, default=8192, help="users in the blended-path measurement (0: skip)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args()

    device = pick_device(args.device)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    U = torch.randn(args.users, args.dim, device=device)
    V = torch.randn(args.items, args.dim, device=device)
    b = torch.randn(args.items, device=device)
    seen = _seen(args.users, args.items, args.seen, rng)
    flops = 2.0 * args.users * args.items * args.dim
    print(f"device {device}, torch threads {torch.get_num_threads()}: {args.users:,} users x {args.items:,} items, "
          f"dim {args.dim}, top-{args.k}, batch {args.batch}")  # fmt: skip
    bench_matmul(U[: args.batch], V, b, args.batch)  # warm-up
    bench_scoring(U[: args.batch], V, b, seen[: args.batch], args.k, args.batch)
    tile = min(args.batch, cpu_tile_rows(args.items)) if device.type == "cpu" else args.batch
    t_mm, t_tile, t_sc, t_plain = [], [], [], []
    for r in range(args.repeats):  # interleaved, so machine load hits all alike
        t_mm.append(bench_matmul(U, V, b, args.batch))
        t_tile.append(bench_matmul(U, V, b, tile))
        t_sc.append(bench_scoring(U, V, b, seen, args.k, args.batch))
        t_plain.append(bench_scoring(U, V, b, seen, args.k, args.batch, two_stage=False))
        print(f"  repeat {r + 1}: matmul {t_mm[-1]:.2f} s (in tiles of {tile}: {t_tile[-1]:.2f} s), "
              f"scoring (matmul + mask + two-stage top-{args.k}) "
              f"{t_sc[-1]:.2f} s, the same with one torch.topk {t_plain[-1]:.2f} s")
    mm_batch, mm_tile, sc, plain = min(t_mm), min(t_tile), min(t_sc), min(t_plain)
    mm = min(mm_batch, mm_tile)
    result = {
        "device": str(device),
        "users": args.users,
        "items": args.items,
        "dim": args.dim,
        "k": args.k,
        "tile_rows": tile,
        "matmul_s": round(mm, 3),
        "matmul_batch_shape_s": round(mm_batch, 3),
        "matmul_tiles_s": round(mm_tile, 3),
        "scoring_s": round(sc, 3),
        "matmul_gflops": round(flops / mm / 1e9, 2),
        "gflops": round(flops / sc / 1e9, 2),
        "share_of_matmul": round(mm / sc, 3),
        "share_of_matmul_batch_shape": round(mm_batch / sc, 3),
        "share_of_matmul_plain_topk": round(mm / plain, 3),
        "users_per_s": round(args.users / sc, 1),
    }
    if args.blend_users:
        result["blend_users_per_s"] = round(bench_blend(args.blend_users, args.items, args.dim, rng), 1)
        # the same path in blocks of 4096 users (the default before 2026-12-04), same run
        result["blend_users_per_s_blocks_4096"] = round(
            bench_blend(args.blend_users, args.items, args.dim, np.random.default_rng(0), 4096), 1
        )
    print(f"scoring {result['gflops']} GFLOP/s vs matmul {result['matmul_gflops']} GFLOP/s "
          f"= {result['share_of_matmul']:.0%} of matmul; {result['users_per_s']:,.0f} users/s")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
