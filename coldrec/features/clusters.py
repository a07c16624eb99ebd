"""The user portrait's KMeans clusters: k chosen by silhouette on a bounded sample, every user assigned in Spark.

Why the candidates are fitted on the driver (scikit-learn) and not with Spark ML's ``KMeans``: the fit runs on a
sample capped at ``kmeans_sample_users`` rows (20k x ~100 floats, a few MB), and on data that small Spark's cost is
all job overhead: every Lloyd iteration is a Spark job, so four candidates took 27-36 s of the 1M-event nightly's
~100 s feature step (10,473 users x 115 features, 2 cores, 2026-12-05), against 1.6-3.3 s for all of
:func:`choose_k` here (collecting the sample 0.5-0.9 s, then four fits of three starts each and their
silhouettes). The sample is the only thing that leaves Spark; assigning the users to the
chosen centres is a Spark expression (:func:`assign_clusters`), so the user count itself never reaches the driver.

The silhouette is Spark ML's ``ClusteringEvaluator`` default, the mean silhouette under squared Euclidean distance,
computed exactly in O(n k d) from per-cluster sums (:func:`squared_euclidean_silhouette`); scikit-learn's
``silhouette_score`` gives the same number but needs all n^2 pairwise distances.
"""

from __future__ import annotations

import logging

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from coldrec.config import FeaturesConfig
from coldrec.features.loader import array_column_to_matrix

log = logging.getLogger(__name__)

#: independent k-means++ starts per candidate k (the best inertia wins); cheap at the sample's size
N_INIT = 3


def squared_euclidean_silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of ``labels`` under squared Euclidean distance (a point alone in its cluster scores 0).

    For a point x and a cluster C: sum_{y in C} |x - y|^2 = |C| |x|^2 - 2 x . sum_C(y) + sum_C(|y|^2), so the mean
    distance of every point to every cluster is one [n, k] matrix product; the own cluster's mean excludes the
    point itself (divides by |C| - 1, its zero distance to itself is in the sum).
    """
    x = np.asarray(x, dtype=np.float64)
    _, codes = np.unique(labels, return_inverse=True)
    k = int(codes.max()) + 1 if len(codes) else 0
    if k < 2:
        return 0.0
    sizes = np.bincount(codes, minlength=k).astype(np.float64)
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, codes, x)
    norms = np.einsum("ij,ij->i", x, x)
    sq_sums = np.bincount(codes, weights=norms, minlength=k)
    totals = np.maximum(sizes[None, :] * norms[:, None] - 2.0 * (x @ sums.T) + sq_sums[None, :], 0.0)
    rows = np.arange(len(x))
    own_size = sizes[codes]
    a = np.divide(totals[rows, codes], own_size - 1, out=np.zeros(len(x)), where=own_size > 1)
    mean_to = totals / sizes[None, :]
    mean_to[rows, codes] = np.inf
    b = mean_to.min(axis=1)
    denom = np.maximum(a, b)
    s = np.divide(b - a, denom, out=np.zeros(len(x)), where=denom > 0)
    s[own_size <= 1] = 0.0
    return float(s.mean())


def sample_matrix(vectors: DataFrame, column: str, limit: int, seed: int) -> np.ndarray:
    """At most about ``limit`` rows of the ``array<float>`` column as a float64 matrix, in a canonical row order.

    A seeded Spark sample when there are more rows; rows sorted lexicographically afterwards, so the fit does not
    depend on the order in which Spark's partitions arrive.
    """
    n = vectors.count()
    sample = vectors.sample(fraction=min(1.0, limit / max(n, 1)), seed=seed) if n > limit else vectors
    x = array_column_to_matrix(sample.select(column).toArrow().column(column), dtype=np.float64)
    if len(x) == 0 or x.shape[1] == 0:
        return np.zeros((len(x), 0))
    return x[np.lexsort(x.T[::-1])]


def choose_k(
    vectors: DataFrame, cfg: FeaturesConfig, seed: int, column: str = "__vec_arr"
) -> tuple[int, dict[int, float], np.ndarray | None]:
    """k with the best silhouette among the candidates (fewer than the distinct points; ties: the smaller k);
    ``cfg.kmeans_k`` wins when set. Returns (k, {k: silhouette}, the chosen model's centres as a [k, d] array, or
    None when there is nothing to cluster).

    Why on a sample: the centres and the silhouette ranking of a handful of k settle long before 10^5 users (a
    deterministic sample of ``cfg.kmeans_sample_users``); every user is then assigned to the nearest centre.
    """
    from sklearn.cluster import KMeans

    x = sample_matrix(vectors, column, cfg.kmeans_sample_users, seed)
    distinct = len(np.unique(x, axis=0)) if x.size else 0
    if cfg.kmeans_k is not None:
        candidates = [min(cfg.kmeans_k, distinct)] if distinct >= 1 else []
    else:
        candidates = sorted(k for k in set(cfg.kmeans_k_candidates) if 2 <= k < distinct)
    if not candidates:
        return 1, {}, None
    scores: dict[int, float] = {}
    centres: dict[int, np.ndarray] = {}
    for k in candidates:
        model = KMeans(n_clusters=k, n_init=N_INIT, max_iter=cfg.kmeans_max_iter, random_state=seed).fit(x)
        centres[k] = model.cluster_centers_
        if cfg.kmeans_k is None:
            scores[k] = squared_euclidean_silhouette(x, model.labels_)
    best = candidates[0] if cfg.kmeans_k is not None else max(scores, key=lambda k: (scores[k], -k))
    log.info("features: KMeans on %d sampled users, silhouette by k %s -> k = %d", len(x), scores, best)
    return best, scores, centres[best]


def assign_clusters(df: DataFrame, centres: np.ndarray, column: str, out: str) -> DataFrame:
    """``df`` with ``out`` = the index of the nearest of ``centres`` (squared Euclidean; ties: the lower index) to
    the ``array<float>`` ``column``: one expression per centre, no UDF, no driver round trip."""
    distances = [
        F.aggregate(
            F.zip_with(F.col(column), F.array(*[F.lit(float(v)) for v in centre]), lambda a, b: (a - b) * (a - b)),
            F.lit(0.0).cast("double"),
            lambda acc, d: acc + d,
        )
        for centre in np.asarray(centres, dtype=np.float64)
    ]
    per_centre = F.array(*distances)
    return df.withColumn(out, (F.array_position(per_centre, F.array_min(per_centre)) - 1).cast("int"))
