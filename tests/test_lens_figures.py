"""lens_figures: the builders return the expected traces (heatmap in clustered order + dendrogram links,
radar polygons per value ID, trajectory line and path on the map), with user labels escaped."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from univar_core.analysis import compare
from univar_core.figures import lens_figures


def _dm(labels, points) -> pd.DataFrame:
    p = np.asarray(points, dtype=float)
    d = np.linalg.norm(p[:, None] - p[None], axis=-1)
    return pd.DataFrame(d, index=labels, columns=labels)


def test_clustered_heatmap_orders_by_clusters_and_draws_the_dendrogram():
    # two tight clusters, given interleaved: {a, c, e} near 0, {b, d} near 10
    dm = _dm(["a$eng", "b$eng", "c$eng", "d$eng", "<e>$eng"], [[0, 0], [10, 0], [0.1, 0], [10.2, 0], [0.3, 0]])
    fig = lens_figures.clustered_heatmap_figure(dm, title="t")
    heat = fig.data[0]
    assert heat.type == "heatmap"
    links = [t for t in fig.data[1:] if t.type == "scatter"]
    assert len(links) == len(dm) - 1                      # one link per merge
    order = list(heat.y)
    first = {order.index(n) for n in ("a$eng", "c$eng", "&lt;e&gt;$eng")}
    assert first in ({0, 1, 2}, {2, 3, 4})                # the cluster stays contiguous
    z = np.asarray(heat.z, dtype=float)
    assert np.allclose(z, z.T) and np.allclose(np.diag(z), 0)
    # the matrix is the input's, reordered
    raw = [n.replace("&lt;", "<").replace("&gt;", ">") for n in order]
    assert np.allclose(z, dm.loc[raw, raw].to_numpy())
    # heatmap columns sit under the dendrogram's leaves (scipy: leaf i at 5 + 10 i)
    assert list(heat.x) == [5.0 + 10.0 * i for i in range(len(dm))]


def test_clustered_heatmap_with_two_labels_has_no_dendrogram():
    fig = lens_figures.clustered_heatmap_figure(_dm(["x", "y"], [[0], [1]]))
    assert [t.type for t in fig.data] == ["heatmap"]


def _summary() -> pd.DataFrame:
    rows = []
    for vid, base in (("m$eng", 0.1), ("m$zho", -0.05), ("n$eng", 0.0)):
        for i, dim in enumerate(["A", "B", "C"]):
            mean = base + 0.01 * i
            rows.append({"value_id": vid, "score": dim, "mean": mean, "lo": mean - 0.01, "hi": mean + 0.01, "n": 5})
    return pd.DataFrame(rows)


def test_radar_overlays_one_closed_polygon_per_value_id():
    fig = lens_figures.lens_radar_figure(_summary(), ["m$eng", "m$zho"], ["A", "B", "C"])
    assert [t.type for t in fig.data] == ["scatterpolar", "scatterpolar"]
    assert [t.name for t in fig.data] == ["m$eng", "m$zho"]
    first = fig.data[0]
    assert list(first.theta) == ["A", "B", "C", "A"]
    assert np.allclose(first.r, [0.1, 0.11, 0.12, 0.1])
    assert "95% CI" in first.hovertemplate and first.customdata[0] == "[0.0900, 0.1100]"
    with pytest.raises(ValueError, match="no lens scores"):
        lens_figures.lens_radar_figure(_summary(), ["nobody$eng"], ["A"])


def _traj() -> pd.DataFrame:
    return compare.trajectory(
        {f"step{i}": np.array([[1.0 - 0.2 * i, 0.2 * i]]) for i in range(4)}, np.array([0.0, 1.0]),
        checkpoint_xy={f"step{i}": np.array([[float(i), float(i)]]) for i in range(4)})


def test_trajectory_line_follows_the_checkpoints():
    traj = _traj()
    fig = lens_figures.trajectory_line_figure(traj, target="t$eng")
    (line,) = fig.data
    assert line.type == "scatter" and line.mode == "lines+markers"
    assert list(line.x) == ["step0", "step1", "step2", "step3"]
    assert np.all(np.diff(np.asarray(line.y)) < 0)


def test_trajectory_map_draws_the_path_and_the_target():
    rng = np.random.default_rng(0)
    points = pd.DataFrame({"qa_id": [f"q{i}" for i in range(20)], "x": rng.normal(size=20),
                           "y": rng.normal(size=20), "question": "q", "answer": "a",
                           "value_id": ["t$eng"] * 10 + ["o$eng"] * 10})
    traj = _traj()
    fig = lens_figures.trajectory_map_figure(points, traj, target="t$eng", target_xy=(3.0, 3.0))
    path, star = fig.data[-2], fig.data[-1]
    assert path.name == "checkpoints" and list(path.x) == [0.0, 1.0, 2.0, 3.0]
    assert list(path.text) == ["step0", "step1", "step2", "step3"]
    assert star.marker.symbol == "star" and (star.x[0], star.y[0]) == (3.0, 3.0)
    assert any(t.type == "scattergl" for t in fig.data[:-2])   # the map underneath
    with pytest.raises(ValueError, match="coordinates"):
        lens_figures.trajectory_map_figure(points, traj.drop(columns=["x", "y"]), target="t$eng")


def test_trajectory_labels_converging_on_the_target_do_not_pile_up():
    rng = np.random.default_rng(0)
    points = pd.DataFrame({"qa_id": [f"q{i}" for i in range(20)], "x": rng.uniform(0, 10, 20),
                           "y": rng.uniform(0, 10, 20), "question": "q", "answer": "a",
                           "value_id": ["t$eng"] * 10 + ["o$eng"] * 10})
    # step0 far away, then five checkpoints within a hair of the target
    traj = pd.DataFrame({"checkpoint": [f"step{i}" for i in range(6)], "n": 10,
                         "x": [0.0, 5.0, 5.02, 5.01, 5.0, 5.01], "y": [0.0, 5.0, 5.01, 5.02, 5.01, 5.0],
                         "distance_to_target": [0.9, 0.2, 0.15, 0.1, 0.05, 0.01]})
    path = lens_figures.trajectory_map_figure(points, traj, target="t$eng").data[-1]
    labelled = [i for i, t in enumerate(path.text) if t]
    assert labelled[0] == 0 and labelled[-1] == 5                  # where it started and where it ended
    assert len([i for i in labelled if i > 0]) == 1                # the blob at the target: one label
    assert list(path.hovertext) == [f"step{i}" for i in range(6)]  # every checkpoint keeps its hover


def test_clustered_heatmap_of_hundreds_names_only_the_highlighted():
    import numpy as np
    import pandas as pd

    from univar_core.figures.lens_figures import clustered_heatmap_figure

    rng = np.random.default_rng(0)
    labels = [f"model{m:02d}$l{j:02d}" for m in range(15) for j in range(25)]   # 375 value IDs
    pts = rng.normal(size=(len(labels), 4))
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    dm = pd.DataFrame(d, index=labels, columns=labels)
    found = [v for v in labels if v.startswith("model03$")]
    fig = clustered_heatmap_figure(dm, highlight=found)
    axis = fig.layout.xaxis2 if fig.layout.xaxis2.ticktext is not None else fig.layout.xaxis
    assert sorted(axis.ticktext) == sorted(found)                    # 25 names, not 375
    assert len(fig.layout.shapes) == 2 * len(found)                  # row + column outline each
    assert len(clustered_heatmap_figure(dm).layout.xaxis2.ticktext or ()) == 0
    small = dm.iloc[:10, :10]
    assert len(clustered_heatmap_figure(small).layout.xaxis2.ticktext) == 10
