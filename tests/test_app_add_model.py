"""The Add a model page through AppTest, against the local chat-completions server (tests/chat_server.py):
collect 50 questions in two languages in a background `univar collect`, place the answers on the map,
keep them as a layer; a wrong key, an unreachable endpoint and a cancel shown as messages (never a
traceback, never the key)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from univar_core.maps import store

from apptest_helpers import first_frame, run_ok

sys.path.insert(0, str(Path(__file__).parent))
from chat_server import ChatServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
TIMEOUT = 180
SECRET = "sk-apptest-Secret-abcdef0123456789"


@pytest.fixture(scope="module")
def lm(tiny_causal_lm_dir):
    from univar_core.collect.local_model import LocalCausalLM

    return LocalCausalLM(str(tiny_causal_lm_dir), model="tiny-llama", batch_size=4)


@pytest.fixture()
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIVAR_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _page() -> AppTest:
    at = run_ok(AppTest.from_file(APP, default_timeout=TIMEOUT), TIMEOUT)
    return run_ok(at.switch_page("pages/add_model.py"), TIMEOUT)


def _submit(at: AppTest, *, endpoint: str, model: str = "tiny-llama", langs: str = "eng", n: int = 3,
            key: str = "") -> AppTest:
    at.text_input(key="am_endpoint").set_value(endpoint)
    at.text_input(key="am_model").set_value(model)
    at.text_input(key="am_key").set_value(key)
    at.text_input(key="am_langs").set_value(langs)
    at.number_input(key="am_n").set_value(n)
    at.button(key="am_submit").click()
    return run_ok(at, TIMEOUT)


def _until(at: AppTest, done, limit_s: float = 90) -> AppTest:
    deadline = time.time() + limit_s
    while not done(at) and time.time() < deadline:
        time.sleep(0.5)
        run_ok(at, TIMEOUT)
    assert done(at), [e.value for e in at.error] + [t.value for t in at.text]
    return at


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [s.value for s in at.success] + [t.value for t in at.text]
    parts += [c.value for c in at.caption] + [m.value for m in at.markdown]
    return "\n".join(map(str, parts)).replace("\\", "")   # markdown escapes out


def test_collect_place_and_keep_as_a_layer(demo_dir, lm, runs):
    with ChatServer(lm, max_tokens_cap=5) as server:
        at = _submit(_page(), endpoint=server.base_url, langs="eng,zho", n=50)
        _until(at, lambda a: any(b.key == "am_place" for b in a.button))
    assert "100 answers from 2 value IDs" in _texts(at)
    assert len(first_frame(at, "qa_id", "answer_status")) == 100
    at.button(key="am_place").click()
    run_ok(at, TIMEOUT)
    nearest = first_frame(at, "value_id", "similarity", "share_nearest")
    assert nearest["similarity"].is_monotonic_decreasing and len(nearest) > 2
    at.button(key="am_keep").click()
    run_ok(at, TIMEOUT)
    layer = store.load_map("demo", data_dir=demo_dir).qas.query("layer == 'tiny-llama'")
    assert set(layer["value_id"]) == {"tiny-llama$eng", "tiny-llama$zho"} and len(layer) > 90
    assert "Layer 'tiny-llama' saved" in _texts(at)


def test_endpoint_errors_are_messages_without_the_key(demo_dir, lm, runs):
    with ChatServer(lm, api_key="sk-the-right-one-000000") as server:
        at = _until(_submit(_page(), endpoint=server.base_url, key=SECRET), lambda a: len(a.error) > 0)
        assert "refused the request (HTTP 401)" in at.error[0].value.replace("\\", "")
        port = server.base_url.split(":")[2].split("/")[0]
    at = _until(_submit(_page(), endpoint=f"http://127.0.0.1:{port}/v1"), lambda a: len(a.error) > 0)
    assert "cannot connect to" in at.error[0].value.replace("\\", "")
    at = _submit(_page(), endpoint="http://127.0.0.1:1/v1", langs="notalang")
    assert "unknown language 'notalang'" in at.error[0].value.replace("\\", "")
    assert not at.exception
    for path in runs.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace") and SECRET[:8] not in path.read_text(errors="replace")
    assert SECRET not in _texts(at)


def test_cancel_stops_the_collection_and_keeps_what_it_has(demo_dir, lm, runs):
    with ChatServer(lm, delay_s=0.3) as server:
        at = _submit(_page(), endpoint=server.base_url, n=40)
        _until(at, lambda a: any(b.key == "am_cancel" for b in a.button))

        def answered() -> int:
            found = list(runs.rglob("answers.csv.answers.jsonl"))
            return len(found[0].read_text().splitlines()) - 1 if found else 0

        deadline = time.time() + 60
        while answered() < 2 and time.time() < deadline:
            time.sleep(0.2)
        at.button(key="am_cancel").click()
        _until(run_ok(at, TIMEOUT), lambda a: "Cancelled" in _texts(a))
    assert 2 <= answered() < 40
    assert any(b.key == "am_submit" for b in at.button)          # the form is back: start again to resume


def test_answers_translated_into_english_before_placing(demo_dir, lm, runs, tmp_path, monkeypatch):
    from tiny_causal_lm import bank_words, build_tiny_marian

    monkeypatch.setenv("UNIVAR_CACHE_DIR", str(tmp_path / "cache"))
    mt = build_tiny_marian(tmp_path / "mt", bank_words(), ["__en__", "__zh__"])
    with ChatServer(lm, max_tokens_cap=4) as server:
        at = _page()
        at.text_input(key="am_mt").set_value(str(mt))
        at = _submit(at, endpoint=server.base_url, langs="eng,zho", n=3)
        _until(at, lambda a: any(b.key == "am_place" for b in a.button))
    answers = first_frame(at, "qa_id", "answer_status", "mt_lang")
    assert sorted(answers["mt_lang"].replace("", "-")) == ["-"] * 3 + ["zho"] * 3
    assert "6 answers from 2 value IDs" in _texts(at)
