"""Value identification on frozen features (paper table 1, A4, fig. 4).

How "balanced over value IDs" is done here (the paper does not say):
- k-NN (k=50, cosine, majority vote; ties go to the label with the larger summed similarity): the
  train side is subsampled (seeded) to the smallest value ID's count, so large value IDs do not win
  votes by size; on the test side every metric is a mean over value IDs: `knn_bal_acc` is balanced
  accuracy (mean per-value-ID recall), `knn_macro_f1` the unweighted mean F1. Plain `knn_acc` is kept.
- Linear probe (torch, one linear layer, AdamW lr 2e-3, batch 512, 20 epochs, cross-entropy with
  class weights inverse to the train counts): `probe_acc@k` is the mean over value IDs of the share of
  their test QAs whose true value ID is in the top k; NaN where k >= the number of value IDs (every
  value ID is then in the top k: a 1.000 that says nothing).
- Question-centred rows (``centre_questions=True``): each representation again after subtracting every
  question's mean embedding (encoders.centring). Train QAs are centred on the train QAs of their question
  (mean over the value IDs that answered it); held-out QAs on the held-out QAs of their question, as a
  plain mean over those QAs, so no value-ID label of a test QA is used; what a test QA's vector depends
  on is the other answers to the same held-out question (transductive over the test questions, as
  centring a new model's answers on a map uses the answers already there). A test question with a single
  QA has nothing to centre on: its vector is zero (an unidentifiable QA that still counts as a miss).
- Baselines: "chance" (uniform guess: 1/C, acc@k = min(k, C)/C) and "majority" (always the most
  frequent train value ID; its balanced accuracy is 1/C, its plain accuracy that value ID's test
  share), and "TF-IDF" (sklearn TfidfVectorizer on the "Q: .. A: .." text, same k-NN and probe).
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import balanced_accuracy_score, f1_score

from univar_core.neighbours import cosine_top_k, unit_rows

# AlpacaEval (non-value control) model folder -> the ValueBench model of the same family and size.
CONTROL_MODEL_MAP: dict[str, str] = {
    "gpt4_1106_preview": "gpt-4-1106-preview",
    "gpt-3.5-turbo-1106": "gpt-3.5-turbo-1106",
    "llama-2-7b-chat-hf": "llama-7b-chat",
    "llama-2-70b-chat-hf": "llama-70b-chat",
    "Mistral-7B-Instruct-v0.2": "mistral-7b-instruct",
    "Mixtral-8x7B-Instruct-v0.1": "mixtral-8x7b-instruct",
}
METRICS = ["knn_acc", "knn_bal_acc", "knn_macro_f1", "probe_acc@1", "probe_acc@5", "probe_acc@10"]


def map_control_models(control_qas: pd.DataFrame, model_map: dict[str, str] = CONTROL_MODEL_MAP) -> pd.DataFrame:
    """The control QAs of the mapped models only, renamed to their value-corpus names (value_id rebuilt);
    the original name is kept in `control_model`."""
    out = control_qas[control_qas["model"].isin(model_map)].copy()
    out["control_model"] = out["model"]
    out["model"] = out["model"].map(model_map)
    out["value_id"] = out["model"] + "$" + out["lang"].astype(str)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------- primitives

def knn_predict(train_X, train_y: np.ndarray, test_X, *, k: int = 50, chunk: int = 2048) -> np.ndarray:
    """Cosine k-NN majority vote; ties go to the tied label with the larger summed similarity."""
    train_X, test_X = unit_rows(train_X), unit_rows(test_X)
    labels, codes = np.unique(train_y, return_inverse=True)
    k = min(k, len(codes))
    preds = np.empty(test_X.shape[0], dtype=codes.dtype)
    for s in range(0, test_X.shape[0], chunk):
        top, top_sims = cosine_top_k(test_X[s:s + chunk], train_X, k, assume_unit=True)
        votes = np.zeros((len(top), len(labels)))
        sim_sum = np.zeros((len(top), len(labels)))
        rows = np.repeat(np.arange(len(top)), k)
        np.add.at(votes, (rows, codes[top].ravel()), 1)
        np.add.at(sim_sum, (rows, codes[top].ravel()), top_sims.ravel())
        # votes dominate; summed similarity (< k) only breaks ties
        preds[s:s + chunk] = np.argmax(votes * (k + 1) + sim_sum, axis=1)
    return labels[preds]


def balance_by_subsampling(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Row positions keeping a seeded random min-count subset of every label."""
    rng = np.random.default_rng(seed)
    labels, codes = np.unique(y, return_inverse=True)
    n_min = np.bincount(codes).min()
    keep = [rng.choice(np.flatnonzero(codes == c), size=n_min, replace=False) for c in range(len(labels))]
    return np.sort(np.concatenate(keep))


def _topk_balanced(scores: np.ndarray, y_codes: np.ndarray, k: int) -> float:
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    hit = (top == y_codes[:, None]).any(1)
    return float(np.mean([hit[y_codes == c].mean() for c in np.unique(y_codes)]))


