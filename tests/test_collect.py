"""Collecting answers from a model: the question bank, the journal, and `univar collect` driven through
the real `openai` client against a local chat-completions server backed by a tiny random causal LM
(tests/chat_server.py): concurrency, a 429 then success, a 500 on every retry, a dropped connection,
401/404/unreachable endpoints, the key never written, kill -9 mid-run and resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.collect import bank as bank_mod
from univar_core.collect.backends import Completion, GenerationSettings
from univar_core.collect.chat_endpoint import ChatEndpoint
from univar_core.collect.errors import EndpointConfigError, EndpointUnavailableError, redact
from univar_core.collect.journal import AnswerJournal, JournalMismatchError
from univar_core.collect.retry import RetryPolicy
from univar_core.collect.run import run_collection
from univar_core.data.readers import read_qas
from univar_core.data.schema import QAInputError

sys.path.insert(0, str(Path(__file__).parent))
from chat_server import ChatServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-test-5ecret-Key-0123456789abcdef"
FAST = RetryPolicy(retries=3, base_delay_s=0.01, max_delay_s=0.05)
SHORT = GenerationSettings(max_tokens=6)
runner = CliRunner()


@pytest.fixture(scope="module")
def lm_backend(tiny_causal_lm_dir):
    from univar_core.collect.local_model import LocalCausalLM

    return LocalCausalLM(str(tiny_causal_lm_dir), model="tiny-llama", batch_size=4)


@pytest.fixture()
def server(lm_backend):
    with ChatServer(lm_backend) as srv:
        yield srv


@pytest.fixture(scope="module")
def bank():
    return bank_mod.load_bank()


def _endpoint(server, **kw) -> ChatEndpoint:
    return ChatEndpoint(server.base_url, server.model, retry=kw.pop("retry", FAST), **kw)


# --------------------------------------------------------------------------------------------- bank

def test_builtin_bank_has_300_tagged_questions_on_the_three_lenses(bank):
    from univar_core.analysis.lenses import get_lens

    assert len(bank) >= 300 and bank["question_id"].is_unique
    assert bank["question_id"].str.fullmatch(r"uvq-[a-z_]+-[a-z]+").all()
    assert (bank["lang"] == "eng").all() and bank["question"].str.endswith("?").all()
    for lens in bank_mod.LENS_TAG_COLUMNS:
        names = {s.name for d in get_lens(lens).dimensions for s in d.subdimensions}
        used = {t for tags in bank[lens] for t in tags}
        assert used <= names, used - names          # only the lens's own names
        assert used == names, names - used          # and every one of them is probed
    assert (bank[list(bank_mod.LENS_TAG_COLUMNS)].map(len).sum(axis=1) > 0).all()
    # the first n questions are n different situations, so a small --questions still spans the values
    assert bank_mod.select_questions(bank, 50)["situation"].nunique() == 50


def test_user_banks_in_csv_and_jsonl(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("prompt,language\nShould I lie?,en\nDevrais-je mentir ?,fr\n")
    got = bank_mod.load_bank(csv)
    assert got["lang"].tolist() == ["eng", "fra"] and got["question_id"].str.startswith("q").all()
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text('{"question_id": "a", "question": "Is it fair?"}\n{"question_id": "a", "question": "Again?"}\n')
    with pytest.raises(QAInputError, match=r"row 2, column 'question_id'.*two different questions"):
        bank_mod.load_bank(jsonl)
    release = tmp_path / "gpt-4.csv"     # a QA file of the UniVaR release: one row per answer
    release.write_text("question,answer,lang\nShould I?,Yes.,en\nShould I?,No.,en\nShould I?,Oui.,fr\n")
    assert bank_mod.load_bank(release)[["question", "lang"]].values.tolist() == [["Should I?", "eng"],
                                                                                 ["Should I?", "fra"]]
    jsonl.write_text('{"question_id": "a", "question": "Is it fair?"}\n{"question_id": "b", "question": " "}\n')
    with pytest.raises(QAInputError, match="row 2.*empty question"):
        bank_mod.load_bank(jsonl)


# ------------------------------------------------------------------------------------------ journal

def test_journal_cuts_a_partial_last_line_and_never_records_twice(tmp_path):
    path = tmp_path / "j.jsonl"
    with AnswerJournal(path, {"model": "m"}) as j:
        j.append({"key": "a", "answer": "1"})
        j.append({"key": "a", "answer": "again"})
    with open(path, "a") as fh:
        fh.write('{"key": "b", "ans')           # killed mid-write
    with AnswerJournal(path, {"model": "m"}) as j:
        assert j.n_cut == 1 and set(j.records) == {"a"} and j.records["a"]["answer"] == "1"
        j.append({"key": "b", "answer": "2"})
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[-1])["key"] == "b"
    with pytest.raises(JournalMismatchError, match="model: 'm' then, 'other' now"):
        AnswerJournal(path, {"model": "other"})


def test_empty_and_refused_answers_are_kept_and_counted(tmp_path, bank):
    class Canned:
        kind, model, batch_size, concurrency = "local", "canned", 2, 1
        texts = ["", "I'm sorry, but I can't help with that.", "Yes, tell them.", "   "]

        n = 0

        def complete(self, prompts, settings):
            self.n += len(prompts)
            return [Completion(self.texts[i % 4], "stop", 3, 2) for i in range(self.n - len(prompts), self.n)]

        def describe(self):
            return {"backend": "local"}

        def close(self):
            pass

    result = run_collection(Canned(), bank, langs=["eng"], out=tmp_path / "c.csv", n_questions=4, settings=SHORT)
    assert result.qas["answer_status"].tolist() == ["empty", "refused", "ok", "empty"]
    assert (result.progress.n_empty, result.progress.n_refused) == (2, 1)
    assert "empty 2, refused 1" in result.summary()
    assert len(pd.read_csv(tmp_path / "c.csv", keep_default_na=False)) == 4   # kept in the file
    loaded = read_qas(tmp_path / "c.csv")                                      # and skipped, counted, on reading
    assert len(loaded.table) == 2 and "empty answer: 2" in loaded.report.summary()


# ---------------------------------------------------------------------- against the local server

def test_concurrent_collection_through_the_openai_client(server, bank, tmp_path):
    server.delay_s = 0.1
    result = run_collection(_endpoint(server, concurrency=4), bank, langs=["eng", "zho"], out=tmp_path / "a.jsonl",
                            n_questions=6, settings=SHORT)
    assert len(result.qas) == 12 and result.qas["qa_id"].is_unique
    assert 2 <= server.max_in_flight <= 4                      # bounded, and actually concurrent
    assert set(result.qas["value_id"]) == {"tiny-llama$eng", "tiny-llama$zho"}
    zho = result.qas[result.qas["lang"] == "zho"]
    assert (zho["question_source"] == "instruction").all()    # no Chinese bank, no MT model: instructed
    systems = [m["content"] for body in server.requests for m in body["messages"] if m["role"] == "system"]
    assert systems.count("Answer in Chinese.") == 6
    assert {b["top_p"] for b in server.requests} == {0.95} and {b["max_tokens"] for b in server.requests} == {6}
    settings = json.loads(result.settings_file.read_text())
    assert settings["source"]["endpoint"] == server.base_url and settings["generation"]["top_p"] == 0.95
    assert settings["counts"]["answers"] == 12 and settings["question_sources"]["zho"] == ["instruction"]
    assert result.progress.completion_tokens > 0 and result.progress.answers_per_s > 0
    again = run_collection(_endpoint(server), bank, langs=["eng", "zho"], out=tmp_path / "a.jsonl", n_questions=6,
                           settings=SHORT)
    assert again.progress.asked == 0 and again.progress.from_journal == 12 and len(server.requests) == 12


def test_a_429_then_success_and_a_dropped_connection_are_retried(server, bank, tmp_path):
    server.faults = ["429", "drop"]
    result = run_collection(_endpoint(server, concurrency=1), bank, langs=["eng"], out=tmp_path / "r.csv",
                            n_questions=3, settings=SHORT)
    assert len(result.qas) == 3 and result.progress.n_retries == 2 and server.n_requests == 5


def test_a_500_on_every_retry_fails_clearly_and_keeps_nothing_half_done(server, bank, tmp_path):
    server.always = "500"
    with pytest.raises(EndpointUnavailableError, match=r"HTTP 500\) on every one of 4 attempts.*run the same "
                                                       r"command again"):
        run_collection(_endpoint(server, concurrency=2), bank, langs=["eng"], out=tmp_path / "f.csv",
                       n_questions=2, settings=SHORT)
    assert not (tmp_path / "f.csv").exists()


def test_a_timeout_on_every_retry_says_which_limit_to_raise(server, bank, tmp_path):
    server.delay_s = 1.0
    with pytest.raises(EndpointUnavailableError, match=r"no answer within 0.2 s on 2 attempts: raise --timeout"):
        run_collection(_endpoint(server, timeout_s=0.2, retry=RetryPolicy(retries=1, base_delay_s=0.01)), bank,
                       langs=["eng"], out=tmp_path / "t.csv", n_questions=1, settings=SHORT)


def test_a_server_that_wants_max_completion_tokens_gets_it(server, bank, tmp_path):
    server.completion_tokens_only = True
    backend = _endpoint(server)
    result = run_collection(backend, bank, langs=["eng"], out=tmp_path / "o.csv", n_questions=3, settings=SHORT)
    assert len(result.qas) == 3 and backend.token_param == "max_completion_tokens"
    assert {b["max_completion_tokens"] for b in server.requests} == {6}


def test_recorded_endpoint_has_no_credentials():
    from univar_core.collect.errors import endpoint_host

    assert endpoint_host("https://user:pw@api.example.org:8443/v1/?key=sk-x") == "https://api.example.org:8443/v1"


def test_wrong_key_unknown_model_and_unreachable_endpoint_are_config_errors(lm_backend, bank, tmp_path, monkeypatch):
    with ChatServer(lm_backend, api_key="sk-the-right-one-000000") as srv:
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        with pytest.raises(EndpointConfigError, match=r"refused the request \(HTTP 401\)") as err:
            run_collection(_endpoint(srv), bank, langs=["eng"], out=tmp_path / "k.csv", n_questions=1, settings=SHORT)
        assert SECRET not in str(err.value) and SECRET[:8] not in str(err.value)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-the-right-one-000000")
        with pytest.raises(EndpointConfigError, match="404 for model 'nope'.*does not exist"):
            run_collection(ChatEndpoint(srv.base_url, "nope", retry=FAST), bank, langs=["eng"],
                           out=tmp_path / "m.csv", n_questions=1, settings=SHORT)
        port = srv.base_url.split(":")[2].split("/")[0]
    with pytest.raises(EndpointConfigError, match=f"cannot connect to http://127.0.0.1:{port}/v1"):
        run_collection(ChatEndpoint(f"http://127.0.0.1:{port}/v1", "x", retry=FAST), bank, langs=["eng"],
                       out=tmp_path / "u.csv", n_questions=1, settings=SHORT)
    with pytest.raises(EndpointConfigError, match="not an http"):
        ChatEndpoint("localhost:8000", "x")
    assert redact(f"Incorrect API key provided: {SECRET[:8]}...{SECRET[-8:]}", SECRET).count("***") == 2


def test_cli_key_is_used_but_never_written_or_shown(lm_backend, tmp_path):
    with ChatServer(lm_backend, api_key=SECRET) as srv:
        out = tmp_path / "run" / "qa.csv"
        args = ["collect", "--endpoint", srv.base_url, "--model", srv.model, "--questions", "3", "--out", str(out),
                "--max-tokens", "4", "--api-key-env", "MY_KEY", "--status-dir", str(tmp_path / "run")]
        ok = runner.invoke(cli.app, args, env={"MY_KEY": SECRET})
        assert ok.exit_code == 0, ok.output
        assert srv.auth_headers[-1] == f"Bearer {SECRET}"          # it was used
        bad = runner.invoke(cli.app, [*args, "--restart"], env={"MY_KEY": SECRET[::-1]})
    assert bad.exit_code == 2 and "HTTP 401" in bad.output and "Traceback" not in bad.output
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and "HTTP 401" in status["error"]
    for text in [ok.output, bad.output] + [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]:
        assert SECRET not in text and SECRET[::-1] not in text and SECRET[:8] not in text
    assert len(list(tmp_path.rglob("*"))) >= 4    # qa.csv, its journal and settings, the status file


def test_cli_exit_codes_for_bad_input_and_an_endpoint_that_stays_down(server, tmp_path):
    base = ["collect", "--model", server.model, "--questions", "2", "--out", str(tmp_path / "x.csv")]
    assert runner.invoke(cli.app, base).exit_code == 2                                   # neither back end
    assert runner.invoke(cli.app, [*base, "--endpoint", server.base_url, "--langs", "eng,notalang"]).exit_code == 2
    server.always = "500"
    down = runner.invoke(cli.app, [*base, "--endpoint", server.base_url, "--retries", "1"])
    assert down.exit_code == 1 and "on every one of 2 attempts" in down.output and "Traceback" not in down.output


def test_kill_9_mid_run_then_resume_without_duplicate_or_loss(server, tmp_path):
    server.delay_s = 0.15
    out = tmp_path / "k.csv"
    journal = Path(str(out) + ".answers.jsonl")
    cmd = [sys.executable, "-m", "univar_core.cli", "collect", "--endpoint", server.base_url, "--model", server.model,
           "--langs", "eng,ind", "--questions", "12", "--out", str(out), "--concurrency", "2", "--max-tokens", "4"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 6):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = [json.loads(x)["key"] for x in journal.read_text().splitlines()[1:] if x.endswith("}")]
    assert 5 <= len(kept) < 24 and not out.exists()
    time.sleep(0.3)
    while server.in_flight:            # requests the killed process left behind still finish on the server
        time.sleep(0.05)
    asked_before = len(server.requests)
    server.delay_s = 0.0
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    qas = pd.read_csv(out)
    assert len(qas) == 24 and qas["qa_id"].is_unique                       # no loss, no duplicate
    keys = [json.loads(x)["key"] for x in journal.read_text().splitlines()[1:]]
    assert len(keys) == len(set(keys)) == 24
    assert len(server.requests) - asked_before == 24 - len(set(kept))      # the rerun asked only what was missing
    assert f"{24 - len(set(kept))} asked now, {len(set(kept))} from an earlier run" in done.stderr


def test_local_model_back_end_generates_in_batches(lm_backend, bank, tmp_path):
    calls = []
    original = lm_backend.complete

    def spy(prompts, settings):
        calls.append(len(prompts))
        return original(prompts, settings)

    lm_backend.complete = spy
    try:
        result = run_collection(lm_backend, bank, langs=["eng"], out=tmp_path / "l.parquet", n_questions=6,
                                settings=SHORT)
    finally:
        del lm_backend.complete
    assert calls == [4, 2] and len(result.qas) == 6
    assert json.loads(result.settings_file.read_text())["source"]["content_hash"] == lm_backend.content_hash


def test_collect_50_questions_in_two_languages_then_place_them_on_a_map(server, demo_dir, tmp_path):
    """The issue's acceptance run: `univar collect ... --langs eng,zho --questions 50` -> `univar place`."""
    from univar_core.maps import store

    out = tmp_path / "tiny.csv"
    got = runner.invoke(cli.app, ["collect", "--endpoint", server.base_url, "--model", server.model, "--langs",
                                  "eng,zho", "--questions", "50", "--out", str(out), "--max-tokens", "5"])
    assert got.exit_code == 0, got.output
    assert "100 QAs ->" in got.output
    placed = runner.invoke(cli.app, ["place", str(out), "--map", "demo", "--layer", "tiny", "--data-dir",
                                     str(demo_dir)])
    assert placed.exit_code == 0, placed.output
    assert "QAs placed; as a whole nearest to" in placed.output
    layer = store.load_map("demo", data_dir=demo_dir).qas.query("layer == 'tiny'")
    assert len(layer) == 100 - int((pd.read_csv(out)["answer_status"] == "empty").sum())
    assert set(layer["value_id"]) == {"tiny-llama$eng", "tiny-llama$zho"}
