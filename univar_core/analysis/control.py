"""The representations the Evaluate page compares, and the non-value control comparison (paper fig. 4).

A representation of a map's QAs is its stored embeddings ("map"), a trained head applied to them
("head": only a head whose base is the map's encoder, encoders/compat.py), or a full run that
re-embeds the QAs ("full"). The control measures value identification (k-NN balanced accuracy) on the
map's value QAs and on generic, non-value instructions answered by the same models: a value encoder
should lose more on the generic ones than the base encoder does.

Encoders are loaded through the ``load_encoder`` argument (name or folder -> encoder with
``encode_qas``), so tests pass a fake one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from univar_core.analysis import identification
from univar_core.data.splits import split_qas
from univar_core.encoders.compat import head_matches_map, load_head_for_map
from univar_core.encoders.resolve import PRECOMPUTED_HASH, map_backend

CONTROL_CORPUS = "alpacaeval_control"     # folder of the shared control corpus (qa.csv) under the shared data

LoadEncoder = Callable[..., Any]   # (name, backend=...) -> encoder: encoders.resolve.load_encoder_cached


def _encoder_info(manifest: dict) -> dict:
    return manifest.get("encoder") or {}


def can_embed(manifest: dict) -> bool:
    """Whether the map's encoder can embed new text (not when its vectors were given precomputed)."""
    return _encoder_info(manifest).get("content_hash") != PRECOMPUTED_HASH


def leak_note(map_name: str, run: Any) -> str:
    """A warning when a run trained on this map's QAs: all of them (test questions seen) or a split."""
    if run.source_map != map_name:
        return ""
    if not isinstance(run.split, dict):
        return f"{run.name} was trained on all QAs of this map, test questions included: its score is optimistic."
    return f"{run.name} was trained on the train side of split {run.split}: use the same split settings here."


def representations(map_name: str, manifest: dict, runs: pd.DataFrame) -> list[dict]:
    """The map's embeddings first, then every head that fits the map and every full run (training/runs
    list_runs()). Each: {label, kind: map|head|full, path, stamp (changes when the run is retrained), note}."""
    enc = _encoder_info(manifest).get("name")
    out = [{"label": f"{enc} (map embeddings)", "kind": "map", "path": "", "stamp": 0.0, "note": ""}]
    for run in runs.itertuples():
        if run.kind == "head" and head_matches_map(run.path, manifest)[0]:
            out.append({"label": f"head {run.name}", "kind": "head", "path": run.path,
                        "stamp": (Path(run.path) / "head.safetensors").stat().st_mtime,
                        "note": leak_note(map_name, run)})
        elif run.kind == "full":
            out.append({"label": f"full {run.name} (re-embeds the map)", "kind": "full", "path": run.path,
                        "stamp": Path(run.path).stat().st_mtime, "note": leak_note(map_name, run)})
    return out


def _embed(encoder: Any, qas: pd.DataFrame, progress=None) -> np.ndarray:
    result = encoder.encode_qas(qas["question"].tolist(), qas["answer"].tolist(), progress=progress)
    return np.asarray(result.embeddings, dtype=np.float32)


def features(rep: dict, qas: pd.DataFrame, emb: np.ndarray, manifest: dict, *, load_encoder: LoadEncoder,
             progress=None) -> np.ndarray:
    """The representation's vectors of the map's QAs (row-aligned with qas)."""
    base = np.asarray(emb, dtype=np.float32)
    if rep["kind"] == "map":
        return base
    if rep["kind"] == "head":
        return load_head_for_map(rep["path"], manifest).transform(np.array(base))   # a writable copy
    return _embed(load_encoder(rep["path"]), qas, progress)


