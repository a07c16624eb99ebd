"""CF similarities: exactness against dense numpy, the filters, the cap, similar items and the job end to end.

The reference below is written from the definitions in ``coldrec.cf.similarity`` with dense numpy only (no code of
the module under test); ties are ranked by ``floor(sim * 1e12 + 0.5)`` then neighbour id, as specified.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

# Spark's Python workers must run this interpreter (numpy, numba); set before the session fixture starts Spark.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from coldrec.cf import blocks

PROJECT_ROOT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------------------------------------------------------
# Independent dense reference
# ------------------------------------------------------------------------------------------------------------------
def reference(
    W: np.ndarray,
    M: np.ndarray,
    metric: str,
    k: int,
    shrinkage: float = 0.0,
    min_support: int = 1,
    center: str | None = None,
) -> dict[int, list[tuple[int, float, int]]]:
    """Top-k neighbours of every column of the keys x entities matrix ``W`` (entries where ``M``).

    ``center``: None, "key" (subtract each row's mean over its entries) or "entity" (each column's mean).
    Returns ``{entity: [(neighbor, similarity, support), ...]}`` best first.
    """
    B = M.astype(np.float64)
    if center == "key":
        mu = (W * B).sum(1) / np.maximum(B.sum(1), 1)
        V = np.where(M, W - mu[:, None], 0.0)
    elif center == "entity":
        mu = (W * B).sum(0) / np.maximum(B.sum(0), 1)
        V = np.where(M, W - mu[None, :], 0.0)
    else:
        V = np.where(M, W, 0.0)
    support = B.T @ B
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "jaccard":
            c = B.sum(0)
            sim = support / (c[:, None] + c[None, :] - support)
        else:
            norms = np.sqrt((V**2).sum(0))
            sim = (V.T @ V) / np.outer(norms, norms)
        sim = sim * support / (support + shrinkage)
    valid = (support >= min_support) & (sim > 0) & ~np.eye(W.shape[1], dtype=bool)
    out = {}
    for i in range(W.shape[1]):
        cand = np.flatnonzero(valid[i])
        key = np.floor(sim[i, cand] * 1e12 + 0.5)
        order = np.lexsort((cand, -key))[:k]
        out[i] = [(int(cand[o]), float(sim[i, cand[o]]), int(support[i, cand[o]])) for o in order]
    return out


def random_matrix(n_keys: int, n_entities: int, density: float, seed: int, dup_cols: int = 3):
    """Random sparse weights with ``dup_cols`` duplicated columns, so neighbours tie exactly."""
    rng = np.random.default_rng(seed)
    M = rng.random((n_keys, n_entities)) < density
    W = np.where(M, rng.uniform(0.05, 1.0, (n_keys, n_entities)).round(3), 0.0)
    for d in range(dup_cols):  # copy column 1 into the last columns: 1 and its copies tie as neighbours of others
        M[:, n_entities - 1 - d] = M[:, 1]
        W[:, n_entities - 1 - d] = W[:, 1]
    return W, M


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]  # zero-padded: string order == index order


def run_blocks_numpy(W, M, metric, k, shrinkage=0.0, min_support=1, cap=10**9, block_size=7, parts=3, center=False):
    """The executor code path (stage_rows + compute_block) without Spark: keys spread over ``parts`` tasks."""
    n_keys, n_ent = W.shape
    plan = blocks.BlockPlan(
        pa.array(ids("e", n_ent)),
        blocks.plan_blocks(M.sum(0), block_size, min_blocks=2),
    )
    stats = blocks.EntityStats.zeros(n_ent)
    per_block: dict[int, list[bytes]] = {}
    key_ids = np.array(ids("k", n_keys))
    for p in range(parts):
        rows, cols = np.nonzero(M[p::parts])
        rows = rows * parts + p
        shuffle = np.random.default_rng(p).permutation(len(rows))  # arrival order must not matter
        rows, cols = rows[shuffle], cols[shuffle]
        opts = blocks.StageOptions(cap=cap, center_by_key=center, seed=42)
        staged, stats_blob = blocks.stage_rows(
            pa.array(key_ids[rows]), cols.astype(np.int32), W[rows, cols], W[rows, cols].copy(), plan, opts
        )
        stats.add_blob(stats_blob)
        for b, blob in staged.items():
            per_block.setdefault(b, []).append(blob)
    got: dict[int, list[tuple[int, float, int]]] = {i: [] for i in range(n_ent)}
    copts = blocks.ComputeOptions(metric, k, shrinkage, min_support)
    for b, blobs in per_block.items():
        src, dst, sim, sup = blocks.compute_block(blobs, b, plan, stats, copts)
        for s, d, v, n in zip(src, dst, sim, sup, strict=True):
            got[int(s)].append((int(d), float(v), int(n)))
    return got, stats


def assert_same_topk(got: dict, want: dict) -> None:
    for i, expected in want.items():
        actual = got.get(i, [])
        assert [n for n, _, _ in actual] == [n for n, _, _ in expected], f"entity {i}"
        np.testing.assert_allclose([s for _, s, _ in actual], [s for _, s, _ in expected], rtol=0, atol=1e-6)
        assert [c for _, _, c in actual] == [c for _, _, c in expected], f"support of entity {i}"


def boundary_ties(want: dict, W, M, k) -> int:
    """How many lists have a tie exactly at the k-th place (proves the tie rule is exercised)."""
    full = reference(W, M, "cosine", W.shape[1])
    count = 0
    for lst in full.values():
        if len(lst) > k and np.floor(lst[k - 1][1] * 1e12 + 0.5) == np.floor(lst[k][1] * 1e12 + 0.5):
            count += 1
    return count


# ------------------------------------------------------------------------------------------------------------------
# Executor code path, no Spark: exactness, filters, cap
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "pearson", "jaccard"])
def test_blocks_match_dense_reference(metric: str) -> None:
    W, M = random_matrix(60, 40, 0.2, seed=7)
    center = metric == "pearson"
    got, stats = run_blocks_numpy(W, M, metric, k=4, center=center)
    want = reference(W, M, metric, k=4, center="key" if center else None)
    assert_same_topk(got, want)
    assert stats.counts.tolist() == M.sum(0).tolist()
    assert stats.work.sum() == (M.sum(1) ** 2).sum()  # the cost model: sum over users of n_u^2
    assert boundary_ties(want, W, M, 4) > 0


def test_shrinkage_and_min_support_hand_made() -> None:
    # 4 users x 3 items; item 0 co-occurs with item 1 in 3 users and with item 2 in 1 user
    W = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 0, 1]], dtype=float)
    M = W > 0
    # cosine(0,1) = 3 / (2 * sqrt(3)) = 0.8660; cosine(0,2) = 1 / 2 = 0.5; cosine(1,2) = 0 (no co-support)
    got, _ = run_blocks_numpy(W, M, "cosine", k=5)
    assert [(n, round(s, 4), c) for n, s, c in got[0]] == [(1, 0.866, 3), (2, 0.5, 1)]
    # shrinkage 1: 0.8660 * 3/4 = 0.6495 and 0.5 * 1/2 = 0.25
    got, _ = run_blocks_numpy(W, M, "cosine", k=5, shrinkage=1.0)
    assert [(n, round(s, 4)) for n, s, _ in got[0]] == [(1, 0.6495), (2, 0.25)]
    # shrinkage 10 reorders nothing here but scales: 0.8660 * 3/13 = 0.1999
    got, _ = run_blocks_numpy(W, M, "cosine", k=5, shrinkage=10.0)
    assert round(got[0][0][1], 4) == 0.1999
    # min support 2 drops the pair (0, 2) in both directions
    got, _ = run_blocks_numpy(W, M, "cosine", k=5, min_support=2)
    assert [n for n, _, _ in got[0]] == [1]
    assert [n for n, _, _ in got[2]] == []
    # jaccard(0,1) = 3/4, jaccard(0,2) = 1/4
    got, _ = run_blocks_numpy(W, M, "jaccard", k=5)
    assert [(n, s) for n, s, _ in got[0]] == [(1, 0.75), (2, 0.25)]


def test_pearson_hand_made() -> None:
    # user means: u0 (1 + 0.5)/2 = 0.75, u1 (0.5 + 1)/2 = 0.75, u2 (1 + 1 + 0.25)/3 = 0.75
    W = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [1.0, 1.0, 0.25]])
    M = W > 0
    # centered: u0 (0.25, -0.25, .), u1 (-0.25, 0.25, .), u2 (0.25, 0.25, -0.5)
    # item0 . item1 = -0.0625 - 0.0625 + 0.0625 = -0.0625 -> negative, dropped
    # item0 . item2 = 0.25 * -0.5 = -0.125 -> dropped; so no positive neighbours at all for item 0
    got, _ = run_blocks_numpy(W, M, "pearson", k=5, center=True)
    assert got[0] == []
    # zero-centered entries keep their support: u0 (1, 1) centers to (0, 0); u1 (1, 1, 0.4) to (0.2, 0.2, -0.4);
    # u2 (0.4, 0.4, 1) to (-0.2, -0.2, 0.4): item0 . item1 = 0.08, both norms sqrt(0.08) -> 1.0 with support 3;
    # item0 . item2 = -0.08 - 0.08 < 0 -> dropped
    W2 = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.4], [0.4, 0.4, 1.0]])
    got, _ = run_blocks_numpy(W2, W2 > 0, "pearson", k=5, center=True)
    assert [(n, c) for n, _, c in got[0]] == [(1, 3)]
    assert got[0][0][1] == pytest.approx(1.0, abs=1e-12)


def test_heavy_user_cap_hand_made() -> None:
    # user 0 is heavy (4 items, cap 2): keeps its two largest weights (items 0 and 1), drops items 2 and 3
    W = np.array(
        [
            [1.0, 0.9, 0.2, 0.1],
            [0.0, 0.0, 1.0, 1.0],
            [1.0, 1.0, 0.0, 0.0],
        ]
    )
    M = W > 0
    got, stats = run_blocks_numpy(W, M, "cosine", k=5, cap=2)
    capped = M.copy()
    capped[0, 2:] = False
    assert stats.counts.tolist() == capped.sum(0).tolist() == [2, 2, 1, 1]
    assert stats.n_capped == 1
    assert_same_topk(got, reference(W, capped, "cosine", k=5))
    # without the cap, items 2 and 3 co-occur with item 0 through user 0
    got_full, _ = run_blocks_numpy(W, M, "cosine", k=5)
    assert {n for n, _, _ in got_full[0]} == {1, 2, 3}
    assert {n for n, _, _ in got[0]} == {1}


def test_heavy_user_cap_breaks_ties_by_seeded_permutation() -> None:
    # one user with 5 equal weights and cap 3: the kept items are the first 3 of permutation(seed 42)
    W = np.ones((1, 5))
    perm = np.random.default_rng(42).permutation(5)
    kept_expected = sorted(np.argsort(perm)[:3].tolist())
    _, stats = run_blocks_numpy(W, W > 0, "cosine", k=2, cap=3)
    assert np.flatnonzero(stats.counts).tolist() == kept_expected


def test_plan_blocks_balances_entries_and_caps_size() -> None:
    counts = np.array([100, 1, 1, 1, 1, 1, 1, 1, 1, 100, 1, 1], dtype=np.int64)
    starts = blocks.plan_blocks(counts, block_size=4, min_blocks=2)
    assert starts[0] == 0 and starts[-1] == len(counts)
    assert np.all(np.diff(starts) <= 4) and np.all(np.diff(starts) >= 1)
    assert len(blocks.plan_blocks(np.ones(10, np.int64), block_size=100, min_blocks=3)) - 1 == 3
    # whole waves: 3 blocks of the size cap on 2 cores take as long as 4, so 4 balanced blocks are cut
    assert len(blocks.plan_blocks(np.ones(30, np.int64), block_size=10, min_blocks=2)) - 1 == 4


def test_block_members_bitmap_and_sorted_pairs_agree() -> None:
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 6, 40)
    block = rng.integers(0, 7, int(sizes.sum())).astype(np.int32)
    key = np.repeat(np.arange(40), sizes)
    want = [np.unique(key[block == b]) for b in range(7)]
    got = blocks.block_members(block, sizes, 7)  # small: the bit map
    big = blocks.block_members(block, sizes, 7, bitmap_limit=0)  # the sorted pairs
    for b in range(7):
        np.testing.assert_array_equal(got[b], want[b])
        np.testing.assert_array_equal(big[b], want[b])


def test_block_columns_is_the_csc_of_the_block() -> None:
    W, M = random_matrix(30, 20, 0.3, seed=8)
    csr = sp.csr_matrix(W * M)
    col_ptr, col_row, col_val = blocks.block_columns(csr.indptr, csr.indices, csr.data, 5, 12)
    want = sp.csc_matrix(csr[:, 5:12])
    want.sort_indices()
    np.testing.assert_array_equal(col_ptr, want.indptr)
    np.testing.assert_array_equal(col_row, want.indices)
    np.testing.assert_array_equal(col_val, want.data)


# ------------------------------------------------------------------------------------------------------------------
# On Spark
# ------------------------------------------------------------------------------------------------------------------
def _interactions_df(spark, W, M):
    rows = [(f"u{u:04d}", f"i{i:04d}", float(W[u, i])) for u, i in zip(*np.nonzero(M), strict=True)]
    return spark.createDataFrame(rows, "user_id string, item_id string, weight double")


def _collect(result) -> dict[int, list[tuple[int, float, int]]]:
    try:
        table = result.neighbors.toArrow()
    finally:
        result.release()
    got: dict[int, list] = {}
    columns = (table.column(x).to_pylist() for x in ("id", "neighbor_id", "similarity", "support"))
    for s, n, v, c in zip(*columns, strict=True):
        got.setdefault(int(s[1:]), []).append((int(n[1:]), v, c))
    order = {key: sorted(lst, key=lambda t: (-np.floor(t[1] * 1e12 + 0.5), t[0])) for key, lst in got.items()}
    return order


@pytest.mark.spark
@pytest.mark.parametrize("metric", ["cosine", "pearson", "jaccard"])
def test_spark_item_and_user_similarity_match_dense(spark, metric: str) -> None:
    from coldrec.cf.similarity import SimilarityParams, item_similarity, user_similarity

    W, M = random_matrix(50, 30, 0.2, seed=3)
    df = _interactions_df(spark, W, M)
    params = SimilarityParams(metric=metric, k=4, block_size=8, rows_per_partition=100)
    item = item_similarity(df, params)
    assert item.stats["blocks"] >= 4 and item.stats["partitions"] >= 2
    got = _collect(item)
    # what the block tasks counted comes back through the accumulator once the neighbours were computed
    assert item.stats["work"] == (M.sum(1) ** 2).sum() and item.stats["nnz"] == M.sum()
    assert item.stats["keys"] == np.count_nonzero(M.sum(1)) and item.stats["capped_keys"] == 0
    assert item.stats["max_block_work"] < item.stats["work"]
    want = reference(W, M, metric, 4, center="key" if metric == "pearson" else None)
    assert_same_topk(got, {i: v for i, v in want.items() if v})
    assert set(got) == {i for i, v in want.items() if v}

    user = _collect(user_similarity(df, SimilarityParams(metric=metric, k=4, block_size=16)))
    want_u = reference(W.T, M.T, metric, 4, center="entity" if metric == "pearson" else None)
    assert_same_topk(user, {i: v for i, v in want_u.items() if v})


def _write_gold_interactions(spark, settings, W, M, run_date: dt.date, files: int) -> None:
    from pyspark.sql import functions as F

    from coldrec import lake

    df = (
        _interactions_df(spark, W, M)
        .repartition(files)  # several files: users and items spread over them
        .withColumn("run_date", F.lit(run_date))
        .withColumn("n_events", F.lit(1).cast("long"))
        .withColumn("purchased", F.lit(False))
        .withColumn("last_ts", F.lit(dt.datetime(2024, 1, 31, 12)))
    )
    lake.overwrite_partition(df, settings, "gold.interactions", run_date)


@pytest.mark.spark
@pytest.mark.parametrize("metric", ["cosine", "pearson", "jaccard"])
def test_reading_the_partition_files_in_the_tasks_gives_the_spark_result(spark, settings, metric: str) -> None:
    from coldrec import lake
    from coldrec.cf.files import partition_files
    from coldrec.cf.similarity import SimilarityParams, item_similarity, user_similarity
    from coldrec.interactions import read_interactions

    W, M = random_matrix(60, 35, 0.2, seed=11)
    day = dt.date(2024, 1, 31)
    _write_gold_interactions(spark, settings, W, M, day, files=3)
    everyone = np.ones_like(M, dtype=bool)  # another date: every pair, which must not be read
    _write_gold_interactions(spark, settings, np.full(M.shape, 0.5), everyone, day - dt.timedelta(days=1), 2)
    files = partition_files(lake.table_path(settings, "gold.interactions"), "run_date", day.isoformat())
    assert files is not None and len(files) == 3 and all("run_date=2024-01-31" in f for f in files)
    inter = read_interactions(spark, settings, day).select("user_id", "item_id", "weight")
    params = SimilarityParams(metric=metric, k=4, block_size=8, rows_per_partition=100)
    direct = item_similarity(inter, params, files)
    assert direct.info["read_from_files"] == 1.0
    got = _collect(direct)
    assert direct.stats["work"] == (M.sum(1) ** 2).sum() and direct.stats["nnz"] == M.sum()
    via_spark = _collect(item_similarity(inter, params))
    assert got.keys() == via_spark.keys()
    for key, lst in via_spark.items():  # same neighbours, support and similarity (float sums may differ by ulps)
        assert [(n, c) for n, _, c in got[key]] == [(n, c) for n, _, c in lst]
        np.testing.assert_allclose([v for _, v, _ in got[key]], [v for _, v, _ in lst], rtol=1e-12)
    want = reference(W, M, metric, 4, center="key" if metric == "pearson" else None)
    assert_same_topk(got, {i: v for i, v in want.items() if v})

    user = user_similarity(inter, SimilarityParams(metric=metric, k=4, block_size=16), files)
    assert user.info["read_from_files"] == (0.0 if metric == "pearson" else 1.0)  # Pearson centers in Spark
    want_u = reference(W.T, M.T, metric, 4, center="entity" if metric == "pearson" else None)
    assert_same_topk(_collect(user), {i: v for i, v in want_u.items() if v})


@pytest.mark.spark
def test_partition_files_falls_back_to_spark_for_deletion_vectors_and_missing_tables(spark, settings) -> None:
    from coldrec import lake
    from coldrec.cf.files import partition_files

    W, M = random_matrix(10, 8, 0.5, seed=2)
    _write_gold_interactions(spark, settings, W, M, dt.date(2024, 1, 31), files=1)
    path = lake.table_path(settings, "gold.interactions")
    assert partition_files(path, "run_date", "2024-01-31")
    assert partition_files(path, "run_date", "2023-01-01") == []  # a date without rows: no files
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    assert partition_files(path, "run_date", "2024-01-31") is None  # rows may hide in deletion vectors
    assert partition_files(str(Path(path).parent / "nothing_here"), "run_date", "2024-01-31") is None
    assert partition_files("s3a://bucket/lake/gold/interactions", "run_date", "2024-01-31") is None  # Hadoop-only


def test_string_buckets_are_fnv1a_of_the_utf8_bytes() -> None:
    from coldrec.cf.files import string_buckets

    def fnv1a(text: str) -> int:
        h = 14695981039346656037
        for byte in text.encode():
            h = ((h ^ byte) * 1099511628211) % 2**64
        return h

    values = ["u0001", "", "ünïcode", "u0001", "a much longer user id than most"]
    arr = pa.array(["skip", *values]).slice(1)  # a sliced array: offsets start past 0
    np.testing.assert_array_equal(string_buckets(arr, 7), [fnv1a(v) % 7 for v in values])
    np.testing.assert_array_equal(string_buckets(pa.array(values, pa.large_string()), 7), string_buckets(arr, 7))


@pytest.mark.spark
def test_partition_keys_follow_spark_hash(spark) -> None:
    from pyspark.sql import functions as F

    from coldrec.cf.similarity import partition_keys, spark_hash_long

    values = [0, 1, -1, 42, 2**40 + 7, -(2**35)]
    rows = spark.createDataFrame([(v,) for v in values], "v long").select(F.hash("v").alias("h")).collect()
    assert [spark_hash_long(v) for v in values] == [r["h"] for r in rows]
    keys = partition_keys(5)
    parts = (
        spark.createDataFrame([(b, k) for b, k in enumerate(keys)], "b int, k long")
        .repartition(5, "k")
        .select("b", F.spark_partition_id().alias("p"))
        .collect()
    )
    assert all(r["b"] == r["p"] for r in parts)


@pytest.mark.spark
def test_similar_items_fall_back_to_popularity(spark) -> None:
    from coldrec.cf.similar_items import similar_items

    cf = spark.createDataFrame(
        [("a", "b", 0.9), ("a", "c", 0.5), ("b", "a", 0.9)], "item_id string, neighbor_id string, score double"
    )
    popularity = spark.createDataFrame(
        [("c", 1.0), ("a", 0.8), ("d", 0.5), ("b", 0.4), ("e", 0.1)], "item_id string, score double"
    )
    content = spark.createDataFrame([("e", "d", 0.7)], "item_id string, neighbor_id string, score double")
    items = spark.createDataFrame([("a",), ("b",), ("e",), ("new",)], "item_id string")
    rows = similar_items(cf, popularity, content, items=items, n=3).orderBy("item_id", "rank").collect()
    got = {}
    for r in rows:
        got.setdefault(r["item_id"], []).append((r["neighbor_id"], r["source"]))
    assert got["a"] == [("b", "cf"), ("c", "cf"), ("d", "popular")]  # c is CF, not repeated as popular
    assert got["b"] == [("a", "cf"), ("c", "popular"), ("d", "popular")]
    assert got["e"] == [("d", "content"), ("c", "popular"), ("a", "popular")]
    assert got["new"] == [("c", "popular"), ("a", "popular"), ("d", "popular")]  # a cold item: popularity only


# ------------------------------------------------------------------------------------------------------------------
# The job end to end: spark-submit on a small silver.events, read back with deltalake
# ------------------------------------------------------------------------------------------------------------------
def silver_event(**values) -> tuple:
    """One ``silver.events`` row in schema order; unnamed nullable fields are null, ``ingest_date`` the event date."""
    from coldrec.data.schemas import SILVER_EVENTS

    values.setdefault("event_date", values["ts"].astimezone(dt.UTC).date())
    values.setdefault("ingest_date", values["event_date"])
    values.setdefault("session_id", "s")
    values.setdefault("is_bot", False)
    return tuple(values.get(name) for name in SILVER_EVENTS.fieldNames())


def _silver_events(spark, run_date: dt.date):
    """A tiny shop: 3 item groups users browse within, and a bot that would link everything."""
    from coldrec.data.schemas import SILVER_EVENTS

    rng = np.random.default_rng(5)
    rows = []
    base = dt.datetime.combine(run_date, dt.time(12), tzinfo=dt.UTC)
    for u in range(40):
        group = u % 3
        for item in rng.choice(6, size=3, replace=False):
            for e, etype in enumerate(["view", "click", "purchase"][: 1 + int(rng.integers(3))]):
                ts = base - dt.timedelta(days=int(rng.integers(20)), minutes=e)
                rows.append(
                    silver_event(
                        event_id=f"e{len(rows)}",
                        user_id=f"u{u:02d}",
                        item_id=f"g{group}-{item}",
                        event_type=etype,
                        ts=ts,
                    )
                )
    for g in range(3):
        for item in range(6):
            rows.append(
                silver_event(
                    event_id=f"e{len(rows)}",
                    user_id="bot",
                    item_id=f"g{g}-{item}",
                    event_type="view",
                    ts=base - dt.timedelta(hours=1),
                    is_bot=True,
                )
            )
    return spark.createDataFrame(rows, SILVER_EVENTS)


def write_silver_events(df, settings) -> None:
    """A plain partitioned Delta write of silver.events (the cleaning job's table, without its constraint commits)."""
    from coldrec import lake

    df.write.format("delta").mode("overwrite").partitionBy("event_date").save(
        lake.table_path(settings, "silver.events")
    )


def sum_sq_user_activity(settings, run_date) -> float:
    """The cost model's W = sum over users of (items per user)^2, from gold.interactions read by deltalake."""
    from coldrec import lake
    from coldrec.delta_read import read_delta

    rows = read_delta(lake.table_path(settings, "gold.interactions")).to_pylist()
    per_user: dict[str, int] = {}
    for r in rows:
        if r["run_date"] == run_date:
            per_user[r["user_id"]] = per_user.get(r["user_id"], 0) + 1
    return float(sum(n * n for n in per_user.values()))


@pytest.mark.spark
@pytest.mark.slow  # a second JVM (spark-submit) and ~10 Delta commits: ~1 min on an idle 2-core machine
def test_job_end_to_end_with_spark_submit(spark, settings, tmp_path) -> None:
    from coldrec import lake
    from coldrec.delta_read import read_delta
    from coldrec.spark import submit_conf

    run_date = dt.date(2024, 5, 1)
    write_silver_events(_silver_events(spark, run_date), settings)
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]"]
    for key, value in submit_conf(settings).items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [str(PROJECT_ROOT / "jobs" / "compute_similarities.py"), "--date", run_date.isoformat(), "--top-k", "3"]
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "COLDREC_SIMILARITY__SIMILAR_ITEMS_N": "4",
    }
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["item_entities"] == 18.0 and metrics["user_entities"] == 40.0
    assert metrics["item_work"] == sum_sq_user_activity(settings, run_date)

    def read(name):
        return read_delta(lake.table_path(settings, name)).to_pylist()

    inter = read("gold.interactions")
    assert {r["user_id"] for r in inter} == {f"u{u:02d}" for u in range(40)}  # the bot is excluded
    assert max(r["weight"] for r in inter) == 1.0 and min(r["weight"] for r in inter) > 0
    items = read("gold.item_similarity")
    assert len(items) == len({(r["id"], r["neighbor_id"]) for r in items}) <= 18 * 3
    # without the bot, items of different groups never share a user
    assert all(r["id"][:2] == r["neighbor_id"][:2] for r in items)
    assert {r["metric"] for r in items} == {"cosine"} and {r["run_date"] for r in items} == {run_date}
    users = read("gold.user_similarity")
    assert all(int(r["id"][1:]) % 3 == int(r["neighbor_id"][1:]) % 3 for r in users)
    assert len({r["id"] for r in users}) == 40
    similar = read("gold.similar_items")
    per_item: dict[str, list] = {}
    for r in similar:
        per_item.setdefault(r["item_id"], []).append(r)
    assert len(per_item) == 18 and all(len(v) == 4 for v in per_item.values())
    assert all(sorted(x["rank"] for x in v) == [1, 2, 3, 4] for v in per_item.values())
    assert {r["source"] for r in similar} <= {"cf", "popular"}
