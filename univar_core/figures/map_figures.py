"""Plotly figure builders for the app (pure: no streamlit), so pages stay thin and figures are testable
and downloadable.

Conventions shared by every map figure:
- each point carries its ``qa_id`` in ``customdata`` (Plotly point indices are per trace, so a selection
  is turned back into rows through ``selected_qa_ids``);
- hover text is built here and escaped, because Plotly renders a subset of HTML in hover labels and QA
  text is user data, never markup.
"""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

MAX_LEGEND_GROUPS = 30          # above this a legend stops being readable (the paper has 127 value IDs)
OTHER_COLOR = "#c8c8c8"         # grey for de-emphasised points
HOVER_QUESTION_CHARS = 220
HOVER_ANSWER_CHARS = 160
HOVER_LINE_CHARS = 70
# Drawing order: each group is split into this many random slices and the slices of all groups are
# interleaved (in a seeded random order per round), so no group is drawn entirely under another; legend
# toggles still act on a whole group (legendgroup). Fewer rounds when there are many groups (traces add up).
DRAW_ROUNDS = 6
MAX_TRACES = 180
MAX_CONTOUR_GROUPS = 12          # density contours beyond this many groups are a tangle
CONTOUR_SAMPLE = 4000            # points per group a contour is estimated from
_PALETTE = qualitative.Dark24 + qualitative.Light24 + qualitative.Alphabet


# ---------------------------------------------------------------- text helpers
def escape_hover(text: object) -> str:
    """Make any value safe to show in a Plotly label: '&', '<', '>' (and quotes) become entities."""
    return html.escape("" if text is None else str(text), quote=True)


def shorten(text: object, max_chars: int) -> str:
    """Collapse whitespace and cut to ``max_chars`` characters with an ellipsis."""
    flat = " ".join(("" if text is None else str(text)).split())
    return flat if len(flat) <= max_chars else flat[: max(max_chars - 1, 0)].rstrip() + "…"


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap (textwrap.wrap is ~10x slower, and hover labels of 100k points add up)."""
    lines, line = [], ""
    for word in text.split(" "):
        while len(word) > width:                       # a very long token: hard cut
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def _hover_block(label: str, text: object, max_chars: int) -> str:
    # Wrap the raw text first, then escape each line: escaping first could split an entity.
    lines = _wrap(shorten(text, max_chars), HOVER_LINE_CHARS) or [""]
    return "<br>".join(escape_hover(line) for line in [f"{label}{lines[0]}", *lines[1:]])


def hover_texts(points: pd.DataFrame, *, max_question_chars: int = HOVER_QUESTION_CHARS,
                max_answer_chars: int = HOVER_ANSWER_CHARS) -> list[str]:
    """One hover label per row: value ID in bold, then the question and a short answer, all escaped."""
    heads = points["value_id"] if "value_id" in points else pd.Series([""] * len(points))
    return [
        f"<b>{escape_hover(head)}</b><br>{_hover_block('Q: ', q, max_question_chars)}"
        f"<br>{_hover_block('A: ', a, max_answer_chars)}"
        for head, q, a in zip(heads, points["question"], points["answer"])
    ]


def split_value_id(value_ids: Iterable[str]) -> pd.DataFrame:
    """``model$lang`` -> columns model, lang (the model part may itself contain no '$', by schema)."""
    parts = [str(v).rsplit("$", 1) for v in value_ids]
    return pd.DataFrame({"model": [p[0] for p in parts], "lang": [p[1] if len(p) > 1 else "" for p in parts]})


# ---------------------------------------------------------------- colours
def group_colors(groups: Iterable[object]) -> dict[str, str]:
    """A stable colour per group name (sorted order), cycling the palette when there are many."""
    names = sorted({str(g) for g in groups})
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def as_labels(values: pd.Series) -> pd.Series:
    """Group names as plain strings; missing values (a column only some sources have) become "(none)"."""
    return values.astype(object).where(values.notna(), "(none)").astype(str)


def _is_continuous(values: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(values)


# ---------------------------------------------------------------- selection
def selected_qa_ids(selection: Mapping | None) -> list[str]:
    """The qa_ids of the points in a Plotly selection state (``event.selection`` from st.plotly_chart).

    Plotly gives ``customdata`` as a scalar or a one-element list depending on the trace; points from a
    trace without customdata (contours, centroids) are ignored. Order kept, duplicates dropped.
    """
    if not selection:
        return []
    seen: dict[str, None] = {}
    for point in selection.get("points", []) or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            seen.setdefault(str(data), None)
    return list(seen)


# ---------------------------------------------------------------- the value map
def _scatter(points: pd.DataFrame, *, name: str, color, hover: list[str], size: float, opacity: float,
             showlegend: bool = True, symbol: str = "circle", line: dict | None = None,
             colorbar_title: str | None = None) -> go.Scattergl:
    marker = dict(color=color, size=size, opacity=opacity, symbol=symbol)
    if line:
        marker["line"] = line
    if colorbar_title is not None:
        marker.update(colorscale="Viridis", showscale=True, colorbar=dict(title=dict(text=colorbar_title)))
    return go.Scattergl(
        x=points["x"].to_numpy(), y=points["y"].to_numpy(), mode="markers", name=escape_hover(name),
        customdata=points["qa_id"].astype(str).to_numpy(), text=hover,
        hovertemplate="%{text}<extra></extra>", marker=marker, showlegend=showlegend, legendgroup=name,
    )


def stepped_scale(names: list[str], colors: dict[str, str]) -> list[list]:
    """A colour scale on which code i of cmin=0..cmax=len(names)-1 is exactly group i's colour."""
    top = max(len(names) - 1, 1)
    return [[i / top, colors[name]] for i, name in enumerate(names)] if len(names) > 1 else \
        [[0.0, colors[names[0]]], [1.0, colors[names[0]]]]


