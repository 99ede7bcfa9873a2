"""The Upload page through streamlit AppTest's file uploader: validation report, placement on the map,
keep/discard, script-tag answers shown inert, bad files as error messages, per-session state."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from univar_core.maps import store

from apptest_helpers import first_frame, run_ok

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
TIMEOUT = 180
SCRIPT = "<script>alert(1)</script>"
GOOD_CSV = (
    "question,answer,model,lang\n"
    "Should I put my family before my career?,Family comes first; a career can wait.,my-llm,eng\n"
    "Is it fine to break a rule that seems unfair?,Rules keep order; follow them and ask to change them.,my-llm,eng\n"
    "Should I save money or enjoy life now?,Save first: security matters more than fun.,my-llm,eng\n"
    f"Is honesty always right?,\"{SCRIPT} Yes, honesty is right.\",my-llm,eng\n"
    "Should I help a stranger in need?,   ,my-llm,eng\n"
).encode()



def _run(at: AppTest) -> AppTest:
    return run_ok(at, TIMEOUT)


def _upload_page(name: str, data: bytes) -> AppTest:
    at = _run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    _run(at.switch_page("pages/upload.py"))
    at.file_uploader[0].set_value((name, data, "text/csv"))
    return _run(at)


def _rendered_markup(at: AppTest) -> str:
    """Everything that is rendered as markdown or HTML (where a script tag would be live)."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [str(getattr(h, "proto", "")) for h in at.get("html")]
    return "\n".join(parts)


def test_upload_validates_places_and_discards(demo_dir):
    at = _upload_page("my_llm.csv", GOOD_CSV)
    report = "\n".join(t.value for t in at.text)
    assert "4 of 5 rows accepted" in report and "skipped 1" in report
    assert len(first_frame(at, "row", "reason")) == 1
    at.button(key="upload_place").click()
    _run(at)
    nearest = first_frame(at, "value_id", "similarity", "share_nearest")
    assert list(nearest.columns[:2]) == ["value_id", "similarity"] and nearest["similarity"].is_monotonic_decreasing
    assert abs(nearest["p_first"].sum() - 1.0) < 1e-9          # bootstrap: how often each ranks first
    # four generic questions the demo map never asked: the page says the ranking mixes topic and values
    assert any("answers a question of this map" in w.value for w in at.warning)
    placed = first_frame(at, "qa_id", "nearest_value_id")
    assert len(placed) == 4 and placed["qa_id"].str.startswith("my_llm:").all()
    assert not placed["qa_id"].str.startswith("my_llm:my_llm:").any()   # the file name once, not twice
    assert '"my_llm (new)"' in at.get("plotly_chart")[0].proto.spec   # the overlay trace of new points
    before = store.load_map("demo", data_dir=demo_dir).n_qas
    at.button(key="upload_discard").click()
    _run(at)
    assert first_frame(at, "value_id", "similarity", "share_nearest") is None
    assert store.load_map("demo", data_dir=demo_dir).n_qas == before     # nothing was written


def test_keep_adds_a_layer_to_the_stored_map(demo_dir, tmp_path, monkeypatch):
    data_dir = tmp_path / "maps"
    shutil.copytree(demo_dir / "demo", data_dir / "demo")
    monkeypatch.setenv("UNIVAR_DATA_DIR", str(data_dir))
    before = store.load_map("demo", data_dir=data_dir).n_qas
    at = _upload_page("my_llm.csv", GOOD_CSV)
    at.button(key="upload_place").click()
    _run(at)
    opened_before = at.session_state["_univar_current_map"]
    at.button(key="upload_keep").click()
    _run(at)
    after = store.load_map("demo", data_dir=data_dir)
    assert after.n_qas == before + 4 and "my_llm" in after.layers
    assert any("Layer" in s.value and "saved" in s.value for s in at.success)
    assert at.session_state["_univar_current_map"] != opened_before   # the app reopened the new version
    assert "upload" not in at.session_state and not at.get("plotly_chart")   # the uploader starts empty


def test_script_tag_answer_is_shown_as_inert_text(demo_dir):
    at = _upload_page("xss.csv", GOOD_CSV)
    preview = first_frame(at, "qa_id", "answer", without=("nearest_value_id",))
    assert preview["answer"].str.contains(SCRIPT, regex=False).any()   # shown verbatim, as data
    at.button(key="upload_place").click()
    _run(at)
    placed = first_frame(at, "qa_id", "nearest_value_id")
    assert placed["answer"].str.contains(SCRIPT, regex=False).any()
    assert "<script" not in _rendered_markup(at).lower()
    spec = at.get("plotly_chart")[0].proto.spec                       # hover text is escaped
    assert "<script" not in spec and "&lt;script&gt;" in spec


@pytest.mark.parametrize("name,data,expected", [
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"   \n  \n", "empty"),
    ("cols.csv", b"prompt,text\nhello,world\n", "answer"),
    ("latin1.csv", "question,answer,model,lang\nCafé?,Oui,m,fra\n".encode("latin-1"), "UTF-8"),
    ("bad.parquet", b"PAR1 this is not parquet", "bad.parquet"),
])
def test_bad_files_get_the_validation_message(demo_dir, name, data, expected):
    at = _upload_page(name, data)
    assert at.error, f"no error shown for {name}"
    assert expected in at.error[0].value.replace("\\", "")
    assert "upload_place" not in [getattr(b, "key", None) for b in at.button]


def test_file_over_the_size_limit_is_refused_with_a_message(demo_dir, monkeypatch):
    monkeypatch.setenv("UNIVAR_MAX_FILE_MB", "0.0001")    # ~100 bytes
    at = _upload_page("big.csv", GOOD_CSV)
    assert at.error and "limit" in at.error[0].value


def test_uploads_stay_in_their_own_session(demo_dir):
    first = _upload_page("my_llm.csv", GOOD_CSV)
    second = _run(AppTest.from_file(APP, default_timeout=TIMEOUT))
    _run(second.switch_page("pages/upload.py"))
    assert "upload" in first.session_state and "upload" not in second.session_state
    assert first_frame(second, "qa_id", "answer") is None


def test_default_layer_name_is_safe_and_new():
    from pages._ui import default_layer_name

    assert default_layer_name("My QAs: v2.csv", []) == "My-QAs-v2"
    assert default_layer_name("a.csv", ["a", "a-2"]) == "a-3"
    assert default_layer_name("???.csv", []) == "upload"
