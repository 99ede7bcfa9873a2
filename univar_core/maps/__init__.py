"""The value map: build it, store it, project and cluster it, place new QAs on it.

build       read -> validate -> embed -> project -> cluster -> store (``build_map``; the demo map)
placement   new QAs placed on a stored map without moving it; ranked nearest value IDs; layers
projection  UMAP fit, k-NN placement, value-ID centroids and the grouped layout
clusters    HDBSCAN clusters and their keyword labels
store       the map folder on disk: atomic save, checksums, load, list, delete
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "build": ["build_map", "build_demo_map", "ensure_demo_map", "ensure_demo_maps", "load_source"],
    "placement": ["Placement", "place_on_map", "add_layer", "check_new_layer", "rank_value_ids"],
    "projection": ["UmapParams", "fit_projection", "place_points", "nearest_map_points", "centroid_matrix",
                   "value_id_centroids", "layout_from_distances"],
    "clusters": ["cluster_points", "label_clusters"],
    "store": ["ValueMap", "MapError", "save_map", "load_map", "list_maps", "delete_map", "default_data_dir"],
})
