"""Item and user feature transforms on hand-made DataFrames, expected values worked out by hand / NumPy; the text
encoders; the Arrow loader; the feature job's tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from coldrec.config import FeaturesConfig
from coldrec.data import schemas as S
from coldrec.features.loader import array_column_to_matrix

AS_OF = dt.date(2024, 1, 11)
CFG = FeaturesConfig(
    text_encoder="tfidf", min_count=1, price_buckets=2, tfidf_features=64, category_levels=3, kmeans_k=2
)

ITEMS = [
    ("i1", "Red running shoe", "light shoe for running", "Sports>Shoes>Running", "Acme", 10.0, dt.datetime(2024, 1, 1)),
    ("i2", "Trail shoe", "shoe for trails", "Sports>Shoes>Trail", " ACME ", 20.0, dt.datetime(2024, 1, 5)),
    ("i3", "Tent", "", "Sports>Camping", "Outdo", 40.0, None),
    ("i4", "Novel", "a long book", "Books>Fiction", None, 5.0, dt.datetime(2023, 12, 1)),
    ("i5", "", None, "Books > Poetry", "Pens", None, dt.datetime(2024, 1, 10)),
]
USERS = [
    ("u1", dt.datetime(2023, 6, 1), 30, "f", "DE", "Berlin", ["running", "books"]),
    ("u2", dt.datetime(2023, 12, 1), 52, "M", "DE", "Bayern", ["camping"]),
    ("u3", None, None, None, None, None, None),
]
INTERACTIONS = [  # (user, item, weight, n_events, purchased, last_ts)
    ("u1", "i1", 3.0, 3, True, dt.datetime(2024, 1, 10)),
    ("u1", "i4", 1.0, 1, False, dt.datetime(2024, 1, 8)),
    ("u2", "i3", 2.0, 2, False, dt.datetime(2024, 1, 2)),
    ("u4", "i2", 1.0, 1, False, dt.datetime(2024, 1, 11)),  # a user without a profile row
]


def _frames(spark):
    items = spark.createDataFrame([(*r, AS_OF) for r in ITEMS], S.SILVER_ITEMS)
    users = spark.createDataFrame([(*r, AS_OF) for r in USERS], S.SILVER_USERS)
    inter = spark.createDataFrame([(AS_OF, *r) for r in INTERACTIONS], S.GOLD_INTERACTIONS)
    return items, users, inter


@pytest.fixture(scope="module")
def built(spark):
    from coldrec.features.common import layout_of
    from coldrec.features.items import build_item_features
    from coldrec.features.users import build_user_features

    items, users, inter = _frames(spark)
    item_df = build_item_features(items, inter, CFG, as_of=AS_OF)
    user_df = build_user_features(users, inter, items, CFG, as_of=AS_OF)
    return {
        "item_layout": layout_of(item_df, "features"),
        "items": {r[S.ITEM_ID]: r.asDict() for r in item_df.collect()},
        "demo_layout": layout_of(user_df, "demographics"),
        "behavior_layout": layout_of(user_df, "behavior"),
        "users": {r[S.USER_ID]: r.asDict() for r in user_df.collect()},
        "item_df": item_df,
        "user_df": user_df,
    }


def _blocks(layout, vector):
    out, start = {}, 0
    for name, width in layout["blocks"]:
        out[name] = np.asarray(vector[start : start + width], dtype=np.float64)
        start += width
    assert start == len(vector)
    return out


# ---------------------------------------------------------------------------------------------------------------
# items
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.spark
def test_item_layout_and_category_levels(built):
    assert built["item_layout"]["blocks"] == [
        ["category_l1", 2],  # Sports (3 items), Books (2)
        ["category_l2", 4],  # Sports>Shoes (2), then Books>Fiction, Books>Poetry, Sports>Camping by name
        ["category_l3", 2],  # Sports>Shoes>Running, Sports>Shoes>Trail
        ["brand", 3],  # acme (2, case and spaces folded), outdo, pens
        ["price_bucket", 2],
        ["price", 2],
        ["age", 2],
        ["text_tfidf", 64],
    ]
    b = {k: _blocks(built["item_layout"], v["features"]) for k, v in built["items"].items()}
    np.testing.assert_array_equal(b["i1"]["category_l1"], [1, 0])
    np.testing.assert_array_equal(b["i1"]["category_l2"], [1, 0, 0, 0])
    np.testing.assert_array_equal(b["i1"]["category_l3"], [1, 0])
    np.testing.assert_array_equal(b["i2"]["category_l3"], [0, 1])
    np.testing.assert_array_equal(b["i3"]["category_l2"], [0, 0, 0, 1])
    np.testing.assert_array_equal(b["i3"]["category_l3"], [0, 0])  # a two-level path has no level 3
    np.testing.assert_array_equal(b["i5"]["category_l2"], [0, 0, 1, 0])  # "Books > Poetry": spaces trimmed
    np.testing.assert_array_equal(b["i2"]["brand"], [1, 0, 0])
    np.testing.assert_array_equal(b["i4"]["brand"], [0, 0, 0])
    assert built["items"]["i1"]["top_category"] == "Sports" and built["items"]["i5"]["top_category"] == "Books"
    assert {k: v["n_users"] for k, v in built["items"].items()} == {"i1": 1, "i2": 1, "i3": 1, "i4": 1, "i5": 0}


@pytest.mark.spark
def test_item_price_is_bucketed_and_scaled_within_the_category(built):
    items = built["items"]
    # Sports prices 10, 20, 40 -> percent ranks 0, 0.5, 1 -> with 2 buckets: 0, 1, 1 (the top clamps to the last)
    assert [items[i]["price_bucket"] for i in ("i1", "i2", "i3", "i4", "i5")] == [0, 1, 1, 0, None]
    logs = np.log1p([10.0, 20.0, 40.0])
    z = (logs - logs.mean()) / logs.std()
    for item, expected in zip(("i1", "i2", "i3"), z, strict=True):
        blocks = _blocks(built["item_layout"], items[item]["features"])
        np.testing.assert_allclose(blocks["price"], [expected, 1.0], rtol=1e-5)
        np.testing.assert_array_equal(blocks["price_bucket"], np.eye(2)[items[item]["price_bucket"]])
    np.testing.assert_allclose(_blocks(built["item_layout"], items["i4"]["features"])["price"], [0.0, 1.0])
    i5 = _blocks(built["item_layout"], items["i5"]["features"])
    np.testing.assert_array_equal(i5["price"], [0.0, 0.0])
    np.testing.assert_array_equal(i5["price_bucket"], [0.0, 0.0])


@pytest.mark.spark
def test_item_age_since_created_at(built):
    items = built["items"]
    days = {"i1": 10, "i2": 6, "i4": 41, "i5": 1}
    assert {k: v["age_days"] for k, v in items.items() if v["age_days"] is not None} == days
    assert items["i3"]["age_days"] is None
    logs = np.log1p(np.array(list(days.values()), dtype=float))
    for item, expected in zip(days, (logs - logs.mean()) / logs.std(), strict=True):
        np.testing.assert_allclose(
            _blocks(built["item_layout"], items[item]["features"])["age"], [expected, 1.0], rtol=1e-5
        )
    np.testing.assert_array_equal(_blocks(built["item_layout"], items["i3"]["features"])["age"], [0.0, 0.0])


@pytest.mark.spark
def test_tfidf_text_vectors_match_a_hand_computation(built, spark):
    from pyspark.ml.feature import HashingTF

    hashing = HashingTF(numFeatures=64)
    docs = {  # lower-cased word tokens, English stop words removed ("for", "a")
        "i1": ["red", "running", "shoe", "light", "shoe", "running"],
        "i2": ["trail", "shoe", "shoe", "trails"],
        "i3": ["tent"],
        "i4": ["novel", "long", "book"],
        "i5": [],
    }
    m = len(docs)
    df: dict[int, int] = {}
    for tokens in docs.values():
        for bucket in {hashing.indexOf(t) for t in tokens}:
            df[bucket] = df.get(bucket, 0) + 1
    for item, tokens in docs.items():
        expected = np.zeros(64)
        for t in tokens:
            expected[hashing.indexOf(t)] += 1.0
        for bucket in np.flatnonzero(expected):
            expected[bucket] *= np.log((m + 1) / (df[bucket] + 1))  # Spark ML's smoothed IDF
        norm = np.linalg.norm(expected)
        expected = expected / norm if norm > 0 else expected
        got = _blocks(built["item_layout"], built["items"][item]["features"])["text_tfidf"]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------------------------
# users
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.spark
def test_user_demographics(built):
    assert built["demo_layout"]["blocks"] == [
        ["age_band", 8],
        ["age", 2],
        ["gender", 2],
        ["country", 1],
        ["region", 2],
        ["interests", 3],
        ["tenure", 2],
    ]
    users = built["users"]
    assert set(users) == {"u1", "u2", "u3", "u4"}  # u4 has interactions but no profile row
    segments = (users["u1"]["segment"], users["u2"]["segment"], users["u3"]["segment"])
    assert segments == ("F|25-34", "M|50-55", "?|unknown")
    d = {u: _blocks(built["demo_layout"], users[u]["demographics"]) for u in users}
    np.testing.assert_array_equal(d["u1"]["age_band"], np.eye(8)[2])  # <18, 18-24, 25-34, ...
    np.testing.assert_array_equal(d["u3"]["age_band"], np.eye(8)[7])  # unknown
    ages = np.array([30.0, 52.0])
    np.testing.assert_allclose(d["u1"]["age"], [(30 - ages.mean()) / ages.std(), 1.0])
    np.testing.assert_array_equal(d["u3"]["age"], [0.0, 0.0])
    np.testing.assert_array_equal(d["u1"]["gender"], [1, 0])  # F, M (upper-cased)
    np.testing.assert_array_equal(d["u2"]["region"], [1, 0])  # Bayern, Berlin
    np.testing.assert_array_equal(d["u1"]["interests"], [1, 0, 1])  # books, camping, running
    tenure = np.log1p([(AS_OF - dt.date(2023, 6, 1)).days, (AS_OF - dt.date(2023, 12, 1)).days])
    np.testing.assert_allclose(d["u2"]["tenure"], [(tenure[1] - tenure.mean()) / tenure.std(), 1.0], rtol=1e-5)


@pytest.mark.spark
def test_user_behavior_aggregates(built):
    assert built["behavior_layout"]["blocks"] == [
        ["category_share", 2],
        ["price_level", 2],
        ["activity", 3],
        ["recency", 1],
        ["has_history", 1],
    ]
    users = built["users"]
    b = {u: _blocks(built["behavior_layout"], users[u]["behavior"]) for u in users}
    # categories ordered Sports (3 items), Books (2); u1: weight 3 on a Sports item, 1 on a Books item
    np.testing.assert_allclose(b["u1"]["category_share"], [0.75, 0.25])
    np.testing.assert_allclose(b["u2"]["category_share"], [1.0, 0.0])
    # price level: weighted mean within-category percentile; i1 = 0 (cheapest Sports), i4 = 0 (only priced Book),
    # i3 = 1 (dearest Sports), i2 = 0.5
    np.testing.assert_allclose(b["u1"]["price_level"], [0.0, 1.0])
    np.testing.assert_allclose(b["u2"]["price_level"], [1.0, 1.0])
    np.testing.assert_allclose(b["u4"]["price_level"], [0.5, 1.0])
    warm = ["u1", "u2", "u4"]
    events = np.log1p([4.0, 2.0, 1.0])
    n_items = np.log1p([2.0, 1.0, 1.0])
    purchases = np.log1p([1.0, 0.0, 0.0])
    recency = np.log1p([1.0, 9.0, 0.0])  # days from the newest interaction to AS_OF

    def z(x):
        return (x - x.mean()) / x.std()

    for i, u in enumerate(warm):
        np.testing.assert_allclose(b[u]["activity"], [z(events)[i], z(n_items)[i], z(purchases)[i]], rtol=1e-5)
        np.testing.assert_allclose(b[u]["recency"], [z(recency)[i]], rtol=1e-5)
        assert b[u]["has_history"][0] == 1.0 and users[u]["has_history"] is True
    assert users["u3"]["has_history"] is False
    np.testing.assert_array_equal(np.asarray(users["u3"]["behavior"]), np.zeros(9))


@pytest.mark.spark
def test_kmeans_k_is_chosen_by_silhouette(spark):
    from coldrec.features.clusters import assign_clusters, choose_k

    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    points = np.vstack([c + rng.normal(scale=0.3, size=(100, 2)) for c in centres])
    df = spark.createDataFrame(
        [(i // 100, p.tolist()) for i, p in enumerate(points)], "centre int, __vec_arr array<float>"
    )
    cfg = FeaturesConfig(kmeans_k_candidates=[2, 3, 5], kmeans_sample_users=120)  # fitted on ~120 of 300 points
    k, scores, fitted = choose_k(df, cfg, seed=1)
    assert k == 3 and set(scores) == {2, 3, 5} and scores[3] > 0.8 and scores[3] > max(scores[2], scores[5])
    assert fitted.shape == (3, 2)
    np.testing.assert_allclose(sorted(map(tuple, fitted)), sorted(map(tuple, centres)), atol=0.2)
    # every point, sampled or not, is assigned to its own centre's cluster
    pairs = assign_clusters(df, fitted, "__vec_arr", "cluster").select("centre", "cluster").distinct().collect()
    assert len(pairs) == 3 and len({r["cluster"] for r in pairs}) == 3
    # the same rows and seed give the same centres whatever order Spark's partitions deliver them in
    everyone = FeaturesConfig(kmeans_k_candidates=[2, 3, 5])
    np.testing.assert_array_equal(choose_k(df.repartition(3), everyone, seed=1)[2], choose_k(df, everyone, seed=1)[2])
    # a fixed k skips the silhouette; fewer distinct points than candidates leaves only the feasible k
    assert choose_k(df, FeaturesConfig(kmeans_k=2), seed=1)[:2] == (2, {})
    two = spark.createDataFrame([([0.0],), ([0.0],), ([1.0],)], "__vec_arr array<float>")
    assert choose_k(two, FeaturesConfig(kmeans_k_candidates=[2, 3]), seed=1)[:2] == (1, {})


def test_squared_euclidean_silhouette_matches_scikit_learn_and_a_hand_case():
    from sklearn.metrics import silhouette_score

    from coldrec.features.clusters import squared_euclidean_silhouette

    # by hand: 1-D points 0, 1 | 4; squared distances 1, 16, 9.
    # a(0) = 1, b(0) = 16 -> 15/16; a(1) = 1, b(1) = 9 -> 8/9; the singleton scores 0
    assert squared_euclidean_silhouette(np.array([[0.0], [1.0], [4.0]]), np.array([0, 0, 1])) == pytest.approx(
        (15 / 16 + 8 / 9 + 0) / 3
    )
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 5)) + np.repeat(rng.normal(scale=3, size=(4, 5)), 50, axis=0)
    labels = rng.integers(0, 4, size=200)
    labels[:50] = 0  # uneven sizes, one label mostly one cluster
    for lab in (labels, np.repeat(np.arange(4), 50)):
        expected = silhouette_score(x, lab, metric="sqeuclidean")
        assert squared_euclidean_silhouette(x, lab) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert squared_euclidean_silhouette(x, np.zeros(200, dtype=int)) == 0.0


@pytest.mark.spark
def test_cluster_assignment_is_the_nearest_centre(spark):
    from coldrec.features.clusters import assign_clusters

    centres = np.array([[0.0, 0.0], [3.0, 4.0], [-1.0, 2.0]])
    points = [[0.1, 0.0], [3.0, 3.0], [-1.0, 1.9], [1.5, 2.0], [0.0, 1.0]]
    df = spark.createDataFrame([(p,) for p in points], "v array<float>")
    got = [r["c"] for r in assign_clusters(df, centres, "v", "c").collect()]
    expected = [int(np.argmin(((np.asarray(p, dtype=np.float32) - centres) ** 2).sum(axis=1))) for p in points]
    assert got == expected == [0, 1, 2, 0, 0]  # [1.5, 2]: 6.25 to each of the three -> the lowest index


@pytest.mark.spark
def test_cluster_ids_and_recorded_k(built):
    import json

    meta = json.loads(built["user_df"].schema["cluster_id"].metadata["coldrec"])
    assert meta["k"] == 2
    assert {u["cluster_id"] for u in built["users"].values()} <= {0, 1}


# ---------------------------------------------------------------------------------------------------------------
# text encoders, loader, job
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.spark
def test_minilm_encoder_runs_offline_in_spark_and_matches_sentence_transformers(spark, monkeypatch):
    from coldrec.features.text import MINILM_DIM, MiniLMTextEncoder, TextEncoder, load_minilm, minilm_model_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (minilm_model_path() + "/model.safetensors") and MiniLMTextEncoder().dim == MINILM_DIM
    texts = ["red running shoes for the road", "lightweight trail running shoe", "a cast iron frying pan", ""]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id int, text string")
    encoder: TextEncoder = MiniLMTextEncoder(batch_size=2)
    rows = encoder.transform(df, "text", "vec").orderBy("id").collect()
    got = np.array([r["vec"] for r in rows], dtype=np.float32)
    expected = load_minilm().encode(texts[:3], normalize_embeddings=True)
    np.testing.assert_allclose(got[:3], expected, atol=1e-4)
    np.testing.assert_array_equal(got[3], np.zeros(MINILM_DIM))
    assert got[0] @ got[1] > got[0] @ got[2]  # shoes are closer to shoes than to a pan


def test_array_column_to_matrix_reshapes_without_row_loops():
    arr = pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], type=pa.list_(pa.float32()))
    out = array_column_to_matrix(pa.chunked_array([arr[:1], arr[1:]]))
    np.testing.assert_array_equal(out, [[1, 2], [3, 4], [5, 6]])
    assert out.dtype == np.float32 and out.flags.c_contiguous
    with pytest.raises(ValueError, match="different lengths"):
        array_column_to_matrix(pa.array([[1.0], [1.0, 2.0]], type=pa.list_(pa.float32())))


@pytest.mark.slow
@pytest.mark.spark
def test_feature_job_writes_both_tables_idempotently(spark, settings):
    from coldrec import lake
    from coldrec.features.job import run_features
    from coldrec.features.loader import load_feature_matrices

    items, users, inter = _frames(spark)
    lake.merge_upsert(items, settings, "silver.items", [S.ITEM_ID])
    lake.merge_upsert(users, settings, "silver.users", [S.USER_ID])
    lake.overwrite_partition(inter, settings, "gold.interactions", AS_OF)
    cfg_settings = settings.model_copy(update={"features": CFG})
    run_features(spark, cfg_settings, AS_OF)
    first = run_features(spark, cfg_settings, AS_OF)  # a rerun of the same date replaces, never appends
    assert first["items"] == 5 and first["users"] == 4 and first["users_with_history"] == 3
    assert first["item_feature_dim"] == 2 + 4 + 2 + 3 + 2 + 2 + 2 + 64 and first["kmeans_k"] == 2
    assert lake.read_table(spark, settings, "gold.item_features").count() == 5  # rerun replaced, not appended

    via_delta_rs = load_feature_matrices(settings, AS_OF)
    via_spark = load_feature_matrices(spark, AS_OF, settings)
    assert list(via_delta_rs.user_ids) == ["u1", "u2", "u3", "u4"]
    assert list(via_spark.item_ids) == list(via_delta_rs.item_ids)
    np.testing.assert_array_equal(via_delta_rs.item_features, via_spark.item_features)
    np.testing.assert_array_equal(via_delta_rs.user_features, via_spark.user_features)
    assert via_delta_rs.user_features.shape == (4, 20 + 9) and via_delta_rs.user_history_columns.sum() == 9
    assert list(via_delta_rs.user_has_history) == [True, True, False, True]
    metrics = lake.read_table(spark, settings, "ops.run_metrics").where("stage = 'features'")
    assert {r["metric"] for r in metrics.collect()} >= {"items", "users", "kmeans_k", "item_feature_dim"}


class _LengthEncoder:
    """A deterministic, corpus-independent stand-in for MiniLM: [length, count of 'e', 1] per text."""

    name = "length"
    cacheable = True
    dim = 3

    def transform(self, df, text_col, out_col):
        from pyspark.sql import functions as F

        text = F.col(text_col)
        n_e = F.length(text) - F.length(F.regexp_replace(text, "e", ""))
        return df.withColumn(out_col, F.array(F.length(text), n_e, F.lit(1)).cast("array<float>"))


@pytest.mark.spark
def test_text_vectors_are_cached_by_text_and_only_new_texts_are_encoded(spark, settings):
    from pyspark.sql import functions as F

    from coldrec import lake
    from coldrec.features.items import build_item_features
    from coldrec.features.job import refresh_text_vectors

    items, _, inter = _frames(spark)
    encoder = _LengthEncoder()
    vectors, counts = refresh_text_vectors(spark, settings, items, encoder)
    assert counts == {"texts_encoded": 5.0, "texts_cached": 0.0}  # five distinct texts
    direct = build_item_features(items, inter, CFG, as_of=AS_OF, encoder=encoder)
    cached = build_item_features(items, inter, CFG, as_of=AS_OF, encoder=encoder, text_vectors=vectors)
    by_id = {r[S.ITEM_ID]: r["features"] for r in direct.collect()}
    assert {r[S.ITEM_ID]: r["features"] for r in cached.collect()} == by_id
    assert by_id["i4"][-3:] == [len("Novel a long book"), 1.0, 1.0]  # title + " " + description

    _, counts = refresh_text_vectors(spark, settings, items, encoder)  # a rerun encodes nothing
    assert counts == {"texts_encoded": 0.0, "texts_cached": 5.0}
    edited = items.withColumn(S.TITLE, F.when(F.col(S.ITEM_ID) == "i3", F.lit("Big tent")).otherwise(F.col(S.TITLE)))
    vectors, counts = refresh_text_vectors(spark, settings, edited, encoder)
    assert counts == {"texts_encoded": 1.0, "texts_cached": 4.0}  # only the edited text
    assert lake.read_table(spark, settings, "gold.text_vectors").count() == 6
    row = build_item_features(edited, inter, CFG, as_of=AS_OF, encoder=encoder, text_vectors=vectors)
    assert row.where(F.col(S.ITEM_ID) == "i3").first()["features"][-3:] == [len("Big tent "), 1.0, 1.0]


@pytest.mark.spark
def test_text_vectors_are_encoded_in_committed_steps(spark, settings):
    """Five texts in steps of about two (three hash buckets): more than one append, each text encoded exactly once.

    Steps are hash buckets, not row numbers, on purpose: a bucket's texts stay the same if Spark recomputes the
    missing texts after an append (a row numbering shifted then, encoding some texts twice and others never)."""
    from coldrec import lake
    from coldrec.features.job import refresh_text_vectors

    items, _, _ = _frames(spark)
    stepped = settings.model_copy(update={"features": settings.features.model_copy(update={"text_encode_chunk": 2})})
    vectors, counts = refresh_text_vectors(spark, stepped, items, _LengthEncoder())
    assert counts == {"texts_encoded": 5.0, "texts_cached": 0.0}
    rows = vectors.collect()
    assert len(rows) == len({r["text_hash"] for r in rows}) == 5
    assert sorted(r["vector"][0] for r in rows) == sorted(
        float(len(f"{r[S.TITLE] or ''} {r[S.DESCRIPTION] or ''}")) for r in items.collect()
    )
    history = spark.sql(f"DESCRIBE HISTORY delta.`{lake.table_path(settings, 'gold.text_vectors')}`")
    assert 1 < history.where("operation = 'WRITE'").count() <= 3
