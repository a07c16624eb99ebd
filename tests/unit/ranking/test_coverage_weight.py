"""The blend tuning's coverage term: NDCG@k + coverage_weight x catalog coverage of the tuning users' lists."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.ranking.blend import list_coverage, tune_segment_weights


def test_list_coverage_counts_distinct_listed_items():
    assert list_coverage(np.array([[0, 1, -1], [1, 2, -1]]), 10) == pytest.approx(3 / 10)
    assert list_coverage(np.full((2, 3), -1), 10) == 0.0


def test_coverage_weight_moves_the_tuned_blend_to_the_covering_source():
    # 4 users x 6 items, k = 1. Source a: everyone's top item is item 0; source b: user u's top item is item u.
    a = np.zeros((4, 6), np.float32)
    a[:, 0] = 1.0
    b = np.zeros((4, 6), np.float32)
    b[np.arange(4), np.arange(4)] = 1.0
    truth = sp.csr_matrix(([1.0] * 4, ([0, 1, 2, 3], [0, 0, 0, 3])), shape=(4, 6))  # u0-u2 like item 0, u3 item 3
    # a alone: hits u0, u1, u2 -> NDCG@1 = 0.75, coverage 1/6; b alone: hits u0, u3 -> 0.5, coverage 4/6
    # b wins when 0.5 + 4/6 w > 0.75 + 1/6 w, i.e. w > 0.5
    w0, v0 = tune_segment_weights({"a": a, "b": b}, truth, k=1, step=1.0)
    assert w0 == {"a": 1.0, "b": 0.0} and v0 == pytest.approx(0.75)
    w_low, v_low = tune_segment_weights({"a": a, "b": b}, truth, k=1, step=1.0, coverage_weight=0.4)
    assert w_low == {"a": 1.0, "b": 0.0} and v_low == pytest.approx(0.75 + 0.4 / 6)
    w_high, v_high = tune_segment_weights({"a": a, "b": b}, truth, k=1, step=1.0, coverage_weight=1.0)
    assert w_high == {"a": 0.0, "b": 1.0} and v_high == pytest.approx(0.5 + 4 / 6)
