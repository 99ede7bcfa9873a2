"""Pure Plotly figure builders (no streamlit): the app's pages and the CLI draw only these.

map_figures   the value map, grouped map, overlays, distances, nearest value IDs, radar, HTML export
lens_figures  clustered heatmap with dendrogram, lens radar, checkpoint trajectories
run_figures   a training run's loss curve, value-identification bars, the non-value control bars
density       a big map as a server-rendered density image; its zoomed points and selections
drawn_points  which QAs a whole-map scatter draws (a sample of a map too big to draw whole)
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "map_figures": ["value_map_figure", "grouped_map_figure", "add_overlay", "figure_html"],
    "lens_figures": ["clustered_heatmap_figure", "lens_radar_figure", "trajectory_map_figure"],
    "run_figures": ["loss_figure", "identification_bar_figure", "control_figure"],
})
