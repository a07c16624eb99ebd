"""The nightly backtest's Spark NDCG / hit rate equal the ranking core's metrics on the same lists and positives.

Why: the backtest (:func:`coldrec.publish.backtest`) stays a Spark expression (yesterday's lists are a table), but
there is one definition of NDCG in coldrec (:mod:`coldrec.ranking.metrics`); this pins the two together on a
random fixture with short lists, lists longer than k, users without positives and positives outside every list.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.ranking.metrics import RankedLists
from tests.unit.publish.test_publish import _events, _lists

pytestmark = pytest.mark.spark

D = dt.date(2026, 11, 2)


def test_backtest_equals_the_shared_ranking_metrics(spark) -> None:
    from coldrec.publish import backtest

    rng = np.random.default_rng(11)
    n_users, n_items, k = 40, 30, 5
    lists, events = [], []
    top = np.full((n_users, k), -1, dtype=np.int64)
    truth = sp.lil_matrix((n_users, n_items), dtype=np.float32)
    for u in range(n_users):
        length = int(rng.integers(1, 9))  # some lists shorter than k, some longer
        items = rng.choice(n_items, size=length, replace=False)
        lists += [(f"u{u}", r + 1, f"i{i}", 1.0 / (r + 1)) for r, i in enumerate(items)]
        top[u, : min(length, k)] = items[:k]
        for i in rng.choice(n_items, size=int(rng.integers(0, 4)), replace=False):  # 0-3 positives, any item
            events.append((f"u{u}", f"i{i}", "purchase", None, False, D))
            truth[u, i] = 1.0
    events.append(("nobody", "i1", "purchase", None, False, D))  # a positive without a list: not evaluated
    got = backtest(_lists(spark, lists, D - dt.timedelta(days=1)), _events(spark, events), k)

    shared = RankedLists.build(top, sp.csr_matrix(truth))
    assert got["backtest_users"] == shared.evaluated.sum() > 10
    assert got["backtest_ndcg"] == pytest.approx(shared.mean("ndcg", k), abs=1e-12)
    assert got["backtest_hit_rate"] == pytest.approx(shared.mean("hit_rate", k), abs=1e-12)
    assert 0 < got["backtest_hit_rate"] < 1  # the fixture has hits and misses
