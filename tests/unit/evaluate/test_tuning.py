"""Like-for-like baselines: the tuning picks the validation optimum, on the validation split carved from training."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from coldrec.evaluate import baselines as B
from coldrec.evaluate.dataset import load_dataset
from coldrec.evaluate.harness import Prepared, build_context, evaluate_method
from coldrec.evaluate.splits import make_split
from coldrec.evaluate.tuning import EASERecency, Tuned, tuned_baselines
from tests.unit.evaluate.test_evaluate_harness import make_landing


class Probe(B.Method):
    """A fixture method whose validation quality is known by construction: it reads the ground truth of the split it
    is fitted on (``ctx.truth``) and ranks those items first (``quality=2``: NDCG 1), last (``1``) or not at all
    (``0``: zeros everywhere, ties broken towards low item indices). Every context it saw is recorded."""

    name = "probe"
    seen: ClassVar[list] = []

    def __init__(self, quality: int) -> None:
        self.quality = quality

    def fit_context(self, ctx) -> Probe:
        Probe.seen.append((self.quality, ctx))
        self.ctx = ctx
        self.row = {int(u): r for r, u in enumerate(ctx.eval_users)}
        return self

    def score(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        out = np.zeros((len(users), self.ctx.view.n_items), dtype=np.float32)
        if self.quality == 0:
            return out
        full = self.ctx.truth.toarray()
        sign = 1.0 if self.quality == 2 else -1.0
        for r, u in enumerate(users):
            if int(u) in self.row:
                out[r] = sign * full[self.row[int(u)]]
        return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return Prepared.build(load_dataset(make_landing(tmp_path_factory.mktemp("tuning"))))


def test_tuning_picks_the_validation_optimum_and_never_sees_the_test(prepared: Prepared) -> None:
    Probe.seen = []
    ctx = build_context(prepared, "warm", seed=3)
    tuned = Tuned(Probe, {"quality": (0, 1, 2)})
    evaluate_method(tuned, ctx, (2,))
    assert tuned.chosen["quality"] == 2
    assert tuned.chosen["validation_ndcg@10"] == pytest.approx(1.0)  # truth ranked first: ideal DCG
    assert tuned.validation["quality=2"] == pytest.approx(1.0)
    assert tuned.validation["quality=1"] < 1.0
    # three validation fits, then the final one on the real split
    assert [q for q, _ in Probe.seen] == [0, 1, 2, 2]
    validation = Probe.seen[0][1]
    expected = make_split("warm", ctx.split.train, 4, 0.2)  # seed + 1: ColdrecMethod's validation split
    assert validation.split.test.index.equals(expected.test.index)
    assert not validation.split.test.index.isin(ctx.split.test.index).any()  # carved from training only
    assert Probe.seen[-1][1] is ctx


def test_ties_keep_the_earlier_setting(prepared: Prepared) -> None:
    ctx = build_context(prepared, "warm", seed=3)
    tuned = Tuned(Probe, {"quality": (2, 2)})  # two identical optima
    tuned.fit_context(ctx)
    assert tuned.chosen["quality"] == 2 and list(tuned.validation) == ["quality=2"]


def test_ease_recency_on_a_hand_worked_history(prepared: Prepared) -> None:
    """EASE + recency scores the history weighted 0.5 ** (later positives / half-life)."""
    ctx = build_context(prepared, "warm", seed=3)
    plain = EASERecency(l2=10.0, half_life=None).fit_context(ctx)
    decayed = EASERecency(l2=10.0, half_life=1.0).fit_context(ctx)
    pos = ctx.train_frame[ctx.train_frame["positive"]].sort_values(["ts", "_order"])
    user = pos["user_id"].value_counts().index[0]  # a user with several positives
    u = int(prepared.enc.users(np.array([user]))[0])
    items = prepared.enc.items(pos.loc[pos["user_id"] == user, "item_id"])
    n = len(items)
    weights = np.zeros(prepared.enc.n_items)
    weights[items] = 0.5 ** (n - 1 - np.arange(n))  # the latest positive weighs 1, the one before 1/2, ...
    B_full = plain.ease.B_rows
    history = ctx.view.X[[u]]
    np.testing.assert_allclose(plain.score(np.array([u]), history)[0], history.toarray()[0] @ B_full, rtol=1e-5)
    np.testing.assert_allclose(decayed.score(np.array([u]), history)[0], weights @ B_full, rtol=1e-4, atol=1e-6)


def test_tuned_baselines_report_their_settings(prepared: Prepared) -> None:
    from coldrec.evaluate.harness import run_harness

    methods = [m for m in tuned_baselines() if m.name in ("ease", "item_knn", "ease_recency", "popularity")]
    res = run_harness(prepared, methods, ["warm"], (3,), seed=2)
    assert set(res.tuned) == {"ease", "item_knn", "ease_recency"}
    assert set(res.tuned["item_knn"]["warm"]) == {"neighbors", "shrink", "validation_ndcg@10"}
    assert res.tuned["ease"]["warm"]["l2"] in (10.0, 50.0, 200.0, 500.0, 1000.0, 3000.0, 10000.0)


@pytest.mark.parametrize(
    ("grid", "peak", "expected", "validated"),
    [
        # optimum past the top edge: 600 and 1800 are better, 5400 is worse -> 1800
        ({"l2": (10.0, 50.0, 200.0)}, 1800.0, 1800.0, [10.0, 50.0, 200.0, 600.0, 1800.0, 5400.0]),
        # far past it: at most MAX_EXTENSIONS (3) steps -> 5400
        ({"l2": (10.0, 50.0, 200.0)}, 1e9, 5400.0, [10.0, 50.0, 200.0, 600.0, 1800.0, 5400.0]),
        # inside the grid: nothing more is validated
        ({"l2": (10.0, 50.0, 200.0)}, 50.0, 50.0, [10.0, 50.0, 200.0]),
        # past the bottom edge of an integer setting: 20 / 2 = 10, 10 / 2 = 5, then round(2.5) = 2 is worse -> 5
        ({"neighbors": (20, 50)}, 5.0, 5, [20, 50, 10, 5, 2]),
    ],
)
def test_a_grid_edge_optimum_is_followed_past_the_edge(prepared, grid, peak, expected, validated, monkeypatch):
    """The validation NDCG is a known function of the setting, peaked at ``peak`` (log scale): the tuning must
    follow the optimum past the grid's edge, one factor step at a time, and stop where it gets worse."""
    name = next(iter(grid))
    # the setting itself is only read by the stubbed validation
    tuned = Tuned(lambda **setting: Probe(2), grid, extend={name: 3.0 if name == "l2" else 2.0})
    seen: list[float] = []

    def validate(setting, vctx) -> float:
        seen.append(setting[name])
        return -abs(np.log(setting[name]) - np.log(peak))

    monkeypatch.setattr(tuned, "_validate", validate)
    tuned.fit_context(build_context(prepared, "warm", seed=3))
    assert seen == pytest.approx(validated)
    assert tuned.chosen[name] == pytest.approx(expected)
    assert type(tuned.chosen[name]) is type(grid[name][0])
    assert len(tuned.validation) == len(validated)
