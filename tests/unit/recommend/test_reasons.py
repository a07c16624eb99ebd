"""Reasons are true: an EASE row names the history item that drove its EASE score (never an item-kNN neighbour
that did not), and is labelled ``ease``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from coldrec.config import RecommendConfig
from coldrec.ranking.blend import BlendWeights
from coldrec.ranking.lists import Catalog
from coldrec.ranking.sources import EASESource, ItemKNNSource
from coldrec.recommend.reasons import ease_anchor, reason_texts
from coldrec.recommend.rows import Recommender


def test_ease_anchor_is_the_largest_positive_term_of_the_ease_score():
    # 4 items, EASE kept items 0, 1, 2 (item 3 outside EASE); row 0 has item 0 (weight 1) and item 2 (weight 2)
    history = sp.csr_matrix(np.array([[1.0, 0, 2.0, 0], [0, 0, 0, 0]], dtype=np.float32))
    B = np.zeros((4, 3), dtype=np.float32)  # B_rows: items x kept items
    B[0, 1], B[2, 1] = 0.5, 0.3  # (row0, item1): terms 1*0.5 = 0.5 and 2*0.3 = 0.6 -> item 2 (weight matters)
    B[2, 0] = -0.3  # (row0, item0): terms 0 and -0.6: nothing positive -> no anchor
    B[0, 2] = 0.2  # (row0, item2): term 0.2 from item 0
    keep_pos = np.array([0, 1, 2, -1])
    got = ease_anchor(np.array([0, 0, 0, 0, 1]), np.array([1, 0, 2, 3, 1]), history, B, keep_pos)
    assert got.tolist() == [2, -1, 0, -1, -1]  # item 3 is outside EASE; row 1 has no history


def test_ease_rows_are_labelled_ease_and_explained_by_ease_weights_not_knn():
    # user0 bought item0 (A) and viewed item2 (C); item-kNN says item1 comes from item0 (0.8), EASE from item2
    history = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    bought = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    knn = sp.csr_matrix((np.array([0.8, 0.1], dtype=np.float32), ([0, 2], [1, 1])), shape=(5, 5))
    B = np.zeros((5, 5), dtype=np.float32)
    B[0, 1], B[2, 1] = -0.2, 0.9  # EASE: item1 = -0.2 + 0.9 = 0.7, driven by item2 (C)
    B[0, 3] = 0.4  # EASE: item3 = 0.4, driven by item0 (A), which kNN does not link to item3 at all
    cat = Catalog(
        user_ids=np.array(["u0", "u1"], dtype=object), item_ids=np.array([f"i{j}" for j in range(5)], dtype=object),
        history=history, exclude=bought, bought=bought, item_category=np.array([0, 0, 1, 1, -1]),
        category_names=["Shoes", "Socks"], item_titles=np.array(list("ABCDE"), dtype=object),
        item_is_new=np.zeros(5, dtype=bool), demographic_segment=np.zeros(2, dtype=np.int64),
        similarity_t=sp.csr_matrix(knn.T),
    )  # fmt: skip
    weights = BlendWeights({"new": {"ease": 1.0}, "light": {"ease": 1.0, "cf": 0.0}, "heavy": {"ease": 1.0}})
    cfg = RecommendConfig(cross_category_slots=0, per_category_cap=5, candidate_pool=5)
    sources = {"cf": ItemKNNSource(knn), "ease": EASESource(B, np.arange(5), 5)}
    out = Recommender(sources, weights, cfg, top_n=2).recommend(cat)
    got = {(r.user_id, r.rank): (r.item_id, r.source, r.reason) for r in out.itertuples()}
    # EASE scores of u0 over items 1..4 (0 excluded, bought): 0.7, 0, 0.4, 0 -> i1, i3
    assert got[("u0", 1)] == ("i1", "ease", "because you viewed C")  # kNN's anchor would have been A
    assert got[("u0", 2)] == ("i3", "ease", "because you bought A")


def test_reason_texts_for_ease_rows_without_an_anchor_do_not_name_an_item():
    out = reason_texts(np.array(["ease", "cf"], dtype=object), np.array([None, None], dtype=object),
                       np.zeros(2, bool), np.array(["Shoes", "Shoes"], dtype=object),
                       np.array(["", ""], dtype=object), np.zeros(2, bool))  # fmt: skip
    assert out.tolist() == ["goes with the items in your history", "often bought together with your items"]
