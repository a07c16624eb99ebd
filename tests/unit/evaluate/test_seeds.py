"""Seeds summary: t-intervals worked out with scipy by hand, paired ratios, verdicts, and the CLI's --seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from coldrec.evaluate.harness import HarnessResult
from coldrec.evaluate.seeds import segment_markdown, summarize, t_interval, verdict


def _result(seed: int, coldrec: float, ease: float, pop: float) -> HarnessResult:
    rows = [{"method": m, "split": "warm", "metric": "ndcg", "k": 10, "value": v}
            for m, v in (("coldrec", coldrec), ("ease", ease), ("popularity", pop))]  # fmt: skip
    return HarnessResult("toy", rows, [], {"warm": {}}, seed=seed,
                         tuned={"ease": {"warm": {"l2": 100.0 * seed}}})  # fmt: skip


def test_t_interval_by_hand() -> None:
    x = [0.30, 0.32, 0.31, 0.35, 0.29]
    mean = sum(x) / 5
    std = (sum((v - mean) ** 2 for v in x) / 4) ** 0.5
    half = 2.7764451051977987 * std / 5**0.5  # t(0.975, 4) from tables
    m, s, lo, hi = t_interval(x)
    assert m == pytest.approx(mean) and s == pytest.approx(std)
    assert lo == pytest.approx(mean - half) and hi == pytest.approx(mean + half)
    m1, s1, lo1, _ = t_interval([0.4])
    assert m1 == 0.4 and np.isnan(s1) and np.isnan(lo1)


def test_verdicts() -> None:
    assert verdict(1.12, 1.3, 1.1) == "met"
    assert verdict(0.9, 1.05, 1.1) == "not met"
    assert verdict(1.0, 1.2, 1.1) == "open"
    assert verdict(float("nan"), float("nan"), 1.1) == "-"
    assert verdict(1.0, 1.2, None) == "-"


def test_paired_ratio_against_the_baseline_best_on_average() -> None:
    # ease has the best mean (0.2); popularity wins seed 3 alone: the ratio stays paired with ease
    results = [_result(1, 0.22, 0.20, 0.10), _result(2, 0.21, 0.19, 0.10), _result(3, 0.20, 0.21, 0.22)]
    summary = summarize(results)
    (r,) = summary.ratios
    assert r["best_baseline"] == "ease"
    per_seed = [0.22 / 0.20, 0.21 / 0.19, 0.20 / 0.21]
    assert r["ratios"] == pytest.approx(per_seed)
    mean, std, lo, hi = t_interval(per_seed)
    assert (r["ratio"], r["ratio_std"], r["ratio_low"], r["ratio_high"]) == pytest.approx((mean, std, lo, hi))
    assert r["goal"] == 1.0 and r["verdict"] == "open"  # lo < 1.0 < hi for these three seeds
    assert lo < 1.0 < hi
    row = next(m for m in summary.metrics if m["method"] == "coldrec")
    assert row["n"] == 3 and row["mean"] == pytest.approx(0.21)
    assert [c["l2"] for c in summary.tuned["ease"]["warm"]] == [100.0, 200.0, 300.0]


def test_cli_seeds_and_few_shot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from coldrec.cli import app
    from tests.unit.evaluate.test_evaluate_harness import make_landing

    landing = make_landing(tmp_path)
    monkeypatch.setenv("COLDREC_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "evaluate", "--dataset", str(landing), "--no-coldrec", "--no-mlflow", "--k", "3", "--seeds", "2",
        "--splits", "warm,few_shot_1", "--methods", "popularity,ease", "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())
    assert {r["seed"] for r in rows} == {42, 43}
    assert {r["split"] for r in rows} == {"warm", "few_shot_1"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [42, 43]
    assert {m["n"] for m in summary["metrics"]} == {2}
    assert set(summary["tuned"]["ease"]) == {"warm", "few_shot_1"}
    report = (out / "report.md").read_text()
    assert "Tuned baseline settings" in report


def test_slot_effect_is_paired_by_seed() -> None:
    def res(seed: int, cap_x: float, slot_x: float, cap_n: float, slot_n: float) -> HarnessResult:
        rows = [{"method": m, "split": "warm", "metric": metric, "k": 10, "value": v}
                for m, metric, v in (("coldrec+cap", "cross_category_pair_hit_rate", cap_x),
                                     ("coldrec+cap+slots", "cross_category_pair_hit_rate", slot_x),
                                     ("coldrec+cap", "ndcg", cap_n), ("coldrec+cap+slots", "ndcg", slot_n),
                                     ("coldrec", "ndcg", cap_n), ("ease", "ndcg", 0.1))]  # fmt: skip
        return HarnessResult("toy", rows, [], {"warm": {}}, seed=seed)

    summary = summarize([res(1, 0.10, 0.16, 0.30, 0.29), res(2, 0.20, 0.30, 0.20, 0.20)])
    xcat = next(r for r in summary.slots if r["metric"] == "cross_category_pair_hit_rate")
    assert xcat["ratio"] == pytest.approx((1.6 + 1.5) / 2)
    ndcg = next(r for r in summary.slots if r["metric"] == "ndcg")
    assert ndcg["ratio"] == pytest.approx((0.29 / 0.30 + 1.0) / 2)
    assert summary.ratios[0]["best_baseline"] == "ease"  # the list variants are not baselines


def test_gan_effect_is_coldrec_over_its_nogan_fit_paired_by_seed() -> None:
    def res(seed: int, with_gan: float, without: float) -> HarnessResult:
        rows = [{"method": m, "split": "few_shot_3", "metric": "ndcg", "k": 10, "value": v}
                for m, v in (("coldrec", with_gan), ("coldrec-nogan", without), ("item_knn", 0.3))]  # fmt: skip
        return HarnessResult("toy", rows, [], {"few_shot_3": {}}, seed=seed)

    summary = summarize([res(1, 0.42, 0.40), res(2, 0.38, 0.40)])
    (gan,) = summary.gan
    assert gan["ratio"] == pytest.approx((1.05 + 0.95) / 2) and gan["split"] == "few_shot_3"
    assert summary.ratios[0]["best_baseline"] == "item_knn"
    assert any("without the GAN" in line for line in segment_markdown(summary))


def test_seed_files_round_trip(tmp_path: Path) -> None:
    from coldrec.evaluate.report import write_json_rows
    from coldrec.evaluate.seeds import load_seed_files

    for r in (_result(2, 0.21, 0.19, 0.1), _result(10, 0.22, 0.20, 0.1)):
        write_json_rows(
            {"seed": r.seed, "rows": r.rows, "tuned": r.tuned, "notes": []}, tmp_path / f"seed-{r.seed}.json"
        )
    loaded = load_seed_files(tmp_path, "toy")
    assert [r.seed for r in loaded] == [2, 10]  # numeric order, not "10" < "2"
    assert summarize(loaded).ratios[0]["ratios"] == pytest.approx([0.21 / 0.19, 0.22 / 0.20])


def test_merge_by_seed_joins_splits_of_separate_runs() -> None:
    from coldrec.evaluate.seeds import merge_by_seed

    a = _result(5, 0.2, 0.1, 0.1)
    b = HarnessResult("toy", [dict(r, split="few_shot_1") for r in a.rows], [], {"few_shot_1": {}}, seed=5)
    c = _result(4, 0.2, 0.1, 0.1)
    merged = merge_by_seed([a, b, c])
    assert [m.seed for m in merged] == [4, 5]
    assert {r["split"] for r in merged[1].rows} == {"warm", "few_shot_1"} and len(merged[1].rows) == 6
