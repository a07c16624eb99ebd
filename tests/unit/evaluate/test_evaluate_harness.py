"""The evaluation harness end to end on a tiny hand-made landing folder, the CLI, and the published anchor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldrec.evaluate import baselines as B
from coldrec.evaluate.dataset import detect_format, interactions, load_dataset
from coldrec.evaluate.harness import Prepared, build_context, run_harness


def _write(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def tiny_landing(tmp_path: Path) -> Path:
    return make_landing(tmp_path)


def make_landing(tmp_path: Path) -> Path:
    """10 users x 8 items over 4 days; ratings (>=4 positive), purchases (positive) and views (not)."""
    root = tmp_path / "landing"
    rng = np.random.default_rng(5)
    events = []
    for u in range(10):
        liked = rng.choice(8, size=5, replace=False)
        for j, i in enumerate(liked):
            day = 1 + j % 4
            kind = ["rating", "purchase", "view"][(u + j) % 3]
            ev = {"event_id": f"e{u}-{i}", "user_id": f"u{u}", "item_id": f"i{i}", "event_type": kind,
                  "ts": f"2024-01-0{day}T{10 + j:02d}:00:00Z"}  # fmt: skip
            if kind == "rating":
                ev["rating"] = float(3 + (u + i) % 3)  # 3, 4 or 5
            events.append((day, ev))
    for day in range(1, 5):
        _write(root / "events" / f"date=2024-01-0{day}", [e for d, e in events if d == day])
    _write(root / "items", [{"item_id": f"i{i}", "title": f"Item {i}", "category_path": f"Shop>{'AB'[i % 2]}>x{i}",
                             "brand": None, "price": 10.0 + i} for i in range(8)])  # fmt: skip
    _write(root / "users", [{"user_id": f"u{u}", "age": 20 + 5 * u, "gender": "MF"[u % 2]} for u in range(10)])
    return root


def test_landing_is_read_and_positives_follow_the_rules(tiny_landing: Path):
    assert detect_format(tiny_landing) == "landing"
    ds = load_dataset(tiny_landing)
    assert len(ds.events) == 50 and len(ds.items) == 8 and len(ds.users) == 10
    inter = interactions(ds, min_rating=4.0)
    ev = ds.events.set_index(["user_id", "item_id"])
    for row in inter.itertuples():
        e = ev.loc[(row.user_id, row.item_id)]
        expected = e["rating"] >= 4 if e["event_type"] == "rating" else e["event_type"] == "purchase"
        assert bool(row.positive) == bool(expected)


def test_popularity_on_cold_users_matches_an_independent_computation(tiny_landing: Path):
    ds = load_dataset(tiny_landing)
    p = Prepared.build(ds)
    res = run_harness(p, [B.Popularity()], splits=("cold_user",), ks=(3,), seed=11)
    ours = res.value("popularity", "cold_user", "ndcg", 3)
    # independent: count training positives per item with pandas, rank (ties by item index), NDCG by loop
    ctx = build_context(p, "cold_user", 11)
    train = ctx.split.train
    counts = train[train.positive].groupby("item_id").size().reindex(p.enc.item_ids, fill_value=0).to_numpy()
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], i))
    test = ctx.split.test[ctx.split.test.positive]
    vals = []
    for _, grp in test.groupby("user_id"):
        rel = set(p.enc.items(grp.item_id))
        top = order[:3]
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(top) if i in rel)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), 3)))
        vals.append(dcg / idcg)
    # with seed 11 the top-3 counts are distinct and differ from the 4th, so the top-3 is unambiguous
    assert len(set(counts[order[:4]].tolist())) == 4, counts[order]
    assert ours == pytest.approx(np.mean(vals))
    assert 0.0 <= ours <= 1.0
    rows = res.frame()
    assert set(rows.columns) == {"method", "split", "metric", "k", "value"}
    assert set(rows.metric) - {"cold_item_hit_rate", "cross_category_pair_hit_rate"} == {
        "precision", "recall", "ndcg", "map", "hit_rate", "coverage", "novelty", "cross_category_hit_rate"
    }  # fmt: skip


def test_splits_and_masks_of_each_kind(tiny_landing: Path):
    p = Prepared.build(load_dataset(tiny_landing))
    warm = build_context(p, "warm", 1)
    assert warm.exclude is not None and warm.candidates is None
    # a warm user's test item is never among its excluded (training) items
    assert warm.truth.multiply(warm.exclude).nnz == 0
    cold_item = build_context(p, "cold_item", 1)
    assert cold_item.candidates is not None and cold_item.candidates.sum() == len(cold_item.split.held_out_items)
    assert cold_item.view.X[:, cold_item.candidates].nnz == 0  # held-out items have no training interaction
    cold_user = build_context(p, "cold_user", 1)
    held = p.enc.users(pd.Series(sorted(cold_user.split.held_out_users)))
    assert cold_user.view.X[held].nnz == 0


def test_cli_writes_table_json_and_report(tiny_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from coldrec.cli import app

    monkeypatch.setenv("COLDREC_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "evaluate", "--dataset", str(tiny_landing), "--no-coldrec", "--no-mlflow", "--k", "2", "--k", "3",
        "--splits", "warm,cold_user", "--methods", "popularity,segment_popularity,item_knn",
        "--json", str(tmp_path / "rows.json"), "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert {(r["method"], r["split"]) for r in rows} == {
        ("popularity", "warm"), ("segment_popularity", "warm"), ("item_knn", "warm"),
        ("popularity", "cold_user"), ("segment_popularity", "cold_user"),
    }  # fmt: skip
    assert {r["k"] for r in rows} == {2, 3}
    report = (out / "report.md").read_text()
    assert "## warm" in report and "## cold_user" in report and (out / "ndcg_at_10.png").exists() is False
    assert (out / "recall_at_k.png").exists()
    assert "NDCG@2" in result.output or "NDCG@3" in result.output


@pytest.mark.slow
def test_movielens_anchor_reproduces_published_numbers(movielens_dir: Path):
    """recommenders' ML-100K benchmark (stratified 75/25, seed 42): SAR 0.382 / 0.331 published."""
    p = Prepared.build(load_dataset(movielens_dir))
    res = run_harness(p, [B.SAR(), B.Popularity(), B.SegmentPopularity()], splits=("stratified", "cold_user"),
                      ks=(10,), seed=42)  # fmt: skip
    assert res.value("sar", "stratified", "ndcg", 10) == pytest.approx(0.382, rel=0.02)
    assert res.value("sar", "stratified", "precision", 10) == pytest.approx(0.331, rel=0.02)
    # demographics help a little on cold users (issue 6 reports 0.411 vs 0.398 with a similar protocol)
    seg = res.value("segment_popularity", "cold_user", "ndcg", 10)
    pop = res.value("popularity", "cold_user", "ndcg", 10)
    assert 0.35 < pop < seg < 0.5


