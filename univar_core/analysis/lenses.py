"""Value lenses: read a map position as words (ValueLex, Schwartz's basic values, Moral Foundations).

A lens has dimensions, each made of subdimensions, each described by a few descriptor phrases
(``assets/lenses/<name>.json``; a user lens is a JSON file of the same shape, see ``load_lens``).

How a score is computed (the app quotes this):

1. **Prototypes.** Every descriptor d of a subdimension is written into the sentences of
   ``TEMPLATES`` ("An answer that values {d}." ...). All these sentences are embedded with the same
   encoder as the map; their mean, L2-normalised, is the subdimension's prototype. A neutral
   prototype is built the same way from ``NEUTRAL_DESCRIPTORS`` ("nothing in particular" ...), so the
   wording of the templates cancels out.
2. **QA score.** ``score(QA, s) = cos(QA, prototype_s) - cos(QA, neutral)``: how much closer the QA's
   embedding is to the subdimension's descriptors than to value-free descriptors. Positive = the
   QA leans towards that value. Scores are raw differences, not z-scored, so a QA's score does not
   depend on what else is on the map (an upload scores the same on any map). A dimension's score is
   the mean of its subdimensions' scores.
3. **Value-ID score.** The mean over the value ID's QAs, with a percentile bootstrap 95% interval
   over QAs. The QAs with the highest scores drive the mean most (``top_driving_qas``).

Scores compare value IDs with each other on the same lens and encoder; their absolute size depends on
the encoder and means little on its own.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from univar_core.data.schema import QAInputError
from univar_core.encoders.base import Encoder
from univar_core.neighbours import unit_rows
from univar_core.paths import ASSETS_DIR

LENS_DIR = ASSETS_DIR / "lenses"
TEMPLATES = (
    "An answer that values {d}.",
    "A response guided by {d}.",
    "This reply puts {d} first.",
    "{d}",
)
NEUTRAL_DESCRIPTORS = ("nothing in particular", "no specific principle", "a plain statement", "the usual format")
NEUTRAL = "neutral baseline"
SEP = " / "  # prototype names are "Dimension / Subdimension"


@dataclass(frozen=True)
class Subdimension:
    name: str
    descriptors: tuple[str, ...]   # phrases put into TEMPLATES
    words: tuple[str, ...] = ()    # the lexicon's own terms, for display (defaults to descriptors)


@dataclass(frozen=True)
class Dimension:
    name: str
    subdimensions: tuple[Subdimension, ...]


@dataclass(frozen=True)
class Lens:
    name: str
    title: str
    source: str
    dimensions: tuple[Dimension, ...]

    @property
    def dimension_names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def subdimension_names(self) -> list[str]:
        return [s.name for d in self.dimensions for s in d.subdimensions]

    def describe(self) -> pd.DataFrame:
        """One row per subdimension: dimension, subdimension, words, descriptors (for the UI)."""
        return pd.DataFrame([
            {"dimension": d.name, "subdimension": s.name, "words": ", ".join(s.words or s.descriptors),
             "descriptors": ", ".join(s.descriptors)}
            for d in self.dimensions for s in d.subdimensions])


def _lens_from_dict(data: dict, source: str) -> Lens:
    """Build a Lens from parsed JSON, with errors naming the file and the field."""
    def need(obj, key, where):
        if not isinstance(obj, dict) or key not in obj:
            raise QAInputError(f"missing field {key!r} in {where}", source=source, column=key)
        return obj[key]

    def texts(value, where, key):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise QAInputError(f"{where}: {key!r} must be a non-empty list of non-empty strings",
                               source=source, column=key)
        return tuple(v.strip() for v in value)

    dims = []
    for i, d in enumerate(need(data, "dimensions", "the lens")):
        dname = str(need(d, "name", f"dimension {i + 1}"))
        subs = []
        for j, s in enumerate(need(d, "subdimensions", f"dimension {dname!r}")):
            sname = str(need(s, "name", f"subdimension {j + 1} of {dname!r}"))
            desc = texts(need(s, "descriptors", f"subdimension {sname!r}"), f"subdimension {sname!r}", "descriptors")
            words = texts(s["words"], f"subdimension {sname!r}", "words") if "words" in s else ()
            subs.append(Subdimension(sname, desc, words))
        if not subs:
            raise QAInputError(f"dimension {dname!r} has no subdimensions", source=source, column="subdimensions")
        dims.append(Dimension(dname, tuple(subs)))
    if not dims:
        raise QAInputError("the lens has no dimensions", source=source, column="dimensions")
    names = [d.name for d in dims] + [s.name for d in dims for s in d.subdimensions]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or NEUTRAL in names:
        raise QAInputError(f"dimension and subdimension names must be unique (and not {NEUTRAL!r}): "
                           f"{', '.join(dupes) or NEUTRAL}", source=source, column="name")
    name = str(data.get("name") or Path(source).stem)
    return Lens(name=name, title=str(data.get("title", name)), source=str(data.get("source", "")),
                dimensions=tuple(dims))


def load_lens(path: str | Path) -> Lens:
    """A lens from a JSON file: {name, title, source, dimensions: [{name, subdimensions: [{name,
    descriptors: [...], words?: [...]}]}]}. Dimension and subdimension names must all be unique."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise QAInputError(f"cannot read the lens file: {err}", source=path.name) from err
    return _lens_from_dict(data, path.name)


