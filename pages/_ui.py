"""What pages draw with: progress bars, figures with their HTML download, spreadsheet-safe CSV downloads,
markdown escaping of user data, error messages instead of tracebacks, and the upload reader.

Nothing here is cached (pages/_shared.py owns every st.cache_*).
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Callable, NoReturn

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from univar_core.data import writers
from univar_core.data.readers import LoadedQAs, read_qas
from univar_core.figures import map_figures

STAGE_SPAN = {"embed": (0.0, 0.8), "project": (0.8, 0.92), "cluster": (0.92, 0.97), "store": (0.97, 1.0)}
QA_TEXT_COLUMNS = ["qa_id", "value_id", "dataset", "layer", "question", "answer"]
UPLOAD_TYPES = ["csv", "tsv", "jsonl", "json", "parquet", "xlsx"]
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|$<>~&:")


def stage_progress(bar) -> Callable[[str, int, int], None]:
    """A pipeline progress callback (stage, done, total) driving one st.progress bar."""
    def update(stage: str, done: int, total: int) -> None:
        lo, hi = STAGE_SPAN.get(stage, (0.0, 1.0))
        frac = lo + (hi - lo) * (done / total if total else 1.0)
        bar.progress(min(max(frac, 0.0), 1.0), text=f"{stage}: {done:,} / {total:,}")
    return update


def display_qas(qas: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    """The columns a person reads, QA text as plain values (st.dataframe shows them as text)."""
    cols = [c for c in QA_TEXT_COLUMNS + (extra or []) if c in qas.columns]
    return qas[cols].reset_index(drop=True)


def md(text: object) -> str:
    """Escape user data (map names, value IDs with their '$') for st.markdown/caption/title: '$' would
    start LaTeX and '*', '[' ... markdown. QA text itself never goes through markdown (st.text/dataframe)."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text))


def show_figure(fig: go.Figure, *, name: str, key: str, download: Callable[[], go.Figure] | None = None, **chart_kw):
    """Draw a figure and offer it as a standalone interactive HTML file (PNG: the chart's camera icon);
    `download`: makes the file's figure when it is asked for, if it differs from the one drawn."""
    event = st.plotly_chart(fig, key=key, config={"displaylogo": False,
                                                  "toImageButtonOptions": {"filename": name, "scale": 2}},
                            **chart_kw)
    st.download_button(f"Download {name.replace('_', ' ')} (HTML)",
                       data=lambda: map_figures.figure_html(download() if download else fig),
                       file_name=f"{name}.html", mime="text/html", key=f"{key}_html", on_click="ignore")
    return event


def csv_download(frame: pd.DataFrame | Callable[[], pd.DataFrame], *, label: str, file_name: str, key: str) -> None:
    """Every table download: spreadsheet-safe CSV (no cell runs as a formula), readable back exactly.
    `frame` may be a function: the table is then made when the button is clicked (a big selection's text)."""
    data = (lambda: writers.csv_bytes(frame())) if callable(frame) else writers.csv_bytes(frame)
    st.download_button(label, data=data, file_name=file_name, mime="text/csv", key=key, on_click="ignore")


def map_error(err: Exception) -> NoReturn:
    """Show a bad-map / bad-input error as a message (never a traceback) and stop this run."""
    st.error(md(err))
    st.stop()


def read_upload(data: bytes, name: str) -> LoadedQAs:
    """Read and validate uploaded bytes (the uploader's file); raises QAInputError with the reason."""
    return read_qas(io.BytesIO(data), name=name)


def default_layer_name(file_name: str, taken: list[str]) -> str:
    """A layer name from the file name: letters, digits, '-', '_' only, and not one the map already has."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(file_name).stem).strip("-") or "upload"
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}-{n}", n + 1
    return name
