"""The value map of a million QAs: a density image rendered on the server, real points once few.

Why: Plotly's WebGL scatter goes blank above about 1.5M points (plotly.js #5178) and a million
points of JSON (hover text included) is hundreds of MB through Streamlit, whose messages are capped.
A WebGL view made for millions (embedding-atlas) fetches its engine from a CDN at run time, which
this offline app cannot do; and in a browser without a GPU WebGL itself is the cost: in chromium's
software renderer a 100-point WebGL scatter added 0.4-1.2 s to a page's first render and doubled a
round trip against the same chart in SVG (bench_browser_map).
So a big map's view is a categorical density image (numpy bincount per pixel, each pixel the
count-weighted mix of its groups' colours, opacity by log count, points spread to dots once the view
holds few, what datashader does, in ~100 lines of numpy), sent as one PNG (a few hundred kB at any n),
under a transparent heatmap of a coarse grid for hover (how many QAs, which group leads) and box/lasso
selection, none of it WebGL. The selection is resolved on the server against every point
(`rows_in_selection`). When the view (a zoom box) holds few enough points, they are drawn as points
(`points_figure`, SVG below MAX_SVG_POINTS): one trace whatever the number of groups, coordinates,
colour codes and rows as typed binary arrays, each point's QA as hover (its text read from disk for
those rows only). The legend can be drawn apart (`legend_figure`), so a zoom does not redraw it.
"""
from __future__ import annotations

import base64
import zlib
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from univar_core.figures.map_figures import (
    MAX_CONTOUR_GROUPS,
    MAX_LEGEND_GROUPS,
    OTHER_COLOR,
    _density_contour,
    _map_layout,
    auto_opacity,
    escape_hover,
    group_colors,
    stepped_scale,
)

MAX_DRAWN_POINTS = 50_000   # a map of more QAs is big: drawn as the density image, points only once few
MAX_SVG_POINTS = 2_000      # a big map's view of at most this many QAs: SVG points (no WebGL set-up)
IMAGE_SIZE = (900, 600)     # pixels (width, height) of the density image
HOVER_GRID = (120, 80)      # cells of the transparent hover/selection grid
SPREAD = ((10_000, 2), (100_000, 1))   # (at most this many QAs in view, spread each point this many px)

View = tuple[float, float, float, float]  # x0, x1, y0, y1
Groups = tuple[np.ndarray, list[str]]     # (int code per point, group names): group_codes


def full_view(x: np.ndarray, y: np.ndarray, pad: float = 0.02) -> View:
    x0, x1, y0, y1 = float(np.min(x)), float(np.max(x)), float(np.min(y)), float(np.max(y))
    dx, dy = max(x1 - x0, 1e-9) * pad, max(y1 - y0, 1e-9) * pad
    return x0 - dx, x1 + dx, y0 - dy, y1 + dy


def nearby_views(view: View, whole: View) -> dict[str, View | None]:
    """The views one step from `view` (half its width or height to each side, or twice its size about
    its centre), for the pan and zoom-out buttons; a view that would hold the `whole` map is None."""
    x0, x1, y0, y1 = view
    dx, dy = (x1 - x0) / 2, (y1 - y0) / 2
    out = (x0 - dx, x1 + dx, y0 - dy, y1 + dy)
    covers = out[0] <= whole[0] and out[1] >= whole[1] and out[2] <= whole[2] and out[3] >= whole[3]
    return {"Zoom out": None if covers else out, "←": (x0 - dx, x1 - dx, y0, y1), "→": (x0 + dx, x1 + dx, y0, y1),
            "↑": (x0, x1, y0 + dy, y1 + dy), "↓": (x0, x1, y0 - dy, y1 - dy)}


