"""Report pieces on a hand-made result: goal ratios, anchor comparison, JSON rows, Markdown and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coldrec.evaluate import report
from coldrec.evaluate.harness import HarnessResult


def _result() -> HarnessResult:
    rows = []
    values = {
        ("ease", "warm"): 0.20, ("popularity", "warm"): 0.10, ("coldrec", "warm"): 0.21,
        ("segment_popularity", "cold_user"): 0.40, ("coldrec", "cold_user"): 0.40,
        ("category_popularity", "cold_item"): 0.18, ("content", "cold_item"): 0.14, ("coldrec", "cold_item"): 0.27,
        ("sar", "stratified"): 0.3819, ("bpr_cornac", "stratified"): 0.4125,
    }  # fmt: skip
    for (method, split), v in values.items():
        for metric in ("ndcg", "precision"):
            rows.append({"method": method, "split": split, "metric": metric, "k": 10, "value": v})
    sizes = {s: {"eval_users": 10, "train_positives": 100, "test_positives": 20, "candidates": 50}
             for s in ("warm", "cold_user", "cold_item", "stratified")}  # fmt: skip
    return HarnessResult("toy", rows, [{"method": "ease", "split": "warm", "fit_s": 1.0, "score_s": 0.5}], sizes)


def test_goal_ratios_by_hand():
    ratios = {r["split"]: r for r in report.goal_ratios(_result())}
    assert ratios["warm"]["best_baseline"] == "ease" and ratios["warm"]["ratio"] == pytest.approx(0.21 / 0.20)
    assert ratios["warm"]["met"] is True  # goal 1.0x
    assert ratios["cold_user"]["ratio"] == pytest.approx(1.0) and ratios["cold_user"]["met"] is False  # goal 1.05x
    assert ratios["cold_item"]["ratio"] == pytest.approx(0.27 / 0.18) and ratios["cold_item"]["met"] is True
    # the stratified anchor has no coldrec row and no goal
    assert ratios["stratified"]["coldrec"] is None and ratios["stratified"]["goal"] is None


def test_anchor_rows_compare_with_published():
    anchors = {(a["method"], a["metric"]): a for a in report.anchor_rows(_result())}
    assert anchors[("sar", "ndcg@10")]["published"] == 0.382
    assert anchors[("sar", "ndcg@10")]["relative"] == pytest.approx(0.3819 / 0.382)
    assert anchors[("bpr_cornac", "precision@10")]["published"] == 0.388


def test_json_markdown_and_plots(tmp_path: Path):
    res = _result()
    path = report.write_json(res, tmp_path / "rows.json")
    assert json.loads(path.read_text()) == res.rows
    md = report.write_markdown(res, tmp_path / "run", "coldrec evaluate --dataset toy").read_text()
    assert "| warm | 0.2100 | ease 0.2000 | 1.05x | 1.0x | yes |" in md
    assert "| **coldrec** |" in md and "**0.2700**" in md  # coldrec row bold; best value bold
    assert (tmp_path / "run" / "ndcg_at_10.png").stat().st_size > 1000
    table = report.pivot(res, "cold_item")
    assert list(table.columns) == ["P@10", "NDCG@10"]
    assert table.loc["content", "NDCG@10"] == pytest.approx(0.14)
