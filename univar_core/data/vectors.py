"""Precomputed vectors: reading them without pickle, and the one validator every path goes through.

Vectors made elsewhere come as an ``.npy`` (or an array) row-aligned with the input file's data rows,
or as a column of per-row lists (parquet / JSONL). Whichever way, ``attach`` applies the same rules:

- a 2-D floating-point array with one row per input data row (before any row is skipped);
- the rows validation skipped are dropped with their QAs;
- float32 is kept bit for bit; float16 / float64 are converted to float32 and the report says so;
  any other dtype is refused;
- NaN or infinite values are refused, naming the input row;
- vectors that are not unit-length are kept as given, with a warning (cosine normalises them).

Every problem is a ``QAInputError`` naming the source (and row / column where known).
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


def attach(emb: Any, report: ValidationReport, *, source: str | None = None, what: str = WHAT,
           column: str | None = None, aligned_with: str = "input") -> np.ndarray:
    """Validate vectors and return them as float32 rows aligned with the rows validation accepted.

    ``aligned_with="input"``: one row per input data row (the usual case; skipped rows are dropped here).
    ``aligned_with="kept"``: already one row per accepted row (vectors that came through ``attach``).
    ``column`` names where the vectors came from in the file, for messages.
    """
    source = report.source if source is None else source
    emb = np.asarray(emb) if not isinstance(emb, np.ndarray) else emb
    if emb.ndim != 2:
        raise QAInputError(f"{what} must be a 2-D array (rows x dimensions), got shape {emb.shape}", source=source)
    kept = np.asarray(report.kept_rows, dtype=np.int64)
    if aligned_with == "input":
        if emb.shape[0] != report.n_input_rows:
            raise QAInputError(f"{what} have {emb.shape[0]:,} rows but the input has {report.n_input_rows:,} data "
                               "rows; they must be row-aligned with the input (before any row is skipped)",
                               source=source)
    elif aligned_with == "kept":
        if emb.shape[0] != report.n_accepted:
            raise QAInputError(f"{what} have {emb.shape[0]:,} rows but {report.n_accepted:,} QAs were accepted",
                               source=source)
    else:
        raise ValueError(f"aligned_with must be 'input' or 'kept', got {aligned_with!r}")
    if emb.dtype.kind != "f":
        raise QAInputError(f"{what} have dtype {emb.dtype}; expected floating point", source=source)
    if emb.dtype != np.float32 and emb.dtype not in _CONVERTED:
        raise QAInputError(f"{what} have dtype {emb.dtype}; expected float32 (float16/float64 are converted)",
                           source=source)
    if aligned_with == "input":
        emb = np.asarray(emb[kept])  # fancy indexing copies: the user's memory-mapped file stays untouched
    input_row = kept if len(kept) == len(emb) else np.arange(len(emb))  # rows as the user counts them
    finite = np.isfinite(emb).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise QAInputError(f"{what} contain NaN or infinite values ({len(bad):,} row(s) affected)",
                           source=source, row=int(input_row[bad[0]]) + 1, column=column)
    if emb.dtype != np.float32:
        report.warnings.append(f"{what} were {emb.dtype} and were converted to float32")
        emb = emb.astype(np.float32)
    norms = np.linalg.norm(emb[: min(len(emb), 10_000)].astype(np.float64), axis=1)
    if len(norms) and np.abs(norms - 1.0).max() > 1e-3:
        warning = (f"{what} are not unit-length (norms {norms.min():.3g} to {norms.max():.3g}); "
                   "they are kept as given, cosine similarity normalises them")
        if warning not in report.warnings:  # vectors checked again after reading are not reported twice
            report.warnings.append(warning)
    return emb
