"""The one CSV writer for tables meant for people and spreadsheets (CLI exports, app downloads).

Two promises:

* Safe to open in a spreadsheet. A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return is read by Excel/LibreOffice/Sheets as a formula (``=HYPERLINK(...)``,
  ``=cmd|...``). Such cells get a leading ``'`` (the OWASP "CSV injection" rule), which spreadsheets
  show as plain text. Numbers are left alone (a negative number is not a formula).
* Readable back exactly. Cells are quoted whenever they hold a delimiter, a quote, ``\\n`` or a bare
  ``\\r`` (lines end in ``\\r\\n``, so the csv module quotes both), and :func:`restore_cell` (called by
  the CSV reader) removes exactly the one ``'`` this module added. A text that itself starts with
  quotes followed by a trigger character (``'=x``) gets one more quote, so the mapping is one-to-one.

Parquet and JSONL exports are written exactly as stored: only CSV is meant for spreadsheets.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTE = re.compile("^'*[=+\\-@\t\r]")    # cells that get (writer) / had (reader) one more "'"
_HAD_QUOTE = re.compile("^'+[=+\\-@\t\r]")


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with "'"; anything else unchanged."""
    if isinstance(value, str) and _NEEDS_QUOTE.match(value):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """The inverse of :func:`neutralise_cell` (the CSV reader applies it to every text cell)."""
    if isinstance(value, str) and _HAD_QUOTE.match(value):
        return value[1:]
    return value


def _is_text_column(series: pd.Series) -> bool:
    return series.dtype == object or isinstance(series.dtype, pd.StringDtype)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot run as formulas."""
    out = frame.copy()
    for column in out.columns:
        if _is_text_column(out[column]):
            out[column] = out[column].map(neutralise_cell, na_action="ignore").astype(object)
    out.columns = [neutralise_cell(c) for c in out.columns]
    if out.index.name is not None or getattr(out.index, "names", [None])[0] is not None:
        out.index = out.index.map(neutralise_cell)
        out.index.names = [neutralise_cell(n) for n in out.index.names]
    elif out.index.dtype == object:
        out.index = out.index.map(neutralise_cell)
    return out


def csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """``frame`` as spreadsheet-safe CSV text (UTF-8 when encoded, ``\\r\\n`` line ends)."""
    return spreadsheet_safe(frame).to_csv(index=index, lineterminator="\r\n")


def csv_bytes(frame: pd.DataFrame, *, index: bool = False) -> bytes:
    """:func:`csv_text` encoded as UTF-8 (what a download button serves)."""
    return csv_text(frame, index=index).encode("utf-8")