LENS_NAMES = ("valuelex", "schwartz", "mft")  # built-in, each in assets/lenses/<name>.json


@lru_cache(maxsize=None)
def _builtin_lenses() -> dict[str, Lens]:
    return {name: load_lens(LENS_DIR / f"{name}.json") for name in LENS_NAMES}


def get_lens(name: str) -> Lens:
    """A built-in lens by name: "valuelex", "schwartz" or "mft"."""
    lenses = _builtin_lenses()
    if name not in lenses:
        raise ValueError(f"unknown lens {name!r}; built-in lenses: {', '.join(LENS_NAMES)}")
    return lenses[name]


def descriptor_sentences(descriptors) -> list[str]:
    """Every descriptor written into every template (a bare phrase gets a capital first letter)."""
    out = []
    for d in descriptors:
        for t in TEMPLATES:
            s = t.format(d=d)
            out.append(s[:1].upper() + s[1:])
    return out


def lens_prototypes(encoder: Encoder, lens: Lens | str) -> tuple[list[str], np.ndarray]:
    """Prototype vectors of a lens for one encoder: ``(names, matrix)``.

    ``names`` are ``"Dimension / Subdimension"`` for each subdimension, then ``NEUTRAL``; ``matrix``
    is float32, one L2-normalised row per name. Pure given the encoder, so callers may cache it by
    (encoder content hash, lens name). ``encoder`` is anything with ``encode(texts) -> array``.
    """
    lens = get_lens(lens) if isinstance(lens, str) else lens
    groups = [(f"{d.name}{SEP}{s.name}", descriptor_sentences(s.descriptors))
              for d in lens.dimensions for s in d.subdimensions]
    groups.append((NEUTRAL, descriptor_sentences(NEUTRAL_DESCRIPTORS)))
    sentences = [s for _, sents in groups for s in sents]
    emb = np.asarray(encoder.encode(sentences), dtype=np.float64)
    if emb.ndim != 2 or len(emb) != len(sentences):
        raise ValueError(f"the encoder returned shape {emb.shape} for {len(sentences)} sentences")
    emb = unit_rows(emb, dtype=np.float64)
    protos, start = [], 0
    for _, sents in groups:
        mean = emb[start:start + len(sents)].mean(0)
        protos.append(unit_rows(mean, dtype=np.float64))
        start += len(sents)
    return [name for name, _ in groups], np.stack(protos).astype(np.float32)


def descriptor_prototypes(encoder: Encoder, lens: Lens | str) -> tuple[list[str], np.ndarray]:
    """Like ``lens_prototypes`` one level down: one prototype per descriptor, named
    ``"Subdimension / descriptor"`` (then ``NEUTRAL``). ``score_qas`` on these gives one column per
    descriptor and one per subdimension (the mean of its descriptors), which shows which word of a
    subdimension an answer leans on (e.g. environmentalism inside ValueLex's Idealistic)."""
    lens = get_lens(lens) if isinstance(lens, str) else lens
    word_lens = Lens(lens.name, lens.title, lens.source, tuple(
        Dimension(s.name, tuple(Subdimension(d, (d,)) for d in s.descriptors))
        for dim in lens.dimensions for s in dim.subdimensions))
    return lens_prototypes(encoder, word_lens)


def score_qas(emb: np.ndarray, prototypes: tuple[list[str], np.ndarray]) -> pd.DataFrame:
    """Per-QA lens scores, row-aligned with ``emb``: one column per subdimension, then per dimension.

    Subdimension score = cos(QA, prototype) - cos(QA, neutral); dimension score = the mean of its
    subdimensions' scores. Column names are the bare subdimension / dimension names.
    """
    names, matrix = prototypes
    emb = np.asarray(emb, dtype=np.float32)
    matrix = np.asarray(matrix, dtype=np.float32)
    if NEUTRAL not in names or matrix.shape != (len(names), emb.shape[1]):
        raise ValueError(f"prototypes of shape {matrix.shape} (names {len(names)}) do not fit embeddings "
                         f"of dimension {emb.shape[1]}; were they built with the map's encoder?")
    sims = emb @ matrix.T
    neutral = sims[:, names.index(NEUTRAL)]
    scores: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        if name == NEUTRAL:
            continue
        dim, sub = name.split(SEP, 1)
        scores[sub] = (sims[:, i] - neutral).astype(np.float64)
        dims.setdefault(dim, []).append(sub)
    clash = sorted(set(dims) & set(scores))
    if clash:
        raise ValueError(f"names used both as a dimension and a subdimension: {', '.join(clash)}")
    for dim, subs in dims.items():
        scores[dim] = np.mean([scores[s] for s in subs], axis=0)
    return pd.DataFrame(scores)