def linear_probe_scores(train_X, train_y, test_X, *, classes: np.ndarray, lr: float = 2e-3,
                        batch_size: int = 512, epochs: int = 20, seed: int = 0) -> np.ndarray:
    """Logits (n_test, C) of a linear layer trained on frozen features (class-weighted cross-entropy)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    train_X, test_X = unit_rows(train_X), unit_rows(test_X)
    y = torch.from_numpy(np.searchsorted(classes, train_y)).long()
    counts = torch.bincount(y, minlength=len(classes)).float()
    weight = counts.sum() / (len(classes) * counts.clamp(min=1))
    layer = torch.nn.Linear(train_X.shape[1], len(classes))
    opt = torch.optim.AdamW(layer.parameters(), lr=lr)

    def dense(x, idx):
        part = x[idx]
        return torch.from_numpy(np.asarray(part.toarray() if sp.issparse(part) else part, dtype=np.float32))

    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen).numpy()
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            loss = torch.nn.functional.cross_entropy(layer(dense(train_X, idx)), y[idx], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return np.concatenate([layer(dense(test_X, np.arange(s, min(s + 4096, test_X.shape[0])))).numpy()
                               for s in range(0, test_X.shape[0], 4096)])


def evaluate_features(train_X, train_y, test_X, test_y, *, k: int = 50, probe: bool = True,
                      balance_train: bool = True, seed: int = 0, probe_kwargs: dict | None = None) -> dict:
    """k-NN and linear-probe value identification of test rows from train rows (see module docstring).
    probe_kwargs: overrides of the paper's probe settings (lr, batch_size, epochs)."""
    train_y, test_y = np.asarray(train_y).astype(str), np.asarray(test_y).astype(str)
    classes = np.unique(train_y)
    unknown = sorted(set(test_y) - set(classes))
    if unknown:
        raise ValueError(f"test value IDs absent from train: {', '.join(unknown[:10])}")
    knn_rows = balance_by_subsampling(train_y, seed) if balance_train else np.arange(len(train_y))
    pred = knn_predict(train_X[knn_rows], train_y[knn_rows], test_X, k=k)
    with warnings.catch_warnings():  # a seen/unseen subset may hold one value ID: still well defined
        warnings.simplefilter("ignore", UserWarning)
        bal_acc = float(balanced_accuracy_score(test_y, pred))
    out = {"n_value_ids": len(classes), "n_train": len(train_y), "n_test": len(test_y),
           "knn_acc": float(np.mean(pred == test_y)), "knn_bal_acc": bal_acc,
           "knn_macro_f1": float(f1_score(test_y, pred, average="macro", labels=classes, zero_division=0))}
    if probe:
        scores = linear_probe_scores(train_X, train_y, test_X, classes=classes, seed=seed, **(probe_kwargs or {}))
        codes = np.searchsorted(classes, test_y)
        for kk in (1, 5, 10):
            out[f"probe_acc@{kk}"] = _topk_balanced(scores, codes, kk) if kk < len(classes) or kk == 1 else np.nan
    return out


def baseline_rows(train_y, test_y) -> dict[str, dict]:
    """chance and majority rows in the same metric columns."""
    train_y, test_y = np.asarray(train_y).astype(str), np.asarray(test_y).astype(str)
    classes = np.unique(train_y)
    c = len(classes)
    values, counts = np.unique(train_y, return_counts=True)
    major = values[np.argmax(counts)]
    pred = np.full(len(test_y), major)
    chance = {"knn_acc": 1 / c, "knn_bal_acc": 1 / c, "knn_macro_f1": 1 / c,
              **{f"probe_acc@{kk}": kk / c if kk < c or kk == 1 else np.nan for kk in (1, 5, 10)}}
    majority = {"knn_acc": float(np.mean(pred == test_y)),
                "knn_bal_acc": float(balanced_accuracy_score(test_y, pred)),
                "knn_macro_f1": float(f1_score(test_y, pred, average="macro", labels=classes, zero_division=0)),
                **{f"probe_acc@{kk}": (kk / c if kk < c else np.nan) if kk > 1 else float(np.mean(classes == major))
                   for kk in (1, 5, 10)}}
    # majority acc@k for k>1 is undefined for a single guess; the ranked guess "by train frequency" ties
    # at chance on a balanced set, so chance is used there.
    return {"chance": chance, "majority": majority}


def tfidf_features(train_texts, test_texts):
    """Sparse L2-normalised TF-IDF features fitted on the train texts only."""
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000)
    return vec.fit_transform(train_texts), vec.transform(test_texts)


# ------------------------------------------------------------------------------------- tables

def _embeddings_for(qas: pd.DataFrame, rep, progress) -> np.ndarray:
    if isinstance(rep, np.ndarray) or hasattr(rep, "__array__") and not hasattr(rep, "encode_qas"):
        emb = np.asarray(rep, dtype=np.float32)
        if len(emb) != len(qas):
            raise ValueError(f"embeddings have {len(emb)} rows, the QA table {len(qas)}")
        return emb
    return np.asarray(rep.encode_qas(qas["question"].tolist(), qas["answer"].tolist(),
                                     progress=progress).embeddings, dtype=np.float32)


