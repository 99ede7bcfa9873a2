"""Readers: QA files (CSV/TSV, JSONL/JSON, parquet, xlsx), the UniVaR release folder layout, and
precomputed embeddings that come with the QAs.

Every reader accepts a path or a file-like object with a ``name`` (a Streamlit upload). Problems with
the file itself (too large, empty, not UTF-8, unparsable) raise ``schema.QAInputError`` naming the
file and, where known, the line or byte offset; nothing is guessed silently (no latin-1 fallback).

Precomputed embeddings (an ``.npy`` or an ``embedding`` column) are checked by ``data.vectors``, the
one validator of vectors: float32 stays bit-for-bit, float64/float16 are converted to float32 and the
report says so, and they are subset to the rows validation accepted.
"""
from __future__ import annotations

import csv
import io as _io
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Union

import numpy as np
import pandas as pd

from univar_core.data import vectors
from univar_core.data.schema import (
    ALIASES,
    DEFAULT_MAX_CHARS,
    GENERIC_STEMS,
    QAInputError,
    ValidationReport,
    validate_qas,
)
from univar_core.data.writers import restore_cell
from univar_core.paths import REPO_ROOT

DEFAULT_MAX_BYTES = 200 * 2**20
MAX_FILE_MB_ENV = "UNIVAR_MAX_FILE_MB"
SHARED_DATA_ENV = "UNIVAR_SHARED_DATA"
TABLE_EXTENSIONS = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".xlsx")
RELEASE_SUBDIR = "qa_translated"
_REPO = REPO_ROOT

PathOrBuffer = Union[str, os.PathLike, BinaryIO, Any]


@dataclass
class LoadedQAs:
    table: pd.DataFrame
    report: ValidationReport
    embeddings: np.ndarray | None = None


def shared_data_dir() -> Path | None:
    """The real corpora: $UNIVAR_SHARED_DATA, else <repo>/../shared/data; None when neither exists."""
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        return Path(env) if Path(env).is_dir() else None
    default = _REPO.parent / "shared" / "data"
    return default if default.is_dir() else None


