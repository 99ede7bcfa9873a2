"""The catalogue of malformed inputs: every one goes through the CLI (`univar build`, exit code 2) and
through the Upload page's code path (pages/_ui.read_upload, the call the page makes), and must
give the same clear message naming file (and row/column where there is one) and write nothing.

Damaged map folders go through `univar info` / `univar place` and store.load_map (what the app's
sidebar opens a map with). No case loads an encoder: each fails before embedding.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pages import _ui
from univar_core import cli
from univar_core.data.schema import QAInputError
from univar_core.maps import store
from univar_core.maps.store import MapError, ValueMap

runner = CliRunner()
GOOD = "question,answer,model,lang\n"
ROW = "Is it fine?,Yes it is.,m1,eng\n"


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


def _xlsx(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    return buf.getvalue()


def _emb_df(emb: list) -> pd.DataFrame:
    n = len(emb)
    return pd.DataFrame({"question": [f"Q{i}?" for i in range(n)], "answer": [f"A{i}." for i in range(n)],
                         "model": ["m"] * n, "lang": ["eng"] * n, "embedding": emb})


# 3 MB of text that compresses to a few KB: the unpacked-size check must catch it
big = pd.DataFrame({"question": ["Is it fine?"] * 3000, "answer": ["A" * 1000] * 3000, "model": ["m"] * 3000,
                    "lang": ["eng"] * 3000})

STRING_VECTORS = "".join(json.dumps({"question": f"Q{i}?", "answer": "a.", "model": "m", "lang": "eng",
                                     "embedding": ["x", "y"]}) + "\n" for i in range(6)).encode()

# (case, file name, bytes, environment, the message both paths must give)
CASES = [
    ("empty", "mine.csv", b"", {}, 'mine.csv: the file is empty (0 bytes)'),
    ("whitespace", "mine.csv", b"  \n\n\t \n", {}, 'mine.csv: the file is empty (7 bytes)'),
    ("bom_only", "mine.csv", b"\xef\xbb\xbf", {}, 'mine.csv: the file has no header or data'),
    ("header_only", "mine.csv", GOOD.encode(), {}, 'mine.csv: the table is empty (no data rows)'),
    ("missing_answer", "mine.csv",
     b"question,model,lang\nq?,m,eng\n",
     {}, "mine.csv: missing required column(s) answer. Found columns: 'question', 'model', 'lang'"),
    ("renamed_columns", "mine.csv",
     b"q,a,who,where\nq?,a.,m,eng\n",
     {}, "mine.csv: missing required column(s) question, answer, model, lang. Found columns: 'q', 'a', 'who', 'where'"),
    ("missing_model_lang", "mine.csv",
     b"question,answer\nq?,a.\n",
     {}, 'mine.csv: missing required column(s) model, lang'),
    ("cp1252", "mine.csv",
     (GOOD + "Caf\xe9?,Oui.,m,fra\n").encode("cp1252"),
     {}, 'mine.csv: the file is not valid UTF-8: byte 0xe9 at byte offset 30 (line 2)'),
    ("utf16le", "mine.csv", (GOOD + ROW).encode("utf-16"), {}, 'mine.csv: the file is UTF-16'),
    ("utf16be", "mine.csv", b"\xfe\xff" + (GOOD + ROW).encode("utf-16-be"), {}, 'mine.csv: the file is UTF-16'),
    ("binary_garbage", "mine.csv",
     bytes(range(256)) * 4,
     {}, 'mine.csv: the file is not valid UTF-8: byte 0x80 at byte offset 128 (line 2)'),
    ("unbalanced_quote", "mine.csv",
     (GOOD + 'q?,"never closed,m,eng\n' + ROW * 3).encode(),
     {}, "mine.csv: could not parse as CSV (delimiter ','): Error tokenizing data. C error: EOF inside string"),
    ("ragged_rows", "mine.csv",
     (GOOD + ROW + "q?,a.,m,eng,extra,more\n").encode(),
     {}, "mine.csv: could not parse as CSV (delimiter ',') at line 3"),
    ("dollar_model", "mine.csv",
     (GOOD + "q?,a.,m$x,eng\n").encode(),
     {}, "mine.csv, row 1, column 'model': model name 'm$x' contains '$'"),
    ("empty_model", "mine.csv",
     (GOOD + ROW + "q?,a.,,eng\n").encode(),
     {}, "mine.csv, row 2, column 'model': empty model name"),
    ("empty_lang", "mine.csv",
     (GOOD + ROW + "q?,a.,m,\n").encode(),
     {}, "mine.csv, row 2, column 'lang': empty language"),
    ("all_answers_empty", "mine.csv",
     (GOOD + "q1?,,m,eng\nq2?,,m,eng\n").encode(),
     {}, 'mine.csv: no usable rows: all 2 rows were skipped (first: row 1, empty answer)'),
    ("tsv_wrong_columns", "mine.tsv",
     b"prompt\tmodel\nq?\tm\n",
     {}, "mine.tsv: missing required column(s) answer, lang. Found columns: 'prompt', 'model'"),
    ("jsonl_broken", "mine.jsonl",
     b'{"question":"q?","answer":"a.","model":"m","lang":"eng"}\n{"question": \n',
     {}, 'mine.jsonl: line 2 is not valid JSON'),
    ("jsonl_array_line", "mine.jsonl",
     b'{"question":"q?","answer":"a.","model":"m","lang":"eng"}\n[1,2]\n',
     {}, 'mine.jsonl: line 2 is a JSON list, expected an object'),
    ("jsonl_missing_columns", "mine.jsonl",
     b'{"text":"q?"}\n{"text":"r?"}\n',
     {}, "mine.jsonl: missing required column(s) question, answer, model, lang. Found columns: 'text'"),
    ("json_invalid", "mine.json", b'[{"question": "q?",', {}, 'mine.json: not valid JSON at line 1, column 20'),
    ("json_scalar", "mine.json", b'42', {}, 'mine.json: expected a JSON list of records'),
    ("json_unequal_lists", "mine.json",
     b'{"question": ["a?", "b?"], "answer": ["x."]}',
     {}, 'mine.json: expected a JSON list of records'),
    ("parquet_corrupt", "mine.parquet",
     b"PAR1 this is not parquet at all PAR1",
     {}, 'mine.parquet: not a readable parquet file'),
    ("parquet_missing_columns", "mine.parquet",
     _parquet(pd.DataFrame({"question": ["q?"], "answer": ["a."]})),
     {}, 'mine.parquet: missing required column(s) model, lang'),
    ("xlsx_not_zip", "mine.xlsx",
     b"this is not a workbook",
     {}, 'mine.xlsx: not a readable .xlsx workbook: File is not a zip file'),
    ("xlsx_over_limit_unpacked", "mine.xlsx",
     _xlsx(big),
     {"UNIVAR_MAX_FILE_MB": "1"}, 'mine.xlsx: the file unpacks to workbook XML of 3.51 MB, over the 1 MB limit'),
    ("parquet_over_limit_unpacked", "mine.parquet",
     _parquet(big),
     {"UNIVAR_MAX_FILE_MB": "1"}, 'mine.parquet: the file unpacks to more than 3 MB, over the 1 MB limit'),
    ("old_xls", "mine.xls", b"\xd0\xcf\x11\xe0 old excel", {}, 'mine.xls: old .xls workbooks are not supported'),
    ("unknown_extension", "mine.docx", b"PK whatever", {}, "mine.docx: unknown file type '.docx'"),
    ("no_extension", "mine", (GOOD + ROW).encode(), {}, "mine: unknown file type '(no extension)'"),
    ("over_size_limit", "mine.csv",
     (GOOD + ROW * 200).encode(),
     {"UNIVAR_MAX_FILE_MB": "0.001"}, 'mine.csv: the file is 0.00575 MB, over the 0.001 MB limit'),
    ("size_limit_not_a_number", "mine.csv",
     (GOOD + ROW).encode(),
     {"UNIVAR_MAX_FILE_MB": "abc"}, "UNIVAR_MAX_FILE_MB: 'abc' is not a positive number of megabytes"),
    ("size_limit_negative", "mine.csv",
     (GOOD + ROW).encode(),
     {"UNIVAR_MAX_FILE_MB": "-1"}, "UNIVAR_MAX_FILE_MB: '-1' is not a positive number of megabytes"),
    ("embedding_nan", "mine.parquet",
     _parquet(_emb_df([[0.1, 0.2]] * 5 + [[float("nan"), 0.1]])),
     {}, "mine.parquet, row 6: embeddings in column 'embedding' contain NaN or infinite values"),
    ("embedding_inf", "mine.parquet",
     _parquet(_emb_df([[0.1, 0.2]] * 5 + [[float("inf"), 0.1]])),
     {}, "mine.parquet, row 6: embeddings in column 'embedding' contain NaN or infinite values"),
    ("embedding_ragged", "mine.parquet",
     _parquet(_emb_df([[0.1, 0.2]] * 5 + [[0.1, 0.2, 0.3]])),
     {}, "mine.parquet, row 6, column 'embedding': embedding has 3 values, earlier rows have 2"),
    ("embedding_null", "mine.parquet",
     _parquet(_emb_df([[0.1, 0.2]] * 5 + [None])),
     {}, "mine.parquet, row 6, column 'embedding': embedding is empty"),
    ("embedding_strings", "mine.jsonl",
     STRING_VECTORS,
     {}, "mine.jsonl, column 'embedding': embedding values must be numbers"),
    ("nul_in_header", "mine.csv",
     b"question\x00,answer,model,lang\nq?,a.,m,eng\n",
     {}, "mine.csv: missing required column(s) question. Found columns: 'question\\x00'"),
]


def _case_ids():
    return [c[0] for c in CASES]


def _tree(root: Path) -> dict[str, str]:
    """Every file under root with its content hash: 'nothing written' means this does not change."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def places(tmp_path, monkeypatch):
    data_dir, cache_dir = tmp_path / "maps", tmp_path / "cache"
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("UNIVAR_CACHE_DIR", str(cache_dir))
    return data_dir, cache_dir


