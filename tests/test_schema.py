"""schema.py: column aliases, clear errors, counted skips, derived ids, dtypes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.data.schema import (
    CORE_COLUMNS,
    QAInputError,
    derive_question_id,
    looks_non_english,
    make_value_id,
    validate_qas,
)


def qa_frame(**overrides) -> pd.DataFrame:
    base = {
        "question": ["Should I live near my parents?", "Is it fine to lie to protect a friend?",
                     "Should I live near my parents?"],
        "answer": ["Family matters most; stay close.", "Honesty comes first, even with friends.",
                   "Independence helps you grow; move away."],
        "model": ["aurora-7b", "aurora-7b", "borealis-13b"],
        "lang": ["eng", "eng", "ind"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_valid_table_has_core_columns_first_as_str_and_fresh_index():
    df = qa_frame(notes=["a", "b", "c"])
    df.index = [10, 20, 30]
    out, report = validate_qas(df, source="qa.csv")
    assert list(out.columns) == CORE_COLUMNS + ["notes"]
    assert all(str(out[c].dtype) == "str" for c in CORE_COLUMNS)
    assert list(out.index) == [0, 1, 2]
    assert out["value_id"].tolist() == ["aurora-7b$eng", "aurora-7b$eng", "borealis-13b$ind"]
    assert out["dataset"].unique().tolist() == ["qa"]          # file stem when no column/argument
    assert out["qa_id"].tolist() == ["qa:0", "qa:1", "qa:2"]
    assert report.n_input_rows == 3 and report.n_accepted == 3
    assert report.kept_rows.tolist() == [0, 1, 2]
    assert report.skipped == [] and report.column_mapping == {}
    assert df.index.tolist() == [10, 20, 30] and "value_id" not in df.columns  # input untouched


def test_aliases_case_and_whitespace_are_mapped_and_reported():
    df = pd.DataFrame({" Prompt ": ["Q?"], "RESPONSE": ["A."], "llm": ["m"], "Language": ["eng"],
                       "qid": ["x1"], "corpus": ["mine"]})
    out, report = validate_qas(df)
    assert report.column_mapping == {"question": " Prompt ", "answer": "RESPONSE", "model": "llm",
                                     "lang": "Language", "question_id": "qid", "dataset": "corpus"}
    assert out.loc[0, "question_id"] == "x1" and out.loc[0, "dataset"] == "mine"
    assert "columns used:" in report.summary() and "'RESPONSE' -> answer" in report.summary()


def test_canonical_name_wins_over_alias_which_is_kept_as_extra():
    df = qa_frame(generator=["g1", "g2", "g3"])
    out, report = validate_qas(df)
    assert "model" not in report.column_mapping
    assert out["model"].tolist() == ["aurora-7b", "aurora-7b", "borealis-13b"]
    assert out["generator"].tolist() == ["g1", "g2", "g3"]


def test_empty_table_is_an_error():
    with pytest.raises(QAInputError, match=r"^up\.csv: the table is empty"):
        validate_qas(pd.DataFrame(columns=["question", "answer", "model", "lang"]), source="up.csv")


def test_missing_columns_lists_found_and_accepted_names():
    with pytest.raises(QAInputError) as err:
        validate_qas(pd.DataFrame({"text": ["x"], "model": ["m"]}), source="up.csv")
    msg = str(err.value)
    assert "missing required column(s) question, answer, lang" in msg
    assert "Found columns: 'text', 'model'" in msg
    assert "answer: answer, response, output, completion" in msg and "lang: lang, language" in msg
    assert err.value.source == "up.csv" and err.value.row is None


def test_repeated_column_names_are_an_error():
    df = pd.concat([qa_frame(), qa_frame()[["answer"]]], axis=1)
    with pytest.raises(QAInputError, match=r"^t\.csv: column name\(s\) 'answer' appear more than once"):
        validate_qas(df, source="t.csv")


def test_dollar_in_model_names_file_row_and_column():
    df = qa_frame(LLM=["ok", "bad$name", "ok"]).drop(columns="model")
    with pytest.raises(QAInputError) as err:
        validate_qas(df, source="up.csv")
    assert str(err.value).startswith("up.csv, row 2, column 'LLM': model name 'bad$name' contains '$'")
    assert (err.value.row, err.value.column) == (2, "LLM")


@pytest.mark.parametrize("column,what", [("model", "model name"), ("lang", "language")])
def test_empty_or_whitespace_model_or_lang_is_an_error_with_row(column, what):
    values = ["x", "x", "   "]
    with pytest.raises(QAInputError, match=rf"up\.csv, row 3, column '{column}': empty {what}"):
        validate_qas(qa_frame(**{column: values}), source="up.csv")


def test_empty_answers_and_duplicates_are_skipped_and_counted():
    df = pd.DataFrame({
        "question": ["q1", "q2", "q1", "q3", "q1"],
        "answer": ["a1", "  ", "a1", None, "a1 "],
        "model": ["m"] * 5, "lang": ["eng"] * 5,
    })
    out, report = validate_qas(df, source="up.csv")
    assert report.n_accepted == 1 and len(out) == 1
    assert report.kept_rows.tolist() == [0]
    skipped = report.skipped_frame()
    assert skipped["row"].tolist() == [2, 3, 4, 5]
    assert skipped["reason"].tolist()[0] == "empty answer"
    assert skipped["column"].tolist()[0] == "answer"
    assert skipped["reason"].tolist()[1].startswith("duplicate of row 1")
    assert "skipped 4 rows (empty answer: 2; duplicate: 2)" in report.summary()


def test_same_text_under_another_value_id_is_not_a_duplicate():
    out, report = validate_qas(qa_frame(question=["q"] * 3, answer=["a"] * 3))
    assert report.n_accepted == 2  # rows 1 and 2 share model+lang+text; row 3 is another value ID
    assert report.skipped[0].row == 2


def test_same_text_under_two_question_ids_is_not_a_duplicate():
    df = qa_frame(question=["q"] * 3, answer=["a"] * 3, model=["m"] * 3, lang=["eng"] * 3,
                  question_id=["i1", "i2", "i1"])
    out, report = validate_qas(df)
    assert out["question_id"].tolist() == ["i1", "i2"]
    assert report.skipped[0].row == 3
    assert "question_id" in report.skipped[0].reason


def test_same_answer_at_two_checkpoints_is_not_a_duplicate():
    df = qa_frame(question=["q"] * 3, answer=["a"] * 3, model=["m"] * 3, lang=["eng"] * 3,
                  checkpoint=["step0", "step1", "step1"])
    out, report = validate_qas(df)
    assert out["checkpoint"].tolist() == ["step0", "step1"]
    assert report.skipped[0].reason == "duplicate of row 2 (same model, lang, question, answer, checkpoint)"


def test_all_rows_skipped_is_an_error():
    with pytest.raises(QAInputError, match="no usable rows"):
        validate_qas(qa_frame(answer=["", " ", None]))


def test_long_texts_are_truncated_and_counted():
    out, report = validate_qas(qa_frame(answer=["x" * 50, "short", "y" * 35]), max_chars=35)
    assert out["answer"].tolist() == ["x" * 35, "short", "y" * 35]
    assert out.loc[1, "question"] == "Is it fine to lie to protect a frie"  # 38 characters cut to 35
    assert report.n_truncated == 2
    assert "truncated 2 over-long texts" in report.summary()


def test_non_english_text_gets_a_translation_warning():
    ind = "Saya sangat senang membantu anda dengan pertanyaan tentang keluarga dan tradisi di kota kami"
    out, report = validate_qas(qa_frame(answer=[ind, "我认为家庭和传统比个人的选择更加重要。", "Family first."]))
    assert len(report.warnings) == 1
    assert "machine-translates every QA to English" in report.warnings[0]
    assert "English-only" in report.warnings[0]
    _, english = validate_qas(qa_frame())
    assert english.warnings == []


def test_looks_non_english_heuristic():
    assert looks_non_english("这是中文的回答")
    assert not looks_non_english("Yes, a consistent routine can reduce stress and give you a sense of order.")
    assert not looks_non_english("OK")


def test_question_id_kept_when_present_else_derived_from_normalised_text():
    out, _ = validate_qas(qa_frame(question_id=["a", "", "c"]))
    assert out.loc[0, "question_id"] == "a" and out.loc[2, "question_id"] == "c"
    assert out.loc[1, "question_id"] == derive_question_id("Is it fine to lie to protect a friend?")
    qid = derive_question_id("Should I live near my parents?")
    assert qid == derive_question_id("  should I live   near my parents ")
    assert qid != derive_question_id("Should I live far from my parents?")
    assert len(qid) == 11 and qid[0] == "q" and int(qid[1:], 16) >= 0
    derived, _ = validate_qas(qa_frame())
    assert derived.loc[0, "question_id"] == derived.loc[2, "question_id"] == qid


def test_dataset_argument_overrides_column_and_qa_id_kept_if_unique():
    df = qa_frame(dataset=["d1", "d2", ""], qa_id=["x", "y", "z"])
    out, _ = validate_qas(df, source="f.csv")
    assert out["dataset"].tolist() == ["d1", "d2", "f"]
    assert out["qa_id"].tolist() == ["x", "y", "z"]
    out2, report = validate_qas(df.assign(qa_id=["x", "x", "z"]), dataset="given")
    assert out2["dataset"].unique().tolist() == ["given"]
    assert out2["qa_id"].tolist() == ["given:0", "given:1", "given:2"]
    assert any("qa_id" in w for w in report.warnings)


def test_validation_is_idempotent():
    first, _ = validate_qas(qa_frame(), source="a.csv")
    second, report = validate_qas(first, source="a.csv")
    pd.testing.assert_frame_equal(first, second)
    assert report.warnings == []


def test_make_value_id_and_numeric_cells_become_text():
    assert make_value_id("gpt-4", "eng") == "gpt-4$eng"
    out, _ = validate_qas(pd.DataFrame({"question": [1.5], "answer": [2], "model": [7], "lang": ["eng"]}))
    assert out.iloc[0][["question", "answer", "model"]].tolist() == ["1.5", "2", "7"]
    assert isinstance(out["model"].iloc[0], str)
    assert np.asarray(out["value_id"]).tolist() == ["7$eng"]


def test_language_codes_are_written_as_iso_639_3_and_the_given_codes_kept():
    df = pd.DataFrame({"question": ["q1", "q2", "q3", "q4", "q5"], "answer": ["a"] * 5,
                       "model": ["m"] * 5, "lang": ["en", "EN", "English", "eng", "en-US"],
                       "value_id": ["m$en", "m$EN", "m$English", "m$eng", "m$en-US"]})
    out, report = validate_qas(df, source="up.csv")
    assert out["lang"].tolist() == ["eng", "eng", "eng", "eng", "en-US"]      # region-tagged: kept as given
    assert out["value_id"].tolist() == ["m$eng"] * 4 + ["m$en-US"]
    assert out["lang_original"].tolist() == ["en", "EN", "English", "eng", "en-US"]
    assert report.warnings == ["language codes written as ISO 639-3, as in the paper's value IDs: 'en' -> 'eng' "
                               "(1 row), 'EN' -> 'eng' (1 row), 'English' -> 'eng' (1 row); the codes as given "
                               "are kept in column lang_original"]


def test_iso639_3_reads_codes_as_codes_and_names_as_names():
    from univar_core.data.languages import iso639_3

    assert [iso639_3(c) for c in ("en", "ger", "chi", "zh", "id", "Indonesian", "tl")] == \
        ["eng", "deu", "zho", "zho", "ind", "ind", "tgl"]     # 'en' is not the language named "En"
    assert iso639_3("xx") is None and iso639_3("en-US") is None and iso639_3("not a language") is None