def dimension_columns(lens_or_prototypes: Lens | str | tuple[list[str], np.ndarray]) -> tuple[list[str], list[str]]:
    """(dimension columns, subdimension columns) of ``score_qas``'s output, in lens order.

    Takes the lens itself (or a built-in lens's name) or the prototypes ``score_qas`` was given."""
    if isinstance(lens_or_prototypes, (Lens, str)):
        lens = get_lens(lens_or_prototypes) if isinstance(lens_or_prototypes, str) else lens_or_prototypes
        return lens.dimension_names, lens.subdimension_names
    dims: list[str] = []
    subs: list[str] = []
    for name in lens_or_prototypes[0]:
        if name != NEUTRAL:
            dim, sub = name.split(SEP, 1)
            subs.append(sub)
            if dim not in dims:
                dims.append(dim)
    return dims, subs


def map_lens_scores(vmap, lens: Lens | str, *,
                    encoder: Encoder | str | None = None) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Per-QA scores of a map (row-aligned with its QAs) on a lens, and its dimension / subdimension columns.

    The prototypes are embedded by the encoder that made the map (``encoders.resolve.encoder_for_map``:
    ``encoder``, when given, must be that encoder). Raises QAInputError or EncoderLoadError when the map's
    encoder is not available (e.g. a map of precomputed vectors and no encoder given).
    """
    from univar_core.encoders.resolve import encoder_for_map

    lens = get_lens(lens) if isinstance(lens, str) else lens
    protos = lens_prototypes(encoder_for_map(vmap, encoder), lens)
    dims, subs = dimension_columns(protos)
    return score_qas(np.asarray(vmap.embeddings), protos), dims, subs


def _check_scores(qas: pd.DataFrame, qa_scores: pd.DataFrame, by: str) -> None:
    if len(qas) != len(qa_scores):
        raise ValueError(f"{len(qa_scores)} score rows do not align with {len(qas)} QAs")
    if by not in qas.columns:
        raise ValueError(f"the QA table has no column {by!r}")


def score_value_ids(qas: pd.DataFrame, qa_scores: pd.DataFrame, *, by: str = "value_id",
                    n_boot: int = 200, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Mean score per value ID (or per ``by`` group) and score column, with a bootstrap interval.

    Long format: columns ``<by>``, score (the column of ``qa_scores``), mean, lo, hi, n. The interval
    is the percentile bootstrap over the group's QAs (``n_boot`` resamples, seeded).
    """
    _check_scores(qas, qa_scores, by)
    rng = np.random.default_rng(seed)
    values = qa_scores.to_numpy(dtype=np.float64)
    labels = qas[by].astype(str).to_numpy()
    tail = (1 - level) / 2 * 100
    frames = []
    for label in sorted(set(labels)):
        rows = np.flatnonzero(labels == label)
        n = rows.size
        weights = rng.multinomial(n, np.full(n, 1 / n), size=n_boot) / n  # resample = weights on QAs
        boot = weights @ values[rows]
        lo, hi = np.percentile(boot, [tail, 100 - tail], axis=0)
        frames.append(pd.DataFrame({by: label, "score": qa_scores.columns, "mean": values[rows].mean(0),
                                    "lo": lo, "hi": hi, "n": n}))
    return pd.concat(frames, ignore_index=True)


def top_driving_qas(qas: pd.DataFrame, qa_scores: pd.DataFrame, value_id: str, dimension: str, *,
                    n: int = 5, lowest: bool = False, by: str = "value_id") -> pd.DataFrame:
    """The QAs of ``value_id`` that drive its ``dimension`` score (any score column) the most.

    A value ID's score is the mean of its QAs' scores, so each QA contributes score / n_qas; the
    highest-scoring QAs push the mean up most (``lowest=True``: those pulling it down most).
    Columns: row (position in ``qas``), qa_id, question, answer, score, contribution.
    """
    _check_scores(qas, qa_scores, by)
    if dimension not in qa_scores.columns:
        raise ValueError(f"no score {dimension!r}; scores: {', '.join(qa_scores.columns)}")
    rows = np.flatnonzero(qas[by].astype(str).to_numpy() == value_id)
    if rows.size == 0:
        raise ValueError(f"no QAs with {by} = {value_id!r}")
    score = qa_scores[dimension].to_numpy()[rows]
    order = np.argsort(score if lowest else -score, kind="stable")[:n]
    picked = rows[order]
    out = pd.DataFrame({"row": picked})
    for col in ("qa_id", "question", "answer"):
        if col in qas.columns:
            out[col] = qas[col].to_numpy()[picked]
    out["score"] = score[order]
    out["contribution"] = score[order] / rows.size
    return out
