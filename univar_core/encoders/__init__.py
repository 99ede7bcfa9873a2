"""Text to vectors: the sentence-transformers encoder, trained heads on a frozen base, the vector cache.

sentence_encoder  ``Encoder`` (any sentence-transformers model; offline MiniLM by default), QA text
                  formatting with the question cut first, ``load_encoder``
head              ``HeadEncoder``: a trained head on a frozen base encoder
cache             ``EmbeddingCache``: vectors keyed by the exact text, in shards under the model's hash
compat            which trained head fits which map (``head_matches_map``, ``load_head_for_map``)
centring          question-centred vectors: subtract each question's mean over the value IDs that answered
                  it (maps built and placed with it, value identification rows)
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "sentence_encoder": ["DEFAULT_ENCODER", "Encoder", "EncodeResult", "EncoderLoadError", "load_encoder",
                         "default_cache_dir"],
    "head": ["HeadEncoder"],
    "cache": ["EmbeddingCache"],
    "compat": ["head_matches_map", "load_head_for_map", "recorded_base", "head_meta"],
    "centring": ["QuestionMeans", "CentringReport", "centre_questions", "centre_new", "fit_question_means"],
})
