"""maps.placement: place held-out QAs on a stored map, add a layer, refuse what does not fit the map.

Uses the session's small ValueBench map (conftest ``vb_map``, shared with test_build.py).
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from univar_core.data.schema import QAInputError
from univar_core.maps import build, store
from univar_core.maps.placement import (
    add_layer,
    check_new_layer,
    own_value_id_fraction,
    place_on_map,
)

from valuebench import N_HELDOUT_QUESTIONS, random_unit, small_table


@pytest.fixture(scope="module")
def heldout(vb_files, vb_map, minilm):
    """The held-out QAs placed on the session's map (embedded once, shared by the tests below)."""
    return place_on_map(vb_map[0], vb_files[1], layer="heldout", encoder=minilm)


def test_place_heldout_qas_nearest_their_own_model(vb_files, vb_map, heldout):
    vmap, _, _ = vb_map
    placement = heldout
    assert len(placement.qas) == vb_files[3] == N_HELDOUT_QUESTIONS * 6
    nearest = placement.nearest
    assert list(nearest.columns) == ["value_id", "similarity", "p_first", "share_nearest", "rank"]
    assert sorted(nearest["value_id"]) == sorted(vmap.qas["value_id"].unique())
    assert list(nearest["rank"]) == [1, 2, 3, 4, 5, 6]
    assert nearest["similarity"].is_monotonic_decreasing
    assert nearest["share_nearest"].sum() == pytest.approx(1.0)
    assert nearest["p_first"].sum() == pytest.approx(1.0)          # how often each ranks first, resampled
    # held-out questions: none is on the map, and the placement says what that means for the ranking
    assert any("answers a question of this map" in w for w in placement.warnings)
    own = own_value_id_fraction(placement)
    print(f"\nheld-out QAs nearest to their own model's centroid: {own:.3f} (chance 1/6 = 0.167)")
    # MiniLM encodes topic more than values, and these are unseen questions: well above chance is
    # what it can do (measured 0.325 on this seed).
    assert own > 0.25
    # each placed QA takes the cluster of a map point, and lands inside the map's extent
    assert set(placement.qas["cluster"]) <= set(vmap.qas["cluster"])
    lo, hi = vmap.qas[["x", "y"]].min().to_numpy(), vmap.qas[["x", "y"]].max().to_numpy()
    xy = placement.qas[["x", "y"]].to_numpy()
    assert ((xy >= lo - 1e-4) & (xy <= hi + 1e-4)).all()


def test_add_layer_keeps_existing_points_and_refuses_a_second_layer_of_that_name(vb_map, heldout, tmp_path):
    data_dir = tmp_path  # a copy of the session's map: a layer is written back to the folder it came from
    shutil.copytree(vb_map[0].path, data_dir / "vb")
    vmap = store.load_map("vb", data_dir=data_dir)
    base_xy = vmap.qas[["x", "y"]].to_numpy().copy()
    placement = heldout
    updated = add_layer(vmap, placement)
    stored = store.load_map("vb", data_dir=data_dir)
    assert len(stored.qas) == len(vmap.qas) + len(placement.qas)
    base = stored.qas[stored.qas["layer"] == "base"]
    np.testing.assert_array_equal(base[["x", "y"]].to_numpy(), base_xy)
    layer = stored.qas[stored.qas["layer"] == "heldout"]
    assert layer["qa_id"].str.startswith("heldout:").all()
    assert stored.qas["qa_id"].is_unique
    np.testing.assert_array_equal(np.asarray(stored.embeddings)[len(vmap.qas):], placement.embeddings)
    assert stored.manifest["layer_validation"]["heldout"]["n_accepted"] == len(placement.qas)
    assert stored.layers == ["base", "heldout"]
    with pytest.raises(QAInputError, match="already has a layer named 'heldout'"):
        add_layer(updated, placement)
    with pytest.raises(QAInputError, match="already has a layer named 'base'"):  # the map's own QAs
        check_new_layer(vmap, "base")
    with pytest.raises(QAInputError, match="must not contain ':'"):
        check_new_layer(vmap, "a:b")
    assert len(store.load_map("vb", data_dir=data_dir).qas) == len(stored.qas)  # refusals wrote nothing


def test_place_refuses_embeddings_of_the_wrong_dimension(vb_files, vb_map):
    vmap, _, _ = vb_map
    wrong = np.ones((vb_files[3], 12), dtype=np.float32)
    with pytest.raises(QAInputError, match="dimension 12 but map 'vb' has 384"):
        place_on_map(vmap, vb_files[1], layer="x", embeddings=wrong)


def test_place_refuses_an_encoder_other_than_the_maps(vb_files, vb_map):
    vmap, _, _ = vb_map

    class OtherEncoder:
        name, content_hash, dim = "other", "0" * 16, 384

    with pytest.raises(QAInputError, match="is not the encoder map 'vb' was built with"):
        place_on_map(vmap, vb_files[1], layer="x", encoder=OtherEncoder())


def test_placing_on_a_precomputed_map_needs_embeddings_or_an_encoder(vb_files, data_dir, no_encoder):
    table = small_table(vb_files, 24)
    emb = random_unit(len(table), 64, seed=4)
    vmap, _ = build.build_map(table, "pre4", embeddings=emb, encoder_name="ext", data_dir=data_dir)
    with pytest.raises(QAInputError, match="built from precomputed embeddings"):
        place_on_map(vmap, table.iloc[:6], layer="new")
    placement = place_on_map(vmap, table.iloc[:6], layer="new", embeddings=emb[:6])
    # a QA placed with its own map vector sits exactly on its own point's value ID and cluster
    assert (placement.qas["nearest_value_id"] == table["model"].iloc[:6] + "$eng").all()
    np.testing.assert_array_equal(placement.qas["cluster"].to_numpy(), vmap.qas["cluster"].to_numpy()[:6])


def test_first_place_shares_split_on_a_near_tie_and_not_on_a_clear_winner():
    from univar_core.maps.placement import first_place_shares

    centroids = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    rng = np.random.default_rng(0)
    angles = rng.normal(np.pi / 4, 0.6, size=40)            # QAs spread around the diagonal: a tie
    tie = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    shares = first_place_shares(centroids, tie, n_boot=300)
    assert shares.sum() == 1.0 and 0.15 < shares[0] < 0.85
    clear = np.tile([[1.0, 0.1]], (10, 1)).astype(np.float32)
    assert first_place_shares(centroids, clear, n_boot=50).tolist() == [1.0, 0.0]
