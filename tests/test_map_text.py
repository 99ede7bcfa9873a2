"""QA text read on demand (maps/text.py, load_map(lazy_text=True)): the rows and columns asked for,
equal to what the whole table says, across row groups, and from the file the map was loaded from."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_store import make_map

from univar_core.maps import store
from univar_core.maps.store import load_map, save_map
from univar_core.maps.text import QATextReader, text_contains


@pytest.fixture()
def small_groups(monkeypatch):
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 5)   # 23 rows -> 5 row groups


def _table(n: int = 23) -> pd.DataFrame:
    return pd.DataFrame({"qa_id": [f"a:{i}" for i in range(n)],
                         "question": [f"Question {i} about FAMILY?" if i % 4 == 0 else f"Question {i}?"
                                      for i in range(n)],
                         "answer": [None if i == 3 else f"answer {i}: freedom" if i % 5 == 0 else f"answer {i}"
                                    for i in range(n)]})


def test_reader_takes_rows_across_row_groups_in_the_asked_order(tmp_path):
    table = _table()
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path, row_group_size=5)
    reader = QATextReader(path)
    assert reader.n_rows == 23 and reader._file.metadata.num_row_groups == 5
    rows = [22, 0, 7, 7, 3, 14]
    got = reader.take(rows)
    pd.testing.assert_frame_equal(got, table.loc[rows, ["question", "answer"]].reset_index(drop=True))
    assert reader.take([], ["qa_id"]).columns.tolist() == ["qa_id"] and len(reader.take([], ["qa_id"])) == 0
    with pytest.raises(IndexError):
        reader.take([23])


def test_search_ignores_case_reads_both_columns_and_never_matches_missing_text(tmp_path):
    table = _table()
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path, row_group_size=5)
    expected = (table["question"].str.lower().str.contains("family", na=False)
                | table["answer"].str.lower().str.contains("family", na=False)).to_numpy()
    assert QATextReader(path).search("Family").tolist() == expected.tolist() and expected.sum() == 6
    both = QATextReader(path).search("FREEDOM")
    assert both.tolist() == [i % 5 == 0 for i in range(23)]
    assert text_contains([pa.array(["Ab", None, "xab"])], "AB").tolist() == [True, False, True]


def test_a_lazy_map_holds_no_text_and_reads_the_same_rows_as_the_whole_table(data_dir, small_groups):
    vmap = make_map(n=23)
    save_map(vmap)
    assert pq.ParquetFile(data_dir / "m1" / store.QAS_FILE).metadata.num_row_groups == 5
    eager, lazy = load_map("m1"), load_map("m1", lazy_text=True)
    assert lazy._qas is None and not {"question", "answer"} & set(lazy.points.columns)
    assert lazy.columns == eager.columns == list(vmap.qas.columns) and lazy.n_qas == 23
    assert lazy.layers == eager.layers == ["base"]
    rows = np.array([21, 2, 9, 9])
    pd.testing.assert_frame_equal(lazy.take(rows), eager.take(rows))
    pd.testing.assert_frame_equal(lazy.take(rows, ["answer", "x"]), eager.qas.loc[rows, ["answer", "x"]]
                                  .reset_index(drop=True))
    assert lazy.search("ANSWER</b> 1").tolist() == eager.search("answer</b> 1").tolist()
    assert lazy.search("answer</b> 1").sum() == 11    # 1, 10..19
    assert lazy.rows_of(["ds:7", "nope", "ds:1", "ds:7"]).tolist() == [1, 7] == eager.rows_of(["ds:1", "ds:7"]).tolist()
    assert lazy._qas is None                          # none of that read the whole text
    pd.testing.assert_frame_equal(lazy.qas, eager.qas)   # and the whole table is still there when asked for
    pd.testing.assert_frame_equal(lazy.points, eager.points)


def test_a_lazy_map_keeps_reading_its_own_rows_after_the_folder_is_resaved(data_dir, small_groups):
    save_map(make_map(n=23))
    lazy = load_map("m1", lazy_text=True)
    before = lazy.take([0, 22])
    replaced = make_map(n=30, seed=1)
    replaced.qas["answer"] = "replaced"
    save_map(replaced)                                # swapped in by rename: the old file is gone
    pd.testing.assert_frame_equal(lazy.take([0, 22]), before)
    assert load_map("m1", lazy_text=True).take([0], ["answer"])["answer"].tolist() == ["replaced"]
