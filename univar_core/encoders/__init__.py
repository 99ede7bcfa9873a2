"""Text to vectors: the Encoder protocol and its resolver, the sentence-transformers encoder, trained heads
on a frozen base, the vector cache, question centring.

base              the ``Encoder`` protocol, ``EncodeResult``, ``EncoderLoadError``, ``DEFAULT_ENCODER`` (no torch)
resolve           ``load_encoder(_cached)``; ``encoder_for_map``: the one place that decides which encoder
                  made a map
sentence_encoder  ``SentenceEncoder`` (any sentence-transformers model; offline MiniLM by default), QA text
                  formatting with the question cut first
head              ``HeadEncoder``: a trained head on a frozen base encoder; its file names
cache             ``EmbeddingCache``: vectors keyed by the exact text, in shards under the model's hash
pretokenise       the GPU feed: batches tokenised ahead in worker processes, pinned, copied without blocking
ray_encode        a corpus embedded on a Ray cluster (Ray Data map_batches over encoder actors) into the cache
centring          question-centred vectors (each question's mean subtracted)
compat            which trained head fits which map (``head_matches_map``, ``load_head_for_map``)
centring          question-centred vectors: subtract each question's mean over the value IDs that answered
                  it (maps built and placed with it, value identification rows)
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "base": ["DEFAULT_ENCODER", "Encoder", "EncodeResult", "EncoderLoadError"],
    "resolve": ["load_encoder", "load_encoder_cached", "encoder_for_map", "PRECOMPUTED_HASH"],
    "sentence_encoder": ["SentenceEncoder", "default_cache_dir"],
    "head": ["HeadEncoder", "is_head_folder"],
    "cache": ["EmbeddingCache"],
    "ray_encode": ["RayOptions", "encode_to_cache"],
    "compat": ["head_matches_map", "load_head_for_map", "recorded_base", "head_meta"],
    "centring": ["QuestionMeans", "CentringReport", "centre_questions", "centre_new", "fit_question_means"],
})
