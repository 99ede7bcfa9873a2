"""The QA table: its columns, the aliases people use for them, and validation with clear errors.

A validated QA table has ``CORE_COLUMNS`` first (all ``str`` dtype), then every extra column of the
source, and a fresh RangeIndex. ``value_id = model + "$" + lang`` (the paper's notation).

Bad input is reported, never guessed at: structural problems (no rows, missing columns, a ``$`` in a
model name, an empty model or language) raise :class:`QAInputError` naming file, row and column;
row-level problems that leave the rest usable (empty answers, exact duplicates) skip the row and
record it in :class:`ValidationReport` so the user sees what was dropped and why.
"""
from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np
import pandas as pd

from univar_core.data.languages import describe_changes, normalise_languages

CORE_COLUMNS = ["qa_id", "dataset", "model", "lang", "value_id", "question_id", "question", "answer"]
REQUIRED = ("question", "answer", "model", "lang")

# canonical -> accepted header names (compared lower-cased and whitespace-stripped). The canonical
# name itself always wins over an alias; among aliases the first listed that is present is used.
ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("prompt", "instruction", "input", "query", "question_text"),
    "answer": ("response", "output", "completion", "answer_text", "reply", "generation"),
    "model": ("llm", "generator", "model_name", "model_id"),
    "lang": ("language", "language_code", "lang_code", "locale"),
    "question_id": ("qid", "prompt_id", "instruction_id"),
    "dataset": ("dataset_name", "corpus"),
    "qa_id": (),
}

DEFAULT_MAX_CHARS = 20_000
# File stems that say nothing about the data: the parent folder names the dataset instead
# (../shared/data/valuebench_qa/qa.csv -> "valuebench_qa").
GENERIC_STEMS = frozenset({"qa", "qas", "data", "dataset", "train", "test", "answers", "outputs", "output"})
VALUE_ID_SEPARATOR = "$"

# Share of (sampled) QAs that must look non-English before we warn; a few stray loanwords are fine.
NON_ENGLISH_WARN_FRACTION = 0.10
_NON_ENGLISH_SAMPLE = 500
# Frequent English function words: real English prose of a dozen words nearly always has several.
_ENGLISH_FUNCTION_WORDS = frozenset(
    "the a an and or but of to in on for with at by from as is are was were be been it this that "
    "these those you your i we they he she not no yes can should would will do does if so".split()
)
_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
_PUNCT_TABLE = str.maketrans({c: " " for c in string.punctuation + "¿¡“”‘’«»…—–"})


class QAInputError(ValueError):
    """Bad user input. ``str(err)`` names the source, the 1-based data row and the column when known."""

    def __init__(self, message: str, *, source: str = "<table>", row: int | None = None,
                 column: str | None = None):
        self.message = message
        self.source = source
        self.row = row
        self.column = column
        where = [source]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass
class SkippedRow:
    row: int            # 1-based data row of the input (header excluded)
    column: str | None  # the column that caused the skip (None: the whole row)
    reason: str


@dataclass
class ValidationReport:
    source: str
    n_input_rows: int
    n_accepted: int
    column_mapping: dict[str, str] = field(default_factory=dict)
    skipped: list[SkippedRow] = field(default_factory=list)
    n_truncated: int = 0
    warnings: list[str] = field(default_factory=list)
    kept_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def summary(self) -> str:
        lines = [f"{self.source}: {self.n_accepted:,} of {self.n_input_rows:,} rows accepted"]
        if self.column_mapping:
            renamed = ", ".join(f"'{found}' -> {canon}" for canon, found in self.column_mapping.items())
            lines.append(f"columns used: {renamed}")
        if self.skipped:
            counts = self.skipped_frame()["reason"].map(_reason_kind).value_counts()
            detail = "; ".join(f"{kind}: {n:,}" for kind, n in counts.items())
            lines.append(f"skipped {len(self.skipped):,} rows ({detail})")
        if self.n_truncated:
            lines.append(f"truncated {self.n_truncated:,} over-long texts (cut to the character limit)")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def skipped_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "row": pd.array([s.row for s in self.skipped], dtype="int64"),
                "column": pd.array([s.column for s in self.skipped], dtype="object"),
                "reason": pd.array([s.reason for s in self.skipped], dtype="object"),
            }
        )


