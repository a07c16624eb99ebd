"""The executor side of the block algorithm, in numpy / pyarrow: no Spark here, so it is unit-testable.

Two steps run inside Spark tasks (:mod:`coldrec.cf.similarity` wires them with ``mapInArrow``):

1. :func:`stage_rows` gets every entry of a set of *keys* (users for item-item) -- all entries of a key land in the
   same task. It applies the heavy-key cap and the centering, then, for every entity *block* (a contiguous range of
   entity indices), serializes the full rows of the keys that touch that block into one CSR blob. It also emits the
   task's share of the per-entity statistics (count, sum of squares, work), addressed to every block: each block's
   task sums the shares itself, so the staged rows flow through one shuffle and are never cached or collected.
2. :func:`compute_block` gets all blobs of one block, stacks them into one CSR, and runs the fused kernel
   (:func:`coldrec.cf.kernel.block_topk`) over the block's columns.

Everything is deterministic for a given partitioning: keys are ordered by their id, blobs by their source task, and
the heavy-key cap breaks weight ties by a seeded permutation of entity indices.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from coldrec.cf.files import bucket_order, from_ipc, read_columns, string_buckets, to_ipc
from coldrec.cf.kernel import METRIC_CODES, block_topk, csr_block_to_csc

#: Metrics the kernel knows (cosine and Pearson share a code: Pearson only changes the values fed in).
METRICS = ("cosine", "pearson", "jaccard")

#: ``kind`` of a staged row: a CSR blob of rows, or a share of the per-entity statistics.
CSR, STATS = 0, 1

STAGED_ARROW_SCHEMA = pa.schema(
    [
        pa.field("block", pa.int32(), nullable=False),
        pa.field("pkey", pa.int64(), nullable=False),
        pa.field("part", pa.int32(), nullable=False),
        pa.field("kind", pa.int8(), nullable=False),
        pa.field("payload", pa.binary(), nullable=False),
    ]
)

NEIGHBORS_ARROW_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("neighbor_id", pa.string(), nullable=False),
        pa.field("similarity", pa.float64(), nullable=False),
        pa.field("support", pa.int64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class BlockPlan:
    """Entity ids (sorted, so index order == id order), block boundaries and the Spark partition key of each block."""

    entity_ids: pa.Array
    starts: np.ndarray  # int64, len n_blocks + 1, starts[0] == 0, starts[-1] == n_entities
    pkeys: tuple[int, ...] = ()

    @property
    def n_blocks(self) -> int:
        return len(self.starts) - 1

    @property
    def n_entities(self) -> int:
        return int(self.starts[-1])

    def block_of(self, entity: np.ndarray) -> np.ndarray:
        return (np.searchsorted(self.starts, entity, side="right") - 1).astype(np.int32)


def plan_blocks(counts: np.ndarray, block_size: int, min_blocks: int) -> np.ndarray:
    """Block boundaries over entity indices: a multiple of ``min_blocks`` blocks (one per core keeps every core busy;
    3 equal blocks on 2 cores take as long as 4), at most ``block_size`` entities each, cut at equal shares of
    entries so the work is balanced.

    Entries are the proxy for work: an entity's work is ``sum_{u in U_i} n_u`` ~ ``|U_i| x mean activity``.
    Fewer blocks mean less shuffle (a key's row is copied to every block it touches), so no more are cut than the
    cores and the size cap ask for.
    """
    n = len(counts)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    step = max(1, min_blocks)
    n_blocks = max(1, min(n, -(-max(step, -(-n // block_size)) // step) * step))
    cum = np.cumsum(counts, dtype=np.float64)
    targets = cum[-1] * np.arange(1, n_blocks) / n_blocks
    cuts = np.searchsorted(cum, targets, side="left") + 1
    starts = np.unique(np.concatenate([[0], cuts, [n]])).astype(np.int64)
    # enforce the size cap by splitting long blocks evenly
    out = [0]
    for lo, hi in itertools.pairwise(starts):
        pieces = -(-(hi - lo) // block_size)
        out.extend(np.linspace(lo, hi, pieces + 1).round().astype(np.int64)[1:].tolist())
    return np.asarray(out, dtype=np.int64)


# ---------------------------------------------------------------------------------------------------------------
# CSR blobs
# ---------------------------------------------------------------------------------------------------------------
def encode_csr(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray) -> bytes:
    header = np.asarray([len(indptr) - 1, len(indices)], dtype=np.int64)
    return b"".join(
        [
            header.tobytes(),
            np.ascontiguousarray(indptr, dtype=np.int64).tobytes(),
            np.ascontiguousarray(indices, dtype=np.int32).tobytes(),
            np.ascontiguousarray(values, dtype=np.float64).tobytes(),
        ]
    )


def decode_csr(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_rows, nnz = np.frombuffer(blob, dtype=np.int64, count=2)
    off = 16
    indptr = np.frombuffer(blob, dtype=np.int64, count=n_rows + 1, offset=off)
    off += 8 * (n_rows + 1)
    indices = np.frombuffer(blob, dtype=np.int32, count=nnz, offset=off)
    off += 4 * nnz
    values = np.frombuffer(blob, dtype=np.float64, count=nnz, offset=off)
    return indptr, indices, values


def encode_stats(counts: np.ndarray, sumsq: np.ndarray, work: np.ndarray, n_keys: int = 0, n_capped: int = 0) -> bytes:
    nz = np.flatnonzero(counts)
    return b"".join(
        [
            np.asarray([len(nz), n_keys, n_capped], dtype=np.int64).tobytes(),
            nz.astype(np.int64).tobytes(),
            counts[nz].astype(np.int64).tobytes(),
            sumsq[nz].astype(np.float64).tobytes(),
            work[nz].astype(np.float64).tobytes(),
        ]
    )


@dataclass
class EntityStats:
    """Per-entity statistics over the capped (and centered) matrix the similarities are computed from."""

    counts: np.ndarray  # int64: keys (users) per entity
    sumsq: np.ndarray  # float64: sum of squared values per entity (norm**2)
    work: np.ndarray  # float64: multiply-adds of the entity's row of X.T @ X = sum over its keys of their row length
    n_keys: int = 0  # keys (users for item-item) with at least one entry
    n_capped: int = 0  # keys whose entries were cut to the cap

    @classmethod
    def zeros(cls, n: int) -> EntityStats:
        return cls(np.zeros(n, np.int64), np.zeros(n, np.float64), np.zeros(n, np.float64))

    def add_blob(self, blob: bytes) -> None:
        m, n_keys, n_capped = (int(x) for x in np.frombuffer(blob, dtype=np.int64, count=3))
        off = 24
        idx = np.frombuffer(blob, dtype=np.int64, count=m, offset=off)
        self.counts[idx] += np.frombuffer(blob, dtype=np.int64, count=m, offset=off + 8 * m)
        self.sumsq[idx] += np.frombuffer(blob, dtype=np.float64, count=m, offset=off + 16 * m)
        self.work[idx] += np.frombuffer(blob, dtype=np.float64, count=m, offset=off + 24 * m)
        self.n_keys += n_keys
        self.n_capped += n_capped

    @property
    def norms(self) -> np.ndarray:
        return np.sqrt(self.sumsq)


# ---------------------------------------------------------------------------------------------------------------
# Step 1: rows of keys -> capped, centered CSR blobs per block (+ statistics)
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageOptions:
    cap: int
    center_by_key: bool
    seed: int


def cap_and_center(
    code: np.ndarray, entity: np.ndarray, weight: np.ndarray, value: np.ndarray, opts: StageOptions, n_entities: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group entries by key code (0..n_keys-1), center, cap. Returns ``(ptr, entity, value, sizes)`` grouped by code.

    * centering (Pearson, item-item): ``v_ui = w_ui - mean_u`` with ``mean_u`` over ALL of u's entries, before the cap;
    * cap: a key with more than ``cap`` entries keeps its ``cap`` largest weights, ties broken by a permutation of
      the entity indices seeded by ``seed`` (deterministic, unrelated to ids).
    """
    order = np.argsort(code, kind="stable")
    code, entity, weight, value = code[order], entity[order], weight[order], value[order]
    sizes = np.bincount(code)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if opts.center_by_key:
        means = np.add.reduceat(weight, ptr[:-1]) / sizes
        value = weight - np.repeat(means, sizes)
    heavy = np.flatnonzero(sizes > opts.cap)
    if heavy.size:  # rare: a Python loop over heavy keys only
        perm = np.random.default_rng(opts.seed).permutation(n_entities)
        keep = np.ones(len(entity), dtype=bool)
        for g in heavy:
            lo, hi = ptr[g], ptr[g + 1]
            ranked = np.lexsort((perm[entity[lo:hi]], -weight[lo:hi]))
            keep[lo + ranked[opts.cap :]] = False
        entity, value, code = entity[keep], value[keep], code[keep]
        sizes = np.minimum(sizes, opts.cap)
        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return ptr, entity, value, sizes


def block_members(
    block: np.ndarray, sizes: np.ndarray, n_blocks: int, bitmap_limit: int | None = None
) -> list[np.ndarray]:
    """For each block, the key codes (ascending) with at least one entry in it; entries are grouped by key code.

    A (blocks x keys) bit map is O(entries) with no sort; when it would be large next to the entries (many blocks),
    the sorted unique (block, key) pairs take its place.
    """
    n_keys = len(sizes)
    key = np.repeat(np.arange(n_keys, dtype=np.int64), sizes)
    limit = 8 * len(block) + 1_000_000 if bitmap_limit is None else bitmap_limit
    if n_blocks * n_keys <= limit:
        touches = np.zeros((n_blocks, n_keys), dtype=bool)
        touches[block, key] = True
        return [np.flatnonzero(row) for row in touches]
    pairs = np.unique(block.astype(np.int64) * n_keys + key)  # sorted by block, then key
    bounds = np.searchsorted(pairs // n_keys, np.arange(n_blocks + 1))
    return [pairs[lo:hi] % n_keys for lo, hi in itertools.pairwise(bounds)]


def stage_rows(
    keys: pa.Array,
    entity: np.ndarray,
    weight: np.ndarray,
    value: np.ndarray,
    plan: BlockPlan,
    opts: StageOptions,
) -> tuple[dict[int, bytes], bytes]:
    """One task's keys -> ``{block: CSR blob}`` and a statistics blob. ``entity`` are global entity indices."""
    if len(entity) == 0:
        return {}, encode_stats(*(np.zeros(0),) * 3)
    # key codes ordered by key id, so blobs (and float sums) do not depend on the order rows arrived in
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    enc = pc.dictionary_encode(keys)
    rank = np.empty(len(enc.dictionary), dtype=np.int32)
    rank[np.asarray(pc.sort_indices(enc.dictionary))] = np.arange(len(enc.dictionary), dtype=np.int32)
    code = rank[np.asarray(enc.indices)]
    n_capped = int(np.count_nonzero(np.bincount(code) > opts.cap))
    ptr, entity, value, sizes = cap_and_center(code, entity, weight, value, opts, plan.n_entities)
    n_keys = len(sizes)

    counts = np.bincount(entity, minlength=plan.n_entities)
    sumsq = np.bincount(entity, weights=value * value, minlength=plan.n_entities)
    work = np.bincount(entity, weights=np.repeat(sizes, sizes).astype(np.float64), minlength=plan.n_entities)
    stats = encode_stats(counts, sumsq, work, n_keys, n_capped)

    blobs: dict[int, bytes] = {}
    for b, members in enumerate(block_members(plan.block_of(entity), sizes, plan.n_blocks)):
        if members.size == 0:
            continue
        lens = sizes[members]
        indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        gather = np.repeat(ptr[members] - indptr[:-1], lens) + np.arange(indptr[-1])
        blobs[b] = encode_csr(indptr, entity[gather], value[gather])
    return blobs, stats


def stage_partition(
    batches: Iterable[pa.RecordBatch], plan: BlockPlan, opts: StageOptions, part: int
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body of step 1: batches with ``key, entity, weight[, value]`` -> staged blob rows."""
    table = pa.Table.from_batches(list(batches))
    if table.num_rows == 0:
        return
    entity = np.asarray(pc.index_in(table.column("entity"), value_set=plan.entity_ids).combine_chunks(), np.int32)
    weight = table.column("weight").to_numpy().astype(np.float64, copy=False)
    value = table.column("value").to_numpy().astype(np.float64) if "value" in table.column_names else weight.copy()
    blobs, stats = stage_rows(table.column("key"), entity, weight, value, plan, opts)
    del table
    yield from _staged_batches(blobs, stats, plan, part)


def _staged_batches(blobs: dict[int, bytes], stats: bytes, plan: BlockPlan, part: int) -> Iterator[pa.RecordBatch]:
    for b in range(plan.n_blocks):  # every block's task needs every task's statistics (norms of all neighbours)
        yield _staged_batch(b, plan, part, STATS, stats)
    for b, blob in blobs.items():  # one blob per batch keeps every Arrow binary column far below 2 GiB
        yield _staged_batch(b, plan, part, CSR, blob)


# ---------------------------------------------------------------------------------------------------------------
# Step 1 from files (see coldrec.cf.files): read + bucket keys by hash, then stage each bucket's keys
# ---------------------------------------------------------------------------------------------------------------
BUCKETED_ARROW_SCHEMA = pa.schema(
    [pa.field("pkey", pa.int64(), nullable=False), pa.field("payload", pa.binary(), nullable=False)]
)


@dataclass(frozen=True)
class FileColumns:
    """Which Parquet columns are the key, the entity and the weight."""

    key: str
    entity: str
    weight: str


def bucket_files(
    files: list[str], cols: FileColumns, plan: BlockPlan, bucket_pkeys: tuple[int, ...]
) -> Iterator[pa.RecordBatch]:
    """Read ``files`` and send every key's entries to one bucket (FNV-1a of the key mod the number of buckets):
    one IPC payload per bucket with ``key`` (string), ``entity`` (index in the plan) and ``weight``."""
    table = read_columns(files, [cols.key, cols.entity, cols.weight])
    if table.num_rows == 0:
        return
    keys = table.column(cols.key).combine_chunks()
    if not pa.types.is_string(keys.type):
        keys = keys.cast(pa.string())
    entity = pc.index_in(table.column(cols.entity).cast(pa.string()), value_set=plan.entity_ids).combine_chunks()
    order, bounds = bucket_order(string_buckets(keys, len(bucket_pkeys)), len(bucket_pkeys))
    out = pa.table(
        {
            "key": keys.take(order),
            "entity": entity.cast(pa.int32()).take(order),
            "weight": table.column(cols.weight).combine_chunks().cast(pa.float64()).take(order),
        }
    )
    for b, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if hi > lo:
            payload = to_ipc(out.slice(lo, hi - lo))
            yield pa.RecordBatch.from_arrays(
                [pa.array([bucket_pkeys[b]], pa.int64()), _binary(payload)], schema=BUCKETED_ARROW_SCHEMA
            )


def stage_buckets(
    batches: Iterable[pa.RecordBatch], plan: BlockPlan, opts: StageOptions, part: int
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body of step 1 after :func:`bucket_files`: one bucket's payloads -> staged blob rows."""
    payloads = [p.as_buffer() for batch in batches for p in batch.column("payload")]
    data = from_ipc(payloads)
    if data is None or data.num_rows == 0:
        return
    weight = data.column("weight").to_numpy()
    entity = data.column("entity").to_numpy()
    blobs, stats = stage_rows(data.column("key"), entity, weight, weight.copy(), plan, opts)
    del data, payloads
    yield from _staged_batches(blobs, stats, plan, part)


def _binary(payload: bytes) -> pa.BinaryArray:
    """A one-element binary array over ``payload`` without copying it."""
    offsets = np.asarray([0, len(payload)], dtype=np.int32)
    return pa.BinaryArray.from_buffers(pa.binary(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(payload)])


def _staged_batch(block: int, plan: BlockPlan, part: int, kind: int, payload: bytes) -> pa.RecordBatch:
    """One staged row; the payload is wrapped, not copied (blobs are hundreds of MB per task at scale)."""
    binary = _binary(payload)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([block], pa.int32()),
            pa.array([plan.pkeys[block] if plan.pkeys else block], pa.int64()),
            pa.array([part], pa.int32()),
            pa.array([kind], pa.int8()),
            binary,
        ],
        schema=STAGED_ARROW_SCHEMA,
    )


# ---------------------------------------------------------------------------------------------------------------
# Step 2: all blobs of a block -> top-K neighbours of its entities
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComputeOptions:
    metric: str
    k: int
    shrinkage: float
    min_support: int


def stack_blobs(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [decode_csr(b) for b in blobs]
    sizes = np.concatenate([np.diff(p[0]) for p in parts])
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return indptr, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def block_columns(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSC of the entity columns ``start..stop-1`` over the same rows (counting sort: rows stay in order)."""
    return csr_block_to_csc(
        np.ascontiguousarray(indptr, dtype=np.int64),
        np.ascontiguousarray(indices, dtype=np.int32),
        np.ascontiguousarray(values, dtype=np.float64),
        start,
        stop,
    )


def compute_block(
    blobs: list[bytes], block: int, plan: BlockPlan, stats: EntityStats, opts: ComputeOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top-K ``(src, dst, similarity, support)`` of every entity of ``block`` (global entity indices)."""
    indptr, indices, values = stack_blobs(blobs)
    start, stop = int(plan.starts[block]), int(plan.starts[block + 1])
    col_ptr, col_row, col_val = block_columns(indptr, indices, values, start, stop)
    return block_topk(
        indptr,
        np.ascontiguousarray(indices, dtype=np.int32),
        np.ascontiguousarray(values, dtype=np.float64),
        col_ptr,
        col_row,
        col_val,
        start,
        stats.norms,
        stats.counts,
        METRIC_CODES[opts.metric],
        float(opts.shrinkage),
        int(opts.min_support),
        int(opts.k),
    )


def compute_partition(
    batches: Iterable[pa.RecordBatch],
    plan: BlockPlan,
    opts: ComputeOptions,
    report: Callable[[int, EntityStats], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body of step 2: staged rows (normally one block per task) -> neighbour rows with ids.

    A block's statistics are the sum of the shares addressed to it; ``report(block, stats)`` sees them (run info).
    """
    table = pa.Table.from_batches(list(batches))
    if table.num_rows == 0:
        return
    # rows in (block, source part) order by index: sorting the table itself would copy every payload
    order = np.lexsort((table.column("part").to_numpy(), table.column("block").to_numpy()))
    blocks = table.column("block").to_numpy()[order]
    kinds = table.column("kind").to_numpy()[order]
    payloads = table.column("payload")
    for b in np.unique(blocks):
        stats = EntityStats.zeros(plan.n_entities)
        for r in order[(blocks == b) & (kinds == STATS)]:
            stats.add_blob(payloads[int(r)].as_buffer())
        if report is not None:
            report(int(b), stats)
        blobs = [payloads[int(r)].as_buffer() for r in order[(blocks == b) & (kinds == CSR)]]
        src, dst, sim, sup = compute_block(blobs, int(b), plan, stats, opts)
        yield pa.RecordBatch.from_arrays(
            [
                plan.entity_ids.take(pa.array(src)),
                plan.entity_ids.take(pa.array(dst)),
                pa.array(sim, pa.float64()),
                pa.array(sup, pa.int64()),
            ],
            schema=NEIGHBORS_ARROW_SCHEMA,
        )