def read_control(path: str | Path) -> pd.DataFrame:
    """A control QA file whose models carry their control-corpus names, renamed to their value-corpus
    counterparts (identification.CONTROL_MODEL_MAP) so value IDs match the map's."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return identification.map_control_models(raw)


def shared_control_path(shared_root: str | Path | None) -> Path | None:
    """qa.csv of the shared AlpacaEval control corpus, when the shared data has it."""
    if shared_root is None:
        return None
    path = Path(shared_root) / CONTROL_CORPUS / "qa.csv"
    return path if path.is_file() else None


def control_for_map(control: pd.DataFrame, map_qas: pd.DataFrame) -> pd.DataFrame:
    """The control QAs of the value IDs the map has."""
    value_ids = set(map_qas["value_id"].astype(str))
    return control[control["value_id"].astype(str).isin(value_ids)].reset_index(drop=True)


def cap_questions(control: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most n questions (the same ones for every value ID: they stay paired)."""
    qids = np.array(sorted(control["question_id"].astype(str).unique()))
    if len(qids) > n:
        qids = np.random.default_rng(seed).choice(qids, size=n, replace=False)
    return control[control["question_id"].astype(str).isin(set(qids))].reset_index(drop=True)


def control_comparison(qas: pd.DataFrame, emb: np.ndarray, manifest: dict, control: pd.DataFrame,
                       reps: list[dict], *, load_encoder: LoadEncoder, by: str = "question_id",
                       test_fraction: float = 0.3, seed: int = 0, k: int = 50, tfidf: bool = True,
                       progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """k-NN balanced accuracy on the map's QAs vs on the control QAs, for the value IDs both have.

    One row per representation (and TF-IDF, chance, majority): value QAs, non-value QAs, drop (value
    minus non-value), n_value_ids. Representations on the map's vectors are skipped when the map's
    encoder cannot embed the control (precomputed vectors). progress: (done, total) of embedding the
    control with the map's encoder."""
    common = sorted(set(control["value_id"].astype(str)) & set(qas["value_id"].astype(str)))
    control = control[control["value_id"].astype(str).isin(common)].reset_index(drop=True)
    in_map = qas["value_id"].astype(str).isin(common).to_numpy()
    map_qas = qas[in_map].reset_index(drop=True)
    value_feats, control_feats = {}, {}
    base_control = None
    for rep in reps:
        if rep["kind"] != "full" and not can_embed(manifest):
            continue
        if rep["kind"] in ("map", "head") and base_control is None:
            base_control = _embed(load_encoder(str(_encoder_info(manifest).get("name")), backend=map_backend(manifest)),
                                  control, progress)
        value_feats[rep["label"]] = features(rep, qas, emb, manifest, load_encoder=load_encoder)[in_map]
        if rep["kind"] == "map":
            control_feats[rep["label"]] = base_control
        elif rep["kind"] == "head":
            control_feats[rep["label"]] = load_head_for_map(rep["path"], manifest).transform(base_control)
        else:
            control_feats[rep["label"]] = _embed(load_encoder(rep["path"]), control)
    by = by if by in map_qas else "question_id"
    kw: dict[str, Any] = dict(k=k, probe=False, tfidf=tfidf, baselines=True, by_dataset=False, seed=seed)
    value_split = split_qas(map_qas, by=by, test_fraction=test_fraction, seed=seed)
    control_split = split_qas(control, by="question_id", test_fraction=test_fraction, seed=seed)
    v = identification.value_identification_table(map_qas, value_feats, value_split, **kw)
    c = identification.value_identification_table(control, control_feats, control_split, **kw)
    v = v[(v["dataset"] == "all") & (v["subset"] == "all")].set_index("representation")["knn_bal_acc"]
    c = c[(c["dataset"] == "all") & (c["subset"] == "all")].set_index("representation")["knn_bal_acc"]
    out = pd.DataFrame({"value QAs": v, "non-value QAs": c}).dropna().reset_index(names="representation")
    out["drop"] = out["value QAs"] - out["non-value QAs"]
    out["n_value_ids"] = len(common)
    return out


__all__ = ["CONTROL_CORPUS", "representations", "features", "read_control", "shared_control_path",
           "control_for_map", "cap_questions", "control_comparison", "can_embed", "leak_note"]