def in_view(x: np.ndarray, y: np.ndarray, view: View | None) -> np.ndarray:
    if view is None:
        return np.ones(len(x), dtype=bool)
    x0, x1, y0, y1 = view
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    if c.startswith("rgb"):
        r, g, b = (int(float(v)) for v in c[c.index("(") + 1:c.index(")")].split(",")[:3])
        return r, g, b
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _png(rgba: np.ndarray) -> str:
    """An (H, W, 4) uint8 image as a PNG data URI (zlib only: no imaging library needed)."""
    h, w, _ = rgba.shape
    raw = b"".join(b"\x00" + rgba[row].tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + (zlib.crc32(kind + data) & 0xFFFFFFFF).to_bytes(4, "big"))

    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 6, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def density_figure(points: pd.DataFrame, *, color_by: str, view: View | None = None,
                   highlight_groups: Sequence[str] = (), emphasis: np.ndarray | None = None,
                   title: str | None = None, height: int = 620, size: tuple[int, int] = IMAGE_SIZE,
                   groups: Groups | None = None, legend: bool = True) -> go.Figure:
    """The density image of `points` (x, y, color_by) inside `view` (default: all of them).
    Colours follow map_figures.value_map_figure: `highlight_groups` and `emphasis` (search) turn the
    other QAs grey; with more than MAX_LEGEND_GROUPS groups and nothing highlighted the colours stay
    but the legend is left out. `groups`: the rows' (codes, names) of the whole map's `color_by`
    (group_codes, computed once per map), so colours stay put whatever the view; else from `points`.
    `legend=False`: no swatches (the page draws legend_figure apart, once, rather than on every zoom)."""
    x = points["x"].to_numpy(dtype=np.float64)
    y = points["y"].to_numpy(dtype=np.float64)
    x0, x1, y0, y1 = view or full_view(x, y)
    w, h = size
    codes, names = groups if groups is not None else group_codes(points[color_by])
    colors = group_colors(names)
    codes = np.where(_greyed(codes, names, highlight_groups, emphasis), len(names), codes)
    palette = np.array([_hex_rgb(colors[n]) for n in names] + [_hex_rgb(OTHER_COLOR)], dtype=np.float64)

    px = np.floor((x - x0) / (x1 - x0) * w).astype(np.int64)
    py = np.floor((y1 - y) / (y1 - y0) * h).astype(np.int64)  # row 0 at the top
    ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    pixel = py[ok] * w + px[ok]
    n_pixels = w * h
    code = codes[ok]
    # each pixel: the mean colour of its coloured QAs (grey ones only where no coloured QA is), by
    # per-channel weighted bincounts: O(n), whatever the number of groups
    coloured = code != len(names)
    radius = next((r for most, r in SPREAD if len(pixel) <= most), 0)
    total = _spread(np.bincount(pixel, minlength=n_pixels), (h, w), radius)
    n_coloured = _spread(np.bincount(pixel[coloured], minlength=n_pixels), (h, w), radius)
    sums = _spread(np.stack([np.bincount(pixel[coloured], weights=palette[code[coloured], c], minlength=n_pixels)
                             for c in range(3)], axis=1), (h, w), radius)
    rgb = np.where(n_coloured[:, None] > 0, sums / np.maximum(n_coloured, 1)[:, None], palette[-1])
    alpha = np.where(total > 0, 0.25 + 0.75 * np.log1p(total) / np.log1p(max(total.max(), 1)), 0.0)
    rgba = np.dstack([rgb.reshape(h, w, 3), (alpha * 255).reshape(h, w)]).clip(0, 255).astype(np.uint8)

    fig = go.Figure(go.Image(source=_png(rgba), x0=x0, dx=(x1 - x0) / w, y0=y1, dy=-(y1 - y0) / h,
                             hoverinfo="skip", name="density"))
    fig.add_traces(_hover_cells(x[ok], y[ok], code, names + ["other QAs"], (x0, x1, y0, y1)))
    if legend:
        add_swatches(fig, colors, legend_groups(names, highlight_groups, np.unique(code[code < len(names)])))
    fig = show_view(_map_layout(fig, title, height), (x0, x1, y0, y1))
    fig.update_layout(dragmode="select")
    return fig


def show_view(fig: go.Figure, view: View) -> go.Figure:
    """Axes fixed to `view` (a zoom box), so that a pan or zoom moves them whatever is drawn in it."""
    return fig.update_layout(xaxis=dict(range=list(view[:2])), yaxis=dict(range=list(view[2:]), autorange=None,
                                                                           scaleanchor=None))