def test_the_catalogue_has_at_least_forty_inputs():
    assert len(CASES) + len(MAP_DAMAGE) >= 40 and len(set(_case_ids())) == len(CASES)


@pytest.mark.parametrize("case,file_name,data,env,message", CASES, ids=_case_ids())
def test_cli_build_refuses_with_exit_code_2_and_writes_nothing(places, tmp_path, monkeypatch, case, file_name,
                                                                data, env, message):
    data_dir, cache_dir = places
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / file_name
    path.write_bytes(data)
    result = runner.invoke(cli.app, ["build", str(path), "--name", "cat"])
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.stderr
    assert "Traceback" not in result.output
    assert _tree(data_dir) == {} and _tree(cache_dir) == {}
    assert sorted(p.name for p in folder.iterdir()) == [file_name]


@pytest.mark.parametrize("case,file_name,data,env,message", CASES, ids=_case_ids())
def test_upload_page_path_refuses_with_the_same_message(places, monkeypatch, case, file_name, data, env,
                                                        message):
    data_dir, cache_dir = places
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(QAInputError) as err:
        _ui.read_upload(data, file_name)
    assert message in str(err.value)
    assert _tree(data_dir) == {} and _tree(cache_dir) == {}


# ---------------------------------------------------------------- damaged map folders
def _flip_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _set_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / store.MANIFEST_FILE).read_text())
    manifest.update(changes)
    (folder / store.MANIFEST_FILE).write_text(json.dumps(manifest))


