"""Reading a map: distances and tests between value IDs, value lenses, cultural maps, value identification.

compare         centroid/energy/MMD distances, bootstrap CIs, permutation tests, same-question
                divergence, nearest QAs across, checkpoint trajectories
lenses          ValueLex, Schwartz and Moral Foundations scores per QA and per value ID
culture         rank correlation with a human cultural map
identification  value identification (k-NN, linear probe, TF-IDF, baselines)
control         the representations the Evaluate page compares and the non-value control comparison
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "compare": ["value_id_distance_matrix", "set_distance", "bootstrap_distance_value_ids",
                "permutation_test_value_ids", "same_question_pairs", "nearest_cross", "trajectory"],
    "lenses": ["get_lens", "load_lens", "lens_prototypes", "score_qas", "score_value_ids"],
    "culture": ["load_cultural_map", "human_distance_matrix", "rank_correlation"],
    "identification": ["value_identification_table", "evaluate_features", "map_control_models"],
    "control": ["representations", "control_comparison", "read_control", "cap_questions"],
})
