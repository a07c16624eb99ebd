"""The cold-start models on small planted data: shapes, learning, determinism, the GAN's output, cold-start ability;
and, marked slow, MovieLens-100K cold-user and cold-item splits against the baselines the issue names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from coldrec.config import TrainConfig
from coldrec.models.api import ColdStartData, ValidationData, train_models
from coldrec.models.validation import ndcg_at_k, ndcg_per_user, segment_popularity, split_validation

N_SEG, ITEMS_PER_SEG, USERS_PER_SEG = 3, 20, 60


def planted(seed: int = 0) -> tuple[ColdStartData, np.ndarray, np.ndarray]:
    """Users of segment s (one-hot feature) interact mostly with items of category s (one-hot content + noise);
    within a category, popularity decays, so a model must combine "which category" with "which item"."""
    rng = np.random.default_rng(seed)
    n_items, n_users = N_SEG * ITEMS_PER_SEG, N_SEG * USERS_PER_SEG
    item_cat = np.repeat(np.arange(N_SEG), ITEMS_PER_SEG)
    user_seg = np.repeat(np.arange(N_SEG), USERS_PER_SEG)
    within = np.tile(np.arange(ITEMS_PER_SEG), N_SEG)
    rows, cols = [], []
    for u in range(n_users):
        p = np.where(item_cat == user_seg[u], 1.0, 0.08) * np.exp(-within / 6.0)
        chosen = rng.choice(n_items, size=8, replace=False, p=p / p.sum())
        rows += [u] * len(chosen)
        cols += list(chosen)
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    U = np.eye(N_SEG, dtype=np.float32)[user_seg]
    U = np.hstack([U, rng.normal(size=(n_users, 2)).astype(np.float32)])  # two noise columns
    # item content: category one-hot, a "rank within category" signal (what drives popularity), and noise
    I = np.hstack(  # noqa: E741 - the item content matrix
        [np.eye(N_SEG, dtype=np.float32)[item_cat], (within / ITEMS_PER_SEG)[:, None], rng.normal(size=(n_items, 3))]
    ).astype(np.float32)
    data = ColdStartData(X=X, user_features=U, item_features=I, item_category=item_cat, user_segment=user_seg)
    return data, user_seg, item_cat


def small_cfg(**kw) -> TrainConfig:
    base = dict(
        epochs=4,
        batch_size=64,
        hidden_dim=32,
        latent_dim=8,
        gan_hidden_dim=32,
        gan_noise_dim=4,
        patience=10,
        device="cpu",
        seed=7,
        learning_rate=5e-3,
        gan_learning_rate=5e-3,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained():
    data, user_seg, item_cat = planted()
    models = train_models(data, small_cfg(epochs=12, gan_epochs=30), None, show_progress=False)
    return data, models, user_seg, item_cat


# ---------------------------------------------------------------------------------------------------------------
# metric and split helpers
# ---------------------------------------------------------------------------------------------------------------
def test_ndcg_matches_hand_computed_example():
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5]])
    truth = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]))
    # user 0: ranking 0,1,2,3 -> hits at ranks 2 and 4 -> DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
    u0 = (1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3))
    # user 1 at k=2: ranking 3,2 -> no hit
    np.testing.assert_allclose(ndcg_per_user(scores, truth, k=4), [u0, 1 / np.log2(5)])
    np.testing.assert_allclose(ndcg_per_user(scores, truth, k=2), [(1 / np.log2(3)) / (1 + 1 / np.log2(3)), 0.0])
    assert ndcg_at_k(scores, truth, 4) == pytest.approx((u0 + 1 / np.log2(5)) / 2)  # the empty row is skipped
    # excluding user 0's item 1 moves item 3 to rank 3: DCG = 1/log2(4)
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]))
    assert ndcg_per_user(scores, truth, 4, exclude)[0] == pytest.approx((1 / np.log2(4)) / (1 + 1 / np.log2(3)))


def test_ndcg_agrees_with_the_evaluation_harness():
    metrics = pytest.importorskip("coldrec.ranking.metrics")
    if not hasattr(metrics, "ndcg_at_k"):
        pytest.skip("coldrec.ranking.metrics has no ndcg_at_k")
    rng = np.random.default_rng(3)
    scores = rng.random((40, 30))
    truth = sp.csr_matrix((rng.random((40, 30)) < 0.1).astype(np.float32))
    topk = np.argsort(-scores, axis=1)[:, :10]
    theirs = metrics.ndcg_at_k(topk, truth, 10)
    assert ndcg_at_k(scores, truth, 10) == pytest.approx(float(np.mean(theirs)) if np.ndim(theirs) else theirs)


def test_segment_popularity_counts_users_per_segment():
    X = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32))
    seg = np.array([0, 0, 1, 1])
    pop = segment_popularity(X, seg, np.array([0, 1, 2]))
    assert np.argmax(pop[0]) == 0 and np.argmax(pop[1]) == 2
    # an unseen segment falls back to the global order: item 0 and item 2 (2 users each) before item 1
    assert pop[2][1] < pop[2][0] and pop[2][1] < pop[2][2]


def test_split_validation_holds_users_and_items_out():
    data, _, _ = planted()
    train, val, users, items = split_validation(data, 0.2, 0.2, np.random.default_rng(0))
    assert train.X.shape == data.X.shape
    assert train.X[users].nnz == 0 and train.X[:, items].nnz == 0
    assert val.cold_user_truth.shape == (len(users), data.n_items)
    assert val.cold_user_truth[:, items].nnz == 0  # cold users are ranked over training items only
    assert val.cold_item_truth.shape == (data.n_users, len(items))
    assert val.cold_item_truth[users].nnz == 0
    # everything held out is accounted for
    assert train.X.nnz + val.cold_user_truth.nnz + val.cold_item_truth.nnz + data.X[users][:, items].nnz == data.X.nnz


# ---------------------------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------------------------
def test_shapes(trained):
    data, models, _, _ = trained
    n = 5
    scores = models.score_users(data.X[:n], data.user_features[:n])
    assert scores.shape == (n, data.n_items) and scores.dtype == np.float32 and np.isfinite(scores).all()
    cold_items = models.score_users(data.X[:n], data.user_features[:n], item_features=data.item_features[:7])
    assert cold_items.shape == (n, 7)
    assert models.user_embeddings(data.X[:n], data.user_features[:n]).shape == (n, 8)
    vec, bias = models.item_embeddings()
    assert vec.shape == (data.n_items, 8) and bias.shape == (data.n_items,)
    assert models.item_embeddings(data.item_features[:3])[0].shape == (3, 8)
    assert models.gan_interactions(data.user_features[:n]).shape == (n, data.n_items)
    assert models.cold_user_scores(data.user_features[:n]).shape == (n, data.n_items)
    with pytest.raises(ValueError):
        models.score_users(data.X[:n, :10], data.user_features[:n])


def test_one_training_step_lowers_the_loss():
    from coldrec.models.networks import ConditionalDAE
    from coldrec.models.training import ae_loss, build_context

    data, _, _ = planted()
    cfg = small_cfg()
    train, val, _, _ = split_validation(data, 0.1, 0.1, np.random.default_rng(0))
    ctx = build_context(train, val, cfg, torch.device("cpu"))
    torch.manual_seed(0)
    net = ConditionalDAE(data.n_items, data.user_features.shape[1], data.item_features.shape[1], 32, 8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    idx = torch.from_numpy(ctx.train_users[:64])
    x = torch.from_numpy(train.X[ctx.train_users[:64]].toarray())

    def loss_with_fixed_noise() -> torch.Tensor:
        torch.manual_seed(1)  # same content-encoder dropout
        return ae_loss(net, ctx, x, idx, cfg, torch.Generator().manual_seed(2))  # same masks

    before = loss_with_fixed_noise()
    opt.zero_grad()
    before.backward()
    opt.step()
    after = loss_with_fixed_noise()
    assert float(after.detach()) < float(before.detach())


def test_cpu_training_is_deterministic_with_a_seed():
    data, _, _ = planted()
    cfg = small_cfg(epochs=2)
    a = train_models(data, cfg, None, show_progress=False)
    b = train_models(data, cfg, None, show_progress=False)
    np.testing.assert_array_equal(a.score_users(data.X, data.user_features), b.score_users(data.X, data.user_features))
    np.testing.assert_array_equal(a.gan_interactions(data.user_features), b.gan_interactions(data.user_features))
    c = train_models(data, cfg.model_copy(update={"seed": 8}), None, show_progress=False)
    assert not np.array_equal(a.score_users(data.X, data.user_features), c.score_users(data.X, data.user_features))


def test_gan_generates_a_valid_interaction_distribution(trained):
    data, models, user_seg, item_cat = trained
    probs = models.gan_interactions(data.user_features, n_samples=4, seed=0)
    assert probs.shape == data.X.shape and np.isfinite(probs).all()
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    # noise is a real input: single draws with different seeds differ, the seeded mean is repeatable
    one = models.gan_interactions(data.user_features[:10], n_samples=1, seed=1)
    two = models.gan_interactions(data.user_features[:10], n_samples=1, seed=2)
    assert np.abs(one - two).max() > 1e-4
    np.testing.assert_array_equal(one, models.gan_interactions(data.user_features[:10], n_samples=1, seed=1))
    # plausible: a segment's generated mass leans to its own category (planted preference), for every segment
    for s in range(N_SEG):
        rows = probs[user_seg == s]
        own = rows[:, item_cat == s].mean()
        other = rows[:, item_cat != s].mean()
        assert own > other


def test_cold_users_and_cold_items_are_served_from_features(trained):
    data, models, user_seg, item_cat = trained
    # cold users: empty histories, features only -> their segment's items on top
    empty = sp.csr_matrix(data.X.shape, dtype=np.float32)
    scores = models.score_users(empty, data.user_features)
    top = np.argsort(-scores, axis=1)[:, :5]
    assert (item_cat[top] == user_seg[:, None]).mean() > 0.8
    # cold items: content only, ranked for warm users -> items of the user's category first
    content_scores = models.score_users(data.X, data.user_features, item_features=data.item_features)
    top = np.argsort(-content_scores, axis=1)[:, :5]
    assert (item_cat[top] == user_seg[:, None]).mean() > 0.8
    # fold-in: two events of a user of segment 0 written as a *new* history pull towards segment 0 even when the
    # features say segment 1
    x = np.zeros((1, data.n_items), np.float32)
    x[0, np.flatnonzero(item_cat == 0)[:4]] = 1.0
    f = np.eye(N_SEG, dtype=np.float32)[[1]]
    f = np.hstack([f, np.zeros((1, 2), np.float32)])
    folded = models.score_users(sp.csr_matrix(x), f)[0]
    features_only = models.score_users(sp.csr_matrix((1, data.n_items), dtype=np.float32), f)[0]
    assert folded[item_cat == 0].mean() - folded[item_cat == 1].mean() > (
        features_only[item_cat == 0].mean() - features_only[item_cat == 1].mean()
    )


def test_validation_figures_and_choice(trained):
    _, models, _, _ = trained
    v = models.validation
    for key in (
        "val_score",
        "ae_ndcg_cold_users",
        "ae_ndcg_cold_items",
        "cold_users_autoencoder",
        "cold_users_segment_popularity",
        "cold_users_gan",
        "cold_users_gan_cf",
        "gan_val_score",
    ):
        assert key in v and 0.0 <= v[key] <= 1.0, key
    assert models.cold_user_choice in {"autoencoder", "gan", "gan_ae"}
    assert len(models.history["ae_loss"]) == v["ae_epochs_run"]
    assert models.history["ae_loss"][-1] < models.history["ae_loss"][0]


def test_external_validation_and_history_columns():
    """The harness passes its own validation split; history-derived columns are masked for cold users."""
    data, user_seg, _ = planted()
    U = np.hstack([data.user_features, np.asarray(data.X.sum(axis=1), dtype=np.float32)])  # a behavior column
    hist = np.r_[np.zeros(data.user_features.shape[1], bool), True]
    train, val, users, _ = split_validation(
        ColdStartData(
            X=data.X,
            user_features=U,
            item_features=data.item_features,
            user_history_columns=hist,
            user_segment=user_seg,
        ),
        0.2,
        0.0,
        np.random.default_rng(1),
    )
    assert isinstance(val, ValidationData) and val.cold_item_truth.shape[1] == 0
    models = train_models(train, small_cfg(epochs=2, models=["autoencoder"]), val, show_progress=False)
    assert models.gan is None and "cold_users_autoencoder" in models.validation
    # a cold user's behavior column is ignored: changing it does not change the scores
    empty = sp.csr_matrix((2, data.n_items), dtype=np.float32)
    f = U[users[:2]].copy()
    g = f.copy()
    g[:, -1] += 100.0
    np.testing.assert_allclose(models.score_users(empty, f), models.score_users(empty, g))


def test_gan_into_autoencoder_never_reads_a_cold_users_history_columns():
    """A cold user's behaviour columns are zeroed for every cold-user scorer, the GAN's pseudo history into the
    autoencoder ("gan_ae") included. Found on Amazon magazines: the training's validation gave gan_ae 0.32 NDCG@10
    on held-out users against popularity's 0.09, because the pseudo history (not empty) left the held-out users'
    behaviour columns, computed from the very history being predicted, unmasked; gan_ae then won the cold-user
    choice on a leak. Here a column that is the user's item count must change neither the served scores nor the
    validation figure."""
    data, user_seg, _ = planted()
    U = np.hstack([data.user_features, np.asarray(data.X.sum(axis=1), dtype=np.float32)])  # a behavior column
    hist = np.r_[np.zeros(data.user_features.shape[1], bool), True]
    full = ColdStartData(X=data.X, user_features=U, item_features=data.item_features, user_history_columns=hist,
                         user_segment=user_seg)  # fmt: skip
    train, val, users, _ = split_validation(full, 0.2, 0.0, np.random.default_rng(1))
    cfg = small_cfg(epochs=2, gan_epochs=2)
    models = train_models(train, cfg, val, show_progress=False)
    scale = np.r_[np.ones(len(hist) - 1), 1e3].astype(np.float32)
    leaky = dataclasses.replace(val, cold_user_features=val.cold_user_features * scale[None, :])
    again = train_models(train, cfg, leaky, show_progress=False)
    for key in ("cold_users_autoencoder", "cold_users_gan", "cold_users_gan_ae"):
        assert again.validation[key] == pytest.approx(models.validation[key], abs=1e-6), key

    models.cold_user_choice = "gan_ae"
    f = U[users[:3]].copy()
    g = f.copy()
    g[:, -1] = [0.0, 50.0, 500.0]
    np.testing.assert_allclose(models.cold_user_scores(f), models.cold_user_scores(g), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_training_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data, _, _ = planted()
    models = train_models(data, small_cfg(epochs=3, device="cuda"), None, show_progress=False)
    scores = models.score_users(data.X, data.user_features, device="cuda")
    assert scores.shape == data.X.shape and np.isfinite(scores).all()
    assert models.validation["val_score"] > 0


@pytest.mark.slow
@pytest.mark.spark
def test_movielens_cold_splits_beat_the_baselines(spark, movielens_dir):
    """MovieLens-100K, 20% users and 20% items held out (seed 42), features from the real Spark transforms (default
    MiniLM text encoder) on the train events only. Measured with these settings (re-measured 2026-11-23 after the
    autoencoder's first layer became sparse; CPU, seeded: the same figures to 4 decimals): cold items 0.1735 vs
    genre-profile cosine 0.0873 (1.99x), genre popularity 0.0441, random 0.0371; cold users 0.4321 vs segment
    popularity 0.4233 (1.02x) and global popularity 0.4141. The GAN on the same cold users: 0.3002 ranked directly,
    0.4272 as a pseudo history for the autoencoder - it does not help, and the autoencoder serves cold users. The
    cold-user margin is small (+0.009): the assertion is "beats", not a ratio."""
    from coldrec.config import FeaturesConfig
    from coldrec.models.movielens_check import run_movielens_check

    cfg = TrainConfig(epochs=20, device="cpu", seed=42)
    result = run_movielens_check(spark, movielens_dir, cfg, FeaturesConfig(), seed=42)
    n = result.ndcg
    print("movielens cold-start check NDCG@10:", {k: round(v, 4) for k, v in sorted(n.items())})  # shown with -s
    assert result.sizes["cold_users"] == 189 and result.sizes["cold_items"] == 336
    # cold items: the content encoder clearly beats genre-profile matching, genre popularity and random
    assert n["cold_items_autoencoder"] >= 1.6 * n["cold_items_genre_profile"], n
    assert n["cold_items_autoencoder"] > 2 * max(n["cold_items_genre_popularity"], n["cold_items_random"]), n
    # cold users: beats segment popularity (by little) and global popularity
    assert n["cold_users_autoencoder"] > n["cold_users_segment_popularity"], n
    assert n["cold_users_autoencoder"] > n["cold_users_global_popularity"], n


def test_sparse_history_is_the_l2_normalized_history():
    """Rows [3, 0, 4] and [0, 0, 0]: the first becomes [0.6, 0, 0.8] (3-4-5 triangle), the second stays empty."""
    from coldrec.models.scoring import sparse_history

    x, empty = sparse_history(sp.csr_matrix(np.array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0]])), torch.device("cpu"))
    assert x.is_sparse
    np.testing.assert_allclose(x.to_dense().numpy(), [[0.6, 0.0, 0.8], [0.0, 0.0, 0.0]], rtol=1e-6)
    assert empty.tolist() == [False, True]


def test_encode_reads_dense_sparse_and_missing_histories_alike():
    """The sparse first layer and the bias-only path (no history) give what the dense layer gives."""
    from coldrec.models.networks import ConditionalDAE
    from coldrec.models.scoring import sparse_history

    torch.manual_seed(0)
    net = ConditionalDAE(n_items=5, d_user=2, d_item=3, hidden=4, latent=3)
    hist = np.array([[0.0, 1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    dense = net.encode(torch.from_numpy(hist) / torch.tensor([[2**0.5], [1.0]]), f)
    sparse = net.encode(sparse_history(sp.csr_matrix(hist), torch.device("cpu"))[0], f)
    none = net.encode(None, f[1:])
    torch.testing.assert_close(sparse, dense)
    torch.testing.assert_close(none, dense[1:])