def _reason_kind(reason: str) -> str:
    """'duplicate of row 3' -> 'duplicate': groups skip reasons for the summary line."""
    return reason.split(" of row")[0].split(" (")[0]


def make_value_id(model: str, lang: str) -> str:
    return f"{model}{VALUE_ID_SEPARATOR}{lang}"


def normalise_question(question: str) -> str:
    """Lower-case, punctuation removed, whitespace collapsed: small edits keep the same question_id."""
    return " ".join(str(question).lower().translate(_PUNCT_TABLE).split())


def derive_question_id(question: str) -> str:
    """Stable id of a question from its normalised text: 'q' + 10 hex digits of its SHA-1."""
    digest = hashlib.sha1(normalise_question(question).encode("utf-8")).hexdigest()
    return "q" + digest[:10]


def _derived_ids(questions: pd.Series) -> pd.Series:
    """derive_question_id per distinct text (every model answers the same questions: many repeats)."""
    ids = {q: derive_question_id(q) for q in pd.unique(questions)}
    return questions.map(ids)


def looks_non_english(text: str) -> bool:
    """Cheap language guess: mostly non-Latin letters, or a dozen+ words with almost no English
    function words (catches Indonesian, Spanish ... written in ASCII)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    non_ascii = sum(1 for c in letters if not c.isascii())
    if non_ascii / len(letters) > 0.3:
        return True
    words = _WORD_RE.findall(text.lower())
    if len(words) < 12:
        return False
    common = sum(1 for w in words if w in _ENGLISH_FUNCTION_WORDS)
    return common / len(words) < 0.08


def _map_columns(df: pd.DataFrame, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """Find each canonical column among the headers. Returns (canonical -> original header,
    canonical -> original header for the renamed ones only)."""
    by_norm: dict[str, str] = {}
    for col in df.columns:
        norm = str(col).strip().lower()
        by_norm.setdefault(norm, col)  # first of two equal headers wins; the other stays an extra
    found: dict[str, str] = {}
    renamed: dict[str, str] = {}
    for canon, aliases in ALIASES.items():
        for name in (canon, *aliases):
            if name in by_norm and by_norm[name] not in found.values():
                found[canon] = by_norm[name]
                if str(by_norm[name]) != canon:  # a different or differently written header
                    renamed[canon] = str(by_norm[name])
                break
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        accepted = "; ".join(f"{c}: {', '.join((c, *ALIASES[c]))}" for c in missing)
        present = ", ".join(repr(str(c)) for c in df.columns)
        raise QAInputError(
            f"missing required column(s) {', '.join(missing)}. Found columns: {present}. "
            f"Accepted names (case-insensitive): {accepted}.",
            source=source,
        )
    return found, renamed


def _text_column(series: pd.Series) -> pd.Series:
    """Cells as text (pandas str dtype, whose string ops are vectorised); missing values become ''."""
    if not (pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype)):
        series = series.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                            else str(v))
    return series.fillna("").astype(str)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_id_part(values: pd.Series, *, what: str, column: str, source: str) -> None:
    """model and lang: non-empty, no '$' (it separates them in value IDs)."""
    empty = (values == "").to_numpy()
    if empty.any():
        pos = _first_bad(empty)
        raise QAInputError(
            f"empty {what} ({int(empty.sum()):,} row(s) affected); every QA needs a {what} to form "
            f"its value ID (model$lang)",
            source=source, row=pos + 1, column=column,
        )
    dollar = values.str.contains(VALUE_ID_SEPARATOR, regex=False).to_numpy()
    if dollar.any():
        pos = _first_bad(dollar)
        raise QAInputError(
            f"{what} {values.iloc[pos]!r} contains '$', which separates model and language in value "
            f"IDs (model$lang); rename it, e.g. replace '$' with '-' ({int(dollar.sum()):,} row(s) affected)",
            source=source, row=pos + 1, column=column,
        )


def default_dataset_name(source: str) -> str:
    """The file stem, or its folder's name when the stem is generic ('valuebench_qa/qa.csv')."""
    if source.startswith("<"):
        return "table"
    path = PurePath(source)
    if path.stem.lower() in GENERIC_STEMS and path.parent.name:
        return path.parent.name
    return path.stem or "table"