CENTRED_SUFFIX = ", question-centred"


def centred_split_features(X: np.ndarray, qas: pd.DataFrame, train: np.ndarray, test: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Question-centred train and test features without leaking test labels (see the module docstring).
    Returns (train vectors, test vectors, counts of what could not be centred)."""
    from univar_core.encoders import centring

    qid = qas["question_id"].astype(str).to_numpy()
    vid = qas["value_id"].astype(str).to_numpy()
    Xtr, ok_tr, _, rep_tr = centring.centre_questions(np.asarray(X)[train], qid[train], vid[train])
    Xte, ok_te, _, rep_te = centring.centre_questions(np.asarray(X)[test], qid[test], None)
    return Xtr, Xte, {"n_train_not_centred": int((~ok_tr).sum()), "n_test_not_centred": int((~ok_te).sum()),
                      "n_train_single_value_id_questions": rep_tr.n_single_value_id_questions}


def value_identification_table(qas: pd.DataFrame, representations: dict, split, *, k: int = 50,
                               probe: bool = True, tfidf: bool = True, baselines: bool = True,
                               by_dataset: bool = True, seed: int = 0, centre_questions: bool = False,
                               progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Encoders x metrics, overall and per dataset (table A4's breakdown).

    representations: {label: embeddings row-aligned with qas, or an encoder (encode_qas)}.
    split: a splits.Split (or anything with .train / .test row positions). When the split holds value
    IDs out of encoder training, extra rows `subset` = "seen" / "unseen" score the test QAs of each side
    (k-NN and probe still fitted on all value IDs' train QAs).
    centre_questions: add a row "<label>, question-centred" per representation (not TF-IDF), with
    n_test_not_centred: held-out QAs whose question has a single QA (zero vectors).
    Columns: representation, dataset, subset, n_value_ids, n_train, n_test, and METRICS.
    """
    feats: dict[str, np.ndarray | None] = {label: _embeddings_for(qas, rep, progress)
                                           for label, rep in representations.items()}
    centred_of: dict[str, str] = {}
    if centre_questions:
        for label in list(feats):
            centred_of[label + CENTRED_SUFFIX] = label
            feats[label + CENTRED_SUFFIX] = feats[label]
    if tfidf:
        feats["TF-IDF"] = None
    y = qas["value_id"].astype(str).to_numpy()
    datasets = ["all"] + (sorted(qas["dataset"].astype(str).unique()) if by_dataset and "dataset" in qas
                          and qas["dataset"].nunique() > 1 else [])
    held = set(getattr(split, "heldout_value_ids", []) or [])
    subsets = ["all"] + (["seen", "unseen"] if held else [])
    texts = ("Q: " + qas["question"].astype(str) + " A: " + qas["answer"].astype(str)).to_numpy()
    rows = []
    for ds in datasets:
        in_ds = np.ones(len(qas), bool) if ds == "all" else (qas["dataset"].astype(str).to_numpy() == ds)
        tr = np.asarray(split.train)[in_ds[split.train]]
        te_all = np.asarray(split.test)[in_ds[split.test]]
        if len(tr) == 0 or len(te_all) == 0:
            continue
        # centred per dataset: a question's mean comes from the rows this block evaluates
        centred = {label: centred_split_features(f, qas, tr, te_all)
                   for label, src in centred_of.items() if (f := feats[src]) is not None}  # never TF-IDF
        for subset in subsets:
            in_sub = (np.ones(len(te_all), bool) if subset == "all"
                      else np.isin(y[te_all], list(held)) == (subset == "unseen"))
            te = te_all[in_sub]
            if len(te) == 0:
                continue
            base = {"dataset": ds, "subset": subset}
            for label, X in feats.items():
                extra = {}
                if X is None:
                    Xtr, Xte = tfidf_features(texts[tr], texts[te])
                elif label in centred:
                    Xtr, Xte_all, counts = centred[label]
                    Xte = Xte_all[in_sub]
                    extra = {"n_test_not_centred": counts["n_test_not_centred"]}
                else:
                    Xtr, Xte = X[tr], X[te]
                rows.append({"representation": label, **base,
                             **evaluate_features(Xtr, y[tr], Xte, y[te], k=k, probe=probe, seed=seed), **extra})
            if baselines:
                for name, metrics in baseline_rows(y[tr], y[te]).items():
                    rows.append({"representation": name, **base, "n_value_ids": len(np.unique(y[tr])),
                                 "n_train": len(tr), "n_test": len(te), **metrics})
    cols = ["representation", "dataset", "subset", "n_value_ids", "n_train", "n_test"] + METRICS
    if centred_of:
        cols.append("n_test_not_centred")
    return pd.DataFrame(rows).reindex(columns=cols)
