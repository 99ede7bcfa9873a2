"""Vector maths every layer shares: unit-length rows and exact cosine top-k.

Maps (placement of new QAs), comparisons (nearest QAs across two value IDs) and value identification
(k-NN) all ask "which rows of B are most cosine-similar to each row of A?". ``cosine_top_k`` answers it
exactly, by chunked matrix products with bounded memory: no index to build, no compile, and ``B`` may be
a read-only memmap that is never copied whole. An approximate index (FAISS, pynndescent) would only pay
off well beyond the million-point maps this project targets for placement, and would make the numbers
depend on index settings.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def unit_rows(x: Any, *, dtype: Any = np.float32, eps: float = 1e-12) -> Any:
    """Vectors scaled to unit length along the last axis (zero vectors stay zero).

    ``dtype``: the float type to compute in (None keeps the input's). A scipy sparse matrix stays sparse.
    """
    if sp.issparse(x):
        norms = np.sqrt(np.asarray(x.multiply(x).sum(1))).ravel()
        return sp.diags(1.0 / np.maximum(norms, eps)) @ x
    x = np.asarray(x, dtype=dtype)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def _dense(x: Any) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def cosine_top_k(queries: Any, base: Any, k: int, *, assume_unit: bool = False,
                 chunk_elements: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of ``base`` most cosine-similar to each row of ``queries``, exactly.

    Returns (idx, sims): (m, k') int64 row indices into ``base`` and float32 similarities, most similar
    first (ties in row order), with k' = min(k, len(base)). ``assume_unit``: both are already unit-length
    (then the similarity is the plain dot product); otherwise ``base`` is normalised on the fly (its norms
    in one streaming pass, never a normalised copy) and ``queries`` chunk by chunk. Dense arrays or scipy
    sparse matrices; at most ``chunk_elements`` similarities are held at once.
    """
    if base.ndim != 2 or base.shape[0] == 0:
        raise ValueError("cosine_top_k needs a non-empty 2-D base")
    if queries.ndim != 2 or queries.shape[1] != base.shape[1]:
        raise ValueError(f"queries have shape {queries.shape} but the base has dimension {base.shape[1]}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n, m = base.shape[0], queries.shape[0]
    k = min(int(k), n)
    base_norms = None
    if not assume_unit:
        if sp.issparse(base):
            base = unit_rows(base)
        else:
            base_norms = np.sqrt(np.einsum("ij,ij->i", base, base, dtype=np.float64)).astype(np.float32)
            base_norms[base_norms == 0] = 1.0
    idx = np.empty((m, k), dtype=np.int64)
    sims = np.empty((m, k), dtype=np.float32)
    rows_per_chunk = max(1, chunk_elements // n)
    for start in range(0, m, rows_per_chunk):
        stop = min(m, start + rows_per_chunk)
        q = queries[start:stop]
        if not assume_unit:
            q = unit_rows(q, dtype=None if sp.issparse(q) else np.result_type(q.dtype, np.float32))
        s = _dense(q @ base.T)
        if base_norms is not None:
            s = s / base_norms
        top = _top_k_columns(s, k)
        top_sims = np.take_along_axis(s, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)  # most similar first; equal similarity: lower row first
        idx[start:stop] = np.take_along_axis(top, order, axis=1)
        sims[start:stop] = np.take_along_axis(top_sims, order, axis=1)
    return idx, sims


def _top_k_columns(s: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """Column indices of the k largest values of each row (unordered), exactly.

    A plain argpartition over 100k columns per row dominates placement time. Instead take each
    block of `block` columns' maximum, keep the k blocks with the largest maxima, and select
    among their k*block columns only. Exact: every one of a row's top k values lies in a block
    whose maximum is at least the k-th largest value, and at most k blocks have such a maximum.
    """
    rows, n = s.shape
    if k >= n:
        return np.tile(np.arange(n), (rows, 1))
    n_blocks = -(-n // block)
    if n_blocks < 4 * k:  # small base: the direct way is as fast
        return np.argpartition(s, n - k, axis=1)[:, n - k:]
    padded = np.full((rows, n_blocks * block), -np.inf, dtype=s.dtype)
    padded[:, :n] = s
    block_max = padded.reshape(rows, n_blocks, block).max(axis=2)
    top_blocks = np.argpartition(block_max, n_blocks - k, axis=1)[:, n_blocks - k:]
    candidates = (top_blocks[:, :, None] * block + np.arange(block)).reshape(rows, -1)
    values = np.take_along_axis(padded, candidates, axis=1)
    chosen = np.argpartition(values, values.shape[1] - k, axis=1)[:, values.shape[1] - k:]
    return np.take_along_axis(candidates, chosen, axis=1)
