"""Which QAs a whole-map scatter draws, with their hover labels: every QA of a map that one WebGL figure can
carry; on a bigger map, the QAs the figure is about plus a seeded random sample of the rest.

Why: Plotly's WebGL scatter goes blank above about 1.5M points and Streamlit caps a message's size, while a
million points with hover labels are hundreds of MB. The Value Map draws a big map as a density image
(figures.density); the pages that draw the map as the background of something else (Compare's two value IDs,
a lens score, a checkpoint trajectory, placed QAs) draw this sample instead and say so, while their numbers
are computed on every QA.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from univar_core.figures.density import MAX_DRAWN_POINTS
from univar_core.figures.map_figures import hover_texts


def hover_answer_chars(n_points: int) -> int:
    """Shorter hover text on bigger figures: it is sent to the browser for every point."""
    return 160 if n_points <= 20_000 else 80


@dataclass(frozen=True)
class DrawnPoints:
    rows: np.ndarray        # positions in the map's QA table, ascending
    points: pd.DataFrame    # those QAs (text included), in the order of ``rows``
    hover: list[str]        # one escaped hover label per drawn QA
    n_map: int              # QAs on the map

    @property
    def note(self) -> str | None:
        """What a caption under the figure should say when not every QA is drawn."""
        if len(self.rows) == self.n_map:
            return None
        return (f"The map holds {self.n_map:,} QAs, more than one scatter can draw: {len(self.rows):,} are drawn "
                f"(the ones this figure is about, up to that number, and a seeded random sample of the rest). "
                f"Every number on this page uses all {self.n_map:,}.")


def drawn_rows(n_points: int, keep: np.ndarray | None = None, *, limit: int = MAX_DRAWN_POINTS,
               seed: int = 0) -> np.ndarray:
    """Ascending rows to draw: all ``n_points`` when they are at most ``limit``; else the rows where ``keep``
    (a boolean mask) is true, sampled down to ``limit`` if they alone exceed it, topped up with a seeded random
    sample of the others."""
    if n_points <= limit:
        return np.arange(n_points)
    rng = np.random.default_rng(seed)
    mask = np.zeros(n_points, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    kept = np.flatnonzero(mask)
    if len(kept) >= limit:
        return np.sort(rng.choice(kept, size=limit, replace=False))
    others = np.flatnonzero(~mask)
    return np.sort(np.concatenate([kept, rng.choice(others, size=limit - len(kept), replace=False)]))


def drawn_points(vmap: Any, keep_value_ids: tuple[str, ...] = (), *, limit: int = MAX_DRAWN_POINTS,
                 seed: int = 0) -> DrawnPoints:
    """The QAs of ``vmap`` (a maps.store.ValueMap) a whole-map figure draws, every QA of the value IDs in
    ``keep_value_ids`` first; QA text is read for the drawn rows only."""
    points = vmap.points
    keep = points["value_id"].astype(str).isin([str(v) for v in keep_value_ids]).to_numpy() if keep_value_ids \
        else None
    rows = drawn_rows(len(points), keep, limit=limit, seed=seed)
    table = vmap.take(rows)
    chars = hover_answer_chars(len(rows))
    hover = hover_texts(table, max_answer_chars=chars, max_question_chars=max(60, chars + 40))
    return DrawnPoints(rows=rows, points=table, hover=hover, n_map=len(points))