def test_demographic_width_of_the_feature_matrices():
    """Users with a gender have demographic columns; users with nothing but an id have none (Amazon Beauty)."""
    import scipy.sparse as sp

    from coldrec.data import schemas as S
    from coldrec.evaluate.split_features import build_features
    from coldrec.ranking.encode import Encoder

    items = pd.DataFrame({S.ITEM_ID: ["a", "b"], S.CATEGORY_PATH: ["X>Y", "X>Z"], S.BRAND: [None, None],
                          S.TITLE: [None, None], S.DESCRIPTION: [None, None], S.PRICE: [None, None],
                          S.CREATED_AT: [None, None]})  # fmt: skip
    bare = pd.DataFrame({S.USER_ID: ["1", "2", "3"], S.GENDER: None, S.AGE: None, S.COUNTRY: None, S.REGION: None,
                         S.INTERESTS: None})  # fmt: skip
    known = bare.assign(**{S.GENDER: ["M", "F", "M"]})
    events = pd.DataFrame({S.USER_ID: ["1"], S.ITEM_ID: ["a"]})
    enc = Encoder.fit(events, items, bare)
    X = sp.csr_matrix((3, 2), dtype="float32")
    cat = np.array([0, 1])
    assert build_features(bare, items, enc, X, cat, 2, False).n_demographic == 0
    # gender: "M" (twice) passes the one-hot's min_count=2, "F" (once) does not: one column
    assert build_features(known, items, enc, X, cat, 2, False).n_demographic == 1
