"""A tiny random Llama-shaped causal LM and a tiny random Marian translation model, built locally with
word-level tokenizers (the `tokenizers` library): real transformers code paths, nothing downloaded."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

SPECIALS = ["[UNK]", "[PAD]", "</s>", "<s>"]
ANSWER_WORDS = ("yes no it depends on the situation you should consider your family friends values honesty "
                "fairness freedom duty care respect tradition safety because however but and or I think "
                "would could people matter most important choice right wrong").split()


def _word_tokenizer(words: list[str], extra_specials: list[str] = ()):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(dict.fromkeys([*SPECIALS, *extra_specials, *words]))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="</s>",
                                   bos_token="<s>")


def bank_words() -> list[str]:
    from univar_core.collect.bank import BUILTIN_BANK

    text = " ".join(json.loads(line)["question"] for line in BUILTIN_BANK.read_text().splitlines())
    return sorted(set(re.findall(r"\w+|[^\w\s]+", text)))


def build_tiny_causal_lm(folder: Path) -> Path:
    """A 2-layer, 32-wide Llama with the bank's words + a few answer words as its vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _word_tokenizer(bank_words() + ANSWER_WORDS + ["Question", "Answer", ":"])
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_marian(folder: Path, words: list[str], lang_tokens: list[str] = ()) -> Path:
    """A 1-layer, 16-wide Marian encoder-decoder; ``lang_tokens`` (e.g. '__en__', '__zh__') make it look
    like an M2M100 model to the language-token lookup."""
    from transformers import MarianConfig, MarianMTModel

    tokenizer = _word_tokenizer(words, list(lang_tokens))
    config = MarianConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                          eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
                          forced_eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