def _non_english_warning(questions: pd.Series, answers: pd.Series, langs: pd.Series) -> str | None:
    n = len(answers)
    if n == 0:
        return None
    step = max(1, n // _NON_ENGLISH_SAMPLE)  # evenly spaced sample: cheap on large tables
    idx = np.arange(0, n, step)
    texts = (questions.iloc[idx] + " " + answers.iloc[idx]).tolist()
    flags = np.fromiter((looks_non_english(t) for t in texts), dtype=bool, count=len(texts))
    frac = float(flags.mean())
    if frac < NON_ENGLISH_WARN_FRACTION:
        return None
    flagged_langs = sorted(set(langs.iloc[idx[flags]].tolist()))
    shown = ", ".join(flagged_langs[:8]) + (" ..." if len(flagged_langs) > 8 else "")
    return (
        f"about {frac:.0%} of the QAs look non-English (languages: {shown}). The default encoder "
        f"(all-MiniLM-L6-v2) is English-only; the UniVaR paper machine-translates every QA to English "
        f"before embedding. Translate first, or use a multilingual encoder."
    )


def validate_qas(df: pd.DataFrame, *, source: str = "<table>", dataset: str | None = None,
                 max_chars: int = DEFAULT_MAX_CHARS) -> tuple[pd.DataFrame, ValidationReport]:
    """Check and normalise a raw QA table. Never modifies ``df``; raises QAInputError on input that
    cannot be used, skips (and reports) rows that can be dropped on their own."""
    if df is None or len(df.columns) == 0 or len(df) == 0:
        raise QAInputError("the table is empty (no data rows); expected columns "
                           + ", ".join(REQUIRED), source=source)
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if repeated:
        raise QAInputError(f"column name(s) {', '.join(map(repr, repeated))} appear more than once; "
                           f"rename them so each column is unique", source=source)
    n_input = len(df)
    found, renamed = _map_columns(df, source)

    model = _text_column(df[found["model"]]).str.strip()
    lang = _text_column(df[found["lang"]]).str.strip()
    _check_id_part(model, what="model name", column=str(found["model"]), source=source)
    _check_id_part(lang, what="language", column=str(found["lang"]), source=source)
    question = _text_column(df[found["question"]]).str.strip()
    answer = _text_column(df[found["answer"]]).str.strip()

    skip_reason = pd.Series([""] * n_input, dtype=object)
    skip_column = pd.Series([None] * n_input, dtype=object)
    empty_answer = (answer == "").to_numpy()
    skip_reason[empty_answer] = "empty answer"
    skip_column[empty_answer] = str(found["answer"])
    empty_question = (question == "").to_numpy() & ~empty_answer
    skip_reason[empty_question] = "empty question"
    skip_column[empty_question] = str(found["question"])

    # Exact duplicates of an earlier usable row (same model, lang, question, answer). A source's
    # question_id and checkpoint count too: the same text under two question ids is two items
    # (ValueBench has 282 such questions, answered identically at temperature 0), and a fine-tune
    # may give the same answer at two checkpoints; neither must be dropped.
    key = pd.DataFrame({"m": model, "l": lang, "q": question, "a": answer})
    dup_fields = ["model", "lang", "question", "answer"]
    if "question_id" in found:
        key["i"] = _text_column(df[found["question_id"]]).str.strip()
        dup_fields.append("question_id")
    checkpoint_col = next((c for c in df.columns if str(c).strip().lower() == "checkpoint"), None)
    if checkpoint_col is not None:
        key["c"] = _text_column(df[checkpoint_col]).str.strip()
        dup_fields.append("checkpoint")
    usable = skip_reason == ""
    group = key.groupby(list(key.columns), sort=False).ngroup().to_numpy()
    usable_pos = np.flatnonzero(usable.to_numpy())
    first_pos = pd.Series(usable_pos).groupby(group[usable_pos]).transform("first").to_numpy()
    for pos, first in zip(usable_pos[first_pos != usable_pos], first_pos[first_pos != usable_pos]):
        skip_reason[pos] = f"duplicate of row {first + 1} (same {', '.join(dup_fields)})"

    kept = np.flatnonzero((skip_reason == "").to_numpy()).astype(np.int64)
    skipped = [SkippedRow(row=int(p) + 1, column=skip_column[p], reason=skip_reason[p])
               for p in np.flatnonzero((skip_reason != "").to_numpy())]
    if len(kept) == 0:
        raise QAInputError(f"no usable rows: all {n_input:,} rows were skipped "
                           f"(first: row {skipped[0].row}, {skipped[0].reason})", source=source)

    question, answer = question.iloc[kept], answer.iloc[kept]
    model, lang = model.iloc[kept], lang.iloc[kept]
    given_lang = lang
    lang, lang_changes = normalise_languages(lang)
    long_q = (question.str.len() > max_chars).to_numpy()
    long_a = (answer.str.len() > max_chars).to_numpy()
    n_truncated = int(long_q.sum() + long_a.sum())
    question = question.str.slice(0, max_chars)
    answer = answer.str.slice(0, max_chars)

    if dataset is not None:
        ds = pd.Series([str(dataset)] * len(kept), dtype=object)
    elif "dataset" in found:
        ds = _text_column(df[found["dataset"]].iloc[kept]).str.strip().reset_index(drop=True)
        ds = ds.mask(ds == "", default_dataset_name(source))
    else:
        ds = pd.Series([default_dataset_name(source)] * len(kept), dtype=object)

    question = question.reset_index(drop=True)
    if "question_id" in found:
        qid = _text_column(df[found["question_id"]].iloc[kept]).str.strip().reset_index(drop=True)
        missing_qid = qid == ""
        if missing_qid.any():
            qid[missing_qid] = _derived_ids(question[missing_qid])
    else:
        qid = _derived_ids(question)

    qa_id = None
    warnings: list[str] = []
    if "qa_id" in found:
        given = _text_column(df[found["qa_id"]].iloc[kept]).str.strip().reset_index(drop=True)
        if (given != "").all() and given.is_unique:
            qa_id = given
        else:
            warnings.append(f"column '{found['qa_id']}' has empty or repeated ids; new qa_ids were made")
    if qa_id is None:
        qa_id = ds + ":" + pd.Series(kept.astype(str), dtype=object)

    value_id = model.reset_index(drop=True) + VALUE_ID_SEPARATOR + lang.reset_index(drop=True)
    core = {
        "qa_id": qa_id, "dataset": ds, "model": model, "lang": lang, "value_id": value_id,
        "question_id": qid, "question": question, "answer": answer,
    }
    out = pd.DataFrame({k: pd.Series(v).reset_index(drop=True).astype(str) for k, v in core.items()})

    used = set(found.values())
    for col in df.columns:
        if col in used:
            continue
        name = str(col)
        if name == "value_id":
            given_vid = _text_column(df[col].iloc[kept]).reset_index(drop=True)
            as_given = out["model"] + VALUE_ID_SEPARATOR + given_lang.reset_index(drop=True)
            if not ((given_vid == out["value_id"]) | (given_vid == as_given)).all():
                warnings.append("the source's value_id column disagrees with model$lang; "
                                "value_id was recomputed from model and lang")
            continue
        if name in out.columns:
            name = f"{name}_original"  # e.g. a second 'Answer' header next to 'answer'
        out[name] = df[col].iloc[kept].reset_index(drop=True)

    if lang_changes:
        note = ""
        if "lang_original" not in out.columns:
            out["lang_original"] = given_lang.reset_index(drop=True)
            note = "; the codes as given are kept in column lang_original"
        warnings.append("language codes written as ISO 639-3, as in the paper's value IDs: "
                        f"{describe_changes(lang_changes)}{note}")
    warn = _non_english_warning(out["question"], out["answer"], out["lang"])
    if warn:
        warnings.append(warn)

    report = ValidationReport(
        source=source, n_input_rows=n_input, n_accepted=len(out), column_mapping=renamed,
        skipped=skipped, n_truncated=n_truncated, warnings=warnings, kept_rows=kept,
    )
    return out, report