def _spread(per_pixel: np.ndarray, shape: tuple[int, int], radius: int) -> np.ndarray:
    """Each pixel's sums over the (2r+1)^2 square around it: a sparse view's points become dots one can
    see (datashader's spread), at the cost of (2r+1)^2 shifted adds of the image, not of the points."""
    if radius == 0:
        return per_pixel
    h, w = shape
    grid = per_pixel.reshape(h, w, -1)
    padded = np.pad(grid, ((radius, radius), (radius, radius), (0, 0)))
    out = np.zeros_like(grid)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out += padded[dy:dy + h, dx:dx + w]
    return out.reshape(per_pixel.shape)


def _greyed(codes: np.ndarray, names: list[str], highlight_groups: Sequence[str],
            emphasis: np.ndarray | None) -> np.ndarray:
    """Points drawn grey: outside the highlighted groups, or not matching the search (`emphasis`)."""
    grey = np.zeros(len(codes), dtype=bool)
    if highlight_groups:
        wanted = {str(g) for g in highlight_groups}
        grey |= ~np.isin(codes, [i for i, name in enumerate(names) if name in wanted])
    if emphasis is not None:
        grey |= ~np.asarray(emphasis, dtype=bool)
    return grey


def legend_groups(names: list[str], highlight_groups: Sequence[str], present: np.ndarray) -> list[str]:
    """The groups a legend lists: the highlighted ones, else those present (codes into `names`) if they
    are few enough to read."""
    known = set(names)
    return ([g for g in highlight_groups if g in known] if highlight_groups
            else [names[i] for i in present] if len(present) <= MAX_LEGEND_GROUPS else [])


def with_legend(fig: go.Figure, names: list[str], shown: Sequence[str]) -> go.Figure:
    """A copy of `fig` with the swatches of `shown` (a chart drawn without its legend, for its download)."""
    return add_swatches(go.Figure(fig), group_colors(names), shown)


def add_swatches(fig: go.Figure, colors: dict[str, str], shown: Sequence[str]) -> go.Figure:
    """A legend of colour swatches (an image or a one-trace scatter has none of its own)."""
    fig.add_traces([go.Scatter(x=[None], y=[None], mode="markers", name=escape_hover(name), legendrank=1000,
                               marker=dict(color=colors[name], size=8), showlegend=True, hoverinfo="skip")
                    for name in shown])
    return fig


def legend_figure(names: list[str], shown: Sequence[str], width_px: int = 900) -> go.Figure:
    """A big map's legend as a strip of its own above the chart. Why: drawn in the chart, 25 legend entries
    cost about 0.2 s of every zoom and pan in a browser without a GPU (bench_browser_map), and the colours
    do not change with the view. Clicks on entries do nothing: the colours are baked into the image."""
    fig = add_swatches(go.Figure(), group_colors(names), shown)
    text = 10 + 7 * max((len(name) for name in shown), default=1)   # px of an entry's text, ~7 px a character
    rows = -(-len(shown) // max(1, width_px // (text + 40)))            # + the swatch and gaps
    fig.update_layout(height=16 + 20 * rows, margin=dict(l=0, r=0, t=0, b=0), showlegend=True, plot_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False), legend=dict(
                          orientation="h", x=0, y=1, yanchor="top", entrywidth=text, maxheight=1, itemclick=False,
                          itemdoubleclick=False))
    return fig


