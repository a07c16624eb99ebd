"""Item-item and user-user CF similarities on Spark: cosine, Pearson, Jaccard, shrinkage, top-K, at scale.

Definitions (X = the user x item weights of ``gold.interactions`` for the run date; U_i = users with an entry for i):

* **cap** -- item-item: a user with more than ``heavy_user_cap`` items keeps the ``heavy_user_cap`` largest weights
  (ties: a permutation of items seeded by ``COLDREC_SEED``); user-user: the same per item with ``heavy_item_cap``.
  Every definition below is on the capped matrix. The cap bounds the work of one key at ``cap**2`` and its effect on
  accuracy is measured by ``bench/similarity.py``.
* **cosine**: ``sum_u w_ui w_uj / (||w_i|| ||w_j||)``, norms over all entries of each column.
* **pearson**: the same cosine on user-mean-centered values ``r_ui = w_ui - mean_u``, ``mean_u`` the mean of all of
  user u's weights (before the cap); norms ``sqrt(sum_u r_ui^2)`` over the column's entries (item-item this is
  Sarwar's adjusted cosine; user-user it is Pearson with each user's own mean). Entries stay entries when their
  centered value is 0, so they count in the support.
* **jaccard**: ``|U_i n U_j| / |U_i u U_j|``.
* **support** ``n_ij = |U_i n U_j|``; **shrinkage** ``sim * n / (n + lambda)``; pairs with ``n < min_support`` or a
  similarity <= 0 are dropped; **top-K** by similarity descending (rounded to 1e-12, see
  :mod:`coldrec.cf.kernel`), ties by neighbour id ascending. The entity itself is never its own neighbour.

Algorithm and cost model. ``X.T @ X`` has ``W = sum_u n_u^2`` multiply-adds (n_u = the user's items after the cap):
that is all the work, never ``n_items^2``. The item space is cut into B contiguous blocks; one Spark task per block
computes its rows of ``X.T @ X`` with a fused compiled kernel (accumulate, score, keep K best; nothing else is
materialized). Steps:

1. ``groupBy(item).count`` -> sorted item ids (index order = id order) and block boundaries (driver: O(items));
2. ``repartition(P, user)`` + ``mapInArrow``: each task caps and centers its users' rows and, for each block,
   writes one CSR blob with the full rows of the users touching that block, plus, addressed to every block, its
   share of the per-item norms and counts; shuffle volume ``sum_u n_u * blocks_touched(u) <= nnz * B`` (+ ``P * B``
   statistics shares of at most ``32 * items`` bytes);
3. ``repartition(B, block)`` + ``mapInArrow``: the task of block b sums the statistics shares, stacks its blobs and
   runs the kernel for the block's items: ``W_b = sum_u n_u * n_ub`` multiply-adds, memory ``O(W_b + items)`` (its
   input is at most W_b entries, the accumulators one slot per item), output ``<= K`` rows per item.

Steps 2 and 3 are one Spark job, pipelined through one shuffle: nothing is cached and nothing but the block plan
goes through the driver (the run info -- keys, capped keys, work -- comes back in an accumulator).

Input: when the caller passes the Parquet files of the run date's partition (:mod:`coldrec.cf.files`: plain
Parquet, reader protocol 1), steps 1 and 2 read them in the tasks with pyarrow instead of receiving the rows from
Spark (the JVM -> Arrow hand-over costs ~1 us per row and core): step 1 sums per-file value counts, step 2 first
sends each key's entries to one bucket (FNV-1a of the key, one Arrow IPC payload per bucket and file task) and
stages per bucket. Same neighbours either way.

So time ~ ``c_shuffle * nnz * B + c_kernel * W / cores + c_out * K * items``; memory per task is bounded by the
block's work (cut by ``item_block_size`` and the cap). ``bench/similarity.py`` prints ``W`` and the seconds per
10^8 multiply-adds at two sizes. User-user is the same machinery on ``X.T`` (key = item, entity = user).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pyspark import TaskContext
from pyspark.accumulators import Accumulator, AccumulatorParam
from pyspark.broadcast import Broadcast
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from coldrec.cf import blocks, kernel
from coldrec.cf.files import entity_counts
from coldrec.config import SimilarityConfig
from coldrec.data import schemas as S

Metric = Literal["cosine", "pearson", "jaccard"]

NEIGHBORS_SCHEMA = T.StructType(
    [
        T.StructField("id", T.StringType(), False),
        T.StructField("neighbor_id", T.StringType(), False),
        T.StructField("similarity", T.DoubleType(), False),
        T.StructField("support", T.LongType(), False),
    ]
)
_BUCKETED_SCHEMA = T.StructType(
    [T.StructField("pkey", T.LongType(), False), T.StructField("payload", T.BinaryType(), False)]
)
_STAGED_SCHEMA = T.StructType(
    [
        T.StructField("block", T.IntegerType(), False),
        T.StructField("pkey", T.LongType(), False),
        T.StructField("part", T.IntegerType(), False),
        T.StructField("kind", T.ByteType(), False),
        T.StructField("payload", T.BinaryType(), False),
    ]
)


def _partition_id() -> int:
    """The running Spark task's partition (executor side only)."""
    context = TaskContext.get()
    if context is None:
        raise RuntimeError("not inside a Spark task")
    return context.partitionId()


