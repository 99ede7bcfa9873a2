"""Train/test splits that do not leak questions, optionally holding whole value IDs out.

Questions are disjoint between train and test: rows are grouped by `question_id` (or by a coarser
column such as `questionnaire`), and groups that share a normalised question text are merged first,
so an item that sits in two inventories cannot appear on both sides. Held-out value IDs (the paper's
"unseen LLMs") keep their train-question rows for the k-NN / probe but never reach the encoder
trainer: use `Split.encoder_train`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from univar_core.data.schema import QAInputError


@dataclass
class Split:
    train: np.ndarray                      # row positions (0-based) with train questions
    test: np.ndarray                       # row positions with test questions
    by: str                                # the grouping column
    seed: int
    test_fraction: float
    heldout_value_ids: list[str] = field(default_factory=list)
    encoder_train: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # train rows whose value ID is not held out: the only rows an encoder may be trained on

    def summary(self) -> str:
        held = f", {len(self.heldout_value_ids)} value IDs held out" if self.heldout_value_ids else ""
        return (f"split by {self.by} (seed {self.seed}): {len(self.train)} train rows, "
                f"{len(self.test)} test rows{held}")


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip().lower())


def _merge_groups_sharing_text(groups: pd.Series, questions: pd.Series) -> np.ndarray:
    """Union-find over group labels linked by identical normalised question text; returns a root per row."""
    labels, codes = np.unique(groups.to_numpy(dtype=str), return_inverse=True)
    parent = np.arange(len(labels))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    frame = pd.DataFrame({"g": codes, "q": questions.map(_normalise).to_numpy()})
    for members in frame.groupby("q")["g"].unique():
        root = find(int(members[0]))
        for other in members[1:]:
            parent[find(int(other))] = root
    return np.array([find(int(c)) for c in range(len(labels))])[codes]


def split_qas(qas: pd.DataFrame, *, by: str = "question_id", test_fraction: float = 0.3, seed: int = 0,
              heldout_value_ids: list[str] | tuple[str, ...] = (), n_heldout_value_ids: int = 0) -> Split:
    """A seeded question-disjoint split of the rows of `qas` (positions, not index labels).

    by: "question_id" or any column whose values group questions (e.g. "questionnaire").
    test_fraction: target share of rows in test; whole groups move, so the share is approximate.
    heldout_value_ids / n_heldout_value_ids: value IDs kept away from encoder training (named, or
    drawn at random with the seed).
    """
    for col in {by, "question", "value_id"}:
        if col not in qas.columns:
            raise QAInputError(f"cannot split: no column '{col}' (columns: {', '.join(map(str, qas.columns))})",
                               column=col)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    roots = _merge_groups_sharing_text(qas[by], qas["question"])
    unique_roots, sizes = np.unique(roots, return_counts=True)
    if len(unique_roots) < 2:
        raise QAInputError(f"cannot split: all {len(qas)} rows fall in one '{by}' group", column=by)

    # Shuffle groups, then move each to test if it still fits under the target share; a group larger
    # than the target (e.g. inventories that share items) stays in train rather than swamping test.
    order = rng.permutation(len(unique_roots))
    target = test_fraction * len(qas)
    test_roots, n_test = [], 0
    for i in order:
        if n_test + sizes[i] <= target:
            test_roots.append(unique_roots[i])
            n_test += sizes[i]
    if not test_roots:  # every group exceeds the target: take the smallest
        test_roots.append(unique_roots[np.argmin(sizes)])
    is_test = np.isin(roots, test_roots)

    value_ids = qas["value_id"].astype(str).to_numpy()
    held = list(dict.fromkeys(heldout_value_ids))
    unknown = sorted(set(held) - set(value_ids))
    if unknown:
        raise QAInputError(f"held-out value IDs not in the table: {', '.join(unknown)}", column="value_id")
    if n_heldout_value_ids:
        candidates = sorted(set(value_ids) - set(held))
        if n_heldout_value_ids >= len(candidates):
            raise ValueError(f"cannot hold out {n_heldout_value_ids} of {len(candidates)} value IDs")
        held += [str(v) for v in rng.choice(candidates, size=n_heldout_value_ids, replace=False)]

    train = np.flatnonzero(~is_test)
    return Split(train=train, test=np.flatnonzero(is_test), by=by, seed=seed, test_fraction=test_fraction,
                 heldout_value_ids=sorted(held),
                 encoder_train=train[~np.isin(value_ids[train], held)])


def leaked_questions(qas: pd.DataFrame, split: Split) -> set[str]:
    """Question ids and normalised question texts found on both sides of the split (empty = no leak)."""
    train, test = qas.iloc[split.train], qas.iloc[split.test]
    leaks = set()
    if "question_id" in qas.columns:
        leaks |= set(train["question_id"].astype(str)) & set(test["question_id"].astype(str))
    leaks |= set(train["question"].map(_normalise)) & set(test["question"].map(_normalise))
    if split.by in qas.columns:
        leaks |= {f"{split.by}={g}" for g in set(train[split.by].astype(str)) & set(test[split.by].astype(str))}
    return leaks


def assert_no_leak(qas: pd.DataFrame, split: Split) -> None:
    """Raise ValueError naming the leaked questions when train and test share any; also check that
    no held-out value ID reaches encoder training and that no row is on both sides."""
    problems = []
    if np.intersect1d(split.train, split.test).size:
        problems.append("rows on both sides")
    leaks = leaked_questions(qas, split)
    if leaks:
        problems.append(f"{len(leaks)} shared questions/groups, e.g. {sorted(leaks)[:5]}")
    held = set(split.heldout_value_ids)
    if held and set(qas["value_id"].iloc[split.encoder_train].astype(str)) & held:
        problems.append("held-out value IDs in encoder training rows")
    if problems:
        raise ValueError("split leaks: " + "; ".join(problems))


SPLIT_COLUMNS = ("question_id", "questionnaire", "dataset", "subset")


def split_columns(qas: pd.DataFrame) -> list[str]:
    """The columns a question-disjoint split can group by, finest first: question_id, then the coarser
    questionnaire / dataset / subset; only those that leave at least 2 groups once groups sharing a
    question text are merged (as split_qas merges them: two inventories that repeat items are one)."""
    def groups(col: str) -> int:
        if "question" not in qas.columns:
            return qas[col].nunique()
        return len(np.unique(_merge_groups_sharing_text(qas[col], qas["question"])))

    return [c for c in SPLIT_COLUMNS if c in qas.columns and qas[c].nunique() >= 2 and groups(c) >= 2]
