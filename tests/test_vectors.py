"""data.vectors: the one validator of precomputed vectors, used by the readers and by build_map."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.data import vectors
from univar_core.data.schema import QAInputError, validate_qas


def _report(n_input: int = 5, skip_row: int | None = None):
    rows = pd.DataFrame({"model": "m", "lang": "eng", "question": [f"q{i}" for i in range(n_input)],
                         "answer": [f"a{i}" for i in range(n_input)]})
    if skip_row is not None:
        rows.loc[skip_row, "answer"] = ""  # validation skips it
    return validate_qas(rows, source="src.csv")[1]


def _unit(n: int, d: int = 3, dtype=np.float32) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def test_float32_is_kept_bit_for_bit_and_skipped_rows_are_dropped():
    report = _report(5, skip_row=1)
    emb = _unit(5)
    out = vectors.attach(emb, report)
    assert out.dtype == np.float32 and out.tobytes() == emb[[0, 2, 3, 4]].tobytes()
    assert report.warnings == []
    again = vectors.attach(out, report, aligned_with="kept")  # checking kept rows again changes nothing
    assert again.tobytes() == out.tobytes() and report.warnings == []


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_float16_and_float64_are_converted_with_a_warning(dtype):
    report = _report(4)
    out = vectors.attach(_unit(4, dtype=dtype), report)
    assert out.dtype == np.float32
    assert report.warnings == [f"precomputed embeddings were {np.dtype(dtype)} and were converted to float32"]


def test_bad_vectors_are_refused_naming_the_source_and_input_row():
    report = _report(5, skip_row=1)
    bad = _unit(5)
    bad[3, 0] = np.inf  # input row 4 (1-based), the third accepted row
    with pytest.raises(QAInputError, match=r"^src\.csv, row 4: precomputed embeddings contain NaN or infinite"):
        vectors.attach(bad, report)
    bad[3, 0] = 0.0
    bad[1, 0] = np.nan  # in the skipped row: dropped with it, not an error
    assert len(vectors.attach(bad, report)) == 4
    with pytest.raises(QAInputError, match=r"have 4 rows but the input has 5 data rows"):
        vectors.attach(_unit(4), report)
    with pytest.raises(QAInputError, match=r"have 5 rows but 4 QAs were accepted"):
        vectors.attach(_unit(5), report, aligned_with="kept")
    with pytest.raises(QAInputError, match=r"2-D array"):
        vectors.attach(np.zeros(5, dtype=np.float32), report)
    with pytest.raises(QAInputError, match=r"dtype int64; expected floating point"):
        vectors.attach(np.zeros((5, 2), dtype=np.int64), report)
    with pytest.raises(QAInputError, match=r"dtype complex"):
        vectors.attach(np.zeros((5, 2), dtype=np.complex64), report)


def test_vectors_that_are_not_unit_length_are_kept_with_one_warning():
    report = _report(3)
    emb = _unit(3) * 2
    out = vectors.attach(emb, report)
    assert out.tobytes() == emb.tobytes()
    vectors.attach(out, report, aligned_with="kept")
    assert len(report.warnings) == 1 and "not unit-length" in report.warnings[0]


def test_ragged_column_names_the_row_and_column():
    raw = pd.DataFrame({"embedding": [[0.1, 0.2], [0.3], [0.4, 0.5]]})
    with pytest.raises(QAInputError, match=r"row 2, column 'embedding': embedding has 1 values"):
        vectors.from_column(raw, "embedding", "f.parquet")