def points_figure(points: pd.DataFrame, *, groups: Groups, rows: np.ndarray | None = None,
                  highlight_groups: Sequence[str] = (), emphasis: np.ndarray | None = None, contours: bool = False,
                  title: str | None = None, height: int = 620, seed: int = 0,
                  hover: Sequence[str] | None = None, legend: bool = True) -> go.Figure:
    """A zoomed view of a big map (at most MAX_SVG_POINTS QAs) as points: one SVG trace (no WebGL: its
    set-up alone costs a second in a browser without a GPU) of grey QAs under one of coloured QAs,
    whatever the number of groups (the colour is the group code on a stepped colour scale), in a seeded
    random order so no group hides another, and a legend of swatches. Coordinates, colour codes and each
    point's map row (customdata, for `selected_rows`) go to the browser as typed binary arrays. Hover:
    `hover`, one escaped label per point (map_figures.hover_texts of the QAs' text, read for these rows
    only), else the value ID; a click selects a point for the table below the map.

    points: x, y (and value_id for hover) of the rows; groups: their (codes, names) of the whole map's
    colour column, so colours match the density image's; rows: their positions in the map (default
    0..n-1). `contours`: map_figures' per-group density contours. `legend`: as in density_figure."""
    codes, names = np.asarray(groups[0]), list(groups[1])
    colors = group_colors(names)
    order = np.random.default_rng(seed).permutation(len(points))
    x = points["x"].to_numpy(dtype=np.float32)[order]
    y = points["y"].to_numpy(dtype=np.float32)[order]
    grey = _greyed(codes, names, highlight_groups, emphasis)[order]
    codes = codes[order]
    where = (np.arange(len(points)) if rows is None else np.asarray(rows)).astype(np.int32)[order]
    labels = np.full(len(points), "", dtype=str)
    if hover is not None:
        labels = np.asarray(hover, dtype=object)[order]
    elif "value_id" in points:   # value ID labels by code: a few hundred escaped names, not 50k strings built
        vid_codes, vid_names = pd.factorize(points["value_id"].astype(str))
        labels = np.array([escape_hover(v) for v in vid_names] + [""], dtype=str)[vid_codes[order]]
    template = ("%{text}" if hover is not None else "<b>%{text}</b>") + "<br>click: listed below the map<extra></extra>"
    coloured = dict(color=codes[~grey].astype(np.int16), colorscale=stepped_scale(names, colors),
                    cmin=0, cmax=max(len(names) - 1, 1), size=5, opacity=auto_opacity(len(points)))
    traces = [go.Scatter(x=x[part], y=y[part], mode="markers", marker=marker, customdata=where[part],
                         text=labels[part], hovertemplate=template, showlegend=False, name=name)
              for name, part, marker in (("other QAs", grey, dict(color=OTHER_COLOR, size=4, opacity=0.35)),
                                         ("QAs", ~grey, coloured)) if part.any()]
    fig = go.Figure(data=traces)
    shown = np.unique(codes[~grey])
    if legend:
        add_swatches(fig, colors, legend_groups(names, highlight_groups, shown))
    if contours and len(shown) <= MAX_CONTOUR_GROUPS:
        fig.add_traces([_density_contour(pd.DataFrame({"x": x[sel], "y": y[sel]}), name=names[i],
                                         color=colors[names[i]], seed=seed)
                        for i in shown if (sel := (codes == i) & ~grey).sum() >= 10])
    return _map_layout(fig, title, height)


def selected_rows(x: np.ndarray, y: np.ndarray, rows: np.ndarray, selection: Mapping | None) -> np.ndarray:
    """The map rows a selection on a big map picks, sorted: those of `rows` (the QAs in view, filters
    applied) inside its boxes / lassos, and the points clicked (points_figure's customdata is the row)."""
    inside = rows[rows_in_selection(x[rows], y[rows], selection)]
    clicked = []
    for point in (selection or {}).get("points", []) or []:
        data = point.get("customdata")
        data = data[0] if isinstance(data, (list, tuple)) and data else data
        if isinstance(data, (int, float)) and not isinstance(data, bool) and 0 <= data < len(x):
            clicked.append(int(data))
    return np.union1d(inside, np.asarray(clicked, dtype=np.int64))


