"""A local transformers causal LM by name or folder: batched ``generate`` (GPU when present).

Prompts use the tokenizer's chat template when it has one (instruction-tuned models), else a plain
"Question: ... Answer:" text. Batches are left-padded so every prompt ends where generation starts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from univar_core.collect.backends import Completion, GenerationSettings, Prompt
from univar_core.collect.errors import EndpointConfigError


class LocalCausalLM:
    """AnswerBackend for a transformers causal LM: ``batch_size`` prompts per generate call."""

    kind = "local"
    concurrency = 1

    def __init__(self, name_or_path: str, *, model: str | None = None, batch_size: int = 8,
                 device: str | None = None, precision: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from univar_core.encoders.sentence_encoder import (
            _pick_device,
            _pick_dtype,
            folder_content_hash,
            state_dict_hash,
        )

        if batch_size < 1:
            raise EndpointConfigError(f"batch size must be at least 1, got {batch_size}")
        self.name_or_path = str(name_or_path)
        self.model = model or Path(self.name_or_path.rstrip("/")).name
        self.batch_size = int(batch_size)
        self.device = _pick_device(device)
        try:
            # Any: transformers' Auto* classes return whatever model class the folder names
            self.tokenizer: Any = AutoTokenizer.from_pretrained(self.name_or_path)
            self.lm: Any = cast(Any, AutoModelForCausalLM.from_pretrained(
                self.name_or_path, dtype=_pick_dtype(precision, self.device)))
        except (OSError, ValueError) as err:
            raise EndpointConfigError(f"cannot load a causal LM from '{self.name_or_path}': {err}") from None
        local = Path(self.name_or_path).expanduser()
        self.content_hash = folder_content_hash(local) if local.is_dir() else state_dict_hash(self.lm)
        self.lm.to(self.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._torch = torch

    def describe(self) -> dict:
        return {"backend": self.kind, "model_path": self.name_or_path, "model": self.model,
                "content_hash": self.content_hash, "device": self.device, "batch_size": self.batch_size}

    def prompt_text(self, prompt: Prompt) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            messages = ([{"role": "system", "content": prompt.system}] if prompt.system else []) + \
                       [{"role": "user", "content": prompt.question}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        head = f"{prompt.system}\n\n" if prompt.system else ""
        return f"{head}Question: {prompt.question}\nAnswer:"

    def complete(self, prompts: list[Prompt], settings: GenerationSettings) -> list[Completion]:
        torch = self._torch
        texts = [self.prompt_text(p) for p in prompts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        seed = prompts[0].seed if prompts and prompts[0].seed is not None else settings.seed
        torch.manual_seed(int(seed))
        sample = settings.temperature > 0
        kw = {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p} if sample \
            else {"do_sample": False}
        with torch.inference_mode():
            out = self.lm.generate(**enc, max_new_tokens=settings.max_tokens, pad_token_id=self.tokenizer.pad_token_id,
                                   **kw)
        new = out[:, enc["input_ids"].shape[1]:]
        eos = self.tokenizer.eos_token_id
        results = []
        for row, mask in zip(new, enc["attention_mask"], strict=True):
            ids = row.tolist()
            stopped = eos is not None and eos in ids
            ids = ids[:ids.index(eos)] if stopped else ids
            if not stopped and self.tokenizer.pad_token_id != eos:
                ids = [t for t in ids if t != self.tokenizer.pad_token_id]
            results.append(Completion(text=self.tokenizer.decode(ids, skip_special_tokens=True).strip(),
                                      finish_reason="stop" if stopped else "length",
                                      prompt_tokens=int(mask.sum()), completion_tokens=len(ids)))
        return results

    def close(self) -> None:
        pass
