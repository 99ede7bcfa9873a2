"""Which token tells a translation model the language: found in the model's own vocabulary.

NLLB-200 writes FLORES-200 codes (``zho_Hans``), M2M100 ``__zh__``, multi-target Marian models a
``>>zho<<`` prefix, single-pair Marian models (opus-mt-zh-en) nothing. Looking the candidates up in the
tokenizer's vocabulary, instead of trusting a model's class name, also serves fine-tunes and the tiny
models the tests build.
"""
from __future__ import annotations

from dataclasses import dataclass

import pycountry

# The script NLLB uses for languages written in more than one (FLORES-200).
PREFERRED_SCRIPT = {"zho": "Hans", "srp": "Cyrl", "arb": "Arab", "ara": "Arab", "kas": "Arab", "pan": "Guru",
                    "uzb": "Latn", "aze": "Latn", "msa": "Latn", "fas": "Arab"}
# ISO 639-3 macrolanguages whose FLORES-200 code is an individual language.
FLORES_ALIAS = {"ara": "arb", "msa": "zsm", "fas": "pes", "zho": "zho", "est": "est", "lav": "lvs",
                "swa": "swh", "uzb": "uzn", "aze": "azj", "mon": "khk", "ori": "ory", "pus": "pbt",
                "kur": "kmr", "yid": "ydd", "nep": "npi", "kok": "gom", "alb": "als", "sqi": "als"}


@dataclass(frozen=True)
class LangTokens:
    source_token: str | None     # put before the source text (NLLB / M2M100 style)
    target_token: str | None     # forced as the first generated token
    target_prefix: str = ""      # multi-target Marian: '>>zho<< ' before the source text
    style: str = "none"          # "nllb" | "m2m100" | "marian-multi" | "none"


def _alpha2(code: str) -> str | None:
    found = pycountry.languages.get(alpha_3=code)
    return getattr(found, "alpha_2", None) if found is not None else None


def _flores(code: str, vocab: set[str]) -> str | None:
    base = FLORES_ALIAS.get(code, code)
    matches = sorted(t for t in vocab if len(t) == 8 and t[:4] == f"{base}_" and t[4:5].isupper())
    if not matches:
        return None
    want = f"{base}_{PREFERRED_SCRIPT.get(code, '')}"
    return want if want in matches else matches[0]


def language_tokens(vocab: set[str], src: str, tgt: str) -> LangTokens:
    """The tokens a model with this vocabulary needs to translate ISO 639-3 ``src`` into ``tgt``."""
    src_f, tgt_f = _flores(src, vocab), _flores(tgt, vocab)
    if tgt_f:
        return LangTokens(src_f, tgt_f, style="nllb")
    a2s, a2t = _alpha2(src), _alpha2(tgt)
    if a2t and f"__{a2t}__" in vocab:
        src_tok = f"__{a2s}__" if a2s and f"__{a2s}__" in vocab else None
        return LangTokens(src_tok, f"__{a2t}__", style="m2m100")
    for cand in (tgt, a2t):
        if cand and f">>{cand}<<" in vocab:
            return LangTokens(None, None, target_prefix=f">>{cand}<< ", style="marian-multi")
    return LangTokens(None, None)
