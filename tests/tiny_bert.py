"""A tiny random BERT (hidden 32, 2 layers) built locally, as a transformers folder and a
sentence-transformers folder: a second architecture for the tests, with nothing downloaded."""
from __future__ import annotations

from pathlib import Path

import torch


def build_tiny_bert(root: Path, vocab: list[str], *, intermediate_size: int, max_position_embeddings: int,
                    max_seq_length: int) -> tuple[Path, Path]:
    """(plain transformers BERT folder, sentence-transformers folder with mean pooling over it)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab_file = root / "vocab.txt"
    vocab_file.write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=intermediate_size, max_position_embeddings=max_position_embeddings)
    torch.manual_seed(0)
    plain = root / "plain_bert"
    BertModel(config).save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    st_dir = root / "st_bert"
    SentenceTransformer(modules=[Transformer(str(plain), max_seq_length=max_seq_length), Pooling(32, "mean")],
                        device="cpu").save(str(st_dir))
    return plain, st_dir