def group_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(int codes, names sorted) of a column; missing values are the group "(none)" (as_labels)."""
    codes, uniques = pd.factorize(values, sort=True)
    names = [str(u) for u in uniques]
    if (codes < 0).any():
        names.append("(none)")
        codes = np.where(codes < 0, len(names) - 1, codes)
    return codes.astype(np.int64), names


def _hover_cells(x: np.ndarray, y: np.ndarray, codes: np.ndarray, names: list[str], view: View) -> list:
    """A transparent heatmap over a coarse grid: hover says how many QAs a cell holds and which group
    leads; and an invisible two-point scatter at the view's corners, which makes plotly fire box and
    lasso selections (a heatmap alone is not selectable) that the page resolves on every point. Both
    SVG/canvas: a WebGL grid cost a second of set-up per draw in a browser without a GPU."""
    x0, x1, y0, y1 = view
    gw, gh = HOVER_GRID
    cx = np.clip(((x - x0) / (x1 - x0) * gw).astype(np.int64), 0, gw - 1)
    cy = np.clip(((y - y0) / (y1 - y0) * gh).astype(np.int64), 0, gh - 1)
    cell = cy * gw + cx
    counts = np.bincount(cell, minlength=gw * gh)
    cells = np.flatnonzero(counts)
    by_group = np.bincount(cell * len(names) + codes, minlength=gw * gh * len(names)).reshape(gw * gh, len(names))
    lead = by_group[cells].argmax(axis=1)
    escaped = [escape_hover(name) for name in names]
    text = np.full(gw * gh, "", dtype=object)   # handed to plotly as a numpy array: a nested list costs 0.1 s
    text[cells] = [f"{n:,} QAs here; most: {escaped[g]}" for n, g in zip(counts[cells], lead)]
    z = np.where(counts > 0, counts, np.nan).reshape(gh, gw)
    clear = "rgba(0,0,0,0)"
    heat = go.Heatmap(z=z, x=x0 + (np.arange(gw) + 0.5) * (x1 - x0) / gw, y=y0 + (np.arange(gh) + 0.5) * (y1 - y0) / gh,
                      text=text.reshape(gh, gw).astype(str), hovertemplate="%{text}<extra></extra>", hoverongaps=False,
                      colorscale=[[0, clear], [1, clear]], showscale=False, name="density cells")
    anchor = go.Scatter(x=[x0, x1], y=[y0, y1], mode="markers", marker=dict(opacity=0), hoverinfo="skip",
                        showlegend=False, name="selection anchor")
    return [heat, anchor]


def rows_in_selection(x: np.ndarray, y: np.ndarray, selection: Mapping | None) -> np.ndarray:
    """Boolean mask of the points inside the boxes / lassos of a Plotly selection state
    (``event.selection`` of st.plotly_chart: ``box`` [{x: [x0, x1], y: [y0, y1]}], ``lasso``
    [{x: [...], y: [...]}]). Every point counts, not only the drawn ones."""
    mask = np.zeros(len(x), dtype=bool)
    if not selection:
        return mask
    for box in selection.get("box", []) or []:
        bx, by = sorted(map(float, box["x"][:2])), sorted(map(float, box["y"][:2]))
        mask |= (x >= bx[0]) & (x <= bx[1]) & (y >= by[0]) & (y <= by[1])
    for lasso in selection.get("lasso", []) or []:
        mask |= _in_polygon(x, y, np.asarray(lasso["x"], dtype=float), np.asarray(lasso["y"], dtype=float))
    return mask


def _in_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over points, looped over the polygon's edges."""
    inside = np.zeros(len(x), dtype=bool)
    cand = (x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max())
    xs, ys = x[cand], y[cand]
    hit = np.zeros(len(xs), dtype=bool)
    for i in range(len(px)):
        xa, ya, xb, yb = px[i - 1], py[i - 1], px[i], py[i]
        crosses = (ya > ys) != (yb > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = xa + (ys - ya) * (xb - xa) / (yb - ya)
        hit ^= crosses & (xs < at)
    inside[cand] = hit
    return inside


def selection_view(selection: Mapping | None) -> View | None:
    """The last box of a selection as a view (for 'zoom to selection'), or None."""
    boxes = (selection or {}).get("box") or []
    if not boxes:
        return None
    bx, by = sorted(map(float, boxes[-1]["x"][:2])), sorted(map(float, boxes[-1]["y"][:2]))
    return bx[0], bx[1], by[0], by[1]