@dataclass(frozen=True)
class SimilarityParams:
    """Everything one similarity computation needs; :meth:`from_config` fills it from ``COLDREC_SIMILARITY__*``."""

    metric: Metric = "cosine"
    k: int = 50
    shrinkage: float = 0.0
    min_support: int = 1
    cap: int = 1000
    block_size: int = 8192
    rows_per_partition: int = 2_000_000
    seed: int = 42

    def __post_init__(self) -> None:
        if self.metric not in blocks.METRICS:
            raise ValueError(f"metric must be one of {sorted(blocks.METRICS)}, got {self.metric!r}")

    @classmethod
    def from_config(cls, cfg: SimilarityConfig, side: Literal["item", "user"], seed: int = 42) -> SimilarityParams:
        return cls(
            metric=cfg.metric,
            k=cfg.top_k,
            shrinkage=cfg.shrinkage,
            min_support=cfg.min_support,
            cap=cfg.heavy_user_cap if side == "item" else cfg.heavy_item_cap,
            block_size=cfg.item_block_size if side == "item" else cfg.user_block_size,
            rows_per_partition=cfg.rows_per_partition,
            seed=seed,
        )


class _MaxArray(AccumulatorParam):
    """Element-wise max of float arrays: a slot written by a task re-run (retry, second action) is not counted twice."""

    def zero(self, value: np.ndarray) -> np.ndarray:
        return np.zeros_like(value)

    def addInPlace(self, value1: np.ndarray, value2: np.ndarray) -> np.ndarray:
        np.maximum(value1, value2, out=value1)
        return value1


@dataclass
class SimilarityResult:
    """The neighbour lists (``id, neighbor_id, similarity, support``) and what it took to compute them.

    ``neighbors`` is lazy: write or collect it once, then read :attr:`stats` (the counts that the tasks computed
    are there once they ran) and call :meth:`release`.
    """

    neighbors: DataFrame
    info: dict[str, float] = field(default_factory=dict)
    _broadcasts: list = field(default_factory=list)
    _totals: Accumulator | None = None

    @property
    def stats(self) -> dict[str, float]:
        """Plan sizes, plus what the tasks counted: keys, capped keys, entries after the cap, work, max block work."""
        out = dict(self.info)
        if self._totals is not None:
            n_keys, n_capped, *per_block = self._totals.value
            nnz, work = np.asarray(per_block).reshape(2, -1)
            out.update(
                keys=float(n_keys),
                capped_keys=float(n_capped),
                nnz=float(nnz.sum()),
                work=float(work.sum()),
                max_block_work=float(work.max()),
            )
        return out

    def release(self) -> None:
        for bc in self._broadcasts:
            bc.destroy()
        self._broadcasts.clear()


_M32 = 0xFFFFFFFF


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _mix(h1: int, k1: int) -> int:
    k1 = _rotl32((k1 * 0xCC9E2D51) & _M32, 15) * 0x1B873593 & _M32
    h1 = _rotl32(h1 ^ k1, 13)
    return (h1 * 5 + 0xE6546B64) & _M32


def spark_hash_long(value: int, seed: int = 42) -> int:
    """Spark's ``hash()`` of a LongType value (Murmur3_x86_32.hashLong), as a signed 32-bit int."""
    h1 = _mix(seed & _M32, value & _M32)
    h1 = _mix(h1, (value >> 32) & _M32)
    h1 ^= 8
    h1 ^= h1 >> 16
    h1 = (h1 * 0x85EBCA6B) & _M32
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & _M32
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 >= 1 << 31 else h1


