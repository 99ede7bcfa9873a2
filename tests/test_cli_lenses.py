"""`univar distances` and `univar lenses` on a small map of demo QAs (embedded with MiniLM, stored
without UMAP so no compile is needed), run in-process through typer's CliRunner."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from univar_core import cli
from univar_core.analysis import lenses
from univar_core.data import demo
from univar_core.maps import store
from univar_core.maps.store import ValueMap

runner = CliRunner()
VALUE_IDS = list(demo.DEMO_OPPOSITE_PAIRS[0]) + ["gale-1.5b$eng", "dorado-8x7b$zho"]


@pytest.fixture(scope="module")
def env(tmp_path_factory, minilm) -> dict[str, str]:
    """A data dir with map "small" (4 demo value IDs x 20 questions, embedded with MiniLM and recording it) and
    "pre" (same vectors, recorded as precomputed by an encoder name that cannot be loaded)."""
    root = tmp_path_factory.mktemp("cli_lenses")
    qas = demo.demo_qas()
    qas = qas[qas["value_id"].isin(VALUE_IDS)]
    qas = qas[qas["question_id"].isin(sorted(qas["question_id"].unique())[:20])].reset_index(drop=True)
    emb = minilm.encode_qas(qas["question"].tolist(), qas["answer"].tolist()).embeddings.astype(np.float32)
    rng = np.random.default_rng(0)
    qas = qas.assign(x=rng.normal(size=len(qas)).astype(np.float32), y=rng.normal(size=len(qas)).astype(np.float32),
                     cluster=0, cluster_label="c", layer="base")
    recorded = {"small": {"name": minilm.name, "content_hash": minilm.content_hash, "dim": minilm.dim},
                "pre": {"name": "no-such-encoder-anywhere", "content_hash": "precomputed"}}
    for name, encoder in recorded.items():
        manifest = {"encoder": encoder}
        store.save_map(ValueMap(name=name, qas=qas, embeddings=emb, manifest=manifest, path=None),
                       data_dir=root / "maps")
    return {"UNIVAR_DATA_DIR": str(root / "maps"), "UNIVAR_CACHE_DIR": str(root / "cache")}


def invoke(args, env):
    return runner.invoke(cli.app, [str(a) for a in args], env=env)


def test_distances_matrix_csv_levels_and_pair(env, tmp_path):
    out = tmp_path / "dm.csv"
    res = invoke(["distances", "small", "--method", "energy", "--csv", out], env)
    assert res.exit_code == 0, res.output
    dm = pd.read_csv(out, index_col=0)
    assert sorted(dm.index) == sorted(VALUE_IDS) and list(dm.index) == list(dm.columns)
    m = dm.to_numpy()
    assert np.allclose(m, m.T) and np.allclose(np.diag(m), 0)
    res = invoke(["distances", "small", "--by", "lang"], env)
    assert res.exit_code == 0 and "zho" in res.output and "aurora" not in res.output
    a, b = demo.DEMO_OPPOSITE_PAIRS[0]
    res = invoke(["distances", "small", "--method", "energy", "--pair", a, "--pair", b], env)
    assert res.exit_code == 0, res.output
    line = res.output.strip().splitlines()[-1]
    assert "95% CI" in line and "paired by question" in line
    p = float(line.split("p = ")[1].split()[0])
    assert p < 0.05     # planted opposite stances are distinguishable


def test_distances_bad_input_is_exit_2(env):
    assert invoke(["distances", "small", "--method", "cosine"], env).exit_code == 2
    res = invoke(["distances", "small", "--pair", "nobody$eng", "--pair", VALUE_IDS[0]], env)
    assert res.exit_code == 2 and "nobody$eng" in res.output
    assert invoke(["distances", "no-such-map"], env).exit_code == 2


def test_lenses_scores_every_value_id(env, tmp_path):
    out = tmp_path / "lens.csv"
    res = invoke(["lenses", "small", "--lens", "mft", "--n-boot", "50", "--csv", out], env)
    assert res.exit_code == 0, res.output
    lens = lenses.get_lens("mft")
    for dim in lens.dimension_names:
        assert dim in res.output
    table = pd.read_csv(out)
    assert set(table["value_id"]) == set(VALUE_IDS)
    assert set(table["score"]) == set(lens.dimension_names) | set(lens.subdimension_names)
    assert (table["lo"] <= table["mean"] + 1e-12).all() and (table["mean"] <= table["hi"] + 1e-12).all()


def test_lenses_without_a_loadable_encoder_is_exit_2(env):
    res = invoke(["lenses", "pre"], env)
    assert res.exit_code == 2, res.output
    assert "no-such-encoder-anywhere" in res.output
