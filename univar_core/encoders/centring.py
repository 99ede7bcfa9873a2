"""Question-centred embeddings: subtract each question's mean embedding, keep what differs between value IDs.

Every value ID of a UniVaR corpus answers the same questions, so a general sentence encoder puts a
question's answers on one spot whoever gave them: the topic dominates. Subtracting the question's mean
embedding leaves how an answer departs from the consensus on that question, which is what differs
between value IDs; the difference is re-normalised to unit length (cosine is what every consumer uses).

This module is the one home of that representation. It sits in ``encoders/`` because it is a step
after any encoder (base, trained head, full fine-tune, precomputed vectors) that maps (build, place)
and analysis (value identification) both apply; maps and analysis depend on encoders, never on each
other.

The mean of a question is the mean over the value IDs that answered it: the mean of each value ID's
mean answer, so a value ID with several answers to a question does not weigh more. With
``value_ids=None`` each QA counts as its own group (a plain mean over the question's QAs): that form
uses no value-ID label and is what value identification applies to held-out QAs.

A QA cannot be centred when its question was answered by a single value ID (nothing to centre on:
the difference would be zero or another answer of the same value ID), or, for new QAs placed on a
map, when the map lacks its question. Such rows get a zero vector and ``ok=False``; callers count,
report and leave them out (maps) or keep them as unidentifiable (evaluation).

Stored in a map folder as ``question_means.parquet`` (question_id, text_key, n_value_ids, n_qas, mean:
a list of float32): plain columns, never pickle. ``text_key`` (the id derived from the normalised
question text) matches new QAs to a question when their file has no question_id column, or another one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

MEANS_COLUMNS = ("question_id", "text_key", "n_value_ids", "n_qas", "mean")
# A residual this short is two (near-)identical answers: its direction is rounding noise, not a value.
MIN_RESIDUAL_NORM = 1e-4
_CHUNK_ROWS = 65_536  # rows per sparse product: bounded memory on memory-mapped million-row maps


@dataclass
class QuestionMeans:
    """Per-question mean embeddings (only questions answered by at least two value IDs)."""

    question_ids: np.ndarray   # str, (q,)
    means: np.ndarray          # float32, (q, d)
    n_value_ids: np.ndarray    # int64, (q,)
    n_qas: np.ndarray          # int64, (q,)
    text_keys: np.ndarray      # str, (q,): schema.derive_question_id of the question's text

    def __len__(self) -> int:
        return len(self.question_ids)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def lookup(self, question_ids, questions=None) -> np.ndarray:
        """Row of each question in ``means`` by question_id, else by question text; -1 where there is none."""
        where = pd.Index(self.question_ids).get_indexer(pd.Index(np.asarray(question_ids).astype(str)))
        if questions is not None and (where < 0).any():
            from univar_core.data.schema import derive_question_id

            texts = pd.Series(np.asarray(questions, dtype=object)[where < 0]).astype(str)
            keys = texts.map({t: derive_question_id(t) for t in pd.unique(texts)})
            row_of_key = pd.Series(np.arange(len(self.text_keys)), index=self.text_keys)
            row_of_key = row_of_key[~row_of_key.index.duplicated()]
            where[where < 0] = row_of_key.reindex(keys.to_numpy()).fillna(-1).to_numpy(np.int64)
        return where

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"question_id": pd.Series(self.question_ids, dtype=str),
                             "text_key": pd.Series(self.text_keys, dtype=str),
                             "n_value_ids": self.n_value_ids.astype(np.int64),
                             "n_qas": self.n_qas.astype(np.int64),
                             "mean": list(self.means.astype(np.float32))})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "QuestionMeans":
        missing = [c for c in MEANS_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"question means lack the column(s) {missing}")
        means = (np.stack([np.asarray(m, dtype=np.float32) for m in frame["mean"]])
                 if len(frame) else np.zeros((0, 0), np.float32))
        return cls(frame["question_id"].astype(str).to_numpy(), means,
                   frame["n_value_ids"].to_numpy(np.int64), frame["n_qas"].to_numpy(np.int64),
                   frame["text_key"].astype(str).to_numpy())


@dataclass
class CentringReport:
    """What centring did to a set of QAs (counts for manifests, CLI output and pages)."""

    n_qas: int
    n_centred: int
    n_questions: int                 # distinct questions among the QAs
    n_single_value_id_questions: int  # questions answered by one value ID (nothing to centre on)
    n_single_value_id_qas: int
    n_unknown_question_qas: int = 0   # new QAs whose question the map has no mean for

    @property
    def n_not_centred(self) -> int:
        return self.n_qas - self.n_centred

    def to_dict(self) -> dict:
        return {k: int(v) for k, v in self.__dict__.items()}

    def summary(self) -> str:
        parts = [f"question-centred {self.n_centred:,} of {self.n_qas:,} QAs"]
        if self.n_single_value_id_qas:
            parts.append(f"{self.n_single_value_id_qas:,} QA(s) of {self.n_single_value_id_questions:,} "
                         "question(s) answered by a single value ID have nothing to centre on")
        if self.n_unknown_question_qas:
            parts.append(f"{self.n_unknown_question_qas:,} QA(s) answer questions the map has no mean for "
                         "(it lacks those questions, or only one value ID answered them there)")
        return "; ".join(parts)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(pd.Series(np.asarray(values).astype(str)), sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object).astype(str)


def fit_question_means(embeddings: np.ndarray, question_ids, value_ids=None, questions=None
                       ) -> tuple[QuestionMeans, np.ndarray]:
    """Mean embedding of every question over the value IDs that answered it.

    Returns (means of the questions answered by >= 2 value IDs, and for every question in sorted order
    its number of value IDs). ``value_ids=None``: every QA is its own group (no labels used).
    """
    n = len(question_ids)
    if embeddings.shape[0] != n:
        raise ValueError(f"{embeddings.shape[0]} embedding rows for {n} question ids")
    q_codes, q_names = _codes(question_ids)
    groups = np.arange(n) if value_ids is None else _codes(value_ids)[0]
    # (question, value ID) pairs: the mean of each pair, then the mean of a question's pairs.
    pair_codes = np.unique(q_codes * (groups.max(initial=0) + 1) + groups, return_inverse=True)[1].ravel()
    n_pairs = int(pair_codes.max(initial=-1)) + 1
    rows_per_pair = np.bincount(pair_codes, minlength=n_pairs)
    pair_question = np.zeros(n_pairs, np.int64)
    pair_question[pair_codes] = q_codes
    vids_per_question = np.bincount(pair_question, minlength=len(q_names))
    qas_per_question = np.bincount(q_codes, minlength=len(q_names))
    weight = 1.0 / (rows_per_pair[pair_codes] * vids_per_question[q_codes])
    avg = sp.csr_matrix((weight, (q_codes, np.arange(n))), shape=(len(q_names), n))
    means = np.zeros((len(q_names), embeddings.shape[1]), np.float64)
    for s in range(0, n, _CHUNK_ROWS):
        means += avg[:, s:s + _CHUNK_ROWS] @ np.asarray(embeddings[s:s + _CHUNK_ROWS], dtype=np.float64)
    keep = vids_per_question >= 2
    text_keys = np.full(len(q_names), "", dtype=object)
    if questions is not None:
        from univar_core.data.schema import derive_question_id

        first_row = np.full(len(q_names), -1, np.int64)
        first_row[q_codes[::-1]] = np.arange(n)[::-1]  # the first text of each question
        texts = np.asarray(questions, dtype=object)[first_row]
        text_keys = np.asarray([derive_question_id(t) for t in texts], dtype=object)
    return (QuestionMeans(q_names[keep], means[keep].astype(np.float32), vids_per_question[keep].astype(np.int64),
                          qas_per_question[keep].astype(np.int64), text_keys[keep].astype(str)),
            vids_per_question)


def apply_means(embeddings: np.ndarray, where: np.ndarray, means: QuestionMeans) -> tuple[np.ndarray, np.ndarray]:
    """(unit-length centred vectors, ok mask) given each row's mean (``where``, -1: none): zero rows where
    the question has no mean (or the answer equals the mean)."""
    where = np.asarray(where)
    ok = where >= 0
    out = np.zeros((len(where), embeddings.shape[1]), np.float32)
    if ok.any():
        resid = np.asarray(embeddings, dtype=np.float32)[ok] - means.means[where[ok]]
        norms = np.linalg.norm(resid, axis=1)
        good = norms >= MIN_RESIDUAL_NORM
        resid[good] /= norms[good, None]
        resid[~good] = 0.0
        out[ok] = resid
        ok_idx = np.flatnonzero(ok)
        ok[ok_idx[~good]] = False
    return out, ok


def centre_questions(embeddings: np.ndarray, question_ids, value_ids=None, questions=None
                     ) -> tuple[np.ndarray, np.ndarray, QuestionMeans, CentringReport]:
    """Centre a corpus on its own question means. Returns (vectors, ok mask, the means, the report).

    ``value_ids``: the labels when they may be used (building a map, the train side of an evaluation);
    ``None`` for held-out QAs (plain mean over the question's QAs, and a question with a single QA is
    the one that cannot be centred). The report's single-value-ID counts use ``value_ids`` when given.
    ``questions``: their texts, recorded so that new QAs without the same question_id still match.
    """
    means, vids_per_question = fit_question_means(embeddings, question_ids, value_ids, questions)
    vectors, ok = apply_means(embeddings, means.lookup(question_ids), means)
    q_codes, _ = _codes(question_ids)
    single_q = vids_per_question < 2
    report = CentringReport(n_qas=len(ok), n_centred=int(ok.sum()), n_questions=len(vids_per_question),
                            n_single_value_id_questions=int(single_q.sum()),
                            n_single_value_id_qas=int(single_q[q_codes].sum()))
    return vectors, ok, means, report


def centre_new(embeddings: np.ndarray, question_ids, means: QuestionMeans, questions=None
               ) -> tuple[np.ndarray, np.ndarray, CentringReport]:
    """Centre new QAs with a map's stored means (what placing on a centred map does); a QA is matched
    to the map's question by question_id, else by its question text."""
    if means.dim and embeddings.shape[1] != means.dim:
        raise ValueError(f"embeddings have dimension {embeddings.shape[1]}, the question means {means.dim}")
    where = means.lookup(question_ids, questions)
    vectors, ok = apply_means(embeddings, where, means)
    known = where >= 0
    report = CentringReport(n_qas=len(ok), n_centred=int(ok.sum()),
                            n_questions=int(pd.Series(np.asarray(question_ids).astype(str)).nunique()),
                            n_single_value_id_questions=0, n_single_value_id_qas=0,
                            n_unknown_question_qas=int((~known).sum()))
    return vectors, ok, report