def partition_keys(n: int) -> tuple[int, ...]:
    """One long per block such that ``repartition(n, pkey)`` sends block b to partition b.

    Spark's hash partitioning of one column is ``pmod(hash(col), n)`` (Murmur3, seed 42): picking, for each b, the
    smallest long that hashes to b means blocks never share a task by a hash collision. Correctness does not depend
    on it (a task groups its rows by block), only the balance of the work does.
    """
    found: dict[int, int] = {}
    candidate = 0
    while len(found) < n:
        found.setdefault(spark_hash_long(candidate) % n, candidate)
        candidate += 1
    return tuple(found[b] for b in range(n))


@dataclass(frozen=True)
class _Input:
    """Where step 1 and 2 read the key x entity entries: ``entries`` through Spark, or (``files`` not None) the
    Parquet files holding them, read by ``n_read`` tasks (task i: ``files[i::n_read]``; see coldrec.cf.files)."""

    entries: DataFrame
    cols: blocks.FileColumns
    value_col: str | None
    files: list[str] | None
    n_read: int

    @classmethod
    def of(
        cls,
        entries: DataFrame,
        key_col: str,
        entity_col: str,
        weight_col: str,
        value_col: str | None,
        files: Sequence[str] | None,
        cores: int,
    ) -> _Input:
        direct = files is not None and value_col is None  # a value column is computed in Spark (Pearson)
        listed = list(files) if direct and files is not None else None
        n_read = max(1, min(len(listed), 4 * cores)) if listed is not None else 0
        return cls(entries, blocks.FileColumns(key_col, entity_col, weight_col), value_col, listed, n_read)

    def tasks(self) -> DataFrame:
        return self.entries.sparkSession.range(0, self.n_read, 1, self.n_read)

    def entity_counts(self) -> pa.Table:
        """``entity, n`` of every entity (step 1)."""
        if self.files is None:
            grouped = self.entries.groupBy(F.col(self.cols.entity).alias("entity"))
            return grouped.agg(F.count(F.lit(1)).alias("n")).toArrow()
        files, n_read, entity_col = self.files, self.n_read, self.cols.entity

        def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:  # executor side: one task's files
            for batch in batches:
                for i in batch.column("id").to_pylist():
                    yield from entity_counts(files[i::n_read], entity_col).to_batches()

        shares = self.tasks().mapInArrow(count, "entity string, n long")
        return shares.groupBy("entity").agg(F.sum("n").alias("n")).toArrow()

    def staged(self, n_parts: int, bc_plan: Broadcast[Any], opts: blocks.StageOptions) -> DataFrame:
        """Step 2: the staged rows (CSR blobs and statistics shares per block) of ``n_parts`` groups of keys."""
        if self.files is None:
            # executor side: a group of keys -> blobs
            def stage(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
                yield from blocks.stage_partition(batches, bc_plan.value, opts, _partition_id())

            selected = [
                F.col(self.cols.key).cast("string").alias("key"),
                F.col(self.cols.entity).cast("string").alias("entity"),
                F.col(self.cols.weight).cast("double").alias("weight"),
            ]
            if self.value_col:
                selected.append(F.col(self.value_col).cast("double").alias("value"))
            return self.entries.select(*selected).repartition(n_parts, "key").mapInArrow(stage, _STAGED_SCHEMA)
        files, n_read, cols, pkeys = self.files, self.n_read, self.cols, partition_keys(n_parts)

        # executor side: files -> one payload per key bucket
        def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                for i in batch.column("id").to_pylist():
                    yield from blocks.bucket_files(files[i::n_read], cols, bc_plan.value, pkeys)

        # executor side: a bucket's payloads -> blobs
        def stage_bucket(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            yield from blocks.stage_buckets(batches, bc_plan.value, opts, _partition_id())

        bucketed = self.tasks().mapInArrow(read, _BUCKETED_SCHEMA).repartition(n_parts, "pkey")
        return bucketed.mapInArrow(stage_bucket, _STAGED_SCHEMA)


def topk_similarity(
    entries: DataFrame,
    params: SimilarityParams,
    *,
    key_col: str,
    entity_col: str,
    weight_col: str = "weight",
    value_col: str | None = None,
    center_by_key: bool = False,
    files: Sequence[str] | None = None,
) -> SimilarityResult:
    """Top-K similar entities (columns of the key x entity matrix) by the block algorithm of the module docstring.

    ``weight_col`` orders the cap; ``value_col`` (default: the weight) is what the products use. ``center_by_key``
    centers values by each key's mean (Pearson item-item, key = user). ``files``: the Parquet files that hold
    ``entries`` (:func:`coldrec.cf.files.partition_files`); when given (and there is no ``value_col``) the tasks
    read them themselves instead of receiving ``entries`` through Spark (same result, see :mod:`coldrec.cf.files`).
    """
    spark = entries.sparkSession
    sc = spark.sparkContext
    cores = max(1, sc.defaultParallelism)
    source = _Input.of(entries, key_col, entity_col, weight_col, value_col, files, cores)

    ent = source.entity_counts().sort_by("entity")
    counts = ent.column("n").to_numpy()
    nnz = int(counts.sum())
    plan_starts = blocks.plan_blocks(counts, params.block_size, cores)
    n_blocks = len(plan_starts) - 1
    if nnz == 0:
        return SimilarityResult(spark.createDataFrame([], NEIGHBORS_SCHEMA), {"nnz": 0.0, "entities": 0.0, "work": 0.0})
    plan = blocks.BlockPlan(ent.column("entity").combine_chunks(), plan_starts, partition_keys(n_blocks))
    n_parts = math.ceil(max(cores, math.ceil(nnz / params.rows_per_partition)) / cores) * cores  # whole waves
    stage_opts = blocks.StageOptions(cap=params.cap, center_by_key=center_by_key, seed=params.seed)
    bc_plan = sc.broadcast(plan)
    staged = source.staged(n_parts, bc_plan, stage_opts)
    compute_opts = blocks.ComputeOptions(params.metric, params.k, params.shrinkage, params.min_support)
    kernel.warm_up()
    # [keys, capped keys, entries per block..., work per block...], filled by the block tasks
    totals = sc.accumulator(np.zeros(2 + 2 * n_blocks), _MaxArray())

    def report(block: int, stats: blocks.EntityStats) -> None:  # executor side: run info for the driver
        lo, hi = plan_starts[block], plan_starts[block + 1]
        slots = np.zeros(2 + 2 * n_blocks)
        slots[:2] = stats.n_keys, stats.n_capped
        slots[2 + block] = stats.counts[lo:hi].sum()
        slots[2 + n_blocks + block] = stats.work[lo:hi].sum()
        totals.add(slots)

    def compute(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:  # executor side of step 3
        yield from blocks.compute_partition(batches, bc_plan.value, compute_opts, report)

    neighbors = staged.repartition(n_blocks, "pkey").mapInArrow(compute, NEIGHBORS_SCHEMA)
    info = {
        "read_from_files": float(source.files is not None),
        "entities": float(plan.n_entities),
        "nnz_before_cap": float(nnz),
        "blocks": float(n_blocks),
        "partitions": float(n_parts),
    }
    return SimilarityResult(neighbors, info, [bc_plan], totals)


def item_similarity(
    interactions: DataFrame, params: SimilarityParams, files: Sequence[str] | None = None
) -> SimilarityResult:
    """Item-item top-K from ``gold.interactions`` rows (``user_id, item_id, weight``); the cap is per user.
    ``files``: the partition's Parquet files, read by the tasks themselves (see :func:`topk_similarity`)."""
    return topk_similarity(
        interactions,
        params,
        key_col=S.USER_ID,
        entity_col=S.ITEM_ID,
        weight_col="weight",
        center_by_key=params.metric == "pearson",
        files=files,
    )


def user_similarity(
    interactions: DataFrame, params: SimilarityParams, files: Sequence[str] | None = None
) -> SimilarityResult:
    """User-user top-K: the same machinery on X.T (key = item, the cap is per item); Pearson centers by user
    (a Spark window, so Pearson reads through Spark even when ``files`` are given)."""
    df = interactions
    value_col = None
    if params.metric == "pearson":
        df = df.withColumn("value", F.col("weight") - F.avg("weight").over(Window.partitionBy(S.USER_ID)))
        value_col = "value"
    return topk_similarity(
        df, params, key_col=S.ITEM_ID, entity_col=S.USER_ID, weight_col="weight", value_col=value_col, files=files
    )


def with_run_columns(neighbors: DataFrame, metric: str, run_date: dt.date) -> DataFrame:
    """Neighbour rows in the ``gold.*_similarity`` contract."""
    return neighbors.select(
        "id",
        "neighbor_id",
        "similarity",
        "support",
        F.lit(metric).alias("metric"),
        F.lit(run_date).cast("date").alias(S.RUN_DATE),
    )
