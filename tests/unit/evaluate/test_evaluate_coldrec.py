"""coldrec as a harness method: recency weighting of the history, the half-life choice, and a run on tiny data."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldrec.config import RecommendConfig, TrainConfig
from coldrec.evaluate.coldrec_method import ColdrecMethod
from coldrec.evaluate.dataset import load_dataset
from coldrec.evaluate.harness import Prepared, run_harness
from coldrec.ranking.encode import Encoder
from coldrec.ranking.recency import frame_recency_rank, recency_history
from coldrec.ranking.sources import ItemKNNSource, UserBatch
from tests.unit.evaluate.test_evaluate_harness import make_landing


def _frame() -> pd.DataFrame:
    # u1: i1 (day 1), i2 (day 3), i3 (day 2) -> latest i2; u2: two rows at one instant, the log order decides;
    # u2 sees i1 twice: the pair keeps its latest (largest) weight
    ts = pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-05", "2024-01-05", "2024-01-01"], utc=True)
    return pd.DataFrame({"user_id": ["u1", "u1", "u1", "u2", "u2", "u2"],
                         "item_id": ["i1", "i2", "i3", "i1", "i2", "i1"],
                         "ts": ts, "_order": [0, 1, 2, 4, 3, 5]})  # fmt: skip


def test_recency_rank_counts_the_users_later_rows():
    assert frame_recency_rank(_frame()).tolist() == [2, 0, 1, 0, 1, 2]


def test_recency_history_by_hand():
    enc = Encoder(np.array(["u1", "u2"], dtype=object), np.array(["i1", "i2", "i3"], dtype=object))
    W = recency_history(_frame(), enc, half_life=2.0).toarray()
    expected = np.array([[0.5**1.0, 1.0, 0.5**0.5], [1.0, 0.5**0.5, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(W, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="half_life"):
        recency_history(_frame(), enc, half_life=0.0)


def test_linear_sources_read_the_weighted_signal():
    S = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 2], [1, 0, 0]], dtype=np.float32))
    history = sp.csr_matrix(np.array([[1, 1, 0]], dtype=np.float32))
    signal = sp.csr_matrix(np.array([[0.25, 1, 0]], dtype=np.float32))
    src = ItemKNNSource(S)
    plain = UserBatch(np.array([0]), history, None, np.zeros(1, dtype=np.int64))
    weighted = UserBatch(np.array([0]), history, None, np.zeros(1, dtype=np.int64), signal)
    assert src.block(plain).numpy().tolist() == [[0.0, 1.0, 2.0]]
    assert src.block(weighted).numpy().tolist() == [[0.0, 0.25, 2.0]]
    assert weighted.n_history.tolist() == [2]  # segments still count interactions, not weights


def _method(half_lives=(None, 5.0, 10.0)) -> ColdrecMethod:
    return ColdrecMethod(TrainConfig(), RecommendConfig(), log=lambda *_: None, use_models=False,
                         half_lives=half_lives)  # fmt: skip


@pytest.mark.parametrize(
    ("per_fold", "expected"),
    [
        ([{None: 0.20, 5.0: 0.30, 10.0: 0.25}, {None: 0.20, 5.0: 0.10, 10.0: 0.25}], 10.0),  # best mean, not fold 0
        ([{None: 0.20, 5.0: 0.20, 10.0: 0.10}], None),  # a tie keeps the plain history
        ([{}], None),  # nothing to measure (no history source): the first entry
    ],
)
def test_half_life_is_the_best_mean_over_the_folds(per_fold, expected, monkeypatch: pytest.MonkeyPatch):
    m = _method()
    answers = iter(per_fold)
    monkeypatch.setattr(m, "_half_life_ndcg", lambda fold: (vars(fold).update(reference="ease"), next(answers))[1])
    m._choose_half_life("warm", [SimpleNamespace(reference=None) for _ in per_fold])
    assert m.half_life == expected


def test_coldrec_without_models_on_every_split(tmp_path: Path):
    """The whole protocol on tiny data: validation folds, half-life choice, blend weights, test ranking."""
    p = Prepared.build(load_dataset(make_landing(tmp_path)))
    method = _method()
    res = run_harness(p, [method], splits=("warm", "cold_user", "cold_item"), ks=(3,), seed=3)
    for split in ("warm", "cold_user", "cold_item"):
        ndcg = res.value("coldrec", split, "ndcg", 3)
        assert ndcg is not None and 0.0 <= ndcg <= 1.0
        report = method.reports[split]
        assert report["half_life"] in (None, 5.0, 10.0)
    # only the temporal split asks what comes next: the random hold-outs keep the plain history
    assert method.reports["cold_user"]["half_life"] is None and method.reports["cold_item"]["half_life"] is None
    assert method.reports["cold_item"]["half_life_validation_ndcg@10"] == {}
    assert set(method.reports["warm"]["half_life_validation_ndcg@10"]) == {"None", "5.0", "10.0"}


def test_the_harness_tunes_the_blend_with_the_nightly_objective(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The blend is tuned on NDCG@10 + ``recommend.coverage_weight`` x coverage in the harness as in the nightly
    (one ranking path), and :meth:`ColdrecMethod.tune_on` re-tunes the same folds with another weight."""
    import coldrec.evaluate.coldrec_method as cm
    from coldrec.evaluate.harness import build_context
    from tests.unit.recommend.test_one_ranking_path import _landing

    seen: list[float] = []
    real = cm.tune_segment_weights

    def spy(*args, **kwargs):
        seen.append(kwargs["coverage_weight"])
        return real(*args, **kwargs)

    monkeypatch.setattr(cm, "tune_segment_weights", spy)
    method = ColdrecMethod(TrainConfig(), RecommendConfig(coverage_weight=0.7), log=lambda *_: None,
                           use_models=False, half_lives=(None,))  # fmt: skip
    ctx = build_context(Prepared.build(load_dataset(_landing(tmp_path))), "warm", seed=3)  # 60 users
    method.fit_context(ctx)
    assert seen and set(seen) == {0.7}
    seen.clear()
    setups, folds = method.tuning_folds(ctx)
    method.tune_on(setups, folds, 0.0)
    assert seen and set(seen) == {0.0}
