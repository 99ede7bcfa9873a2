"""io.py: every format, uploads, bad files with their messages, release folders, precomputed embeddings."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from univar_core.data.readers import (
    DEFAULT_MAX_BYTES,
    LoadedQAs,
    max_bytes_from_env,
    read_many,
    read_qas,
    read_table,
    shared_data_dir,
)
from univar_core.data.schema import CORE_COLUMNS, QAInputError

ROWS = pd.DataFrame({
    "question_id": ["0001", "0002", "0003", "0001"],
    "question": ["Should I obey my elders?", "Is lying ever fine?", "Should I save or spend?",
                 "Should I obey my elders?"],
    "answer": ["Yes, respect, for them; always.", "No.\nNever, honesty first.", "Save it.", "Decide yourself."],
    "model": ["aurora-7b", "aurora-7b", "aurora-7b", "borealis-13b"],
    "lang": ["eng", "eng", "eng", "zho"],
    "score": [1.5, 2.0, 3.0, 4.0],
})


def upload(data: bytes, name: str) -> io.BytesIO:
    """What Streamlit hands over: a BytesIO with a name."""
    buf = io.BytesIO(data)
    buf.name = name
    return buf


def check_rows(loaded: LoadedQAs) -> None:
    t = loaded.table
    assert list(t.columns[: len(CORE_COLUMNS)]) == CORE_COLUMNS
    assert t["question_id"].tolist() == ["0001", "0002", "0003", "0001"]  # leading zeros kept
    assert t["answer"].tolist() == ROWS["answer"].tolist()
    assert t["value_id"].tolist()[-1] == "borealis-13b$zho"
    assert t["score"].tolist() == [1.5, 2.0, 3.0, 4.0]
    assert loaded.report.n_accepted == 4 and loaded.embeddings is None


@pytest.mark.parametrize("sep,name", [(",", "qa.csv"), (";", "qa.csv"), ("\t", "qa.csv"), ("\t", "qa.tsv"),
                                      ("|", "qa.txt")])
def test_delimited_files_with_sniffed_separator(tmp_path, sep, name):
    path = tmp_path / name
    ROWS.to_csv(path, sep=sep, index=False)
    loaded = read_qas(path)
    check_rows(loaded)
    assert loaded.table["dataset"].iloc[0] == tmp_path.name  # generic stem 'qa': the folder names it


def test_upload_buffer_jsonl_json_parquet_xlsx_round_trips(tmp_path):
    buffers = {
        "up.csv": ROWS.to_csv(index=False).encode("utf-8-sig"),  # a BOM is fine
        "up.jsonl": ROWS.to_json(orient="records", lines=True).encode(),
        "up.json": ROWS.to_json(orient="records").encode(),
        "cols.json": json.dumps(ROWS.to_dict(orient="list")).encode(),
        "wrapped.json": json.dumps({"data": ROWS.to_dict(orient="records")}).encode(),
    }
    for name, data in buffers.items():
        check_rows(read_qas(upload(data, name)))
    ROWS.to_parquet(tmp_path / "t.parquet")
    ROWS.to_excel(tmp_path / "t.xlsx", index=False)
    for name in ("t.parquet", "t.xlsx"):
        loaded = read_qas(tmp_path / name)
        check_rows(loaded)
        assert loaded.table["dataset"].iloc[0] == "t"
        assert loaded.report.source == name
    raw = read_table(upload((tmp_path / "t.xlsx").read_bytes(), "t.xlsx"))
    assert list(raw.columns) == list(ROWS.columns)


@pytest.mark.parametrize("data", [b"", b"  \n\n "])
def test_empty_file_is_an_error(data):
    with pytest.raises(QAInputError, match=r"^empty\.csv: the file is empty"):
        read_qas(upload(data, "empty.csv"))


def test_header_only_file_is_an_empty_table():
    with pytest.raises(QAInputError, match=r"h\.csv: the table is empty"):
        read_qas(upload(b"question,answer,model,lang\n", "h.csv"))


def test_not_utf8_names_offset_and_line_and_does_not_guess():
    data = "question,answer,model,lang\nq,caf\u00e9,m,eng\n".encode("latin-1")
    with pytest.raises(QAInputError) as err:
        read_qas(upload(data, "latin.csv"))
    msg = str(err.value)
    assert msg.startswith("latin.csv: the file is not valid UTF-8: byte 0xe9 at byte offset 32 (line 2)")
    assert "Re-save the file as UTF-8" in msg


def test_unparsable_csv_names_the_line():
    data = b'question,answer,model,lang\nq1,a1,m,eng\nq2,a2,m,eng,extra,more\n'
    with pytest.raises(QAInputError, match=r"bad\.csv: could not parse as CSV \(delimiter ','\) at line 3"):
        read_qas(upload(data, "bad.csv"))


def test_bad_json_lines_and_records():
    with pytest.raises(QAInputError, match=r"x\.jsonl: line 2 is not valid JSON"):
        read_qas(upload(b'{"question": "q"}\n{oops\n', "x.jsonl"))
    with pytest.raises(QAInputError, match=r"x\.jsonl: line 1 is a JSON list"):
        read_qas(upload(b"[1, 2]\n", "x.jsonl"))
    with pytest.raises(QAInputError, match=r"x\.json: expected a JSON list of records"):
        read_qas(upload(b'"just text"', "x.json"))


def test_unknown_and_old_formats_and_damaged_binary_files():
    with pytest.raises(QAInputError, match=r"notes\.docx: unknown file type '\.docx'"):
        read_qas(upload(b"x", "notes.docx"))
    with pytest.raises(QAInputError, match=r"old \.xls workbooks are not supported"):
        read_qas(upload(b"x", "old.xls"))
    with pytest.raises(QAInputError, match=r"t\.parquet: not a readable parquet file"):
        read_qas(upload(b"not parquet at all", "t.parquet"))
    with pytest.raises(QAInputError, match=r"t\.xlsx: not a readable \.xlsx workbook"):
        read_qas(upload(b"not a zip", "t.xlsx"))
    with pytest.raises(ValueError, match="needs a name"):
        read_qas(io.BytesIO(b"question,answer\n"))


def test_file_over_the_size_limit_names_size_limit_and_how_to_raise_it(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    ROWS.to_csv(path, index=False)
    with pytest.raises(QAInputError) as err:
        read_qas(path, max_bytes=100)
    msg = str(err.value)
    assert re.match(r"big\.csv: the file is 0\.000\d+ MB, over the 9\.54e-05 MB limit", msg)  # not "0 MB"
    assert "UNIVAR_MAX_FILE_MB" in msg and "max_bytes" in msg
    assert max_bytes_from_env() == DEFAULT_MAX_BYTES
    monkeypatch.setenv("UNIVAR_MAX_FILE_MB", "0.0001")  # about 105 bytes
    assert max_bytes_from_env() == 105
    with pytest.raises(QAInputError, match="over the 0.0001 MB limit"):
        read_qas(upload(path.read_bytes(), "big.csv"))


def test_skips_are_reported_with_file_rows():
    df = pd.concat([ROWS, ROWS.iloc[[1]]], ignore_index=True)
    df.loc[2, "answer"] = "   "
    loaded = read_qas(upload(df.to_csv(index=False).encode(), "s.csv"))
    skipped = loaded.report.skipped_frame()
    assert skipped["row"].tolist() == [3, 5]
    assert skipped["reason"].tolist() == ["empty answer",
                                          "duplicate of row 2 (same model, lang, question, answer, question_id)"]
    assert loaded.report.kept_rows.tolist() == [0, 1, 3]


def make_release(root):
    for ds, models in {"valuebench": ["gpt-4", "llama-7b"], "lima": ["gpt-4"]}.items():
        folder = root / ds / "qa_translated"
        folder.mkdir(parents=True)
        for m in models:
            pd.DataFrame({"question": [f"{ds} q1", f"{ds} q2"], "answer": [f"{m} a1", f"{m} a2"],
                          "lang": ["eng", "ind"]}).to_csv(folder / f"{m}.csv", index=False)


def test_release_folder_layout(tmp_path):
    make_release(tmp_path)
    loaded = read_qas(tmp_path)
    t = loaded.table
    assert len(t) == 6 and t["qa_id"].is_unique
    assert sorted(set(t["dataset"])) == ["lima", "valuebench"]
    assert sorted(set(t["value_id"])) == ["gpt-4$eng", "gpt-4$ind", "llama-7b$eng", "llama-7b$ind"]
    assert t.loc[t["model"] == "llama-7b", "answer"].tolist() == ["llama-7b a1", "llama-7b a2"]
    one = read_qas(tmp_path / "valuebench")
    assert len(one.table) == 4 and set(one.table["dataset"]) == {"valuebench"}
    (tmp_path / "plain").mkdir()
    with pytest.raises(QAInputError, match="not in the UniVaR release layout"):
        read_qas(tmp_path / "plain")


def test_read_many_keeps_qa_ids_unique_and_offsets_kept_rows(tmp_path):
    ROWS.to_csv(tmp_path / "a.csv", index=False)
    ROWS.to_csv(tmp_path / "b.csv", index=False)
    both = read_many([tmp_path / "a.csv", tmp_path / "b.csv"], dataset="same")
    assert len(both.table) == 8 and both.table["qa_id"].is_unique
    assert both.report.n_input_rows == 8
    assert both.report.kept_rows.tolist() == list(range(8))
    assert list(both.table.columns[:8]) == CORE_COLUMNS


# --- precomputed embeddings -----------------------------------------------------------------

def vectors(n: int, d: int = 8, dtype=np.float32) -> np.ndarray:
    v = np.random.default_rng(0).normal(size=(n, d))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(dtype)


def test_parquet_embedding_column_kept_bit_for_bit_and_subset(tmp_path):
    df = ROWS.copy()
    df.loc[1, "answer"] = ""  # skipped: its vector must go too
    emb = vectors(4)
    df["embedding"] = list(emb)
    df.to_parquet(tmp_path / "e.parquet")
    loaded = read_qas(tmp_path / "e.parquet")
    assert "embedding" not in loaded.table.columns
    assert loaded.embeddings.dtype == np.float32
    assert loaded.embeddings.tobytes() == emb[[0, 2, 3]].tobytes()
    assert loaded.report.warnings == []


def test_npy_embeddings_aligned_with_rows(tmp_path):
    ROWS.to_csv(tmp_path / "qa.csv", index=False)
    emb = vectors(4)
    np.save(tmp_path / "e.npy", emb)
    loaded = read_qas(tmp_path / "qa.csv", embeddings=tmp_path / "e.npy")
    assert loaded.embeddings.tobytes() == emb.tobytes()
    as_upload = read_qas(tmp_path / "qa.csv", embeddings=upload((tmp_path / "e.npy").read_bytes(), "e.npy"))
    assert as_upload.embeddings.tobytes() == emb.tobytes()


def test_float64_embeddings_converted_with_a_warning(tmp_path):
    ROWS.to_csv(tmp_path / "qa.csv", index=False)
    emb = vectors(4, dtype=np.float64)
    loaded = read_qas(tmp_path / "qa.csv", embeddings=emb)
    assert loaded.embeddings.dtype == np.float32
    np.testing.assert_array_equal(loaded.embeddings, emb.astype(np.float32))
    assert any("float64 and were converted to float32" in w for w in loaded.report.warnings)


def test_embedding_mismatches_are_clear_errors(tmp_path):
    ROWS.to_csv(tmp_path / "qa.csv", index=False)
    path = tmp_path / "qa.csv"
    np.save(tmp_path / "short.npy", vectors(3))
    with pytest.raises(QAInputError, match=r"have 3 rows but the input has 4 data rows"):
        read_qas(path, embeddings=tmp_path / "short.npy")
    with pytest.raises(QAInputError, match=r"must be a 2-D array .* shape \(4,\)"):
        read_qas(path, embeddings=np.zeros(4, dtype=np.float32))
    with pytest.raises(QAInputError, match=r"dtype int64; expected floating point"):
        read_qas(path, embeddings=np.zeros((4, 2), dtype=np.int64))
    bad = vectors(4)
    bad[2, 0] = np.nan
    with pytest.raises(QAInputError, match=r"row 3: precomputed embeddings contain NaN"):
        read_qas(path, embeddings=bad)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(QAInputError, match=r"obj\.npy: cannot load embeddings without pickle"):
        read_qas(path, embeddings=tmp_path / "obj.npy")
    np.savez(tmp_path / "many.npz", a=vectors(4))
    with pytest.raises(QAInputError, match=r"many\.npz: expected one array saved with numpy\.save"):
        read_qas(path, embeddings=tmp_path / "many.npz")
    with pytest.raises(QAInputError, match=r"gone\.npy: embeddings file not found"):
        read_qas(path, embeddings=tmp_path / "gone.npy")


def test_embedding_column_errors(tmp_path):
    df = ROWS.copy()
    df["embedding"] = [[0.1, 0.2], [0.3, 0.4], [0.5], [0.6, 0.7]]
    df.to_parquet(tmp_path / "ragged.parquet")
    with pytest.raises(QAInputError, match=r"row 3, column 'embedding': embedding has 1 values"):
        read_qas(tmp_path / "ragged.parquet")
    df["embedding"] = [["a", "b"]] * 4
    df.to_parquet(tmp_path / "text.parquet")
    with pytest.raises(QAInputError, match=r"column 'embedding': embedding values must be numbers"):
        read_qas(tmp_path / "text.parquet")
    df["embedding"] = list(vectors(4))
    df.to_parquet(tmp_path / "ok.parquet")
    with pytest.raises(QAInputError, match="also given; use one"):
        read_qas(tmp_path / "ok.parquet", embeddings=vectors(4))
    jsonl = df.assign(embedding=[v.tolist() for v in vectors(4, dtype=np.float64)])
    loaded = read_qas(upload(jsonl.to_json(orient="records", lines=True).encode(), "e.jsonl"))
    assert loaded.embeddings.shape == (4, 8) and loaded.embeddings.dtype == np.float32


def test_read_many_concatenates_embeddings_and_refuses_partial(tmp_path):
    for name in ("a", "b"):
        ROWS.assign(embedding=list(vectors(4))).to_parquet(tmp_path / f"{name}.parquet")
    ROWS.to_parquet(tmp_path / "plain.parquet")
    both = read_many([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    assert both.embeddings.shape == (8, 8)
    with pytest.raises(QAInputError, match="embeddings come with a.parquet but not with plain.parquet"):
        read_many([tmp_path / "a.parquet", tmp_path / "plain.parquet"])


# --- real data ----------------------------------------------------------------------------------

def test_shared_data_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIVAR_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv("UNIVAR_SHARED_DATA", str(tmp_path / "missing"))
    assert shared_data_dir() is None


def test_shared_corpora_load_as_they_are(shared_data):
    vb = read_qas(shared_data / "valuebench_qa" / "qa.csv")
    assert vb.report.n_input_rows == 11_928 and vb.report.n_accepted == 11_928
    assert vb.table["dataset"].iloc[0] == "valuebench_qa"
    assert vb.table["question_id"].iloc[0] == "vb0000"
    assert {"questionnaire", "value", "agreement", "item"} <= set(vb.table.columns)
    assert vb.table["value_id"].nunique() == 6 and vb.report.warnings == []
    ae = read_qas(shared_data / "alpacaeval_control" / "qa.csv")
    assert ae.report.n_input_rows == 14_489
    assert ae.report.n_accepted == 14_488  # gemini-pro's one empty answer (ae104), skipped and counted
    (skip,) = ae.report.skipped
    assert skip.reason == "empty answer"
    assert ae.table["value_id"].nunique() == 18


def test_template_csv_loads_cleanly():
    from pathlib import Path

    template = Path(__file__).resolve().parents[1] / "assets" / "qa_template.csv"
    loaded = read_qas(template)
    assert list(pd.read_csv(template).columns) == ["question_id", "question", "answer", "model", "lang", "dataset"]
    assert loaded.report.n_accepted == 4 and loaded.report.skipped == [] and loaded.report.warnings == []
    assert loaded.table["dataset"].str.startswith("EXAMPLE").all()
    assert loaded.table["value_id"].nunique() == 4


# ---------------------------------------------------------------- limits on what a file unpacks to
def _big_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"question": ["Is it fine?"] * n, "answer": ["A" * 1000] * n,
                         "model": ["m"] * n, "lang": ["eng"] * n})


@pytest.mark.parametrize("ext", ["xlsx", "parquet"])
def test_size_limit_checks_the_uncompressed_size_before_reading(tmp_path, ext, monkeypatch):
    """A small compressed file holding a big table: refused from its zip listing / parquet metadata."""
    path = tmp_path / f"bomb.{ext}"
    big = _big_rows(3000)                       # about 3 MB of text, compressing to a few KB
    big.to_excel(path, index=False) if ext == "xlsx" else big.to_parquet(path)
    assert path.stat().st_size < 2**20 // 4
    monkeypatch.setenv("UNIVAR_MAX_FILE_MB", "1")
    called = []
    monkeypatch.setattr(pd, "read_excel", lambda *a, **k: called.append(1))
    with pytest.raises(QAInputError, match=r"bomb\.\w+: the file unpacks to .* MB, over the 1 MB limit"):
        read_qas(path)
    assert not called                           # refused before the workbook was parsed
    monkeypatch.setenv("UNIVAR_MAX_FILE_MB", "10")
    monkeypatch.undo()
    assert len(read_qas(path).table) == 1       # 3000 identical QAs: one kept, duplicates skipped


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf"])
def test_a_bad_size_limit_setting_is_a_clear_error(tmp_path, monkeypatch, value):
    path = tmp_path / "qa.csv"
    ROWS.to_csv(path, index=False)
    monkeypatch.setenv("UNIVAR_MAX_FILE_MB", value)
    with pytest.raises(QAInputError, match=rf"UNIVAR_MAX_FILE_MB: '{value}' is not a positive number of megabytes"):
        read_qas(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_file_is_named_as_utf16(encoding):
    data = ROWS.to_csv(index=False).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    with pytest.raises(QAInputError, match="qa.csv: the file is UTF-16") as err:
        read_qas(upload(data, "qa.csv"))
    assert "cp1252" not in str(err.value)
