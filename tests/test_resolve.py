"""encoders.resolve: loading by name, and the one decision of which encoder made a map (fake encoders)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from univar_core.data.schema import QAInputError
from univar_core.encoders import resolve
from univar_core.encoders.base import DEFAULT_ENCODER, Encoder, EncodeResult, EncoderLoadError


@dataclass
class FakeEncoder:
    name: str = "fake"
    content_hash: str = "f" * 16
    dim: int = 4
    max_tokens: int | None = 128

    def encode(self, texts, *, progress=None) -> np.ndarray:
        return np.ones((len(list(texts)), self.dim), dtype=np.float32) / 2

    def encode_qas(self, questions, answers, *, progress=None) -> EncodeResult:
        return EncodeResult(self.encode(questions), 0, 0)


@pytest.fixture()
def loads(monkeypatch):
    """Every name load_encoder is asked for, answered with a FakeEncoder of that name (no model loaded)."""
    asked = []

    def fake_load(name, **options):
        asked.append((str(name), options))
        if str(name) == "missing":
            raise EncoderLoadError("encoder 'missing': no such folder")
        return FakeEncoder(name=str(name))

    monkeypatch.setattr(resolve, "load_encoder", fake_load)
    monkeypatch.setattr(resolve, "_loaded_encoders", {})  # fakes never reach the process-wide encoder cache
    return asked


def _manifest(content_hash="f" * 16, name="fake", dim=4):
    return {"name": "m", "encoder": {"name": name, "content_hash": content_hash, "dim": dim}}


def test_fake_encoder_satisfies_the_protocol():
    assert isinstance(FakeEncoder(), Encoder)


def test_encoder_for_map_loads_the_recorded_encoder_with_the_cache_on(loads, tmp_path, monkeypatch):
    monkeypatch.setenv("UNIVAR_CACHE_DIR", str(tmp_path))
    enc = resolve.encoder_for_map(_manifest())
    assert enc.name == "fake"
    assert resolve.encoder_for_map(_manifest()) is enc  # loaded once per process
    assert [(name, opts["cache_dir"]) for name, opts in loads] == [("fake", tmp_path)]


def test_encoder_for_map_takes_a_given_encoder_only_when_it_is_the_maps(loads):
    given = FakeEncoder()
    assert resolve.encoder_for_map(_manifest(), given) is given
    with pytest.raises(QAInputError, match="is not the encoder map 'm' was built with"):
        resolve.encoder_for_map(_manifest(), FakeEncoder(content_hash="0" * 16))
    with pytest.raises(QAInputError, match="is not the encoder map 'm'"):  # a name is loaded, then checked
        resolve.encoder_for_map(_manifest(content_hash="1" * 16), "other")
    assert [name for name, _ in loads] == ["other"]


def test_precomputed_map_is_refused_without_an_encoder_and_checked_by_dimension_with_one(loads):
    pre = _manifest(content_hash=resolve.PRECOMPUTED_HASH, name="vectors-from-elsewhere")
    with pytest.raises(QAInputError, match="precomputed embeddings.*'vectors-from-elsewhere'"):
        resolve.encoder_for_map(pre)
    assert loads == []  # nothing was loaded
    assert resolve.encoder_for_map(pre, FakeEncoder(content_hash="x")).dim == 4  # the user vouches for it
    with pytest.raises(QAInputError, match="makes 8-d vectors but map 'm' holds 4-d"):
        resolve.encoder_for_map(pre, FakeEncoder(dim=8))


def test_an_unloadable_recorded_encoder_names_the_map_and_the_encoder(loads):
    with pytest.raises(EncoderLoadError, match="map 'm': cannot load its encoder 'missing'"):
        resolve.encoder_for_map(_manifest(name="missing"))


def test_encoder_for_map_reads_a_value_map_too(loads):
    class Map:
        name = "stored"
        manifest = _manifest()

    assert resolve.encoder_for_map(Map()).name == "fake"
    with pytest.raises(QAInputError, match="map 'stored'"):
        resolve.encoder_for_map(Map(), FakeEncoder(content_hash="z"))


def test_resolve_encoder_loads_names_and_passes_objects(loads):
    enc = FakeEncoder()
    assert resolve.resolve_encoder(enc) is enc
    assert resolve.resolve_encoder(None).name == DEFAULT_ENCODER
    assert resolve.resolve_encoder("some/model").name == "some/model"


def test_load_encoder_sends_head_folders_to_the_head_and_is_torch_free_to_import(tmp_path):
    import subprocess
    import sys

    from univar_core.encoders.head import HEAD_JSON, HEAD_WEIGHTS, is_head_folder

    (tmp_path / HEAD_JSON).write_text("{}")
    assert not is_head_folder(tmp_path)
    (tmp_path / HEAD_WEIGHTS).write_bytes(b"")
    assert is_head_folder(tmp_path)
    code = ("import sys, univar_core.encoders.resolve, univar_core.jobs, univar_core.cli; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # resolving names, listing runs and the CLI's --help load no torch
