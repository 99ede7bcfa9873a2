"""The one interface every answer source implements: a batch of prompts in, one completion each out.

An endpoint answers one prompt per call and many calls run at once (``batch_size`` 1, ``concurrency``
N); a local model answers a batch per call, one call at a time (``batch_size`` B, ``concurrency`` 1).
The collector only sees this interface, so both share resuming, progress and output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class GenerationSettings:
    """How answers are sampled; recorded with every collected file (the UniVaR paper: top_p 0.95,
    128 new tokens, no system prompt)."""
    system_prompt: str = ""
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 128
    seed: int = 0


@dataclass(frozen=True)
class Prompt:
    question: str
    system: str = ""            # empty: no system message
    seed: int | None = None     # per-prompt seed, so a resumed run asks a question as the first run would


@dataclass
class Completion:
    text: str
    finish_reason: str | None = None       # "stop", "length", ...
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class AnswerBackend(Protocol):
    kind: str          # "endpoint" | "local"
    model: str         # the model name written into the QA file
    batch_size: int
    concurrency: int

    def complete(self, prompts: list[Prompt], settings: GenerationSettings) -> list[Completion]:
        """One completion per prompt, in order. Raises EndpointConfigError / EndpointUnavailableError."""

    def describe(self) -> dict:
        """What to record about the source (endpoint host without credentials, model hash ...); never a key."""

    def close(self) -> None: ...
