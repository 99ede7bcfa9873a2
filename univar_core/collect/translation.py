"""Machine translation with any Hugging Face seq2seq translation model (NLLB-200, M2M100, Marian/opus-mt),
by name or folder: batched, length-sorted, GPU when present, cached by model hash and text.

:func:`translate_qas` translates the QA columns of every row not already in the target language and
keeps what the UniVaR release keeps: the original text (``<column>_original``) and the language it
was translated from (``mt_lang``; empty for rows left as they were).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from univar_core.collect.mt_cache import TranslationCache, default_mt_cache_dir, text_key
from univar_core.collect.mt_langs import language_tokens
from univar_core.data.schema import QAInputError


class Translator:
    def __init__(self, name_or_path: str, *, batch_size: int = 16, max_tokens: int = 256, num_beams: int = 1,
                 device: str | None = None, cache_dir: str | Path | None = None):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from univar_core.encoders.sentence_encoder import _pick_device, folder_content_hash, state_dict_hash

        self.name = str(name_or_path)
        self.batch_size, self.max_tokens, self.num_beams = int(batch_size), int(max_tokens), int(num_beams)
        self.device = _pick_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.name)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(self.name)
        except (OSError, ValueError) as err:
            raise QAInputError(f"cannot load a translation model: {err}", source=self.name) from None
        local = Path(self.name).expanduser()
        self.content_hash = folder_content_hash(local) if local.is_dir() else state_dict_hash(self.model)
        self.model.to(self.device).eval()
        self.vocab = set(self.tokenizer.get_vocab())
        self.cache = TranslationCache(cache_dir if cache_dir is not None else default_mt_cache_dir(),
                                      self.content_hash)
        self.identity = {"model": self.name, "content_hash": self.content_hash}
        self.n_translated = 0       # texts that went through the model (not the cache)

    def translate(self, texts: list[str], src: str, tgt: str,
                  progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Translate ISO 639-3 ``src`` -> ``tgt``, same order; identical and cached texts run once/never."""
        keys = [text_key(src, tgt, t) for t in texts]
        done = self.cache.get_many(sorted(set(keys)))
        done.update({k: "" for k, t in zip(keys, texts, strict=True) if not t.strip()})   # nothing to translate
        pending = {k: t for k, t in zip(keys, texts, strict=True) if k not in done}
        todo = sorted(pending.items(), key=lambda kv: len(kv[1]))      # length-sorted: less padding
        total = len(todo)
        if progress:
            progress(0, total)
        for i in range(0, total, self.batch_size):
            chunk = todo[i:i + self.batch_size]
            outs = self._generate([t for _, t in chunk], src, tgt)
            fresh = {k: o for (k, _), o in zip(chunk, outs, strict=True)}
            self.cache.put_many(fresh)
            done.update(fresh)
            self.n_translated += len(chunk)
            if progress:
                progress(min(i + self.batch_size, total), total)
        return [done[k] for k in keys]

    def _generate(self, texts: list[str], src: str, tgt: str) -> list[str]:
        import torch

        lt = language_tokens(self.vocab, src, tgt)
        tok = self.tokenizer
        if lt.source_token and hasattr(tok, "src_lang"):
            tok.src_lang = lt.source_token        # NLLB / M2M100 tokenizers add it themselves
            inputs = [lt.target_prefix + t for t in texts]
        elif lt.source_token:
            inputs = [f"{lt.source_token} {lt.target_prefix}{t}" for t in texts]
        else:
            inputs = [lt.target_prefix + t for t in texts]
        enc = tok(inputs, return_tensors="pt", padding=True, truncation=True,
                  max_length=min(1024, getattr(tok, "model_max_length", 1024) or 1024)).to(self.device)
        kw = {"forced_bos_token_id": tok.convert_tokens_to_ids(lt.target_token)} if lt.target_token else {}
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=self.max_tokens, num_beams=self.num_beams, **kw)
        return [s.strip() for s in tok.batch_decode(out, skip_special_tokens=True)]


def translate_qas(table: pd.DataFrame, translator: Translator, *, to: str = "eng",
                  columns: tuple[str, ...] | list[str] = ("question", "answer"),
                  progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, int]:
    """(translated copy, texts newly translated). Rows whose ``lang`` is ``to`` stay as they are."""
    out = table.copy()
    rows = out.index[out["lang"].astype(str) != to]
    out["mt_lang"] = ""
    out.loc[rows, "mt_lang"] = out.loc[rows, "lang"].astype(str)
    out["mt_model"] = ""
    out.loc[rows, "mt_model"] = translator.name
    jobs = [(col, lang, idx) for col in columns for lang, idx in out.loc[rows].groupby("lang").groups.items()]
    total = sum(len(idx) for _, _, idx in jobs)
    before, finished = translator.n_translated, 0
    for col in columns:
        out[f"{col}_original"] = out[col]
    for col, lang, idx in jobs:
        texts = out.loc[idx, col].fillna("").astype(str).tolist()
        out.loc[idx, col] = translator.translate(texts, str(lang), to)
        finished += len(idx)
        if progress:
            progress(finished, total)
    return out, translator.n_translated - before
