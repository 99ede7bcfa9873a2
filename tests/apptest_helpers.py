"""Helpers shared by the AppTest page tests (test_app_*.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest


def copy_demo(demo_map_master: Path, data_dir: Path) -> Path:
    """Put the session's demo map into ``data_dir`` (the app opens it instead of building one)."""
    return Path(shutil.copytree(demo_map_master, Path(data_dir) / "demo"))


def run_ok(at: AppTest, timeout: float) -> AppTest:
    """Run the app script and fail with the page's exception messages, if any."""
    at.run(timeout=timeout)
    assert not at.exception, [e.value for e in at.exception]
    return at


def first_frame(at: AppTest, *columns: str, without: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """The first st.dataframe showing all ``columns`` and none of ``without`` (st.dataframe without
    selection has no element key in AppTest, so tables are told apart by their columns)."""
    for element in at.dataframe:
        value = element.value
        if set(columns) <= set(value.columns) and not set(without) & set(value.columns):
            return value
    return None
