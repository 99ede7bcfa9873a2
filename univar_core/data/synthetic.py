"""A synthetic corpus at the paper's scale, for benchmarks and the large-map tests.

15 models x 25 languages = 375 value IDs answer the same questions, with precomputed unit vectors
(384-d by default) that carry planted structure: each vector mixes its question's direction (the
topic, as a general sentence encoder sees it), its model's and its language's directions, and noise.
Texts are short. Written to parquet in row groups with an ``embedding`` list<float32> column, so a
million rows never sit in memory at once, here or when the build reads them back.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from univar_core._atomic import atomic_path

N_MODELS = 15
N_LANGS = 25
_LANGS = ("eng ind zho jpn kor vie tha msa tgl hin ben urd ara fas tur rus ukr pol deu fra spa "
          "por ita nld swe").split()
_WORDS = ("duty freedom family tradition harmony fairness care loyalty authority purity honesty "
          "community respect progress safety kindness wisdom courage justice faith").split()
# weights of question / model / language / noise directions in each vector (then normalised)
_MIX = (0.55, 0.45, 0.35, 0.6)


def value_ids(n_models: int = N_MODELS, n_langs: int = N_LANGS) -> list[str]:
    return [f"model{m:02d}${_LANGS[lang]}" for m in range(n_models) for lang in range(n_langs)]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic_chunks(n: int, *, dim: int = 384, n_models: int = N_MODELS, n_langs: int = N_LANGS,
                     seed: int = 0, chunk_rows: int = 100_000):
    """Yield (pandas DataFrame without vectors, (rows, dim) float32 vectors) chunks, n rows in all.
    Row i answers question i // n_value_ids for value ID i % n_value_ids: every value ID answers
    the same questions, as in a UniVaR corpus."""
    import pandas as pd

    if n_langs > len(_LANGS):
        raise ValueError(f"at most {len(_LANGS)} languages")
    rng = np.random.default_rng(seed)
    n_vid = n_models * n_langs
    n_questions = -(-n // n_vid)
    directions = rng.standard_normal((n_models + n_langs + min(n_questions, 4096), dim))
    model_dir = _unit(directions[:n_models])
    lang_dir = _unit(directions[n_models:n_models + n_langs])
    question_dir = _unit(directions[n_models + n_langs:])
    stance = rng.integers(0, len(_WORDS), size=n_vid)  # each value ID's favourite word
    wq, wm, wl, wn = _MIX
    for start in range(0, n, chunk_rows):
        rows = np.arange(start, min(n, start + chunk_rows))
        vid, q = rows % n_vid, rows // n_vid
        model, lang = vid // n_langs, vid % n_langs
        noise = rng.standard_normal((len(rows), dim)).astype(np.float32) / np.sqrt(dim)
        vectors = _unit(wq * question_dir[q % len(question_dir)] + wm * model_dir[model]
                        + wl * lang_dir[lang] + wn * noise)
        word = np.asarray(_WORDS)
        other = rng.integers(0, len(_WORDS), size=len(rows))
        frame = pd.DataFrame({
            "qa_id": [f"syn:{i}" for i in rows],
            "model": [f"model{m:02d}" for m in model],
            "lang": np.asarray(_LANGS)[lang],
            "question_id": [f"q{i}" for i in q],
            "question": [f"Question {i}: what matters most about {word[i % len(word)]}?" for i in q],
            "answer": [f"It is {a} first, then {b}." for a, b in zip(word[stance[vid]], word[other])],
        })
        yield frame, vectors


def write_synthetic_parquet(path: str | Path, n: int, *, dim: int = 384, seed: int = 0,
                            chunk_rows: int = 100_000, **kw) -> Path:
    """Write the corpus (with its ``embedding`` column) to `path`, chunk by chunk; atomic (temp
    file, then rename), so a cached corpus is either whole or absent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        writer = None
        try:
            for frame, vectors in synthetic_chunks(n, dim=dim, seed=seed, chunk_rows=chunk_rows, **kw):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                flat = pa.array(vectors.reshape(-1), type=pa.float32())
                table = table.append_column("embedding", pa.FixedSizeListArray.from_arrays(flat, dim))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table, row_group_size=chunk_rows)
        finally:
            if writer is not None:
                writer.close()
    return path
