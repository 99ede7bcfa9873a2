"""Plotly figures of the Value Lenses page (pure: no streamlit): a clustered distance heatmap with its
dendrogram, lens radar charts (several value IDs overlaid), and a trajectory as a line chart and as a
path on the value map.

Labels that come from user data (value IDs, checkpoint names) are escaped, as in ``figures``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.cluster.hierarchy import dendrogram

from univar_core.analysis import compare
from univar_core.figures import map_figures
from univar_core.figures.map_figures import escape_hover

PATH_COLOR = "#d62728"
TARGET_COLOR = "#111111"


# ---------------------------------------------------------------- distances
MAX_TICK_LABELS = 60   # above this many labels a heatmap names only the highlighted ones (375 would be ink)


def clustered_heatmap_figure(dm: pd.DataFrame, *, title: str = "Distances (clustered)",
                             colorbar_title: str = "distance", highlight: Sequence[str] = (),
                             max_tick_labels: int = MAX_TICK_LABELS) -> go.Figure:
    """Heatmap of a square distance matrix in clustered leaf order, with the dendrogram above it.

    Rows/columns follow ``compare.cluster_order`` (average linkage, optimal leaf order). Trace 0 is the
    heatmap; the dendrogram's links follow as line traces (none when fewer than 3 labels).
    ``highlight``: labels whose row and column are outlined (e.g. a search's matches). With more than
    ``max_tick_labels`` labels only the highlighted ones are written on the axes (hover names every cell).
    """
    labels = [str(v) for v in dm.index]
    order, z = compare.cluster_order(dm)
    with_tree = len(labels) >= 3
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.01,
                        row_heights=[0.22, 0.78] if with_tree else [0.001, 0.999])
    if with_tree:
        tree = dendrogram(z, labels=labels, no_plot=True)
        order = list(tree["ivl"])
    pos = {name: 5.0 + 10.0 * i for i, name in enumerate(order)}   # scipy puts leaf i at 5 + 10 i
    matrix = dm.loc[order, order].to_numpy(dtype=float)
    shown = [escape_hover(n) for n in order]
    xs = [pos[n] for n in order]
    fig.add_trace(go.Heatmap(
        z=matrix, x=xs, y=shown, colorscale="Viridis_r", name="distance",
        customdata=np.array([shown] * len(shown), dtype=object),
        colorbar=dict(title=dict(text=escape_hover(colorbar_title)), len=0.78, y=0.39),
        hovertemplate="%{y} ↔ %{customdata}<br>%{z:.4f}<extra></extra>"), row=2, col=1)
    if with_tree:
        for xs_link, ys_link in zip(tree["icoord"], tree["dcoord"]):
            fig.add_trace(go.Scatter(x=xs_link, y=ys_link, mode="lines", line=dict(color="#555", width=1),
                                     hoverinfo="skip", showlegend=False, name="dendrogram"), row=1, col=1)
    size = min(1000, max(420, 16 * len(labels) + 220))
    fig.update_layout(title=dict(text=escape_hover(title)), height=size, margin=dict(l=10, r=10, t=50, b=10),
                      plot_bgcolor="white", showlegend=False)
    marked = [i for i, name in enumerate(order) if name in {str(h) for h in highlight}]
    for i in marked:   # outline the highlighted row and column
        for x0, x1, y0, y1 in ((xs[0] - 5, xs[-1] + 5, i - 0.5, i + 0.5),
                               (xs[i] - 5, xs[i] + 5, -0.5, len(order) - 0.5)):
            fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color="#d62728", width=1.5),
                          row=2, col=1)
    ticks = range(len(order)) if len(order) <= max_tick_labels else marked
    fig.update_yaxes(tickmode="array", tickvals=[shown[i] for i in ticks], row=2, col=1)
    fig.update_xaxes(tickmode="array", tickvals=[xs[i] for i in ticks], ticktext=[shown[i] for i in ticks],
                     tickangle=-60, row=2, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title_text="linkage", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=2, col=1)
    return fig


# ---------------------------------------------------------------- lenses
def lens_wide(summary: pd.DataFrame, columns: Sequence[str], *, by: str = "value_id",
              value: str = "mean") -> pd.DataFrame:
    """``lenses.score_value_ids`` long output -> one row per group, one column per score (in ``columns`` order)."""
    wide = summary.pivot(index=by, columns="score", values=value)
    return wide.loc[:, [c for c in columns if c in wide.columns]]


def lens_radar_figure(summary: pd.DataFrame, value_ids: Sequence[str], columns: Sequence[str], *,
                      by: str = "value_id", title: str = "Lens scores") -> go.Figure:
    """One closed polygon per value ID over the lens ``columns`` (several overlaid), hover with the 95% CI.

    ``summary``: long output of ``lenses.score_value_ids`` (by, score, mean, lo, hi, n).
    """
    cols = list(columns)
    mean = lens_wide(summary, cols, by=by)
    lo, hi = lens_wide(summary, cols, by=by, value="lo"), lens_wide(summary, cols, by=by, value="hi")
    missing = [v for v in value_ids if v not in mean.index]
    if missing:
        raise ValueError(f"no lens scores for {', '.join(map(str, missing))}")
    theta = [escape_hover(c) for c in mean.columns]
    colors = map_figures.group_colors([str(v) for v in value_ids])
    fig = go.Figure()
    for vid in value_ids:
        r = mean.loc[vid].to_numpy(dtype=float)
        ci = [f"[{a:.4f}, {b:.4f}]" for a, b in zip(lo.loc[vid], hi.loc[vid])]
        fig.add_trace(go.Scatterpolar(
            r=np.append(r, r[:1]), theta=theta + theta[:1], fill="toself", opacity=0.55,
            name=escape_hover(vid), line=dict(color=colors[str(vid)]), customdata=ci + ci[:1],
            hovertemplate="<b>" + escape_hover(vid) + "</b><br>%{theta}: %{r:.4f}<br>95% CI %{customdata}"
                          "<extra></extra>"))
    fig.update_layout(title=dict(text=escape_hover(title)), height=480, margin=dict(l=50, r=50, t=60, b=30),
                      polar=dict(radialaxis=dict(visible=True)), showlegend=True)
    return fig


# ---------------------------------------------------------------- trajectories
def trajectory_line_figure(traj: pd.DataFrame, *, target: str,
                           title: str | None = None) -> go.Figure:
    """Distance to the target per checkpoint, in training order (``compare.trajectory`` output)."""
    names = [escape_hover(c) for c in traj["checkpoint"]]
    fig = go.Figure(go.Scatter(
        x=names, y=traj["distance_to_target"].to_numpy(dtype=float), mode="lines+markers",
        name="distance to target", line=dict(color=PATH_COLOR, width=3), marker=dict(size=9),
        customdata=traj["n"].to_numpy(), hovertemplate="%{x}<br>distance %{y:.4f}<br>%{customdata} QAs"
                                                        "<extra></extra>"))
    fig.update_layout(title=dict(text=escape_hover(title or f"Distance to {target} per checkpoint")),
                      height=360, margin=dict(l=10, r=10, t=50, b=10), xaxis_title="checkpoint",
                      yaxis_title="cosine distance of centroids", showlegend=False)
    return fig


LABEL_SPACING = 0.04   # share of the map's extent two labelled checkpoints keep between them


def spaced_labels(xy: np.ndarray, span: np.ndarray, spacing: float = LABEL_SPACING) -> list[bool]:
    """Which checkpoints get a text label: the last (where training ended) and the first always, the
    others only when not within ``spacing`` of one already labelled, so that checkpoints converging on
    the target do not pile their labels into one blob (every checkpoint keeps its hover label)."""
    span = np.where(np.asarray(span, dtype=float) > 0, span, 1.0)
    unit = np.asarray(xy, dtype=float) / span
    n = len(unit)
    keep = [False] * n
    for i in [n - 1, 0] + list(range(n - 2, 0, -1)):
        if i < 0 or keep[i]:
            continue
        if all(np.linalg.norm(unit[i] - unit[j]) >= spacing for j in range(n) if keep[j]) or i in (0, n - 1):
            keep[i] = True
    return keep


def trajectory_map_figure(points: pd.DataFrame, traj: pd.DataFrame, *, target: str,
                          target_xy: tuple[float, float] | None = None, hover: list[str] | None = None,
                          title: str | None = None) -> go.Figure:
    """The map (target value ID's QAs coloured, the rest grey) with the checkpoints' path drawn on it.

    ``traj`` needs columns checkpoint, x, y (the mean map position of each checkpoint's QAs). The last
    two traces are the path (lines + labelled markers) and the target's centroid (a star).
    """
    if not {"x", "y"} <= set(traj.columns):
        raise ValueError("the trajectory has no map coordinates (x, y)")
    is_target = (points["value_id"].astype(str) == str(target)).to_numpy()
    fig = map_figures.value_map_figure(points, color_by="value_id", emphasis=is_target, hover=hover,
                                   title=title or f"Checkpoints moving toward {target}", marker_size=4.0)
    names = [escape_hover(c) for c in traj["checkpoint"]]
    span = np.ptp(points[["x", "y"]].to_numpy(dtype=float), axis=0) if len(points) else np.ones(2)
    shown = spaced_labels(traj[["x", "y"]].to_numpy(dtype=float), span)
    fig.add_trace(go.Scatter(
        x=traj["x"], y=traj["y"], mode="lines+markers+text", name="checkpoints",
        text=[n if keep else "" for n, keep in zip(names, shown)],
        textposition=map_figures.label_positions(traj[["x", "y"]].to_numpy(dtype=float)),
        line=dict(color=PATH_COLOR, width=3),
        marker=dict(size=11, color=PATH_COLOR, symbol="circle", line=dict(width=1, color="black")),
        customdata=traj["distance_to_target"].to_numpy(dtype=float),
        hovertext=names, hovertemplate="%{hovertext}<br>distance to target %{customdata:.4f}<extra></extra>"))
    if target_xy is not None:
        fig.add_trace(go.Scatter(
            x=[target_xy[0]], y=[target_xy[1]], mode="markers+text", name=f"target {escape_hover(target)}",
            text=[escape_hover(target)], textposition="bottom center",
            marker=dict(size=18, symbol="star", color=TARGET_COLOR), hoverinfo="text"))
    return fig
