"""Machine translation with a tiny random Marian model built locally: the language-token lookup for
NLLB / M2M100 / multi-target Marian vocabularies, batching, the cache by model hash and text, the
columns the UniVaR release keeps (original text, mt_lang), and `univar translate`."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.collect.mt_langs import language_tokens
from univar_core.collect.translation import Translator, translate_qas
from univar_core.maps import store

sys.path.insert(0, str(Path(__file__).parent))
from tiny_causal_lm import bank_words, build_tiny_marian  # noqa: E402

WORDS = bank_words() + "我 应该 告诉 经理 吗 是 不 这 取决于".split()


@pytest.fixture(scope="module")
def m2m_folder(tmp_path_factory):
    return build_tiny_marian(tmp_path_factory.mktemp("mt") / "m2m", WORDS, ["__en__", "__zh__", "__id__"])


@pytest.fixture()
def translator(m2m_folder, tmp_path):
    return Translator(str(m2m_folder), batch_size=2, max_tokens=6, cache_dir=tmp_path / "mtcache")


def test_language_tokens_come_from_the_vocabulary():
    nllb = {"eng_Latn", "zho_Hans", "zho_Hant", "zsm_Latn"}
    assert language_tokens(nllb, "zho", "eng") == language_tokens(nllb, "zho", "eng")
    lt = language_tokens(nllb, "zho", "eng")
    assert (lt.source_token, lt.target_token, lt.style) == ("zho_Hans", "eng_Latn", "nllb")
    assert language_tokens(nllb, "msa", "eng").source_token == "zsm_Latn"     # macrolanguage -> FLORES code
    m2m = language_tokens({"__en__", "__zh__"}, "zho", "eng")
    assert (m2m.source_token, m2m.target_token, m2m.style) == ("__zh__", "__en__", "m2m100")
    assert language_tokens({">>zho<<", "a"}, "eng", "zho").target_prefix == ">>zho<< "
    assert language_tokens({"a", "b"}, "zho", "eng").style == "none"          # a single-pair opus-mt model


def test_translate_is_batched_and_cached_by_model_hash_and_text(translator, tmp_path):
    texts = ["我 应该 告诉 经理 吗", "是", "我 应该 告诉 经理 吗", "", "这 取决于"]
    first = translator.translate(texts, "zho", "eng")
    assert len(first) == 5 and first[0] == first[2] and first[3] == ""
    assert translator.n_translated == 3                       # the repeat and the empty text never reach the model
    again = Translator(translator.name, cache_dir=tmp_path / "mtcache")
    assert again.translate(texts, "zho", "eng") == first and again.n_translated == 0
    assert again.translate(["是"], "ind", "eng") and again.n_translated == 1   # other source language: new key


def test_translate_qas_keeps_the_original_text_and_mt_lang(translator):
    table = pd.DataFrame({"model": "m", "lang": ["eng", "zho", "zho"], "question": ["Should I?", "我 应该 吗", "是"],
                          "answer": ["Yes.", "是", "不"]})
    out, n_new = translate_qas(table, translator, to="eng")
    assert out["mt_lang"].tolist() == ["", "zho", "zho"] and out["lang"].tolist() == ["eng", "zho", "zho"]
    assert out["question_original"].tolist() == table["question"].tolist()
    assert out.loc[0, "question"] == "Should I?" and out.loc[0, "answer"] == "Yes."    # English rows untouched
    assert n_new == 3 and (out["mt_model"] == ["", translator.name, translator.name]).all()


def test_cli_translate_then_reads_as_a_qa_file(m2m_folder, tmp_path):
    src = tmp_path / "qa.csv"
    pd.DataFrame({"model": "m", "lang": ["zho", "eng"], "question": ["我 应该 告诉 经理 吗", "Should I?"],
                  "answer": ["是", "No."]}).to_csv(src, index=False)
    out = tmp_path / "qa_eng.csv"
    got = CliRunner().invoke(cli.app, ["translate", str(src), "--model", str(m2m_folder), "--out", str(out),
                                       "--max-tokens", "5"], env={"UNIVAR_CACHE_DIR": str(tmp_path / "cache")})
    assert got.exit_code == 0, got.output
    assert "1 of 2 QAs translated into eng" in got.output
    back = pd.read_csv(out, keep_default_na=False)
    assert back["mt_lang"].tolist() == ["zho", ""] and back["answer_original"].tolist() == ["是", "No."]
    bad = CliRunner().invoke(cli.app, ["translate", str(src), "--model", str(tmp_path / "nope"), "--out", str(out)])
    assert bad.exit_code == 2 and "cannot load a translation model" in bad.output


def test_collect_with_an_mt_model_translates_questions_out_and_answers_back(m2m_folder, tmp_path, tiny_causal_lm_dir,
                                                                             monkeypatch):
    from univar_core.collect.bank import load_bank
    from univar_core.collect.local_model import LocalCausalLM
    from univar_core.collect.run import run_collection

    monkeypatch.setenv("UNIVAR_CACHE_DIR", str(tmp_path / "cache"))
    lm = LocalCausalLM(str(tiny_causal_lm_dir), model="tiny", batch_size=4)
    result = run_collection(lm, load_bank(), langs=["eng", "zho"], out=tmp_path / "qa.csv", n_questions=2,
                            translator=Translator(str(m2m_folder), max_tokens=5))
    qas = result.qas.set_index("lang")
    assert (qas.loc["zho", "question_source"] == "mt").all()
    assert (qas.loc["zho", "question"] == qas.loc["zho", "question_eng"]).all()       # English for embedding
    assert (qas.loc["zho", "question_original"] != qas.loc["zho", "question_eng"]).all()  # what was asked
    assert (qas.loc["zho", "mt_lang"] == "zho").all() and (qas.loc["eng", "mt_lang"] == "").all()
    assert (qas.loc["eng", "question_source"] == "bank").all()


@pytest.mark.slow
def test_build_with_mt_model_translates_before_embedding(m2m_folder, tmp_path):
    src = tmp_path / "qa.csv"
    pd.DataFrame({"model": "m", "lang": ["zho"] * 3 + ["eng"] * 3,
                  "question": ["我 应该 告诉 经理 吗", "是", "这 取决于", "Should I?", "Is it right?", "Why?"],
                  "answer": ["是", "不", "是 不", "Yes.", "No.", "Because."]}).to_csv(src, index=False)
    got = CliRunner().invoke(cli.app, ["build", str(src), "--name", "mt", "--mt-model", str(m2m_folder),
                                       "--embeddings", str(tmp_path / "x.npy")])
    assert got.exit_code == 2 and "untranslated text" in got.output
    env = {"UNIVAR_DATA_DIR": str(tmp_path / "maps"), "UNIVAR_CACHE_DIR": str(tmp_path / "cache")}
    got = CliRunner().invoke(cli.app, ["build", str(src), "--name", "mt", "--mt-model", str(m2m_folder),
                                       "--n-neighbors", "3"], env=env)
    assert got.exit_code == 0, got.output
    assert "translated 3 non-English QAs into English" in got.output
    qas = store.load_map("mt", data_dir=tmp_path / "maps").qas
    assert sorted(qas["mt_lang"]) == ["", "", "", "zho", "zho", "zho"] and "answer_original" in qas