MAP_DAMAGE = {
    "manifest_missing": (lambda f: (f / store.MANIFEST_FILE).unlink(), "not a UniVaR map (foreign folder"),
    "manifest_not_json": (lambda f: (f / store.MANIFEST_FILE).write_text("{not json"),
                          "damaged: manifest.json is not readable JSON"),
    "manifest_foreign_format": (lambda f: _set_manifest(f, format="something-else"),
                                "format is not 'univar-map'"),
    "unsupported_version": (lambda f: _set_manifest(f, format_version=99), "unsupported map format_version 99"),
    "qas_checksum_mismatch": (lambda f: _flip_byte(f / store.QAS_FILE), "damaged: qas.parquet"),
    "embeddings_truncated": (lambda f: (f / store.EMBEDDINGS_FILE).write_bytes(
        (f / store.EMBEDDINGS_FILE).read_bytes()[:-16]), "damaged: embeddings.npy size expected"),
    "embeddings_missing": (lambda f: (f / store.EMBEDDINGS_FILE).unlink(), "damaged: missing file embeddings.npy"),
}


def _damaged_map(data_dir: Path, damage) -> Path:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6, 4)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    qas = pd.DataFrame({"qa_id": [f"q{i}" for i in range(6)], "dataset": "d", "model": "m", "lang": "eng",
                        "value_id": "m$eng", "question_id": [f"i{i}" for i in range(6)],
                        "question": [f"Q{i}?" for i in range(6)], "answer": [f"A{i}." for i in range(6)],
                        "x": np.zeros(6, np.float32), "y": np.zeros(6, np.float32), "cluster": 0,
                        "cluster_label": "c", "layer": "base"})
    folder = store.save_map(ValueMap("broken", qas, emb, {"encoder": {"name": "pre", "content_hash": "precomputed"}}),
                            data_dir=data_dir)
    damage(folder)
    return folder


@pytest.mark.parametrize("case", list(MAP_DAMAGE))
def test_damaged_map_is_refused_by_the_cli_and_the_app_path_and_left_as_it_is(places, tmp_path, case):
    data_dir, _ = places
    damage, message = MAP_DAMAGE[case]
    folder = _damaged_map(data_dir, damage)
    before = _tree(data_dir)
    new = tmp_path / "new.parquet"
    new.write_bytes(_parquet(_emb_df([[1.0, 0.0, 0.0, 0.0]] * 3)))
    for args in (["info", str(folder)], ["place", str(new), "--map", str(folder), "--layer", "x"]):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 2, result.output
        assert f"error: {folder}: " in result.stderr and message in result.stderr
    with pytest.raises(MapError, match=message.replace("(", r"\(").replace(".", r"\.")):
        store.load_map(folder, verify=True)       # what the app's sidebar opens a map with
    assert _tree(data_dir) == before
