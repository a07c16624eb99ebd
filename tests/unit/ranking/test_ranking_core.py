"""The ranking core's shared helpers on hand-made inputs: TF-IDF, top categories, source building."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldrec.config import RecommendConfig
from coldrec.ranking.encode import category_display_name, content_matrix, top_category_of_paths
from coldrec.ranking.sources import ContentNeighbourCFSource, ItemKNNSource, SourceInputs, make_sources


def test_tfidf_by_hand():
    tokens = [["a", "a", "b"], ["b"], []]
    m, names = content_matrix(tokens)
    assert names == ["a", "b"]
    idf_a, idf_b = np.log(4 / 2) + 1, np.log(4 / 3) + 1  # smooth idf: ln((1 + n) / (1 + df)) + 1, n = 3
    row0 = np.array([(1 + np.log(2)) * idf_a, idf_b])  # sublinear tf: 1 + ln(count)
    expected = np.vstack([row0 / np.linalg.norm(row0), [0, 1], [0, 0]])
    np.testing.assert_allclose(m.toarray(), expected, rtol=1e-6)
    only_b, names_b = content_matrix(tokens, min_df=2)
    assert names_b == ["b"] and only_b.toarray().ravel().tolist() == [1.0, 1.0, 0.0]
    none, no_names = content_matrix([["a"], []], min_df=2)  # nothing in two items: an items x 0 matrix
    assert none.shape == (2, 0) and no_names == []
    assert content_matrix([[], []])[0].shape == (2, 0)


def test_top_category_trims_levels_and_skips_the_shared_root():
    paths = pd.Series(["Beauty > Hair > Shampoo", "Beauty>Hair>Conditioner", " Beauty > Skin", None, "  "])
    codes, labels = top_category_of_paths(paths)
    # trimmed, every path starts with "Beauty": the first level that differs is the second
    assert labels == ["Beauty>Hair", "Beauty>Skin"] and codes.tolist() == [0, 0, 1, -1, -1]
    assert [category_display_name(x) for x in labels] == ["Hair", "Skin"]
    codes, labels = top_category_of_paths(pd.Series(["Shoes", "Socks ", None]))
    assert labels == ["Shoes", "Socks"] and codes.tolist() == [0, 1, -1]
    assert top_category_of_paths(pd.Series([None, None], dtype=object))[0].tolist() == [-1, -1]


def _inputs(brands=None) -> SourceInputs:
    history = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0]], dtype=np.float32))
    content = sp.csr_matrix(np.eye(4, dtype=np.float32))
    calls = []

    def neighbours():
        calls.append(1)
        return sp.csr_matrix(np.ones((4, 4), dtype=np.float32) - np.eye(4, dtype=np.float32))

    inputs = SourceInputs(history, np.zeros(3, dtype=np.int64), content, neighbours, brands)
    inputs.calls = calls  # type: ignore[attr-defined]
    return inputs


def test_make_sources_follows_the_names_and_leaves_out_what_cannot_be_built():
    inputs = _inputs()
    out = make_sources(inputs, RecommendConfig(), names=("content", "popular"))
    assert list(out) == ["content", "popular"] and inputs.calls == []  # no neighbours computed when unneeded
    out = make_sources(_inputs(), RecommendConfig())
    # no brands, no models: no brand, autoencoder or GAN source; the nightly order otherwise
    assert list(out) == ["cf", "ease", "content_cf", "content", "popular"]
    assert out["content_cf"].base is out["ease"]
    out = make_sources(_inputs(np.array([0, -1, 0, 1])), RecommendConfig(ease_max_items=0))
    assert list(out) == ["cf", "content_cf", "content", "brand", "popular"]
    # without EASE the content neighbours build on item-kNN, the same object as the cf source (computed once)
    assert isinstance(out["content_cf"], ContentNeighbourCFSource) and out["content_cf"].base is out["cf"]
    assert isinstance(out["cf"], ItemKNNSource)


def test_make_sources_popularity_is_the_segment_table_unless_given():
    out = make_sources(_inputs(), RecommendConfig(), names=("popular",))
    # one segment of 3 users, prior 20: (count + 20 * count / 3) / (3 + 20)
    counts = np.array([2, 2, 2, 0], dtype=np.float64)
    np.testing.assert_allclose(out["popular"].table.numpy()[0], (counts + 20 * counts / 3) / 23, rtol=1e-6)
    table = np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    given = SourceInputs(sp.csr_matrix((3, 4), dtype=np.float32), np.zeros(3, np.int64), sp.csr_matrix((4, 1)),
                         sp.csr_matrix((4, 4)), popularity=table)  # fmt: skip
    assert make_sources(given, RecommendConfig(), names=("popular",))["popular"].table.numpy().tolist() == [
        pytest.approx(table[0].tolist())
    ]


def test_user_segments_by_gender_and_age_band_with_the_last_record_of_each_user():
    from coldrec.ranking.encode import Encoder, user_segments

    users = pd.DataFrame({"user_id": ["a", "b", "c", "d", "a"], "age": [30, 31, None, 17, 60],
                          "gender": ["f", "F", "M", None, "F"]})  # fmt: skip
    enc = Encoder(np.array(["a", "b", "c", "d", "e"], dtype=object), np.array(["i"], dtype=object))
    codes, labels = user_segments(users, enc)
    # a's last record (60, F) -> 56+; b 25-34; c age unknown; d gender unknown, under 18; e has no record at all
    expected = {"a": "F|56+", "b": "F|25-34", "c": "M|?", "d": "?|<18", "e": "?|?"}
    assert {u: labels[c] for u, c in zip(enc.user_ids, codes, strict=True)} == expected
    assert labels == sorted(expected.values())
