"""Question banks: the built-in one (assets/question_bank.jsonl) and users' own CSV/JSONL files.

A bank is a table with ``question_id, question, lang`` (lang defaults to English) and, in the
built-in bank, the values each question probes on the three lenses (lists of subdimension names of
assets/lenses/{schwartz,mft,valuelex}.json). The UniVaR release's question files read as banks too:
any file with a question column (the QA schema's aliases count: prompt, instruction, ...).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from univar_core.data.languages import iso639_3
from univar_core.data.readers import read_table
from univar_core.data.schema import ALIASES, QAInputError, derive_question_id
from univar_core.paths import ASSETS_DIR

BUILTIN_BANK = ASSETS_DIR / "question_bank.jsonl"
LENS_TAG_COLUMNS = ("schwartz", "mft", "valuelex")
BANK_COLUMNS = ["question_id", "question", "lang"]


def _find(columns: list[str], canonical: str) -> str | None:
    lowered = {str(c).strip().lower(): c for c in columns}
    for name in (canonical, *ALIASES.get(canonical, ())):
        if name in lowered:
            return lowered[name]
    return None


def load_bank(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The bank at ``path`` (CSV/TSV/JSONL/JSON/parquet/xlsx), or the built-in one when None.

    Rows with an empty question are refused (QAInputError naming the row); a missing question_id is
    derived from the question text, as for QA files; a question repeated with its id is kept once (a QA
    file read as a bank), one id with two different questions in one language is refused."""
    source = BUILTIN_BANK if path is None else Path(path)
    name = str(source)
    raw = read_table(source, name=name)
    qcol = _find(list(raw.columns), "question")
    if qcol is None:
        raise QAInputError(f"no question column (expected 'question' or one of "
                           f"{', '.join(ALIASES['question'])}); columns: {', '.join(map(str, raw.columns))}",
                           source=name)
    bank = raw.rename(columns={qcol: "question"}).copy()
    bank["question"] = bank["question"].astype("string").fillna("").str.strip()
    empty = (bank["question"] == "").to_numpy().nonzero()[0]
    if len(empty):
        raise QAInputError("empty question", source=name, row=int(empty[0]) + 1, column=str(qcol))
    idcol = _find(list(bank.columns), "question_id")
    if idcol is None:
        bank["question_id"] = [derive_question_id(q) for q in bank["question"]]
    else:
        bank = bank.rename(columns={idcol: "question_id"})
        ids = bank["question_id"].astype("string").fillna("").str.strip()
        bank["question_id"] = ids.where(ids != "", pd.Series([derive_question_id(q) for q in bank["question"]],
                                                             index=bank.index, dtype="string"))
    langcol = _find(list(bank.columns), "lang")
    langs = bank[langcol] if langcol is not None else pd.Series(["eng"] * len(bank), index=bank.index)
    langs = langs.astype("string").fillna("").str.strip()
    bank["lang"] = [iso639_3(x) or x if x else "eng" for x in langs]
    if langcol is not None and langcol != "lang":
        bank = bank.drop(columns=langcol)
    # A QA file used as a bank (the UniVaR release's files) repeats each question once per answer: the
    # same id with the same text is one question; the same id with another text is an error.
    bank = bank[~bank.duplicated(["question_id", "lang", "question"])]
    dup = bank.duplicated(["question_id", "lang"]).to_numpy().nonzero()[0]
    if len(dup):
        row = int(bank.index[dup[0]])
        raise QAInputError(f"question_id {bank['question_id'].loc[row]!r} has two different questions in "
                           f"language {bank['lang'].loc[row]!r}", source=name, row=row + 1, column="question_id")
    bank["question_id"] = bank["question_id"].astype(str)
    bank["question"] = bank["question"].astype(str)
    rest = [c for c in bank.columns if c not in BANK_COLUMNS]
    return bank[BANK_COLUMNS + rest].reset_index(drop=True)


def select_questions(bank: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """The first ``n`` distinct question_ids in bank order (all when None), with every language version
    of each. The built-in bank is ordered so that its first n questions are n different situations."""
    if n is not None and n < 1:
        raise QAInputError(f"number of questions must be at least 1, got {n}", source="--questions")
    ids = bank["question_id"].drop_duplicates()
    if n is not None:
        ids = ids.iloc[:n]
    return bank[bank["question_id"].isin(set(ids))].reset_index(drop=True)


def questions_in(bank: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The bank's questions written in ``lang`` (ISO 639-3)."""
    return bank[bank["lang"] == lang].reset_index(drop=True)
