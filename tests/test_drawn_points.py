"""figures.drawn_points: which QAs a whole-map scatter draws on a map too big to draw whole."""
from __future__ import annotations

import numpy as np
import pandas as pd

from univar_core.figures.drawn_points import drawn_points, drawn_rows
from univar_core.maps.store import ValueMap


def test_a_map_that_fits_is_drawn_whole():
    assert drawn_rows(500, limit=1_000).tolist() == list(range(500))


def test_the_kept_rows_are_all_drawn_and_the_rest_sampled_up_to_the_limit():
    keep = np.zeros(10_000, dtype=bool)
    keep[[3, 70, 9_999]] = True
    rows = drawn_rows(10_000, keep, limit=1_000, seed=1)
    assert len(rows) == 1_000 == len(np.unique(rows))
    assert np.all(np.diff(rows) > 0) and {3, 70, 9_999} <= set(rows.tolist())
    assert np.array_equal(rows, drawn_rows(10_000, keep, limit=1_000, seed=1))   # seeded: the same each run
    assert not np.array_equal(rows, drawn_rows(10_000, keep, limit=1_000, seed=2))


def test_more_kept_rows_than_the_limit_are_sampled_among_themselves():
    keep = np.arange(10_000) % 2 == 0
    rows = drawn_rows(10_000, keep, limit=1_000)
    assert len(rows) == 1_000 and keep[rows].all()


def _map(n: int) -> ValueMap:
    qas = pd.DataFrame({"qa_id": [f"q{i}" for i in range(n)], "value_id": [f"m{i % 4}$eng" for i in range(n)],
                        "question": [f"Question {i}?" for i in range(n)],
                        "answer": [f"<b>answer</b> {i}" for i in range(n)],
                        "x": np.arange(n, dtype=np.float32), "y": np.zeros(n, dtype=np.float32)})
    return ValueMap(name="t", qas=qas, embeddings=np.zeros((n, 2), dtype=np.float32), manifest={})


def test_drawn_points_are_row_aligned_with_escaped_hover_and_a_note_when_sampled():
    vmap = _map(2_000)
    drawn = drawn_points(vmap, ("m1$eng",), limit=800)
    assert len(drawn.rows) == len(drawn.points) == len(drawn.hover) == 800
    assert drawn.points["qa_id"].tolist() == [f"q{r}" for r in drawn.rows]
    assert (drawn.points["value_id"] == "m1$eng").sum() == 500          # every QA of the kept value ID
    assert all("<b>answer</b>" not in h for h in drawn.hover)            # QA text as text, never as HTML
    assert drawn.note is not None and "2,000" in drawn.note and "800" in drawn.note
    whole = drawn_points(vmap, limit=5_000)
    assert whole.note is None and len(whole.points) == 2_000
