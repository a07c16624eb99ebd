"""Feature tables (or feature DataFrames) into NumPy matrices for PyTorch, without a Python object per row.

An ``array<float>`` column arrives from Arrow as one flat float32 buffer plus offsets; every row has the same length,
so ``flatten().reshape(n, d)`` is the matrix. With a Settings object the tables are read through delta-rs (no JVM);
with a SparkSession through Spark's ``toArrow``. The evaluation harness, which builds feature DataFrames in memory,
calls :func:`matrices_from_frames` instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from coldrec.config import Settings, load_settings
from coldrec.data import schemas as S
from coldrec.delta_read import read_delta
from coldrec.lake import read_table
from coldrec.paths import table_path


@dataclass
class FeatureMatrices:
    """Users and items of one run date as aligned arrays (row i of a matrix is ``*_ids[i]``; ids sorted).

    ``user_features`` = [demographics | behavior]; ``user_history_columns`` flags the behavior part (zeroed when a
    cold user is simulated). ``item_category`` / ``user_segment`` / ``user_cluster`` are integer codes into the
    ``*_names`` arrays.
    """

    user_ids: np.ndarray
    user_features: np.ndarray
    item_ids: np.ndarray
    item_features: np.ndarray
    user_history_columns: np.ndarray
    user_has_history: np.ndarray
    user_segment: np.ndarray
    segment_names: np.ndarray
    user_cluster: np.ndarray
    item_category: np.ndarray
    category_names: np.ndarray
    item_n_users: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(
            (
                self.user_ids,
                self.user_features,
                self.item_ids,
                self.item_features,
                self.user_history_columns,
                self.user_segment,
                self.item_category,
            )
        )


def array_column_to_matrix(column: pa.ChunkedArray | pa.Array, dtype: type = np.float32) -> np.ndarray:
    """A list column of equal-length rows as an ``[n, d]`` matrix (zero-copy where Arrow allows it)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if n == 0:
        return np.zeros((0, 0), dtype=dtype)
    if arr.null_count:
        raise ValueError("feature arrays must not be null")
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    width = int(lengths[0])
    if not np.all(lengths == width):
        raise ValueError(f"feature arrays have different lengths ({lengths.min()}..{lengths.max()})")
    flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False)
    if np.isnan(flat).any():
        raise ValueError("feature arrays contain null/NaN values")
    return np.ascontiguousarray(flat.reshape(n, width), dtype=dtype)


def _codes(values: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    strings = np.asarray(values.to_pylist(), dtype=object)
    names, codes = np.unique(strings.astype(str), return_inverse=True)
    return codes.astype(np.int64), names


def matrices_from_arrow(users: pa.Table, items: pa.Table) -> FeatureMatrices:
    """Build :class:`FeatureMatrices` from Arrow tables with the gold feature columns (sorted by id here)."""
    users = users.sort_by(S.USER_ID)
    items = items.sort_by(S.ITEM_ID)
    demo = array_column_to_matrix(users.column("demographics"))
    behavior = array_column_to_matrix(users.column("behavior"))
    if demo.shape[0] == 0:
        demo = np.zeros((0, 0), np.float32)
        behavior = np.zeros((0, 0), np.float32)
    segment, segment_names = _codes(users.column("segment"))
    category, category_names = _codes(items.column("top_category"))
    return FeatureMatrices(
        user_ids=np.asarray(users.column(S.USER_ID).to_pylist(), dtype=object),
        user_features=np.hstack([demo, behavior]).astype(np.float32),
        item_ids=np.asarray(items.column(S.ITEM_ID).to_pylist(), dtype=object),
        item_features=array_column_to_matrix(items.column("features")),
        user_history_columns=np.r_[np.zeros(demo.shape[1], bool), np.ones(behavior.shape[1], bool)],
        user_has_history=users.column("has_history").to_numpy(zero_copy_only=False).astype(bool),
        user_segment=segment,
        segment_names=segment_names,
        user_cluster=users.column("cluster_id").to_numpy(zero_copy_only=False).astype(np.int64),
        item_category=category,
        category_names=category_names,
        item_n_users=items.column("n_users").to_numpy(zero_copy_only=False).astype(np.int64),
    )


_USER_COLS = [S.USER_ID, "segment", "cluster_id", "has_history", "demographics", "behavior"]
_ITEM_COLS = [S.ITEM_ID, "top_category", "n_users", "features"]


def matrices_from_frames(user_features: DataFrame, item_features: DataFrame) -> FeatureMatrices:
    """From the DataFrames :func:`build_user_features` / :func:`build_item_features` return (Spark ``toArrow``)."""
    return matrices_from_arrow(user_features.select(*_USER_COLS).toArrow(), item_features.select(*_ITEM_COLS).toArrow())


def _read_delta(settings: Settings, name: str, run_date: dt.date, columns: list[str]) -> pa.Table:
    return read_delta(table_path(settings, name), partitions=[(S.RUN_DATE, "=", run_date.isoformat())], columns=columns)


def load_feature_matrices(
    spark_or_settings: SparkSession | Settings, run_date: dt.date | str, settings: Settings | None = None
) -> FeatureMatrices:
    """The run date's ``gold.user_features`` and ``gold.item_features`` as matrices.

    ``spark_or_settings``: a SparkSession (read through Spark) or a Settings object (read through delta-rs, no JVM).
    """
    if isinstance(run_date, str):
        run_date = dt.date.fromisoformat(run_date)
    if isinstance(spark_or_settings, Settings):
        users = _read_delta(spark_or_settings, "gold.user_features", run_date, _USER_COLS)
        items = _read_delta(spark_or_settings, "gold.item_features", run_date, _ITEM_COLS)
        if users.num_rows == 0 or items.num_rows == 0:
            raise LookupError(f"no features for run date {run_date} (run `coldrec features --date {run_date}`)")
        return matrices_from_arrow(users, items)
    spark = spark_or_settings
    settings = settings or load_settings()
    day = F.col(S.RUN_DATE) == F.lit(run_date)
    users_df = read_table(spark, settings, "gold.user_features").where(day)
    items_df = read_table(spark, settings, "gold.item_features").where(day)
    out = matrices_from_frames(users_df, items_df)
    if out.user_ids.size == 0 or out.item_ids.size == 0:
        raise LookupError(f"no features for run date {run_date} (run `coldrec features --date {run_date}`)")
    return out
