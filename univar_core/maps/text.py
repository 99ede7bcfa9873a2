"""The QA text of a stored map, read on demand: the rows and columns asked for, never the whole column.

Why: a million answers are hundreds of MB to GBs of text, and the map view needs only coordinates
and labels, plus the text of the few rows a person reads (a selection) and a search over it. So the
app opens a map with its light columns in memory (`store.load_map(lazy_text=True)`) and reads
question/answer text here: by row group (store writes row groups of ROW_GROUP_ROWS rows), taking
only the wanted rows of each, so the peak is one row group of text, not a second copy of the column.

A reader reads the file it was opened on (a memory map holds its inode): a map folder re-saved in
the meantime (a new layer) is swapped in by rename, and this reader still reads the rows its map was
loaded with.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TEXT_COLUMNS = ("question", "answer")
ROW_GROUP_ROWS = 65_536   # rows per parquet row group of qas.parquet: the unit an on-demand read decodes


def text_contains(columns: Sequence[pa.Array | pa.ChunkedArray], needle: str) -> np.ndarray:
    """Rows where any of `columns` contains `needle`, ignoring case (missing text never matches)."""
    hit: pa.Array | pa.ChunkedArray | None = None
    for column in columns:
        found = pc.fill_null(pc.match_substring(column, needle, ignore_case=True), False)
        hit = found if hit is None else pc.or_(hit, found)
    if hit is None:
        return np.zeros(0, dtype=bool)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


class QATextReader:
    """Rows and columns of one qas.parquet on demand (thread-safe: app sessions share a map)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = pq.ParquetFile(pa.memory_map(str(self.path)))
        meta = self._file.metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.n_rows = int(self._starts[-1])
        self.columns: list[str] = list(self._file.schema_arrow.names)
        self._lock = threading.Lock()   # one parquet reader: reads take turns

    def _group(self, i: int, columns: list[str]) -> pa.Table:
        with self._lock:
            return self._file.read_row_group(i, columns=columns)

    def read_columns(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every row of `columns` (default: all), as pandas reads the file."""
        with self._lock:
            return self._file.read(columns=None if columns is None else list(columns)).to_pandas()

    def take(self, rows: np.ndarray | Sequence[int], columns: Sequence[str] = TEXT_COLUMNS) -> pd.DataFrame:
        """`columns` of `rows` (positions, any order, repeats allowed), in that order, index 0..len-1.
        Only the row groups holding those rows are decoded, one at a time."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"{self.path}: rows must lie in 0..{self.n_rows - 1}")
        columns = list(columns)
        group = np.searchsorted(self._starts, rows, side="right") - 1
        parts, where = [], []
        for g in np.unique(group):
            at = np.flatnonzero(group == g)
            parts.append(self._group(int(g), columns).take(pa.array(rows[at] - self._starts[g])))
            where.append(at)
        if not parts:
            return self._file.schema_arrow.empty_table().select(columns).to_pandas()
        frame = pa.concat_tables(parts).to_pandas()
        return frame.iloc[np.argsort(np.concatenate(where), kind="stable")].reset_index(drop=True)

    def search(self, needle: str, columns: Sequence[str] = TEXT_COLUMNS) -> np.ndarray:
        """Boolean mask over all rows: any of `columns` contains `needle` (case ignored), read group by group."""
        out = np.zeros(self.n_rows, dtype=bool)
        columns = [c for c in columns if c in self.columns]
        for g in range(len(self._starts) - 1):
            table = self._group(g, columns)
            out[self._starts[g]:self._starts[g + 1]] = text_contains(table.columns, needle) if columns else False
        return out
