"""neighbours: unit rows and the exact cosine top-k shared by placement, comparisons and k-NN."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from univar_core.neighbours import cosine_top_k, unit_rows


def _brute(queries: np.ndarray, base: np.ndarray, k: int):
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    b = base / np.linalg.norm(base, axis=1, keepdims=True)
    sims = q.astype(np.float64) @ b.T.astype(np.float64)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def test_unit_rows_dense_sparse_zero_and_1d():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(unit_rows(x), np.array([[0.6, 0.8], [0.0, 0.0]], dtype=np.float32))
    assert unit_rows(x).dtype == np.float32 and unit_rows(x, dtype=None).dtype == np.float64
    np.testing.assert_allclose(unit_rows(np.array([0.0, 2.0])), [0.0, 1.0])
    s = unit_rows(sp.csr_matrix(x))
    assert sp.issparse(s)
    np.testing.assert_allclose(s.toarray(), [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.parametrize("n", [50, 5000])  # the direct path and the block path of the exact top-k
def test_cosine_top_k_matches_brute_force_and_is_chunk_independent(n):
    rng = np.random.default_rng(1)
    base = rng.normal(size=(n, 8)).astype(np.float32) * rng.uniform(0.5, 3, size=(n, 1)).astype(np.float32)
    queries = rng.normal(size=(30, 8)).astype(np.float32)
    idx, sims = cosine_top_k(queries, base, 5)
    want_idx, want_sims = _brute(queries, base, 5)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(sims, want_sims, atol=1e-5)
    assert idx.dtype == np.int64 and sims.dtype == np.float32
    one_row_chunks = cosine_top_k(queries, base, 5, chunk_elements=1)
    np.testing.assert_array_equal(one_row_chunks[0], idx)
    np.testing.assert_allclose(one_row_chunks[1], sims, atol=1e-6)  # BLAS rounds a 1-row product its own way


def test_cosine_top_k_ties_go_to_the_lower_row_and_k_is_capped():
    base = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    idx, sims = cosine_top_k(np.array([[1.0, 0.0]], dtype=np.float32), base, 10)
    assert idx.tolist() == [[0, 2, 3, 1]]
    np.testing.assert_allclose(sims, [[1, 1, 1, 0]])


def test_cosine_top_k_on_sparse_unit_rows_equals_dense():
    rng = np.random.default_rng(2)
    dense = (rng.random((40, 12)) > 0.6) * rng.random((40, 12))
    dense[:, 0] += 0.01  # no all-zero rows
    q, b = unit_rows(sp.csr_matrix(dense[:10])), unit_rows(sp.csr_matrix(dense[10:]))
    idx_s, sims_s = cosine_top_k(q, b, 4, assume_unit=True)
    idx_d, sims_d = cosine_top_k(dense[:10], dense[10:], 4)
    np.testing.assert_array_equal(idx_s, idx_d)
    np.testing.assert_allclose(sims_s, sims_d, atol=1e-6)


def test_cosine_top_k_refuses_what_cannot_be_searched():
    with pytest.raises(ValueError, match="non-empty"):
        cosine_top_k(np.zeros((1, 3)), np.zeros((0, 3)), 1)
    with pytest.raises(ValueError, match="dimension 3"):
        cosine_top_k(np.zeros((1, 4)), np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        cosine_top_k(np.ones((1, 3)), np.ones((2, 3)), 0)
