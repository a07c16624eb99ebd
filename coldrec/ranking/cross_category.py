"""Category-to-category affinity from co-purchases: which categories users go on to buy after buying in another.

Why "go on to": a basket of shampoo and conditioner says the categories co-occur; a user who bought a camera and
*later* a tripod says the first leads to the second, which is what a complementary-category slot should exploit.
``A[a, b]`` = share of the users who bought in ``a`` that bought in ``b`` for the first time after their first
purchase in ``a``. A user's affinity for a category they have not bought from is the mean of ``A[c, b]`` over the
categories ``c`` they did buy from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def category_affinity(user: np.ndarray, category: np.ndarray, ts: np.ndarray, n_categories: int) -> np.ndarray:
    """``A`` (categories x categories) from purchase events (user index, category index, time), see module doc."""
    frame = pd.DataFrame({"u": user, "c": category, "t": ts})
    frame = frame[frame["c"] >= 0]
    first = frame.groupby(["u", "c"], sort=False)["t"].min().reset_index()
    pairs = first.merge(first, on="u", how="inner", suffixes=("_a", "_b"))
    pairs = pairs[(pairs["c_a"] != pairs["c_b"]) & (pairs["t_a"] < pairs["t_b"])]
    counts = np.zeros((n_categories, n_categories), dtype=np.float64)
    if not pairs.empty:
        np.add.at(counts, (pairs["c_a"].to_numpy(), pairs["c_b"].to_numpy()), 1.0)
    buyers = np.bincount(first["c"].to_numpy(), minlength=n_categories).astype(np.float64)
    return (counts / np.maximum(buyers, 1.0)[:, None]).astype(np.float32)


def user_category_matrix(history: sp.csr_matrix, item_category: np.ndarray, n_categories: int) -> sp.csr_matrix:
    """users x categories: number of the user's history items per category."""
    coo = sp.coo_matrix(history)
    cats = item_category[coo.col]
    ok = cats >= 0
    m = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=np.float32), (coo.row[ok], cats[ok])), shape=(history.shape[0], n_categories)
    )
    m.sum_duplicates()
    return m


def user_affinity(user_categories: sp.csr_matrix, affinity: np.ndarray) -> np.ndarray:
    """users x categories: mean affinity from the categories the user bought from (rows of ``affinity``)."""
    binary = sp.csr_matrix(user_categories, dtype=np.float32)
    binary.data[:] = 1.0
    n = np.asarray(binary.sum(axis=1)).ravel()
    return np.asarray(binary @ affinity) / np.maximum(n, 1.0)[:, None]
