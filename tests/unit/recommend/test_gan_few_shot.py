"""The GAN source for few-shot users (``recommend.gan_max_history``) and the ``coldrec-nogan`` ablation, by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.evaluate.published import WithoutSource
from coldrec.ranking.blend import BlendWeights
from coldrec.ranking.sources import GanCFSource, UserBatch

# 3 items; the similarity sends item 0 -> item 1 and item 2 -> item 2
S = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 0], [0, 0, 1]], dtype=np.float32))
PSEUDO = np.array([0.0, 0.0, 0.5], dtype=np.float32)  # the generator always proposes item 2


def _models():
    return SimpleNamespace(gan_interactions=lambda f, n_samples=8, seed=0: np.tile(PSEUDO, (len(f), 1)))


def _batch() -> UserBatch:
    history = sp.csr_matrix(np.array([[0, 0, 0], [2, 0, 0], [1, 1, 1]], dtype=np.float32))  # 0, 1 and 3 items
    return UserBatch(np.arange(3), history, np.zeros((3, 2), np.float32), np.zeros(3, np.int64))


def test_gan_serves_cold_users_only_by_default():
    block = GanCFSource(_models(), S).block(_batch()).numpy()
    np.testing.assert_allclose(block, [[0, 0, 0.5], [0, 0, 0], [0, 0, 0]])


def test_gan_densifies_short_histories_with_behaviour_of_the_same_mass():
    block = GanCFSource(_models(), S, max_history=1).block(_batch()).numpy()
    # user 1: history (2, 0, 0) + the generated (0, 0, 0.5) scaled to mass 2 -> (2, 0, 2); x S -> (0, 2, 2)
    # user 2 has 3 items: more than max_history, left to the history sources
    np.testing.assert_allclose(block, [[0, 0, 0.5], [0, 2, 2], [0, 0, 0]])


def test_without_gan_drops_its_weight_and_falls_back_when_nothing_is_left():
    inner = SimpleNamespace(name="coldrec", needs_history=False, scores_cold_items=True,
                            weights=BlendWeights({"new": {"gan": 1.0}, "light": {"cf": 0.6, "gan": 0.4}}))  # fmt: skip
    got = WithoutSource(inner, "gan", name="coldrec-nogan").weights().to_dict()  # type: ignore[arg-type]
    assert got == {"new": {"popular": 1.0}, "light": {"cf": 0.6}}


def test_cross_category_slot_count_is_the_most_within_the_ndcg_budget():
    """100 users, each with one hold-out item; with n slots, k(n) users find it second instead of first (NDCG
    1 - k x 0.369 / 100). Budget 3%: n = 2 (k 8, 2.95% cost) fits, n = 3 (k 9, 3.3%) does not, n = 4 (k 4) fits
    again: the most slots within the budget is 4; with a 1% budget only n = 1 (0.74%) fits."""
    import dataclasses

    from coldrec.config import RecommendConfig
    from coldrec.recommend.tuning import tune_cross_category_slots

    truth = sp.csr_matrix((np.ones(100, np.float32), (np.arange(100), np.zeros(100, int))), shape=(100, 5))

    def lists(k: int) -> np.ndarray:
        top = np.tile(np.array([0, 1, 2, 3]), (100, 1))
        top[:k] = [1, 0, 2, 3]
        return top

    @dataclasses.dataclass
    class FakeRanker:
        cfg: RecommendConfig

        def top_items(self, catalog):
            return lists({0: 0, 1: 2, 2: 8, 3: 9, 4: 4}[self.cfg.cross_category_slots]), None

    for budget, expected in ((0.03, 4), (0.01, 1)):
        cfg = RecommendConfig(cross_category_max_slots=4, cross_category_max_ndcg_cost=budget)
        ranker, figures = tune_cross_category_slots(FakeRanker(cfg), None, truth)  # type: ignore[arg-type]
        assert ranker.cfg.cross_category_slots == expected and figures["cross_category_slots"] == expected
        assert figures["tune_ndcg_at_10_cross_slots_0"] == pytest.approx(1.0)
        assert figures["tune_ndcg_at_10_cross_slots_3"] == pytest.approx(1 - 9 * (1 - 1 / np.log2(3)) / 100)


def test_without_gan_ranks_with_the_blend_tuned_without_it_when_there_is_one():
    retuned = BlendWeights({"light": {"cf": 0.3, "popular": 0.7}})
    inner = SimpleNamespace(name="coldrec", needs_history=False, scores_cold_items=True,
                            weights=BlendWeights({"light": {"cf": 0.6, "gan": 0.4}}),
                            ablation_weights={"gan": retuned})  # fmt: skip
    assert WithoutSource(inner, "gan").weights() is retuned  # type: ignore[arg-type]
