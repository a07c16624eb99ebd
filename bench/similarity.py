"""Item-item top-50 cosine at ~2M and ~10M interactions: coldrec vs Spark MLlib exact vs implicit, and recall.

For each size (Zipf item popularity, log-normal user activity, generated with numpy and written to
``gold.interactions`` before the clock starts), in one started SparkSession:

* **coldrec**: ``gold.interactions`` -> :func:`coldrec.cf.similarity.item_similarity` -> written to
  ``gold.item_similarity`` (Delta);
* **MLlib**: the same read -> item indices -> rows per user -> ``RowMatrix.columnSimilarities()`` (exact) -> both
  directions -> top-50 window -> written to a Delta table. Bounded: by default it runs at 2M only
  (``--mllib-sizes``), and any run is cut at ``--mllib-timeout`` (jobs cancelled; the speedup is then a lower bound,
  flagged ``mllib_timed_out``);
* **implicit**: ``CosineRecommender(K=50).fit`` on the in-memory CSR (single node, C++, all cores): the
  single-machine limit;
* **exact**: scipy ``X.T @ X`` in item chunks with the same tie rule; ``recall_at_50`` = shared neighbours / exact
  neighbours, over all items at 2M and a uniform sample of 5000 items at 10M (``--recall-sample``).
  A second coldrec run with a heavy-user cap that bites (``--cap-probe``) measures the cap's accuracy cost.

Also printed: the cost model's work ``W = sum_u n_u^2`` and coldrec's seconds per 10^8 multiply-adds at each size.
Last line: one JSON object. ``python bench/similarity.py [--sizes 2M,10M] [--mllib-sizes 2M]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from rich.console import Console

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

console = Console(stderr=True)
RUN_DATE = dt.date(2024, 1, 31)
K = 50
SIZES = {"2M": (2_000_000, 200_000, 20_000), "10M": (10_000_000, 1_000_000, 50_000)}
RECALL_SAMPLE = {"10M": 5000}  # exact lists of a uniform sample of items at 10M (all items at 2M)


def generate(n_inter: int, n_users: int, n_items: int, seed: int = 0, zipf: float = 1.0) -> sp.csr_matrix:
    """Users x items weights in (0, 1]: item popularity ~ Zipf(zipf), user activity ~ log-normal (mean ~ nnz/users)."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_users)
    popularity = 1.0 / np.arange(1, n_items + 1) ** zipf
    perm = rng.permutation(n_items)  # popular items are not the smallest ids
    m = int(n_inter * 1.2)
    users = np.searchsorted(np.cumsum(activity) / activity.sum(), rng.random(m))
    items = perm[np.searchsorted(np.cumsum(popularity) / popularity.sum(), rng.random(m))]
    keys = np.unique(users.astype(np.int64) * n_items + items)
    keys = rng.permutation(keys)[:n_inter]
    weights = rng.uniform(0.05, 1.0, len(keys))
    return sp.csr_matrix((weights, (keys // n_items, keys % n_items)), shape=(n_users, n_items))


def write_interactions(spark, settings, X: sp.csr_matrix, tmp: Path) -> None:
    from coldrec import lake

    coo = X.tocoo()
    table = pa.table(
        {
            "user_id": pa.array([f"u{u:07d}" for u in range(X.shape[0])]).take(pa.array(coo.row)),
            "item_id": pa.array([f"i{i:06d}" for i in range(X.shape[1])]).take(pa.array(coo.col)),
            "weight": coo.data,
        }
    )
    pq.write_table(table, tmp / "inter.parquet")
    from pyspark.sql import functions as F

    df = (
        spark.read.parquet(str(tmp / "inter.parquet"))
        .withColumn("run_date", F.lit(RUN_DATE))
        .withColumn("n_events", F.lit(1).cast("long"))
        .withColumn("purchased", F.lit(False))
        .withColumn("last_ts", F.lit(dt.datetime(2024, 1, 31, 12)))
    )
    lake.overwrite_partition(df, settings, "gold.interactions", RUN_DATE)


def exact_topk(X: sp.csr_matrix, items: np.ndarray, k: int = K, chunk: int = 512) -> dict[int, np.ndarray]:
    """Exact cosine top-k of ``items`` (no self, sim > 0), ranked by floor(sim*1e12+0.5) desc then item asc."""
    Xc = X.tocsc()
    norms = np.sqrt(np.asarray(Xc.multiply(Xc).sum(axis=0)).ravel())
    Xt = Xc.T.tocsr()
    out: dict[int, np.ndarray] = {}
    for lo in range(0, len(items), chunk):
        rows = items[lo : lo + chunk]
        dots = (Xt[rows] @ Xc).toarray()
        with np.errstate(divide="ignore", invalid="ignore"):
            sims = dots / np.outer(norms[rows], norms)
        sims[np.arange(len(rows)), rows] = 0.0
        keys = np.floor(np.nan_to_num(sims) * 1e12 + 0.5)
        kk = min(k, keys.shape[1] - 1)
        thr = -np.partition(-keys, kk - 1, axis=1)[:, kk - 1]
        for r, item in enumerate(rows.tolist()):
            cand = np.flatnonzero((keys[r] >= thr[r]) & (keys[r] > 0))
            order = np.lexsort((cand, -keys[r, cand]))[:k]
            out[item] = cand[order]
    return out


def recall(got: dict[int, set[int]], exact: dict[int, np.ndarray]) -> float:
    hit = total = 0
    for i, want in exact.items():
        total += len(want)
        hit += len(got.get(i, set()) & set(want.tolist()))
    return hit / total if total else 1.0


def read_lists(spark, path: str) -> dict[int, set[int]]:
    from coldrec.delta_read import read_delta

    t = read_delta(path, columns=["id", "neighbor_id"])
    src = np.asarray([int(s[1:]) for s in t.column("id").to_pylist()])
    dst = np.asarray([int(s[1:]) for s in t.column("neighbor_id").to_pylist()])
    got: dict[int, set[int]] = {}
    for s, d in zip(src.tolist(), dst.tolist(), strict=True):
        got.setdefault(s, set()).add(d)
    return got


def run_coldrec(spark, settings, cap: int) -> tuple[float, dict]:
    from coldrec import lake
    from coldrec.cf.files import partition_files
    from coldrec.cf.pipeline import similarity_to_table
    from coldrec.cf.similarity import SimilarityParams, item_similarity
    from coldrec.interactions import read_interactions

    params = SimilarityParams(metric="cosine", k=K, cap=cap, block_size=settings.similarity.item_block_size)
    lake.forget_checked_tables()  # the nightly task is a process of its own: it pays the table's contract check
    started = time.perf_counter()
    inter = read_interactions(spark, settings, RUN_DATE).select("user_id", "item_id", "weight")
    files = partition_files(lake.table_path(settings, "gold.interactions"), "run_date", RUN_DATE.isoformat())
    # as the nightly task calls it (coldrec.cf.pipeline.run_similarities)
    stats = similarity_to_table(settings, item_similarity, inter, params, files, "gold.item_similarity", RUN_DATE)
    return time.perf_counter() - started, stats


def run_mllib(spark, settings, out_path: str, timeout: float) -> tuple[float, bool]:
    """MLlib exact cosine + top-50 window, from gold.interactions to a written Delta table; bounded by timeout."""
    from pyspark.mllib.linalg import SparseVector
    from pyspark.mllib.linalg.distributed import RowMatrix
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from coldrec.interactions import read_interactions

    sc = spark.sparkContext
    group = f"mllib-{time.time_ns()}"
    done = threading.Event()
    error: list[BaseException] = []

    def work() -> None:
        try:
            sc.setJobGroup(group, "MLlib baseline", interruptOnCancel=True)
            inter = read_interactions(spark, settings, RUN_DATE).select("user_id", "item_id", "weight")
            items = (
                inter.select("item_id").distinct().withColumn("idx", F.row_number().over(Window.orderBy("item_id")) - 1)
            )
            n_items = items.count()
            indexed = inter.join(F.broadcast(items), "item_id", "inner")
            rows = (
                indexed.groupBy("user_id")
                .agg(F.sort_array(F.collect_list(F.struct("idx", "weight"))).alias("e"))
                .rdd.map(lambda r: SparseVector(n_items, [x[0] for x in r.e], [x[1] for x in r.e]))
            )
            sims = RowMatrix(rows).columnSimilarities()
            pairs = sims.entries.map(lambda e: (int(e.i), int(e.j), float(e.value))).toDF(["i", "j", "v"])
            both = pairs.unionByName(pairs.select(F.col("j").alias("i"), F.col("i").alias("j"), "v")).where("v > 0")
            w = Window.partitionBy("i").orderBy(F.col("v").desc(), F.col("j").asc())
            top = both.withColumn("r", F.row_number().over(w)).where(F.col("r") <= K)
            ids = items.select(F.col("idx").alias("i"), F.col("item_id").alias("id"))
            nb = items.select(F.col("idx").alias("j"), F.col("item_id").alias("neighbor_id"))
            out = top.join(F.broadcast(ids), "i").join(F.broadcast(nb), "j").select("id", "neighbor_id", "v")
            out.write.format("delta").mode("overwrite").save(out_path)
        except BaseException as exc:  # reported by the caller
            error.append(exc)
        finally:
            done.set()

    started = time.perf_counter()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    if not done.wait(timeout):
        sc.cancelJobGroup(group)
        done.wait(120)
        return timeout, True
    if error:
        raise error[0]
    return time.perf_counter() - started, False


def run_implicit(X: sp.csr_matrix) -> float:
    from implicit.nearest_neighbours import CosineRecommender

    model = CosineRecommender(K=K, num_threads=0)
    started = time.perf_counter()
    model.fit(X, show_progress=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2M,10M")
    parser.add_argument("--mllib-sizes", default="2M", help="sizes MLlib runs at (also bounded by --mllib-timeout)")
    parser.add_argument("--mllib-timeout", type=float, default=600.0)
    parser.add_argument("--cap-probe", type=int, default=30, help="heavy-user cap of the accuracy probe (0: skip)")
    parser.add_argument("--probe-size", default="2M")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--recall-sample", type=int, default=-1, help="items whose exact lists are checked (-1: all at 2M, 5000 at 10M)"
    )
    args = parser.parse_args()

    from coldrec.config import load_settings
    from coldrec.spark import build_spark

    root = Path(tempfile.mkdtemp(prefix="coldrec-bench-sim-"))
    settings = load_settings(
        {"lake_uri": str(root / "lake"), "spark_master": f"local[{args.cores}]", "spark_driver_memory": "6g"}
    )
    spark = build_spark("coldrec-bench-similarity", settings, extra_conf={"spark.ui.enabled": "false"})
    console.log(f"Spark {spark.version} local[{args.cores}], lake {settings.lake_uri}")

    # warm-up on a tiny matrix: JIT caches, Python workers, Delta code paths (not timed)
    write_interactions(spark, settings, generate(20_000, 2_000, 500, seed=9), root)
    run_coldrec(spark, settings, settings.similarity.heavy_user_cap)
    if set(args.mllib_sizes.split(",")) & set(args.sizes.split(",")):
        run_mllib(spark, settings, str(root / "mllib_warm"), 600)

    results: dict[str, dict] = {}
    for size in args.sizes.split(","):
        n_inter, n_users, n_items = SIZES[size]
        console.log(f"[{size}] generating {n_inter:,} interactions ({n_users:,} users x {n_items:,} items)")
        X = generate(n_inter, n_users, n_items)
        write_interactions(spark, settings, X, root)
        row_len = np.diff(X.indptr).astype(np.float64)
        res: dict = {"interactions": int(X.nnz), "users": n_users, "items": n_items, "work_sum_nu2": row_len @ row_len}

        t_cold, stats = run_coldrec(spark, settings, settings.similarity.heavy_user_cap)
        got = read_lists(spark, str(root / "lake" / "gold" / "item_similarity"))
        res.update(coldrec_seconds=round(t_cold, 2), coldrec_stats=stats)
        res["coldrec_seconds_per_1e8_work"] = round(t_cold / (stats["work"] / 1e8), 3)
        console.log(f"[{size}] coldrec {t_cold:.1f} s, W = {stats['work']:.3g}, blocks {stats['blocks']:.0f}")

        t_imp = run_implicit(X)
        res["implicit_seconds"] = round(t_imp, 2)
        res["time_ratio_vs_implicit"] = round(t_cold / t_imp, 2)
        console.log(f"[{size}] implicit {t_imp:.2f} s")

        started = time.perf_counter()
        sample = RECALL_SAMPLE.get(size, 0) if args.recall_sample < 0 else args.recall_sample
        items = np.arange(n_items)
        if 0 < sample < n_items:
            items = np.sort(np.random.default_rng(1).choice(n_items, sample, replace=False))
        exact = exact_topk(X, items)
        res["recall_items"] = len(items)
        res["exact_scipy_seconds"] = round(time.perf_counter() - started, 2)
        res["recall_at_50"] = round(recall(got, exact), 5)
        console.log(f"[{size}] recall@50 {res['recall_at_50']} (exact in {res['exact_scipy_seconds']} s)")

        if size in args.mllib_sizes.split(","):
            t_ml, timed_out = run_mllib(spark, settings, str(root / f"mllib_{size}"), args.mllib_timeout)
            res.update(mllib_seconds=round(t_ml, 2), mllib_timed_out=timed_out)
            res["speedup_vs_mllib"] = round(t_ml / t_cold, 2)
            if not timed_out:
                ml = read_lists(spark, str(root / f"mllib_{size}"))
                res["mllib_recall_at_50"] = round(recall(ml, exact), 5)
            console.log(f"[{size}] MLlib {t_ml:.1f} s{' (timed out: lower bound)' if timed_out else ''}")
        else:
            res.update(mllib_seconds=None, speedup_vs_mllib=None, mllib_note="not run at this size (--mllib-sizes)")

        if args.cap_probe and size == args.probe_size:
            t_cap, cap_stats = run_coldrec(spark, settings, args.cap_probe)
            capped = read_lists(spark, str(root / "lake" / "gold" / "item_similarity"))
            res["cap_probe"] = {
                "heavy_user_cap": args.cap_probe,
                "capped_users": cap_stats["capped_keys"],
                "capped_user_share": round(cap_stats["capped_keys"] / max(cap_stats["keys"], 1), 4),
                "dropped_interaction_share": round(1 - cap_stats["nnz"] / cap_stats["nnz_before_cap"], 4),
                "work": cap_stats["work"],
                "seconds": round(t_cap, 2),
                "recall_at_50_vs_uncapped_exact": round(recall(capped, exact), 5),
            }
            console.log(f"[{size}] cap {args.cap_probe}: {res['cap_probe']}")
        results[size] = res
        del X, exact, got

    spark.stop()
    summary = {
        "bench": "similarity",
        "cores": args.cores,
        "k": K,
        "sizes": results,
        **{
            f"{key}_{size}": r.get(key)
            for size, r in results.items()
            for key in ("speedup_vs_mllib", "time_ratio_vs_implicit", "recall_at_50")
        },
    }
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
