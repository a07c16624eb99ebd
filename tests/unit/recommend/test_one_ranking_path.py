"""One ranking path: the harness's coldrec method ranks through the same code as the nightly lists.

The fixture's training side is handed to both: to the harness as a warm split, to the nightly planning
(:func:`coldrec.recommend.nightly.plan_nightly`) as the lake would hold it (``gold.interactions`` rows, the item-kNN
neighbours as ``gold.item_similarity``, the seen pairs as exclusions). Same blend weights, caps and slots: the lists
of the evaluated users must be the same rows (user, rank, item), scores equal up to float rounding.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coldrec.config import RecommendConfig, Settings, TrainConfig
from coldrec.data import schemas as S
from coldrec.evaluate.coldrec_method import ColdrecMethod
from coldrec.evaluate.dataset import load_dataset
from coldrec.evaluate.harness import Prepared, build_context
from coldrec.ranking.blend import BlendWeights
from coldrec.ranking.similarity import item_cosine_topk
from coldrec.recommend.nightly import NightlyInputs, plan_nightly
from tests.unit.evaluate.test_evaluate_harness import _write

WEIGHTS = {
    "new": {"popular": 1.0},
    "light": {"cf": 0.3, "ease": 0.3, "content": 0.2, "popular": 0.2},
    "heavy": {"cf": 0.3, "ease": 0.3, "content": 0.2, "popular": 0.2},
}
K = 6


def _landing(tmp_path: Path) -> Path:
    """60 users x 24 items in 4 categories (brands on most items); each user buys 7 items, mostly in two
    "home" categories, so per-category caps bite and some lists can take a cross-category slot."""
    root = tmp_path / "landing"
    rng = np.random.default_rng(7)
    events = []
    for u in range(60):
        home = rng.choice(4, size=2, replace=False)
        pool = [i for i in range(24) if i % 4 in home]
        picks = [*rng.choice(pool, size=6, replace=False), rng.integers(24)]
        for j, i in enumerate(dict.fromkeys(int(x) for x in picks)):
            day = 1 + j % 4
            events.append((day, {"event_id": f"e{u}-{i}", "user_id": f"u{u:02d}", "item_id": f"i{i:02d}",
                                 "event_type": "purchase", "ts": f"2024-01-0{day}T{10 + j:02d}:00:00Z"}))  # fmt: skip
    for day in range(1, 5):
        _write(root / "events" / f"date=2024-01-0{day}", [e for d, e in events if d == day])
    items = [{"item_id": f"i{i:02d}", "title": f"Item {i} {['red', 'blue', 'green'][i % 3]}",
              "category_path": f"Shop > {'ABCD'[i % 4]} > x{i % 2}", "brand": [None, "acme", "zeta"][i % 3],
              "price": 10.0 + i} for i in range(24)]  # fmt: skip
    _write(root / "items", items)
    _write(root / "users", [{"user_id": f"u{u:02d}", "age": 20 + u % 40, "gender": "MF"[u % 2]} for u in range(60)])
    return root


def _lists_of_both_paths(tmp_path: Path, cfg: RecommendConfig):
    p = Prepared.build(load_dataset(_landing(tmp_path)))
    ctx = build_context(p, "warm", seed=3)
    method = ColdrecMethod(TrainConfig(), cfg, log=lambda *_: None, use_models=False, half_lives=(None,))
    method.weights, method.half_life = BlendWeights(WEIGHTS), None
    method.fit_final(ctx)
    items, scores = method.ranked_lists(ctx, K)

    train = ctx.train_frame
    pos = train[train["positive"]]
    sim = item_cosine_topk(ctx.view.gram, neighbors=100).tocoo()
    inputs = NightlyInputs(
        run_date=dt.date(2024, 1, 4),
        interactions=pos[[S.USER_ID, S.ITEM_ID]].assign(weight=1.0, purchased=True, last_ts=pos[S.TS]),
        items=p.ds.items[[S.ITEM_ID, S.TITLE, S.CATEGORY_PATH, S.BRAND, S.DESCRIPTION]],
        users=p.ds.users[[S.USER_ID, S.AGE, S.GENDER]],
        similarity=pd.DataFrame(
            {"id": p.enc.item_ids[sim.row], "neighbor_id": p.enc.item_ids[sim.col], "similarity": sim.data}
        ),
        excluded=train[[S.USER_ID, S.ITEM_ID]],
        # what read_inputs gives items without created_at: each item's first event date
        first_seen=pd.to_datetime(train[S.TS], utc=True)
        .dt.tz_localize(None)
        .dt.normalize()
        .groupby(train[S.ITEM_ID].to_numpy())
        .min()
        .rename_axis(S.ITEM_ID)
        .rename("first")
        .reset_index(),
    )
    settings = Settings(recommend=cfg, top_n=K, lake_uri=str(tmp_path / "lake"), home=str(tmp_path / "home"))
    recommender, catalog, version = plan_nightly(inputs, settings)
    assert version == "none" and recommender.weights.to_dict() == WEIGHTS
    nightly = recommender.recommend(catalog)
    user_ids = p.enc.user_ids[ctx.eval_users]
    rows, cols = np.nonzero(items >= 0)
    evaluated = pd.DataFrame({"user_id": user_ids[rows], "rank": cols + 1, "item_id": p.enc.item_ids[items[rows, cols]],
                              "score": scores[rows, cols]})  # fmt: skip
    published = nightly[nightly["user_id"].isin(set(user_ids))].reset_index(drop=True)
    return evaluated, published, p


@pytest.mark.parametrize(("slots", "new_slots"), [(0, 0), (1, 0), (1, 2)])
def test_nightly_and_evaluation_give_the_same_lists(tmp_path: Path, slots: int, new_slots: int):
    # new items: first seen within 14 days of the cut (every item of the 4-day fixture), bought by at most 8 users
    # in training (6 of the 24 items)
    cfg = RecommendConfig(tune_days=0, blend_weights=WEIGHTS, per_category_cap=3, cross_category_slots=slots,
                          candidate_pool=12, recency_half_lives=[], new_item_slots=new_slots, new_item_days=14,
                          new_item_max_interactions=8)  # fmt: skip
    evaluated, published, p = _lists_of_both_paths(tmp_path, cfg)
    assert len(evaluated) > 100 and len(evaluated) == len(published)
    key = ["user_id", "rank", "item_id"]
    pd.testing.assert_frame_equal(evaluated[key], published[key], check_dtype=False)
    np.testing.assert_allclose(evaluated["score"], published["score"], rtol=1e-5, atol=1e-6)
    # the rules the lists share are exercised: the cap (3 per category) holds and binds, and the cross-category
    # slot, when there is one, is taken by some lists
    category = dict(zip(p.ds.items[S.ITEM_ID], p.ds.items[S.CATEGORY_PATH].str.split(">").str[1].str.strip(),
                        strict=True))  # fmt: skip
    per_category = published.assign(cat=published["item_id"].map(category)).groupby(["user_id", "cat"]).size()
    assert per_category.max() == 3
    assert ((published["source"] == "cross_category").sum() > 0) == (slots > 0)
    # the new-item slots, when there are any, are taken by some lists (and by the same rows on both paths)
    assert ((published["source"] == "new_item").sum() > 0) == (new_slots > 0)