def auto_opacity(n_points: int) -> float:
    """Marker opacity for a map of ``n_points``: opaque on small maps, fainter as points pile up, so that
    dense places read darker and lower layers show through (0.85 up to 3k points, 0.2 from 68k)."""
    return float(np.clip(0.85 * np.sqrt(3000 / max(n_points, 1)), 0.2, 0.85))


def draw_rounds(labels: np.ndarray, seed: int, n_rounds: int) -> np.ndarray:
    """Round (0..n_rounds-1) in which each point is drawn: a seeded even spread within every group."""
    rng = np.random.default_rng(seed)
    rounds = np.empty(len(labels), dtype=np.int64)
    for name in pd.unique(labels):
        idx = np.flatnonzero(labels == name)
        rounds[idx[rng.permutation(len(idx))]] = np.arange(len(idx)) % n_rounds
    return rounds


def _density_contour(points: pd.DataFrame, *, name: str, color: str, seed: int) -> go.Histogram2dContour:
    if len(points) > CONTOUR_SAMPLE:
        points = points.sample(CONTOUR_SAMPLE, random_state=seed)
    return go.Histogram2dContour(
        x=points["x"].to_numpy(), y=points["y"].to_numpy(), name=escape_hover(name), legendgroup=name,
        showlegend=False, showscale=False, ncontours=5, hoverinfo="skip", opacity=0.9,
        contours=dict(coloring="lines", showlabels=False), line=dict(width=1.4),
        colorscale=[[0.0, "rgba(255,255,255,0)"], [0.35, color], [1.0, color]])


def _map_layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=escape_hover(title)) if title else None, height=height,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10), dragmode="lasso",
        legend=dict(itemsizing="constant"), hoverlabel=dict(align="left"),
        xaxis=dict(title=dict(text="UMAP 1"), showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text="UMAP 2"), showgrid=False, zeroline=False),
        plot_bgcolor="white",
    )
    return fig


