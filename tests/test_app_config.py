"""The app's Streamlit settings (.streamlit/config.toml) and process-wide resources."""
from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_deploy_button_and_developer_menu_are_hidden():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "viewer"     # no "Deploy" button in the app's header


def test_an_encoder_is_loaded_once_per_process(monkeypatch):
    from univar_core.encoders import resolve

    loads = []
    monkeypatch.setattr(resolve, "load_encoder",
                        lambda name, **kw: loads.append(name) or object())
    monkeypatch.setattr(resolve, "_loaded_encoders", {})
    first = resolve.load_encoder_cached("some-encoder")
    assert resolve.load_encoder_cached("some-encoder") is first     # pages, placement, lenses share it
    assert resolve.load_encoder_cached("some-encoder", batch_size=8) is not first   # other options: another
    assert loads == ["some-encoder", "some-encoder"]
