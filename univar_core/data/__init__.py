"""The QA table: its schema and validation, language codes, readers, splits and the demo corpus.

schema     columns, aliases, ``validate_qas`` with file/row/column errors (``QAInputError``)
languages  language codes to ISO 639-3 (``en``, ``English`` and ``eng`` are one language)
readers    csv/tsv/jsonl/json/parquet/xlsx and the UniVaR release layout -> ``LoadedQAs``
vectors    precomputed vectors: read without pickle, the one validator (``attach``)
writers    the spreadsheet-safe CSV writer
splits     leak-free train/test splits by question, questionnaire or value ID
demo       the built-in synthetic corpus with planted stances
"""
from univar_core._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "schema": ["CORE_COLUMNS", "QAInputError", "ValidationReport", "SkippedRow", "validate_qas",
               "make_value_id", "derive_question_id"],
    "languages": ["iso639_3", "normalise_languages"],
    "readers": ["LoadedQAs", "read_table", "read_qas", "read_many", "shared_data_dir"],
    "vectors": ["attach", "load_npy"],
    "splits": ["Split", "split_qas", "assert_no_leak", "split_columns"],
    "demo": ["demo_qas", "demo_checkpoints"],
})
