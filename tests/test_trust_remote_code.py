"""--trust-remote-code: offered by every command that loads an encoder, off by default, recorded in the
manifest of a map built with it, and announced with a warning that it runs the model's own code.

The model is a tiny random BERT whose config.json names model code shipped in its folder (transformers'
auto_map), so loading it really runs that code, offline.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.maps import store

from tiny_bert import build_tiny_bert

runner = CliRunner()
ENCODER_COMMANDS = ("build", "place", "train", "eval", "lenses", "rebuild")
WORDS = "should i obey my elders yes no family first save money honesty matters always never".split()
CUSTOM_CODE = '''
from transformers import BertConfig, BertModel


class CustomBertConfig(BertConfig):
    model_type = "custom_bert"


class CustomBertModel(BertModel):
    config_class = CustomBertConfig
'''


@pytest.fixture(scope="module")
def remote_code_model(tmp_path_factory) -> Path:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "?", ".", ","]
    vocab += WORDS + list("abcdefghijklmnopqrstuvwxyz")
    _, folder = build_tiny_bert(tmp_path_factory.mktemp("remote_code"), vocab, intermediate_size=37,
                                max_position_embeddings=64, max_seq_length=48)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="custom_bert",
                  auto_map={"AutoConfig": "custom_bert.CustomBertConfig", "AutoModel": "custom_bert.CustomBertModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom_bert.py").write_text(CUSTOM_CODE)
    return folder


@pytest.fixture()
def qa_files(tmp_path) -> tuple[Path, Path]:
    rows = [{"question": f"should i obey my elders {i}?", "answer": f"{a} family first {i}.", "model": m,
             "lang": "eng"} for i in range(6) for m, a in (("m1", "yes"), ("m2", "no"))]
    base, new = tmp_path / "base.csv", tmp_path / "new.csv"
    pd.DataFrame(rows).to_csv(base, index=False)
    pd.DataFrame(rows[:4]).assign(model="m3").to_csv(new, index=False)
    return base, new


@pytest.mark.parametrize("command", ENCODER_COMMANDS)
def test_every_command_that_loads_an_encoder_offers_the_option_off_by_default(command):
    help_text = runner.invoke(cli.app, [command, "--help"], env={"TERMINAL_WIDTH": "240", "COLUMNS": "240"}).output
    assert "--trust-remote-code" in help_text and "--no-trust-remote-code" in help_text
    assert "runs code" in help_text


def test_without_the_option_a_model_with_code_is_refused_and_nothing_is_written(remote_code_model, qa_files,
                                                                                 data_dir):
    result = runner.invoke(cli.app, ["build", str(qa_files[0]), "--name", "rc", "--encoder", str(remote_code_model)])
    assert result.exit_code == 2
    assert "--trust-remote-code" in result.stderr and "only if you trust" in result.stderr
    assert not (data_dir / "rc").exists()


def test_with_the_option_the_map_records_it_and_placing_asks_for_it_again(remote_code_model, qa_files, data_dir):
    build = runner.invoke(cli.app, ["build", str(qa_files[0]), "--name", "rc", "--encoder", str(remote_code_model),
                                    "--trust-remote-code", "--n-neighbors", "5"])
    assert build.exit_code == 0, build.output
    assert "warning: --trust-remote-code runs Python code shipped with the model" in build.stderr
    manifest = store.load_map("rc", data_dir=data_dir).manifest
    assert manifest["encoder"]["trust_remote_code"] is True

    refused = runner.invoke(cli.app, ["place", str(qa_files[1]), "--map", "rc", "--layer", "new"])
    assert refused.exit_code == 2 and "--trust-remote-code" in refused.stderr
    placed = runner.invoke(cli.app, ["place", str(qa_files[1]), "--map", "rc", "--layer", "new",
                                     "--trust-remote-code"])
    assert placed.exit_code == 0, placed.output
    assert "warning: --trust-remote-code" in placed.stderr
    assert "new" in store.load_map("rc", data_dir=data_dir).layers


def test_lenses_and_eval_pass_the_option_to_the_encoder(remote_code_model, qa_files, data_dir):
    assert runner.invoke(cli.app, ["build", str(qa_files[0]), "--name", "rc", "--encoder", str(remote_code_model),
                                   "--trust-remote-code", "--n-neighbors", "5"]).exit_code == 0
    refused = runner.invoke(cli.app, ["lenses", "rc", "--n-boot", "10"])
    assert refused.exit_code == 2 and "--trust-remote-code" in refused.stderr
    scored = runner.invoke(cli.app, ["lenses", "rc", "--n-boot", "10", "--trust-remote-code"])
    assert scored.exit_code == 0, scored.output
    evaluated = runner.invoke(cli.app, ["eval", str(qa_files[0]), "-e", str(remote_code_model), "--k", "3",
                                        "--no-probe", "--no-tfidf", "--trust-remote-code"])
    assert evaluated.exit_code == 0, evaluated.output
    refused_eval = runner.invoke(cli.app, ["eval", str(qa_files[0]), "-e", str(remote_code_model), "--k", "3",
                                           "--no-probe", "--no-tfidf"])
    assert refused_eval.exit_code == 2 and "--trust-remote-code" in refused_eval.stderr


def test_train_passes_the_option_to_its_base_encoder(remote_code_model, qa_files, tmp_path):
    args = ["train", str(qa_files[0]), "--out", str(tmp_path / "run"), "--base", str(remote_code_model),
            "--steps", "3", "--lam", "2"]
    refused = runner.invoke(cli.app, args)
    assert refused.exit_code == 2 and "--trust-remote-code" in refused.stderr
    trained = runner.invoke(cli.app, args + ["--trust-remote-code"])
    assert trained.exit_code == 0, trained.output
    assert "warning: --trust-remote-code" in trained.stderr
