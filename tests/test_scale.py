"""Scale: streamed embeddings (one copy, hashed while written), the landmark projection, and its
trustworthiness measure, at a few thousand points (the 1M figures come from bench/bench_scale.py)."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from univar_core.data import readers, vectors
from univar_core.data.schema import QAInputError
from univar_core.data.synthetic import write_synthetic_parquet
from univar_core.maps import build, landmarks, store


def test_embeddings_writer_writes_what_np_save_writes(tmp_path):
    emb = np.random.default_rng(0).standard_normal((1000, 7)).astype(np.float32)
    np.save(tmp_path / "ref.npy", emb)
    writer = store.EmbeddingsWriter(tmp_path / "e.npy", 1000, 7)
    for start in range(0, 1000, 300):
        writer.append(emb[start:start + 300])
    out = writer.finish()
    assert (tmp_path / "e.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()
    assert writer.sha256 == hashlib.sha256((tmp_path / "ref.npy").read_bytes()).hexdigest()
    assert isinstance(out, np.memmap) and not out.flags.writeable
    short = store.EmbeddingsWriter(tmp_path / "short.npy", 10, 7)
    short.append(emb[:3])
    with pytest.raises(ValueError, match="3 of 10 embedding rows"):
        short.finish()
    assert not (tmp_path / "short.npy").exists()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("syn") / "syn.parquet"
    # 30 value IDs x 100 questions, written in row groups of 700 rows (batches cross them)
    return write_synthetic_parquet(path, 3000, dim=32, n_models=3, n_langs=10, chunk_rows=700)


def test_parquet_vectors_stream_into_the_sink_and_skip_rows_like_validation(corpus, tmp_path):
    df = pq.read_table(corpus).to_pandas()
    df.loc[5, "answer"] = ""            # skipped: empty answer
    df.loc[2200, "answer"] = df.loc[2199, "answer"]
    same = ["model", "lang", "question", "question_id"]
    df.loc[2200, same] = df.loc[2199, same]
    path = tmp_path / "edited.parquet"
    df.to_parquet(path, row_group_size=500)
    writers = []

    def sink(n, d):
        writers.append(store.stage_embeddings(n, d, data_dir=tmp_path / "maps"))
        return writers[-1]

    loaded = readers.read_qas(path, sink=sink, max_bytes=10**9)
    expected = np.stack(df["embedding"].to_numpy())[loaded.report.kept_rows].astype(np.float32)
    assert loaded.report.n_accepted == 2998
    assert isinstance(loaded.embeddings, np.memmap)
    assert loaded.embeddings.tobytes() == expected.tobytes()
    assert writers[0].rows_written == 2998


def test_bad_vector_names_its_row_and_leaves_nothing_staged(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(vectors, "STREAM_ROWS", 500)  # the bad row comes after vectors were staged
    df = pq.read_table(corpus).to_pandas()
    vec = df.loc[1500, "embedding"].copy()
    vec[3] = np.nan
    df.at[1500, "embedding"] = vec
    df.to_parquet(tmp_path / "nan.parquet", row_group_size=400)
    data_dir = tmp_path / "maps"
    data_dir.mkdir()
    with pytest.raises(QAInputError, match=r"row 1501: embeddings in column 'embedding' contain NaN"):
        build.build_map(tmp_path / "nan.parquet", "bad", data_dir=data_dir, encoder_name="syn")
    assert [p.name for p in data_dir.iterdir() if p.name != store.LOCKS_DIR] == []


def test_stratified_sample_keeps_every_group():
    groups = np.repeat(["big", "mid", "tiny"], [9000, 900, 7])
    rng = np.random.default_rng(1)
    groups = groups[rng.permutation(len(groups))]
    picked = landmarks.stratified_sample(groups, 1000, seed=0, min_per_group=20)
    counts = pd.Series(groups[picked]).value_counts()
    assert counts["tiny"] == 7 and counts["mid"] in (91, 92) and 900 <= counts["big"] <= 910
    assert np.all(np.diff(picked) > 0)
    assert np.array_equal(picked, landmarks.stratified_sample(groups, 1000, seed=0, min_per_group=20))


def test_trustworthiness_equals_sklearn():
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 16)).astype(np.float32)
    xy = x[:, :2] + 0.5 * rng.standard_normal((600, 2))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert landmarks.trustworthiness(x, xy, k=15, block=64) == pytest.approx(
        trustworthiness(unit, xy, n_neighbors=15), abs=1e-5)  # float32 distances


@pytest.fixture(scope="module")
def landmark_map(corpus, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("maps")
    vmap, report = build.build_map(corpus, "syn", data_dir=data_dir, encoder_name="synthetic-32d",
                                   landmarks=1000)
    return vmap, data_dir


def test_build_with_landmarks_records_them_and_moves_the_streamed_file(corpus, landmark_map):
    vmap, data_dir = landmark_map
    # the staged file was moved into the map, not copied: no temp folder is left beside it
    assert sorted(p.name for p in data_dir.iterdir() if p.name != store.LOCKS_DIR) == ["syn"]
    loaded = store.load_map("syn", data_dir=data_dir, verify="full")
    vectors = np.stack(pq.read_table(corpus, columns=["embedding"]).column(0).to_numpy(zero_copy_only=False))
    assert np.asarray(loaded.embeddings).tobytes() == vectors.astype(np.float32).tobytes()
    record = loaded.manifest["landmarks"]
    rows = build.landmark_rows(loaded.manifest)
    assert record["n"] == len(rows) == int(loaded.qas["landmark"].sum())
    assert np.array_equal(rows, np.flatnonzero(loaded.qas["landmark"].to_numpy()))
    assert 1000 <= len(rows) <= 1030  # 30 value IDs, each keeps at least MIN_PER_GROUP
    assert loaded.qas.loc[rows, "value_id"].nunique() == 30
    xy = loaded.qas[["x", "y"]].to_numpy()
    assert np.isfinite(xy).all() and xy[~loaded.qas["landmark"]].std(axis=0).min() > 0.1
    for key in ("project_index", "project_fit", "project_place"):
        assert key in loaded.manifest["timings_s"]


def test_placed_points_land_next_to_their_nearest_landmark(landmark_map):
    vmap, _ = landmark_map
    from univar_core.maps.projection import nearest_map_points

    xy = vmap.qas[["x", "y"]].to_numpy()
    is_landmark = vmap.qas["landmark"].to_numpy()
    lm, placed = np.flatnonzero(is_landmark), np.flatnonzero(~is_landmark)
    nearest = lm[nearest_map_points(np.asarray(vmap.embeddings)[lm], np.asarray(vmap.embeddings)[placed], k=1)[0][:, 0]]
    to_nearest = np.linalg.norm(xy[placed] - xy[nearest], axis=1).mean()
    rng = np.random.default_rng(0)
    to_random = np.linalg.norm(xy[placed] - xy[rng.choice(lm, len(placed))], axis=1).mean()
    assert to_nearest < 0.5 * to_random


def test_refined_placement_keeps_the_order_a_weighted_mean_loses(landmark_map):
    """The build refines placed points against the fixed landmarks (UMAP's transform optimisation):
    more trustworthy than the plain kNN placement (weighted mean, exact neighbours) of the same
    points on the same landmark map."""
    from univar_core.maps.projection import place_points

    vmap, _ = landmark_map
    emb = np.asarray(vmap.embeddings)
    xy = vmap.qas[["x", "y"]].to_numpy()
    lm, placed = np.flatnonzero(vmap.qas["landmark"]), np.flatnonzero(~vmap.qas["landmark"])
    plain = xy.copy()
    plain[placed] = place_points(emb[lm], xy[lm], emb[placed])
    # 0.789 against 0.773 here (a small 32-d corpus, a third of it landmarks); at 1M: 0.991 against 0.972
    assert landmarks.trustworthiness(emb, xy) > landmarks.trustworthiness(emb, plain) + 0.005


def test_refine_placed_moves_only_new_points_and_is_seeded(landmark_map):
    """Landmarks stay where they are; a new point whose neighbours all sit at one landmark ends next to
    it; the same inputs and seed give the same positions."""
    rng = np.random.default_rng(0)
    landmark_xy = rng.uniform(-10, 10, size=(300, 2)).astype(np.float32)
    before = landmark_xy.copy()
    idx = rng.integers(0, 300, size=(50, 15))
    idx[0] = 7  # every neighbour of point 0 is landmark 7
    dists = np.sort(rng.uniform(0.1, 0.6, size=(50, 15)), axis=1).astype(np.float32)
    start = rng.uniform(-10, 10, size=(50, 2)).astype(np.float32)
    out = landmarks.refine_placed(landmark_xy, start, idx, dists, a=1.58, b=0.9)
    assert out.shape == (50, 2) and np.isfinite(out).all()
    np.testing.assert_array_equal(landmark_xy, before)
    assert np.linalg.norm(out[0] - landmark_xy[7]) < 0.2 * np.linalg.norm(start[0] - landmark_xy[7])
    np.testing.assert_array_equal(out, landmarks.refine_placed(landmark_xy, start, idx, dists, a=1.58, b=0.9))


def test_caller_chosen_landmarks_are_the_ones_fitted(landmark_map):
    """bench --trust-proxy fits the 1M build's own landmarks: project_with_landmarks takes them as given
    (sorted, duplicates dropped) instead of drawing a sample. (landmark_map: pynndescent compiled already.)"""
    x = np.random.default_rng(1).standard_normal((400, 16)).astype(np.float32)
    chosen = np.arange(0, 400, 4)
    proj = landmarks.project_with_landmarks(x, landmarks=np.r_[chosen[::-1], chosen[:3]])
    assert np.array_equal(proj.landmarks, chosen) and proj.xy.shape == (400, 2) and np.isfinite(proj.xy).all()
    with pytest.raises(ValueError, match="landmark rows must lie in 0..399"):
        landmarks.project_with_landmarks(x, landmarks=[0, 400])
