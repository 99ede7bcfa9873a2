"""Helpers shared by the AppTest page tests (test_app_*.py)."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest


def copy_demo(demo_map_master: Path, data_dir: Path) -> Path:
    """Put the session's demo map into ``data_dir`` (the app opens it instead of building one)."""
    return Path(shutil.copytree(demo_map_master, Path(data_dir) / "demo"))


@contextmanager
def real_map_dir(data_dir: Path, demo_dir: Path, table: pd.DataFrame):
    """A data dir holding the demo map (copied: the app wants it, no rebuild) and a map 'real-subset'
    built from ``table``; UNIVAR_DATA_DIR points at it while the context is open."""
    import pytest

    from univar_core.maps import build

    shutil.copytree(demo_dir / "demo", data_dir / "demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNIVAR_DATA_DIR", str(data_dir))
        build.build_map(table, "real-subset", data_dir=data_dir)
        yield data_dir


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


def real_subset_table(shared_data: Path, *, n_valuebench: int, n_alpaca: int,
                      extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """A few hundred real QAs: 4 ValueBench models x ``n_valuebench`` questions and 2 AlpacaEval
    models x ``n_alpaca`` instructions (the first ones by id, so every run picks the same)."""
    vb = pd.read_csv(shared_data / "valuebench_qa" / "qa.csv")
    vb = vb[vb["question_id"].isin(sorted(vb["question_id"].unique())[:n_valuebench])]
    vb = vb[vb["model"].isin(sorted(vb["model"].unique())[:4])].assign(dataset="valuebench")
    ae = pd.read_csv(shared_data / "alpacaeval_control" / "qa.csv")
    ae = ae[ae["model"].isin(["gpt4_1106_preview", "llama-2-70b-chat-hf"])]
    ae = ae[ae["question_id"].isin(sorted(ae["question_id"].unique())[:n_alpaca])].assign(dataset="alpacaeval")
    cols = ["model", "lang", "question_id", "question", "answer", "dataset"]
    return pd.concat([vb[cols + list(extra)], ae[cols]], ignore_index=True)