def value_map_figure(points: pd.DataFrame, *, color_by: str = "lang", emphasis: np.ndarray | None = None,
                     highlight_groups: Sequence[str] = (), max_legend_groups: int = MAX_LEGEND_GROUPS,
                     hover: list[str] | None = None, title: str | None = None, height: int = 620,
                     marker_size: float = 5.0, opacity: float | None = None, contours: bool = False,
                     seed: int = 0) -> go.Figure:
    """The UMAP scatter (WebGL), coloured by group, every group visible.

    Groups are drawn interleaved in a seeded random order (``draw_rounds``), never one over another: on
    a map where six models answer the same questions the answers share a spot, and the group drawn last
    would hide the rest. ``opacity`` defaults to ``auto_opacity`` of the number of points. ``contours``
    adds each group's density contour (up to MAX_CONTOUR_GROUPS groups): where points overlap, the
    lines still show where each group lies.

    points: rows with qa_id, x, y, question, answer (value_id for hover) and the ``color_by`` column.
    emphasis: boolean mask; rows outside it are drawn grey and faint (text search, comparisons).
    highlight_groups: colour only these groups, the rest grey (how >30 groups stay readable).
    With more than ``max_legend_groups`` groups and nothing highlighted, points keep their colours but
    the legend is hidden instead of listing every group.
    A float ``color_by`` column (a lens score) gets a continuous colour scale.
    """
    if color_by not in points:
        raise KeyError(f"cannot colour by {color_by!r}: no such column (have {', '.join(points.columns)})")
    hover = hover_texts(points) if hover is None else hover
    hover_arr = np.asarray(hover, dtype=object)
    opacity = auto_opacity(len(points)) if opacity is None else float(opacity)
    fig = go.Figure()
    mask = np.ones(len(points), dtype=bool) if emphasis is None else np.asarray(emphasis, dtype=bool)
    if len(mask) != len(points):
        raise ValueError(f"emphasis mask has {len(mask)} entries for {len(points)} points")

    faded = ~mask
    groups = points[color_by]
    if highlight_groups and not _is_continuous(groups):
        faded = faded | ~as_labels(groups).isin([str(g) for g in highlight_groups]).to_numpy()
    if faded.any():
        fig.add_trace(_scatter(points[faded], name="other QAs", color=OTHER_COLOR, hover=list(hover_arr[faded]),
                               size=marker_size * 0.8, opacity=min(0.35, opacity)))
    shown = points[~faded]
    shown_hover = hover_arr[~faded]
    if shown.empty:
        return _map_layout(fig, title, height)

    if _is_continuous(shown[color_by]):
        fig.add_trace(_scatter(shown, name=color_by, color=shown[color_by].to_numpy(), hover=list(shown_hover),
                               size=marker_size, opacity=opacity, showlegend=False, colorbar_title=color_by))
        return _map_layout(fig, title, height)

    labels = as_labels(shown[color_by]).to_numpy()
    colors = group_colors(labels)
    if len(colors) > max_legend_groups:
        # Too many groups for a legend: one trace, colour = group code on a stepped colour scale
        # (numeric arrays validate fast; a list of 100k colour strings does not); hover names the group.
        names = list(colors)
        order = np.random.default_rng(seed).permutation(len(shown))   # one trace: its row order is the draw order
        shown, shown_hover, labels = shown.iloc[order], shown_hover[order], labels[order]
        codes = pd.Categorical(labels, categories=names).codes
        trace = _scatter(shown, name=f"{len(colors)} {color_by} groups", color=codes, hover=list(shown_hover),
                         size=marker_size, opacity=opacity, showlegend=False)
        trace.marker.update(colorscale=stepped_scale(names, colors), cmin=0, cmax=max(len(names) - 1, 1))
        fig.add_trace(trace)
        return _map_layout(fig, title, height)
    n_rounds = max(1, min(DRAW_ROUNDS, MAX_TRACES // max(len(colors), 1)))
    rounds = draw_rounds(labels, seed, n_rounds)
    rng = np.random.default_rng(seed + 1)
    names = list(colors)
    in_legend: set[str] = set()
    for r in range(n_rounds):
        for i in rng.permutation(len(names)):
            name = names[i]
            sel = (labels == name) & (rounds == r)
            if not sel.any():
                continue
            trace = _scatter(shown[sel], name=name, color=colors[name], hover=list(shown_hover[sel]),
                             size=marker_size, opacity=opacity, showlegend=name not in in_legend)
            trace.legendrank = 1000 + i   # the legend stays in name order whatever the draw order
            fig.add_trace(trace)
            in_legend.add(name)
    if contours and len(names) <= MAX_CONTOUR_GROUPS:
        for name in names:
            sel = labels == name
            if sel.sum() >= 10:
                fig.add_trace(_density_contour(shown[sel], name=name, color=colors[name], seed=seed))
    return _map_layout(fig, title, height)


def group_draw_positions(fig: go.Figure) -> dict[str, list[int]]:
    """Trace positions (draw order) of each named group's points in a map figure (for checks and tests)."""
    positions: dict[str, list[int]] = {}
    for i, trace in enumerate(fig.data):
        if trace.type == "scattergl" and trace.customdata is not None:
            positions.setdefault(str(trace.legendgroup or trace.name), []).append(i)
    return positions


def add_overlay(fig: go.Figure, points: pd.DataFrame, *, name: str, color: str = "#d62728",
                symbol: str = "star", size: float = 12.0, hover: list[str] | None = None) -> go.Figure:
    """Draw ``points`` on top of a map (uploaded QAs, the two sides of a comparison); returns ``fig``."""
    if points.empty:
        return fig
    hover = hover_texts(points) if hover is None else hover
    fig.add_trace(_scatter(points, name=name, color=color, hover=hover, size=size, opacity=0.95,
                           symbol=symbol, line=dict(width=1, color="black")))
    return fig


_LABEL_POSITIONS = {"top center": (0.0, 1.0), "bottom center": (0.0, -1.0), "middle right": (1.6, 0.0),
                    "middle left": (-1.6, 0.0), "top right": (1.2, 1.0), "bottom left": (-1.2, -1.0)}


def label_positions(xy: np.ndarray) -> list[str]:
    """A text position per point so that nearby labels go different ways: greedily, each label takes
    the side whose anchor is farthest from the anchors already placed (the densest points first)."""
    xy = np.asarray(xy, dtype=float)
    if len(xy) == 0:
        return []
    span = np.ptp(xy, axis=0)
    span[span == 0] = 1.0
    unit = xy / span                                   # both axes on the same footing
    step = 0.035                                       # about a label's height in figure units
    near = ((unit[:, None] - unit[None]) ** 2).sum(-1)
    order = np.argsort(np.sort(near, axis=1)[:, 1] if len(xy) > 1 else np.zeros(1), kind="stable")
    placed: list[np.ndarray] = []
    out = [""] * len(xy)
    for i in order:
        best, best_d = "top center", -1.0
        for name, (dx, dy) in _LABEL_POSITIONS.items():
            anchor = unit[i] + step * np.array([dx, dy])
            d = min((float(((anchor - a) ** 2).sum()) for a in placed), default=np.inf)
            if d > best_d + 1e-12:
                best, best_d = name, d
        out[i] = best
        dx, dy = _LABEL_POSITIONS[best]
        placed.append(unit[i] + step * np.array([dx, dy]))
    return out


def grouped_map_figure(centroids: pd.DataFrame, *, by: str = "value_id", color_by: str = "lang",
                       highlight_groups: Sequence[str] = (), max_labels: int = 60, title: str | None = None,
                       axis_title: str = "MDS", height: int = 620) -> go.Figure:
    """One labelled point per group (the paper's fig. 5), sized by its number of QAs.

    centroids: one row per ``by`` value with x, y (a layout of the groups, e.g.
    project.layout_from_distances), n and ``color_by``; cohesion, when present, is shown on hover.
    Labels are drawn for up to ``max_labels`` groups (and always for the highlighted ones).
    """
    if color_by not in centroids:
        raise KeyError(f"centroids have no column {color_by!r}")
    fig = go.Figure()
    colors = group_colors(as_labels(centroids[color_by]))
    highlight = {str(g) for g in highlight_groups}
    labelled = len(centroids) <= max_labels
    cen_labels = as_labels(centroids[color_by])
    many = len(colors) > MAX_LEGEND_GROUPS
    positions = np.asarray(label_positions(centroids[["x", "y"]].to_numpy()), dtype=object)
    for group, color in colors.items():
        in_group = (cen_labels == group).to_numpy()
        sub = centroids[in_group]
        grey = bool(highlight) and group not in highlight
        show_text = labelled or (group in highlight)
        cohesion = sub["cohesion"] if "cohesion" in sub else [None] * len(sub)
        fig.add_trace(go.Scatter(
            x=sub["x"], y=sub["y"], mode="markers+text" if show_text else "markers",
            name=group, legendgroup=group, showlegend=not many and not grey,
            text=[escape_hover(v) for v in sub[by]] if show_text else None,
            textposition=list(positions[in_group]),
            textfont=dict(size=10, color="#777" if grey else "#222"),
            marker=dict(size=np.clip(6 + np.sqrt(sub["n"].to_numpy(dtype=float)) / 2, 8, 22),
                        color=OTHER_COLOR if grey else color, line=dict(width=1, color="black")),
            hovertext=[f"<b>{escape_hover(v)}</b><br>{int(n)} QAs"
                       + (f"<br>cohesion {c:.3f}" if c is not None and np.isfinite(c) else "")
                       for v, n, c in zip(sub[by], sub["n"], cohesion)],
            hoverinfo="text",
        ))
    fig = _map_layout(fig, title, height)
    fig.update_layout(xaxis_title_text=f"{axis_title} 1", yaxis_title_text=f"{axis_title} 2",
                      yaxis=dict(scaleanchor="x", scaleratio=1))   # distances read the same both ways
    return fig


# ---------------------------------------------------------------- comparison & identification charts
def pair_distance_figure(all_distances: Sequence[float], distance: float, *, label: str, method: str = "",
                         title: str = "Where this pair sits among all value-ID pairs") -> go.Figure:
    """Histogram of every pair's distance with a line at the chosen pair (whole-number pair counts)."""
    values = np.asarray(all_distances, dtype=float)
    counts, _ = np.histogram(values, bins=min(40, max(len(values), 1)))
    fig = go.Figure(go.Histogram(x=values, nbinsx=40, name="all pairs", marker_color="#8fa8c8"))
    fig.add_vline(x=float(distance), line=dict(color="#d62728", width=3),
                  annotation_text=escape_hover(label), annotation_position="top")
    x_title = f"{method} distance between two value IDs".strip()
    fig.update_layout(title=dict(text=escape_hover(title)), height=340, margin=dict(l=10, r=10, t=50, b=55),
                      xaxis=dict(title=dict(text=escape_hover(x_title))),
                      yaxis=dict(title=dict(text="value-ID pairs"), tickformat="d", tick0=0,
                                 dtick=max(1, int(np.ceil(counts.max(initial=0) / 5)))),
                      showlegend=False)
    return fig


def nearest_value_ids_figure(nearest: pd.DataFrame, *, top: int = 15,
                             title: str = "Nearest value IDs") -> go.Figure:
    """Horizontal bars of similarity for the ``top`` nearest value IDs (rows: value_id, similarity)."""
    top_rows = nearest.sort_values("similarity", ascending=False).head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=top_rows["similarity"], y=[escape_hover(v) for v in top_rows["value_id"]],
                           orientation="h", marker_color="#4c72b0"))
    fig.update_layout(title=dict(text=escape_hover(title)), height=max(260, 26 * len(top_rows) + 80),
                      margin=dict(l=10, r=10, t=50, b=10), xaxis_title="cosine similarity")
    return fig


