"""A small ValueBench sample for map tests (build and placement share one map, built once per session)."""
from __future__ import annotations

import numpy as np
import pandas as pd

N_BUILD_QUESTIONS = 40
N_HELDOUT_QUESTIONS = 20


def valuebench_split(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two question-disjoint subsets of ValueBench (all 6 models each), chosen by a fixed seed.
    Questions are picked by distinct text: 282 texts repeat under two question_ids."""
    raw = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv")
    texts = raw.drop_duplicates("question_id")["question"].drop_duplicates()
    rng = np.random.default_rng(7)
    chosen = rng.choice(texts.to_numpy(), N_BUILD_QUESTIONS + N_HELDOUT_QUESTIONS, replace=False)
    build_q, held_q = set(chosen[:N_BUILD_QUESTIONS]), set(chosen[N_BUILD_QUESTIONS:])
    first_id = raw.drop_duplicates("question").set_index("question")["question_id"]
    keep_ids = lambda qs: raw["question_id"].isin(first_id[list(qs)])  # noqa: E731
    return raw[keep_ids(build_q)].reset_index(drop=True), raw[keep_ids(held_q)].reset_index(drop=True)


def small_table(vb_files, n: int) -> pd.DataFrame:
    """The first n held-out QAs (a table small enough for precomputed-vector tests)."""
    return pd.read_csv(vb_files[1]).iloc[:n].reset_index(drop=True)


def random_unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
