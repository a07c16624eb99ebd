"""The compiled CPU top-k (coldrec.ranking.topk_cpu) against a NumPy reference, and the scorer paths using it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from coldrec.ranking.topk import embedding_topk, mask_topk_
from coldrec.ranking.topk_cpu import groups_for, rows_topk


def reference(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k per row by value descending, ties by column ascending; -inf values get column -1."""
    order = np.lexsort((np.broadcast_to(np.arange(block.shape[1]), block.shape), -block), axis=1)[:, :k]
    values = np.take_along_axis(block, order, axis=1)
    return values, np.where(np.isneginf(values), -1, order)


@pytest.mark.parametrize("rows,n,k", [(64, 20_000, 50), (33, 20_011, 50), (16, 5_000, 200), (5, 104, 3), (4, 64, 5)])
def test_rows_topk_equals_the_reference_with_ties_tails_and_masked_rows(rows, n, k):
    rng = np.random.default_rng(n + k)
    block = rng.standard_normal((rows, n)).astype(np.float32)
    block[0, : n - 2] = -np.inf  # fewer than k allowed columns
    block[1] = np.round(block[1])  # thousands of ties, also at the threshold
    block[2] = 0.5  # a row of one value: the first k columns
    block[-1, n - 1] = 1e6  # the best value in the tail (past the last whole group row when n % G != 0)
    values, cols = rows_topk(block.copy(), k)
    exp_v, exp_c = reference(block, k)
    np.testing.assert_array_equal(values, exp_v)
    np.testing.assert_array_equal(cols, exp_c)
    assert cols[2].tolist() == list(range(k))
    assert sorted(cols[0, :2].tolist()) == [n - 2, n - 1] and (cols[0, 2:] == -1).all()
    assert cols[-1, 0] == n - 1


def test_rows_topk_masks_excluded_columns_in_place_and_fills_out_views():
    rng = np.random.default_rng(1)
    block = rng.standard_normal((40, 3_000)).astype(np.float32)
    exclude = sp.random(50, 3_000, density=0.01, format="csr", random_state=2)
    exclude[12, :] = 1.0  # row 12 (block row 2) excludes everything
    exclude = sp.csr_matrix(exclude)
    k, lo = 20, 10  # the block holds rows 10..49 of the exclusion matrix
    out_v, out_c = np.zeros((60, k), np.float32), np.zeros((60, k), np.int64)
    work = block.copy()
    rows_topk(work, k, exclude=(exclude.indptr[lo : lo + 41], exclude.indices), out=(out_v[5:45], out_c[5:45]))
    masked = block.copy()
    masked[exclude[lo : lo + 40].toarray() != 0] = -np.inf
    np.testing.assert_array_equal(work, masked)  # masked in place
    exp_v, exp_c = reference(masked, k)
    np.testing.assert_array_equal(out_v[5:45], exp_v)
    np.testing.assert_array_equal(out_c[5:45], exp_c)
    assert (out_c[7] == -1).all() and (out_v[:5] == 0).all() and (out_v[45:] == 0).all()


def test_rows_topk_rejects_a_k_the_groups_cannot_hold():
    assert groups_for(20_000, 50) == 1000
    with pytest.raises(ValueError, match="needs 0 < k"):
        rows_topk(np.zeros((2, 10), np.float32), 5)


def test_embedding_topk_fused_cpu_path_equals_torch_topk_path_in_any_batch_size(assert_same_topk):
    g = torch.Generator().manual_seed(0)
    users, items, dim, k = 300, 4_000, 16, 30
    U, V = torch.randn(users, dim, generator=g), torch.randn(items, dim, generator=g)
    b = torch.randn(items, generator=g)
    seen = sp.random(users, items, density=0.005, format="csr", random_state=3)
    fused_v, fused_i = embedding_topk(U, V, b, k, exclude=seen, batch_size=4096)  # CPU tiles + compiled top-k
    small_v, small_i = embedding_topk(U, V, b, k, exclude=seen, batch_size=7)
    plain_v, _ = embedding_topk(U, V, b, k, exclude=seen, batch_size=64, two_stage=False)  # torch.topk
    # Batches of 4,096 and of 7 run the GEMM in different shapes, whose rounding differs by CPU (AMD vs Intel
    # kernels): the same lists up to near-ties, not bit-identical scores.
    assert_same_topk(fused_v.numpy(), fused_i.numpy(), small_v.numpy(), small_i.numpy())
    torch.testing.assert_close(fused_v, plain_v)
    scores = (U @ V.T + b).numpy()
    scores[seen.toarray() != 0] = -np.inf
    exp_v, exp_c = reference(scores, k)
    np.testing.assert_allclose(fused_v.numpy(), exp_v, rtol=1e-5, atol=1e-5)
    assert_same_topk(fused_v.numpy(), fused_i.numpy(), exp_v, exp_c)  # up to ties of the GEMM's summation order
    assert not np.isin(fused_i[0].numpy(), seen[0].indices).any()
    via_mask, _ = mask_topk_(torch.from_numpy(scores.copy()), k, two_stage=True)
    np.testing.assert_array_equal(via_mask.numpy(), exp_v)


def test_same_topk_up_to_ties_accepts_rounding_swaps_and_rejects_real_differences(assert_same_topk):
    values = np.array([[3.0, 2.0, 2.0 + 1e-7, 1.0]])
    assert_same_topk(values, np.array([[7, 4, 5, 9]]), values[:, [0, 2, 1, 3]], np.array([[7, 5, 4, 9]]))  # a tie swap
    assert_same_topk(values, np.array([[7, 4, 5, 9]]), values, np.array([[7, 4, 5, 8]]))  # last item: a tie at the cut
    with pytest.raises(AssertionError):
        assert_same_topk(values, np.array([[7, 4, 5, 9]]), values, np.array([[4, 7, 5, 9]]))  # 3.0 vs 2.0 swapped
    with pytest.raises(AssertionError):
        assert_same_topk(values, np.array([[7, 4, 5, 9]]), values * 1.01, np.array([[7, 4, 5, 9]]))
