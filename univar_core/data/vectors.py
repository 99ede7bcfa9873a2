"""Precomputed vectors: reading them without pickle, and the one validator every path goes through.

Vectors made elsewhere come as an ``.npy`` (or an array) row-aligned with the input file's data rows,
or as a column of per-row lists (parquet, streamed by the readers; JSONL). Whichever way, the same
rules apply (``attach`` for a whole array; ``check_dtype`` / ``check_finite`` / ``norm_warning`` for the
readers' streamed blocks):

- a 2-D floating-point array with one row per input data row (before any row is skipped);
- the rows validation skipped are dropped with their QAs;
- float32 is kept bit for bit (all rows kept: the array itself, a memmap stays a memmap);
  float16 / float64 are converted to float32 and the report says so; any other dtype is refused;
- NaN or infinite values are refused, naming the input row;
- vectors that are not unit-length are kept as given, with a warning (cosine normalises them).

Every problem is a ``QAInputError`` naming the source (and row / column where known). Vectors are
checked and copied in blocks of ``STREAM_ROWS`` rows, into a *sink*: an ``ArraySink`` in memory, or a
build's staged ``.npy`` on disk (``maps.store.stage_embeddings``), so a million-row matrix is never
held twice.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from univar_core.data.schema import QAInputError, ValidationReport

WHAT = "precomputed embeddings"
_CONVERTED = (np.float16, np.float64)  # converted to float32 with a warning; other dtypes are refused
STREAM_ROWS = 65_536  # rows per block when checking / copying vectors (25 MB at d = 384)
EmbeddingSink = Any  # callable (n_rows, dim) -> object with append(block), finish() -> array, abort()


class ArraySink:
    """Where vectors go when the caller gives no sink: an array in memory. Builds pass
    ``maps.store.stage_embeddings`` instead (same three methods), so the vectors go to disk as they
    come and a million-row build never holds its n x d matrix twice."""

    def __init__(self, n_rows: int, dim: int):
        self.array: np.ndarray | None = np.empty((n_rows, dim), dtype=np.float32)
        self._rows = 0

    def append(self, block: np.ndarray) -> None:
        assert self.array is not None, "append after abort"
        self.array[self._rows:self._rows + len(block)] = block
        self._rows += len(block)

    def finish(self) -> np.ndarray:
        assert self.array is not None, "finish after abort"
        return self.array

    def abort(self) -> None:
        self.array = None


def load_npy(embeddings: Any, source: str) -> np.ndarray:
    """An array as it is; a path (memory-mapped) or a file-like object read with numpy, never unpickled."""
    if isinstance(embeddings, np.ndarray):
        return embeddings
    is_path = isinstance(embeddings, (str, os.PathLike))
    name = Path(embeddings).name if is_path else str(getattr(embeddings, "name", "embeddings"))
    try:
        if is_path:
            arr = np.load(embeddings, allow_pickle=False, mmap_mode="r")
        else:
            if hasattr(embeddings, "seek"):
                embeddings.seek(0)
            arr = np.load(embeddings, allow_pickle=False)
    except FileNotFoundError:
        raise QAInputError("embeddings file not found", source=name) from None
    except ValueError as err:  # object arrays need pickle: refused
        raise QAInputError(f"cannot load embeddings without pickle (numeric .npy expected): {err}",
                           source=name) from None
    except OSError as err:
        raise QAInputError(f"not a readable .npy file: {err}", source=name) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive: which array is meant is not ours to guess
        raise QAInputError("expected one array saved with numpy.save (.npy), not an .npz archive", source=name)
    return arr


def from_column(raw: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """Stack a column of per-row vectors into an (n, d) array, keeping the element dtype."""
    cells = raw[column].tolist()
    dims = set()
    for i, cell in enumerate(cells):
        if not isinstance(cell, (list, tuple, np.ndarray)):
            kind = "empty" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else type(cell).__name__
            raise QAInputError(f"embedding is {kind}, expected a list of numbers (store vectors as a "
                               f"parquet list<float> column or a separate .npy)", source=source,
                               row=i + 1, column=column)
        dims.add(len(cell))
        if len(dims) > 1:
            raise QAInputError(f"embedding has {len(cell)} values, earlier rows have {min(dims - {len(cell)})}",
                               source=source, row=i + 1, column=column)
    try:
        stacked = np.stack([np.asarray(c) for c in cells])
        return stacked if stacked.dtype.kind == "f" else stacked.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise QAInputError(f"embedding values must be numbers: {err}", source=source, column=column) from None


def check_dtype(dtype: np.dtype, *, source: str, what: str = WHAT) -> bool:
    """Whether vectors of this dtype need converting to float32; refuses what cannot be used."""
    if dtype.kind != "f":
        raise QAInputError(f"{what} have dtype {dtype}; expected floating point", source=source)
    if dtype != np.float32 and dtype not in _CONVERTED:
        raise QAInputError(f"{what} have dtype {dtype}; expected float32 (float16/float64 are converted)",
                           source=source)
    return dtype != np.float32


def conversion_warning(dtype: np.dtype, what: str = WHAT) -> str:
    return f"{what} were {dtype} and were converted to float32"


def check_finite(block: np.ndarray, input_rows: np.ndarray, *, source: str, what: str = WHAT,
                 column: str | None = None) -> None:
    """Refuse NaN / inf; ``input_rows``: the 0-based input row of each row of ``block`` (for the message)."""
    finite = np.isfinite(block).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise QAInputError(f"{what} contain NaN or infinite values", source=source, row=int(input_rows[bad]) + 1,
                           column=column)


def norm_warning(sample: np.ndarray, warnings: list[str], what: str = WHAT) -> None:
    """Note (once) that vectors are not unit-length; they are kept as given."""
    norms = np.linalg.norm(np.asarray(sample, dtype=np.float64), axis=1)
    if len(norms) and np.abs(norms - 1.0).max() > 1e-3:
        warning = (f"{what} are not unit-length (norms {norms.min():.3g} to {norms.max():.3g}); "
                   "they are kept as given, cosine similarity normalises them")
        if warning not in warnings:  # vectors checked again after reading are not reported twice
            warnings.append(warning)


def attach(emb: Any, report: ValidationReport, *, source: str | None = None, what: str = WHAT,
           column: str | None = None, aligned_with: str = "input", sink: EmbeddingSink = None) -> np.ndarray:
    """Validate vectors and return them as float32 rows aligned with the rows validation accepted.

    ``aligned_with="input"``: one row per input data row (the usual case; skipped rows are dropped here).
    ``aligned_with="kept"``: already one row per accepted row (vectors that came through ``attach``).
    ``column`` names where the vectors came from in the file, for messages. ``sink``: where the accepted
    rows are written when they must be copied (default: an array in memory).
    """
    source = report.source if source is None else source
    emb = emb if isinstance(emb, np.ndarray) else np.asarray(emb)
    if emb.ndim != 2:
        raise QAInputError(f"{what} must be a 2-D array (rows x dimensions), got shape {emb.shape}", source=source)
    kept = np.asarray(report.kept_rows, dtype=np.int64)
    if aligned_with == "input":
        if emb.shape[0] != report.n_input_rows:
            raise QAInputError(f"{what} have {emb.shape[0]:,} rows but the input has {report.n_input_rows:,} data "
                               "rows; they must be row-aligned with the input (before any row is skipped)",
                               source=source)
        rows = kept
    elif aligned_with == "kept":
        if emb.shape[0] != report.n_accepted:
            raise QAInputError(f"{what} have {emb.shape[0]:,} rows but {report.n_accepted:,} QAs were accepted",
                               source=source)
        rows = np.arange(len(emb))
    else:
        raise ValueError(f"aligned_with must be 'input' or 'kept', got {aligned_with!r}")
    # the input row of each output row, as the user counts them
    input_row = kept if len(kept) == len(rows) else rows
    convert = check_dtype(emb.dtype, source=source, what=what)
    if not convert and len(rows) == len(emb):  # every row kept, float32: the array itself, checked in blocks
        for start in range(0, len(emb), STREAM_ROWS):
            check_finite(emb[start:start + STREAM_ROWS], input_row[start:start + STREAM_ROWS], source=source,
                         what=what, column=column)
        norm_warning(np.asarray(emb[: min(len(emb), 10_000)]), report.warnings, what)
        return emb
    if convert:
        report.warnings.append(conversion_warning(emb.dtype, what))
    writer = (sink or ArraySink)(len(rows), emb.shape[1])
    try:
        for start in range(0, len(rows), STREAM_ROWS):
            block = np.asarray(emb[rows[start:start + STREAM_ROWS]])  # one block copied; a memmap stays put
            check_finite(block, input_row[start:start + STREAM_ROWS], source=source, what=what, column=column)
            writer.append(block.astype(np.float32, copy=False))
        out = writer.finish()
    except BaseException:
        writer.abort()
        raise
    norm_warning(np.asarray(out[: min(len(out), 10_000)]), report.warnings, what)
    return out