def max_bytes_from_env() -> int:
    """Upload/file size limit: $UNIVAR_MAX_FILE_MB (megabytes) if set, else DEFAULT_MAX_BYTES.

    A value that is not a positive number is a QAInputError naming the variable (exit code 2 in the
    CLI), not a traceback or a limit of "-1 MB"."""
    raw = os.environ.get(MAX_FILE_MB_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_BYTES
    try:
        mb = float(raw)
    except ValueError:
        mb = float("nan")
    if not (mb > 0 and mb != float("inf")):
        raise QAInputError(f"{raw!r} is not a positive number of megabytes (e.g. {MAX_FILE_MB_ENV}=500)",
                           source=MAX_FILE_MB_ENV)
    return round(mb * 2**20)


# ---------------------------------------------------------------------------------------------
# Raw bytes: size limit, name, encoding

def _source_name(path_or_buffer: PathOrBuffer, name: str | None) -> str:
    """What errors call the file: its name, with the parent folder when the stem is generic."""
    if name:
        return str(name)
    if isinstance(path_or_buffer, (str, os.PathLike)):
        p = Path(path_or_buffer)
    else:
        buf_name = getattr(path_or_buffer, "name", None)
        if not buf_name:
            raise ValueError("a file-like object needs a name (pass name='data.csv') to tell its format")
        p = Path(str(buf_name))
    if p.stem.lower() in GENERIC_STEMS and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name


def _buffer_size(buf: Any) -> int | None:
    size = getattr(buf, "size", None)
    if isinstance(size, int):
        return size
    if hasattr(buf, "getbuffer"):
        return buf.getbuffer().nbytes
    if hasattr(buf, "seek") and hasattr(buf, "tell"):
        pos = buf.tell()
        end = buf.seek(0, _io.SEEK_END)
        buf.seek(pos)
        return end
    return None


def _mb(n_bytes: int) -> str:
    """Megabytes with the digits that matter (a 0.001 MB limit must not read as "0 MB")."""
    mb = n_bytes / 2**20
    return f"{mb:,.0f} MB" if mb >= 100 else f"{mb:.3g} MB"


def _too_large(source: str, size: int, max_bytes: int) -> QAInputError:
    return QAInputError(
        f"the file is {_mb(size)}, over the {_mb(max_bytes)} limit. Raise the limit "
        f"with the environment variable {MAX_FILE_MB_ENV} (e.g. {MAX_FILE_MB_ENV}=1000) or the max_bytes "
        f"argument, or split the file.",
        source=source,
    )


def _read_bytes(path_or_buffer: PathOrBuffer, source: str, max_bytes: int) -> bytes:
    if isinstance(path_or_buffer, (str, os.PathLike)):
        path = Path(path_or_buffer)
        if not path.is_file():
            raise QAInputError("file not found", source=str(path))
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(source, size, max_bytes)
        data = path.read_bytes()
    else:
        buffer_size = _buffer_size(path_or_buffer)
        if buffer_size is not None and buffer_size > max_bytes:
            raise _too_large(source, buffer_size, max_bytes)
        if hasattr(path_or_buffer, "getvalue"):
            data = path_or_buffer.getvalue()
        else:
            if hasattr(path_or_buffer, "seek"):
                path_or_buffer.seek(0)
            data = path_or_buffer.read(max_bytes + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > max_bytes:
            raise _too_large(source, len(data), max_bytes)
    if not data or (len(data) < 65_536 and not data.strip()):  # only whitespace: empty too
        raise QAInputError(f"the file is empty ({len(data)} bytes)", source=source)
    return data


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _decode_utf8(data: bytes, source: str) -> str:
    """UTF-8 (a BOM is fine). Anything else is an error naming where it broke: guessing latin-1 would
    silently garble non-English text, which is exactly the text this app is about."""
    if data.startswith(_UTF16_BOMS):  # Excel's "Unicode text" and PowerShell's default: say so
        raise QAInputError(
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8. Re-save it as "
            "UTF-8 (e.g. Excel: 'CSV UTF-8'; iconv -f utf-16 -t utf-8).", source=source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        offset = err.start
        line = data[:offset].count(b"\n") + 1
        raise QAInputError(
            f"the file is not valid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset:,} (line {line}) "
            f"cannot be decoded. Re-save the file as UTF-8 (e.g. Excel: 'CSV UTF-8'; "
            f"iconv -f cp1252 -t utf-8).",
            source=source,
        ) from None


# ---------------------------------------------------------------------------------------------
# Formats

def _alias_names() -> set[str]:
    return {n for canon, names in ALIASES.items() for n in (canon, *names)}


def _sniff_delimiter(text: str) -> str:
    """The most frequent of , ; tab | in the header line (headers rarely contain those characters,
    unlike answers, which often hold commas in multi-line quoted cells)."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_delimited(text: str, source: str, delimiter: str | None) -> pd.DataFrame:
    sep = delimiter or _sniff_delimiter(text)
    header = next(csv.reader([text.split("\n", 1)[0]], delimiter=sep), [])
    # QA columns are text (ids like "0012" keep their zeros); extra columns keep pandas' types.
    text_columns = {h: str for h in header if h.strip().lower() in _alias_names()}
    try:
        table = pd.read_csv(_io.StringIO(text), sep=sep, dtype=text_columns, keep_default_na=False,
                            na_values=[""])
    except pd.errors.ParserError as err:
        line = re.search(r"line (\d+)", str(err))
        where = f" at line {line.group(1)}" if line else ""
        raise QAInputError(
            f"could not parse as {'TSV' if sep == chr(9) else 'CSV'} (delimiter {sep!r}){where}: {err}. "
            f"Check quoting: a text cell holding the delimiter or a line break must be in double quotes.",
            source=source,
        ) from None
    except pd.errors.EmptyDataError:
        raise QAInputError("the file has no header or data", source=source) from None
    return _restore_spreadsheet_cells(table)


def _restore_spreadsheet_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Undo the "'" that writers.csv_text puts before formula-like cells, so an exported CSV reads back
    exactly (a spreadsheet drops that quote too when it saves the cell)."""
    table.columns = [restore_cell(c) for c in table.columns]
    for column in table.columns:
        if table[column].dtype == object or isinstance(table[column].dtype, pd.StringDtype):
            table[column] = table[column].map(restore_cell, na_action="ignore")
    return table


def _read_jsonl(text: str, source: str) -> pd.DataFrame:
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise QAInputError(f"line {line_no} is not valid JSON: {err.msg} (column {err.colno})",
                               source=source) from None
        if not isinstance(rec, dict):
            raise QAInputError(f"line {line_no} is a JSON {type(rec).__name__}, expected an object "
                               f"with question, answer, model and lang", source=source)
        records.append(rec)
    return pd.DataFrame.from_records(records)


def _read_json(text: str, source: str) -> pd.DataFrame:
    """A list of records, {"key": [records]}, or {column: [values]} of equal lengths."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if err.lineno > 1 and text.lstrip().startswith("{"):
            return _read_jsonl(text, source)  # .json that is really JSON lines
        raise QAInputError(f"not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}",
                           source=source) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(data) == 1 and lists and all(isinstance(r, dict) for r in lists[0]):
            data = lists[0]
        elif lists and len(lists) == len(data) and len({len(v) for v in lists}) == 1:
            return pd.DataFrame(data)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise QAInputError("expected a JSON list of records (objects with question, answer, model, "
                           "lang) or an object of equal-length column lists", source=source)
    return pd.DataFrame.from_records(data)


def _check_unpacked_size(size: int, source: str, max_bytes: int, what: str) -> None:
    """The size limit applies to what reading puts in memory, not only to the file: a small
    compressed file can hold a huge table (a 100 KB xlsx can unpack to 100 MB)."""
    if size > max_bytes:
        raise QAInputError(
            f"the file unpacks to {what} {_mb(size)}, over the {_mb(max_bytes)} limit. "
            f"Raise the limit with the environment variable {MAX_FILE_MB_ENV} (e.g. {MAX_FILE_MB_ENV}=1000) "
            f"or the max_bytes argument, or split the file.", source=source)


def _read_parquet(data: bytes, source: str, max_bytes: int) -> pd.DataFrame:
    """Row groups are checked by their metadata first, then read batch by batch while counting the
    decoded size (dictionary-encoded text can be far larger decoded than the metadata says), so a
    file over the limit is refused before the whole table is in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        meta = parquet.metadata
        listed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        _check_unpacked_size(listed, source, max_bytes, "at least")
        batches, decoded = [], 0
        for batch in parquet.iter_batches(batch_size=16_384):
            decoded += batch.nbytes
            _check_unpacked_size(decoded, source, max_bytes, "more than")
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=parquet.schema_arrow)
    except (pa.ArrowException, OSError) as err:
        raise QAInputError(f"not a readable parquet file: {err}", source=source) from None
    return table.to_pandas()


def _read_xlsx(data: bytes, source: str, max_bytes: int) -> pd.DataFrame:
    from zipfile import BadZipFile, ZipFile

    try:
        with ZipFile(_io.BytesIO(data)) as archive:   # an xlsx is a zip: sum what it unpacks to
            unpacked = sum(info.file_size for info in archive.infolist())
    except (BadZipFile, OSError) as err:
        raise QAInputError(f"not a readable .xlsx workbook: {err}", source=source) from None
    _check_unpacked_size(unpacked, source, max_bytes, "workbook XML of")
    try:
        # Cells as stored (a text cell "0012" stays text); extra columns then get pandas' types.
        raw = pd.read_excel(_io.BytesIO(data), sheet_name=0, engine="openpyxl", dtype=object)
    except (BadZipFile, ValueError, KeyError, OSError) as err:
        raise QAInputError(f"not a readable .xlsx workbook (first sheet is read): {err}",
                           source=source) from None
    aliases = _alias_names()
    extras = [c for c in raw.columns if str(c).strip().lower() not in aliases]
    raw[extras] = raw[extras].infer_objects()
    return raw


def _format_of(source: str) -> str:
    ext = Path(source).suffix.lower()
    if ext == ".xls":
        raise QAInputError("old .xls workbooks are not supported; save it as .xlsx or CSV UTF-8",
                           source=source)
    if ext not in TABLE_EXTENSIONS:
        raise QAInputError(f"unknown file type {ext or '(no extension)'!r}; expected one of "
                           f"{', '.join(TABLE_EXTENSIONS)} or a UniVaR release folder", source=source)
    return ext


def read_table(path_or_buffer: PathOrBuffer, *, name: str | None = None,
               max_bytes: int | None = None) -> pd.DataFrame:
    """The raw table of one file, chosen by extension; no validation (see read_qas)."""
    source = _source_name(path_or_buffer, name)
    ext = _format_of(source)
    limit = max_bytes if max_bytes is not None else max_bytes_from_env()
    data = _read_bytes(path_or_buffer, source, limit)
    if ext in (".parquet", ".pq"):
        return _read_parquet(data, source, limit)
    if ext == ".xlsx":
        return _read_xlsx(data, source, limit)
    text = _decode_utf8(data, source)
    if ext in (".jsonl", ".ndjson"):
        return _read_jsonl(text, source)
    if ext == ".json":
        return _read_json(text, source)
    return _read_delimited(text, source, "\t" if ext == ".tsv" else None)


# ---------------------------------------------------------------------------------------------
# Precomputed embeddings

# The rules and the whole-array path live in data.vectors (the one validator); the readers stream a
# parquet column through the same checks.
ArraySink = vectors.ArraySink
EmbeddingSink = vectors.EmbeddingSink


# ---------------------------------------------------------------------------------------------
# Parquet files read in row batches (the vectors of an embedding column stream to the sink)

def _parquet_file(path: Path, source: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise QAInputError("file not found", source=str(path))
    if path.stat().st_size == 0:
        raise QAInputError("the file is empty (0 bytes)", source=source)
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise QAInputError(f"not a readable parquet file: {err}", source=source) from None


def _read_parquet_texts(pf, source: str, columns: list[str], max_bytes: int) -> pd.DataFrame:
    """The table without the vectors, read batch by batch. The size limit counts what is held in
    memory (these columns, unpacked: listed sizes first, then the decoded batches, as _read_parquet
    does); an embedding column streams to disk and does not count."""
    import pyarrow as pa

    meta = pf.metadata
    wanted = set(columns)
    listed = sum(meta.row_group(g).column(c).total_uncompressed_size
                 for g in range(meta.num_row_groups) for c in range(meta.num_columns)
                 if meta.row_group(g).column(c).path_in_schema.split(".")[0] in wanted)
    _check_unpacked_size(listed, source, max_bytes, "at least")
    parts, decoded = [], 0
    try:
        for batch in pf.iter_batches(batch_size=vectors.STREAM_ROWS, columns=columns):
            decoded += batch.nbytes
            _check_unpacked_size(decoded, source, max_bytes, "more than")
            parts.append(batch.to_pandas())
    except (pa.ArrowException, OSError) as err:
        raise QAInputError(f"not a readable parquet file: {err}", source=source) from None
    if not parts:
        return pf.schema_arrow.empty_table().select(columns).to_pandas()
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _vector_block(arr, offset: int, dim: int | None, source: str, column: str) -> np.ndarray:
    """One arrow batch of a list / fixed-size-list column -> (rows, d) numpy, with the errors of
    vectors.from_column (row numbers counted in the whole file)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)
            or pa.types.is_fixed_size_list(arr.type)):
        raise QAInputError(f"embedding is {arr.type}, expected a list of numbers (store vectors as a "
                           f"parquet list<float> column or a separate .npy)", source=source,
                           row=offset + 1, column=column)
    if arr.null_count:
        bad = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise QAInputError("embedding is empty, expected a list of numbers (store vectors as a parquet "
                           "list<float> column or a separate .npy)", source=source, row=offset + bad + 1,
                           column=column)
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    dim = int(lengths[0]) if dim is None and len(lengths) else dim
    wrong = np.flatnonzero(lengths != dim)
    if len(wrong):
        raise QAInputError(f"embedding has {int(lengths[wrong[0]])} values, earlier rows have {dim}",
                           source=source, row=offset + int(wrong[0]) + 1, column=column)
    values = arr.flatten()
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise QAInputError(f"embedding values must be numbers: got {values.type}", source=source,
                           column=column)
    if values.null_count:  # a missing value inside a vector (pandas writes NaN so): NaN, reported by row
        values = pc.fill_null(values.cast(pa.float64()) if pa.types.is_integer(values.type) else values,
                              float("nan"))
    block = values.to_numpy(zero_copy_only=False).reshape(len(arr), dim)
    return block if block.dtype.kind == "f" else block.astype(np.float64)


def _stream_embedding_column(pf, column: str, report: ValidationReport, source: str,
                             sink: EmbeddingSink) -> np.ndarray:
    """The accepted rows' vectors of `column`, batch by batch into the sink (float32, checked)."""
    what = f"embeddings in column '{column}'"
    kept = report.kept_rows
    writer, dim, offset, warned = None, None, 0, False
    try:
        for batch in pf.iter_batches(batch_size=vectors.STREAM_ROWS, columns=[column]):
            block = _vector_block(batch.column(0), offset, dim, source, column)
            dim = block.shape[1]
            lo, hi = np.searchsorted(kept, [offset, offset + len(block)])
            rows = kept[lo:hi]
            block = block[rows - offset]
            vectors.check_finite(block, rows, source=source, what=what)   # `what` names the column
            if vectors.check_dtype(block.dtype, source=source, what=what) and not warned:
                report.warnings.append(vectors.conversion_warning(block.dtype, what))
                warned = True
            if writer is None:
                writer = (sink or vectors.ArraySink)(len(kept), dim)
            writer.append(block.astype(np.float32, copy=False))
            offset += batch.num_rows
        if writer is None:  # a file without rows: no vectors
            writer = (sink or vectors.ArraySink)(0, 0)
        out = writer.finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    vectors.norm_warning(np.asarray(out[: min(len(out), 10_000)]), report.warnings, what)
    return out


def _read_parquet_qas(path: Path, source: str, *, dataset: str | None, embeddings: Any,
                      embedding_column: str, max_bytes: int | None, max_chars: int,
                      sink: EmbeddingSink) -> LoadedQAs:
    pf = _parquet_file(path, source)
    names = pf.schema_arrow.names
    has_column = embedding_column in names
    if has_column and embeddings is not None:
        raise QAInputError(f"the file has an '{embedding_column}' column and an embeddings file was "
                           f"also given; use one", source=source)
    raw = _read_parquet_texts(pf, source, [c for c in names if c != embedding_column],
                              max_bytes if max_bytes is not None else max_bytes_from_env())
    table, report = validate_qas(raw, source=source, dataset=dataset, max_chars=max_chars)
    del raw
    if has_column:
        return LoadedQAs(table, report, _stream_embedding_column(pf, embedding_column, report, source, sink))
    if embeddings is not None:
        return LoadedQAs(table, report, vectors.attach(vectors.load_npy(embeddings, source), report, source=source,
                                                       sink=sink))
    return LoadedQAs(table, report, None)


# ---------------------------------------------------------------------------------------------
# QA files and folders

def _release_files(folder: Path) -> list[tuple[Path, str]]:
    """(csv path, dataset) pairs of a UniVaR release folder: <dataset>/qa_translated/<model>.csv,
    given either the dataset folder or a folder holding dataset folders."""
    if (folder / RELEASE_SUBDIR).is_dir():
        datasets = [folder]
    else:
        datasets = sorted(d for d in folder.iterdir() if (d / RELEASE_SUBDIR).is_dir())
    files = [(f, d.name) for d in datasets for f in sorted((d / RELEASE_SUBDIR).glob("*.csv"))]
    if not files:
        raise QAInputError(f"folder is not in the UniVaR release layout: expected "
                           f"<dataset>/{RELEASE_SUBDIR}/<model>.csv files", source=str(folder))
    return files


def _read_release_folder(folder: Path, *, dataset: str | None, max_bytes: int | None,
                         max_chars: int) -> LoadedQAs:
    parts = []
    for csv_path, ds in _release_files(folder):
        source = f"{ds}/{RELEASE_SUBDIR}/{csv_path.name}"
        raw = read_table(csv_path, name=source, max_bytes=max_bytes)
        if not any(str(c).strip().lower() in ("model", *ALIASES["model"]) for c in raw.columns):
            raw.insert(0, "model", csv_path.stem)  # the release names each file after its model
        table, report = validate_qas(raw, source=source, dataset=dataset or ds, max_chars=max_chars)
        parts.append(LoadedQAs(table, report, None))
    return _merge(parts, source=folder.name)


def read_qas(path_or_buffer: PathOrBuffer, *, name: str | None = None, dataset: str | None = None,
             embeddings: Any = None, embedding_column: str = "embedding", max_bytes: int | None = None,
             max_chars: int = DEFAULT_MAX_CHARS, sink: EmbeddingSink = None) -> LoadedQAs:
    """Read and validate one QA file (or UniVaR release folder).

    embeddings: an .npy path (or array / file-like) row-aligned with the file's data rows; or leave
    None and give a parquet/JSONL column ``embedding_column`` of vectors. Either way the vectors are
    subset to the accepted rows. max_bytes: None means $UNIVAR_MAX_FILE_MB, else 200 MB.

    A parquet path is read in row batches and its vectors (or an .npy's, memory-mapped) stream in
    blocks into ``sink(n_rows, dim)`` (default: an array in memory; builds give
    ``maps.store.stage_embeddings``), so only the QA text is held in memory.
    """
    if isinstance(path_or_buffer, (str, os.PathLike)) and Path(path_or_buffer).is_dir():
        if embeddings is not None:
            raise QAInputError("precomputed embeddings are not supported for a release folder",
                               source=str(path_or_buffer))
        return _read_release_folder(Path(path_or_buffer), dataset=dataset, max_bytes=max_bytes,
                                    max_chars=max_chars)
    source = _source_name(path_or_buffer, name)
    if isinstance(path_or_buffer, (str, os.PathLike)) and _format_of(source) in (".parquet", ".pq"):
        return _read_parquet_qas(Path(path_or_buffer), source, dataset=dataset, embeddings=embeddings,
                                 embedding_column=embedding_column, max_bytes=max_bytes,
                                 max_chars=max_chars, sink=sink)
    raw = read_table(path_or_buffer, name=source, max_bytes=max_bytes)
    column_emb = None
    if embedding_column in raw.columns:
        if embeddings is not None:
            raise QAInputError(f"the file has an '{embedding_column}' column and an embeddings file was "
                               f"also given; use one", source=source)
        if len(raw):
            column_emb = vectors.from_column(raw, embedding_column, source)
        raw = raw.drop(columns=embedding_column)
    table, report = validate_qas(raw, source=source, dataset=dataset, max_chars=max_chars)
    if column_emb is not None:
        return LoadedQAs(table, report, vectors.attach(column_emb, report, source=source,
                                                       what=f"embeddings in column '{embedding_column}'"))
    if embeddings is not None:
        return LoadedQAs(table, report, vectors.attach(vectors.load_npy(embeddings, source), report, source=source,
                                                       sink=sink))
    return LoadedQAs(table, report, None)


def _merge(parts: list[LoadedQAs], *, source: str) -> LoadedQAs:
    """Concatenate several validated files: qa_id made unique, skips tagged with their file,
    kept_rows offset into the concatenated input."""
    with_emb = [p.report.source for p in parts if p.embeddings is not None]
    if with_emb and len(with_emb) != len(parts):
        without = [p.report.source for p in parts if p.embeddings is None]
        raise QAInputError(f"embeddings come with {', '.join(with_emb)} but not with {', '.join(without)}; "
                           f"give them for all files or none", source=source)
    dims = {p.embeddings.shape[1] for p in parts if p.embeddings is not None}
    if len(dims) > 1:
        raise QAInputError(f"files have embeddings of different dimensions {sorted(dims)}", source=source)

    tables: list[pd.DataFrame] = []
    seen_ids: set[str] = set()
    for i, part in enumerate(parts):
        t = part.table
        if seen_ids.intersection(t["qa_id"]):
            t = t.assign(qa_id=f"{i}/{Path(part.report.source).stem}:" + t["qa_id"])
        seen_ids.update(t["qa_id"])
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)  # CORE_COLUMNS stay first: every part starts with them

    skipped, kept, warnings, offset = [], [], [], 0
    mapping: dict[str, str] = {}
    for part in parts:
        r = part.report
        skipped += [replace(s, reason=f"{r.source}: {s.reason}") for s in r.skipped]
        kept.append(r.kept_rows + offset)
        offset += r.n_input_rows
        for canon, found in r.column_mapping.items():
            mapping.setdefault(canon, found)
        warnings += [f"{r.source}: {w}" for w in r.warnings]
    report = ValidationReport(
        source=source,
        n_input_rows=sum(p.report.n_input_rows for p in parts),
        n_accepted=len(table),
        column_mapping=mapping,
        skipped=skipped,
        n_truncated=sum(p.report.n_truncated for p in parts),
        warnings=warnings,
        kept_rows=np.concatenate(kept).astype(np.int64),
    )
    embeddings = np.concatenate([p.embeddings for p in parts]) if with_emb else None
    return LoadedQAs(table, report, embeddings)


def read_many(paths: Iterable[PathOrBuffer], **kw) -> LoadedQAs:
    """Read several files (or release folders) into one table; qa_id stays unique across them."""
    paths = list(paths)
    if not paths:
        raise QAInputError("no input files given")
    if kw.get("embeddings") is not None and len(paths) > 1:
        raise QAInputError("an embeddings .npy aligns with one file; give files with an embedding column instead",
                           source=", ".join(str(p) for p in paths))
    parts = [read_qas(p, **kw) for p in paths]
    if len(parts) == 1:
        return parts[0]
    return _merge(parts, source=f"{len(parts)} files")