def distance_heatmap_figure(names: Sequence[str], matrix: np.ndarray, *,
                            title: str = "Distance between value IDs") -> go.Figure:
    """Square heatmap of a distance matrix in the given order (callers pass a clustered order)."""
    labels = [escape_hover(n) for n in names]
    fig = go.Figure(go.Heatmap(z=np.asarray(matrix, dtype=float), x=labels, y=labels, colorscale="Viridis_r",
                               colorbar=dict(title=dict(text="distance")),
                               hovertemplate="%{y} ↔ %{x}<br>%{z:.3f}<extra></extra>"))
    size = min(900, max(380, 14 * len(labels) + 160))
    fig.update_layout(title=dict(text=escape_hover(title)), height=size, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis=dict(autorange="reversed"))
    return fig


def radar_figure(scores: pd.DataFrame, *, title: str = "Lens scores") -> go.Figure:
    """One closed polygon per row (a value ID) over the columns (the lens dimensions)."""
    dims = [escape_hover(c) for c in scores.columns]
    colors = group_colors(scores.index.astype(str))
    fig = go.Figure()
    for name, row in scores.iterrows():
        values = row.to_numpy(dtype=float)
        fig.add_trace(go.Scatterpolar(r=np.append(values, values[:1]), theta=dims + dims[:1], fill="toself",
                                      name=escape_hover(name), opacity=0.6,
                                      line=dict(color=colors[str(name)])))
    fig.update_layout(title=dict(text=escape_hover(title)), height=460, margin=dict(l=40, r=40, t=60, b=30),
                      polar=dict(radialaxis=dict(visible=True)))
    return fig


def figure_html(fig: go.Figure) -> bytes:
    """A self-contained interactive HTML file (plotly.js inlined: the app must work offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
