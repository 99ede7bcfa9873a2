"""The `univar` command: build, place, inspect and export value maps from the shell.

Every command calls the same library functions the app uses (univar_core.maps.build / store).
Exit codes: 0 ok, 2 bad input (the message names file, row and column; no traceback), 1 anything else,
130 interrupted. Heavy modules (torch, umap) are imported inside commands so `--help` is instant.

New commands are plain functions registered with :func:`register` under a section comment below.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable

import typer

if TYPE_CHECKING:  # numpy only for annotations: --help stays instant
    import numpy as np

from univar_core.encoders.base import DEFAULT_ENCODER

app = typer.Typer(
    name="univar",
    help="UniVaR Explorer: embed LLM question/answer pairs (QAs), map them in 2-D, compare value IDs "
         "(model$lang).\n\nStart with `univar demo`, then `univar build qa.csv --name mymap`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    add_completion=False,
)

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input (QAInputError, MapError, EncoderLoadError, endpoint configuration) -> message + exit 2;
    other failures (an endpoint that stays unavailable past the last retry) -> exit 1.
    UNIVAR_DEBUG=1 re-raises for the traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from univar_core.collect.errors import EndpointConfigError
        from univar_core.collect.journal import JournalMismatchError
        from univar_core.data.schema import QAInputError
        from univar_core.encoders.base import EncoderLoadError
        from univar_core.maps.store import MapError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except (QAInputError, MapError, EncoderLoadError, EndpointConfigError, JournalMismatchError) as err:
            if os.environ.get("UNIVAR_DEBUG"):
                raise
            _err(f"error: {err}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            _err("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as err:  # noqa: BLE001 - the CLI's last line of defence
            if os.environ.get("UNIVAR_DEBUG"):
                raise
            _err(f"error: {type(err).__name__}: {err}\n(set UNIVAR_DEBUG=1 to see the traceback)")
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper


def register(fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    """Add a command to `univar` with the shared error handling; its docstring is its --help."""
    app.command(name)(_handle_errors(fn))
    return fn


class TqdmProgress:
    """A pipeline progress callback drawing one tqdm bar per stage on stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if _terminated:   # a SIGTERM whose KeyboardInterrupt was swallowed (see _interrupt) stops us here
            raise KeyboardInterrupt("signal 15")
        bar = self._bars.get(stage)
        if bar is not None and done < bar.n:  # the stage starts again (e.g. `univar eval`'s next encoder)
            bar.close()
            bar = None
        if bar is None:
            unit = "QA" if stage == "embed" else "step"
            bar = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr, dynamic_ncols=True,
                       mininterval=0.2)
            self._bars[stage] = bar
        bar.total = total
        bar.update(max(0, done - bar.n))
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


# Options shared by several commands.
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="Folder holding the maps (default: $UNIVAR_DATA_DIR, else maps/ in the project folder).",
    file_okay=False)]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", help="Encoder backend: auto (on a CPU the fastest one that passes the accuracy guard against "
                      "fp32 PyTorch, checked once per model; torch on a GPU), torch, onnx or onnx-int8. "
                      "Default: $UNIVAR_BACKEND, else auto.")]
CentreOpt = Annotated[bool, typer.Option(
    "--centre-questions", help="Question-centred embeddings: subtract each question's mean embedding (over "
                               "the value IDs that answered it) so that what differs between value IDs is "
                               "left, not the topic. QAs of questions only one value ID answered are left "
                               "out (counted).")]
TrustRemoteCodeOpt = Annotated[bool, typer.Option(
    "--trust-remote-code/--no-trust-remote-code",
    help="Let a model whose folder ships its own Python code (config.json 'auto_map', e.g. the UniVaR "
         "checkpoints on nomic-embed) run it. This runs code from the model's source on this machine: only for "
         "models you trust. Off by default; a map built with it records it in its manifest.")]


def _remote_code_warning(trust_remote_code: bool, *models: Any) -> None:
    """Say it every time: consent to run a model's code should never be silent."""
    if trust_remote_code:
        named = ", ".join(f"'{m}'" for m in models if m) or "the map's encoder"
        _err(f"warning: --trust-remote-code runs Python code shipped with the model ({named}) on this "
             "machine; use it only for models from a source you trust")


EmbeddingsOpt = Annotated[Path | None, typer.Option(
    "--embeddings", help="Precomputed embeddings: an .npy with one row per input row (float32, (n, d)). "
                         "Used as they are; no encoder is loaded.", dir_okay=False)]


RayOpt = Annotated[bool, typer.Option(
    "--ray", help="Embed on a Ray cluster: Ray Data map_batches over a pool of encoder actors (one per GPU, else "
                  "one per CPU), written to the embedding cache, which this command and every later one read. "
                  "Without --ray-address: the cluster of $RAY_ADDRESS, else a local one started here.")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", help="With --ray: the cluster to join, e.g. ray://head:10001 or head:6379 (every node needs "
                          "the model files at the same path; univar_core is shipped to the workers).")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=1, help="With --ray: encoder actors (default: one per GPU of the cluster, else one per CPU).")]


def _ray(ray: bool, address: str | None, workers: int | None) -> Any:
    """--ray/--ray-address/--workers -> encoders.ray_encode.RayOptions (None without --ray). Joins the cluster
    now, so that a bad address fails before any work and the pool is known (GPU actors load torch)."""
    if not ray:
        if address is not None or workers is not None:
            raise typer.BadParameter("--ray-address and --workers go with --ray", param_hint="--ray")
        return None
    from univar_core.encoders.ray_encode import RayOptions, connect

    options = RayOptions(address=address, workers=workers)
    _err(f"ray: {connect(options).describe()}")
    return options


def _ray_backend(options: Any, backend: str | None) -> str | None:
    """The backend to load for a Ray pool (auto on GPU actors: torch); unchanged without --ray."""
    if options is None:
        return backend
    from univar_core.encoders.ray_encode import connect

    return connect(options).backend(backend)


def _say_ray(manifest_embedding: dict) -> None:
    run = manifest_embedding.get("ray")
    if run:
        _err(f"ray: {run['n_encoded']:,} of {run['n_texts']:,} QAs embedded by {run['workers_used']} of "
             f"{run['workers']} Ray worker(s); the rest were in the cache")


def _backend(value: str | None) -> str | None:
    """--backend checked early (a typo fails before any work), None when not given."""
    if value is None:
        return None
    from univar_core.encoders.onnx_backend import check_backend

    try:
        return check_backend(value)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--backend") from None


def _say_backend(enc: Any) -> None:
    note = getattr(enc, "backend_note", None)
    if note:
        _err(f"encoder {getattr(enc, 'name', '')}: backend {note}")


StatusDirOpt = Annotated[Path | None, typer.Option(
    "--status-dir", help="Write progress and the outcome to DIR/status.json instead of progress bars (for a "
                         "watcher such as the app, which runs this command in the background).", file_okay=False)]


@contextlib.contextmanager
def _stage_progress(status_dir: Path | None):
    """A (stage, done, total) progress callback: tqdm bars on stderr, or with --status-dir the run's
    status.json (jobs/status.py), which also records a failure. Yields (progress, status file or None)."""
    if status_dir is None:
        bars = TqdmProgress()
        try:
            yield bars, None
        finally:
            bars.close()
        return
    from univar_core.jobs.status import StatusFile

    status = StatusFile(status_dir)
    try:
        yield status, status
    except BaseException as err:
        status.fail(err)
        raise


def _print_report(report: Any) -> None:
    _err(report.summary())


def _print_representation(manifest: dict) -> None:
    """One line saying which vectors a map holds (and, when centred, what could not be centred)."""
    rep = manifest.get("representation") or {}
    if rep.get("kind") == "question-centred":
        _err(f"representation: question-centred ({rep.get('n_centred', '?'):,} QAs centred on "
             f"{rep.get('n_questions_with_mean', '?'):,} question means; {rep.get('n_qas_left_out', 0):,} QA(s) "
             f"of {rep.get('n_single_value_id_questions', 0):,} question(s) answered by a single value ID left out)")
    else:
        _err("representation: the encoder's embeddings (not question-centred)")


def _print_table(df: Any) -> None:
    typer.echo(df.to_string(index=False))


# ----------------------------------------------------------------------------------------------------
# maps: build, place, demo
# ----------------------------------------------------------------------------------------------------

def build(
    files: Annotated[list[Path], typer.Argument(
        help="QA files (.csv .tsv .jsonl .json .parquet .xlsx) or UniVaR release folders.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Map name (replaces a map of that name).")],
    dataset: Annotated[str | None, typer.Option(
        help="Dataset label for every QA (default: the file's dataset column, else its file name).")] = None,
    encoder: Annotated[str, typer.Option(
        help="sentence-transformers model name or folder, or a trained head folder.")] = DEFAULT_ENCODER,
    embeddings: EmbeddingsOpt = None,
    encoder_name: Annotated[str | None, typer.Option(
        help="With precomputed embeddings: the model that made them (recorded in the manifest).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Encoder batch size (default 64 on a CPU, 512 on a GPU).")] = None,
    cache_flush_every: Annotated[int | None, typer.Option(
        min=1, help="Save embeddings to the cache every N QAs (default 2048) and at least every 2 seconds: "
                    "a killed build resumes from the last save.")] = None,
    n_neighbors: Annotated[int, typer.Option(min=2, help="UMAP n_neighbors.")] = 15,
    min_dist: Annotated[float, typer.Option(min=0.0, help="UMAP min_dist.")] = 0.1,
    seed: Annotated[int, typer.Option(help="UMAP random seed.")] = 42,
    backend: BackendOpt = None,
    centre_questions: CentreOpt = False,
    landmarks: Annotated[int, typer.Option(
        min=10, help="Maps with more QAs fit UMAP on this many landmarks (stratified by value ID) and "
                     "place the rest by their nearest neighbours.")] = 50_000,
    mt_model: Annotated[str | None, typer.Option(
        help="First translate non-English QAs into English with this Hugging Face translation model (NLLB, "
             "M2M100, opus-mt), as the UniVaR paper does; the originals stay in question_original / "
             "answer_original and mt_lang.")] = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
    data_dir: DataDirOpt = None,
    status_dir: StatusDirOpt = None,
) -> None:
    """Build a value map: validate QA files, embed every QA, project with UMAP, cluster, store.

    Needs columns question, answer, model, lang (aliases such as prompt/response/llm/language are
    accepted); rows with empty answers or duplicates are skipped and counted. A build that is
    interrupted leaves the previous map of that name intact, and the embedding cache lets the next
    run pick up where it stopped.

    Examples:

      univar build qa.csv --name valuebench

      univar build a.csv b.jsonl --name both --n-neighbors 30

    Values instead of topics (every value ID answers the same questions; centring removes the question):

      univar build qa.csv --name vb-centred --centre-questions

    With vectors made elsewhere (a parquet 'embedding' column, or an aligned .npy):

      univar build qa.parquet --name pre --encoder-name my-model

      univar build qa.csv --embeddings vectors.npy --encoder-name my-model --name pre

    Embedding on a Ray cluster (one encoder actor per GPU), then building here from the cache:

      univar build qa.parquet --name big --ray --ray-address ray://head:10001
    """
    from univar_core.encoders.resolve import load_encoder_cached, trust_option
    from univar_core.maps import store
    from univar_core.maps.build import build_map
    from univar_core.maps.projection import UmapParams

    store.validate_map_name(name)   # before loading an encoder or reading anything
    if embeddings is None:
        _remote_code_warning(trust_remote_code, encoder)
    enc: Any = encoder
    options = {k: v for k, v in (("batch_size", batch_size), ("cache_flush_every", cache_flush_every))
               if v is not None}
    ray_options = _ray(ray, ray_address, workers) if embeddings is None else None
    if embeddings is None:
        enc = load_encoder_cached(encoder, backend=_ray_backend(ray_options, _backend(backend)), **options,
                                  **trust_option(trust_remote_code))
        _say_backend(enc)
    source = files[0] if len(files) == 1 else files
    with _stage_progress(status_dir) as (progress, status):
        if mt_model:
            source = _translated(files, mt_model, dataset=dataset, embeddings=embeddings, progress=progress)
        vmap, report = build_map(
            source, name, encoder=enc, embeddings=embeddings, encoder_name=encoder_name,
            umap=UmapParams(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed),
            dataset=dataset, data_dir=data_dir, centre_questions=centre_questions,
            landmarks=landmarks, trust_remote_code=trust_remote_code, ray=ray_options, progress=progress)
        _built(vmap, status)
    _print_report(report)
    _print_representation(vmap.manifest)
    emb = vmap.manifest.get("embedding", {})
    if emb.get("precomputed"):
        _err(f"embeddings: precomputed ({vmap.manifest.get('encoder')}), used as given")
    else:
        _say_ray(emb)
        _err(f"embeddings: {len(vmap.qas):,} QAs, {emb.get('n_from_cache', 0):,} from cache, "
             f"{emb.get('n_truncated', 0):,} questions cut to fit the encoder")
    n_clusters = int((vmap.qas["cluster"].unique() >= 0).sum())
    typer.echo(f"map '{vmap.name}': {len(vmap.qas):,} QAs, {vmap.qas['value_id'].nunique()} value IDs, "
               f"{n_clusters} clusters -> {vmap.path}")


def _translated(files: list[Path], mt_model: str, *, dataset: str | None, embeddings: Any, progress) -> Any:
    """The QA files read, validated and machine-translated into English (the optional stage of build)."""
    from univar_core.collect.translation import Translator, translate_qas
    from univar_core.data.readers import read_many

    if embeddings is not None:
        raise typer.BadParameter("precomputed embeddings belong to the untranslated text: drop --mt-model or "
                                 "--embeddings", param_hint="--mt-model")
    loaded = read_many(files, dataset=dataset)
    if loaded.embeddings is not None:
        raise typer.BadParameter("the file's embedding column belongs to the untranslated text: drop --mt-model",
                                 param_hint="--mt-model")
    _print_report(loaded.report)
    table, n_new = translate_qas(loaded.table, Translator(mt_model), to="eng",
                                 progress=lambda done, total: progress("translate", done, total))
    _err(f"translated {int((table['mt_lang'] != '').sum()):,} non-English QAs into English with {mt_model} "
         f"({n_new:,} texts new, the rest from the cache)")
    return table


def _built(vmap: Any, status: Any) -> None:
    if status is not None:
        status.finish(map_name=vmap.name, map_path=str(vmap.path), n_qas=int(len(vmap.qas)))


def rebuild(
    map_name: Annotated[str, typer.Argument(help="Map name or map folder whose QAs are re-embedded.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the new map (replaces a map of that name).")],
    encoder: Annotated[str, typer.Option(help="Encoder name or folder, e.g. a trained run (`univar train --out`).")],
    n_neighbors: Annotated[int, typer.Option(min=2, help="UMAP n_neighbors.")] = 15,
    min_dist: Annotated[float, typer.Option(min=0.0, help="UMAP min_dist.")] = 0.1,
    seed: Annotated[int, typer.Option(help="UMAP random seed.")] = 42,
    backend: BackendOpt = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
    data_dir: DataDirOpt = None,
    status_dir: StatusDirOpt = None,
) -> None:
    """Rebuild a map's QAs (every layer) with another encoder, as a new map.

    A head trained on the map's own stored embeddings is applied to them directly when those were
    precomputed; otherwise the encoder embeds the QAs again.

    Example:

      univar rebuild valuebench --encoder runs/head --name valuebench-head
    """
    from univar_core.maps.projection import UmapParams
    from univar_core.maps.rebuild import rebuild_map

    _remote_code_warning(trust_remote_code, encoder)
    ray_options = _ray(ray, ray_address, workers)
    with _stage_progress(status_dir) as (progress, status):
        vmap, _ = rebuild_map(map_name, name, encoder=encoder, data_dir=data_dir, progress=progress,
                              backend=_backend(backend), trust_remote_code=trust_remote_code, ray=ray_options,
                              umap=UmapParams(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed))
        _built(vmap, status)
    typer.echo(f"map '{vmap.name}': {len(vmap.qas):,} QAs re-embedded with {encoder} -> {vmap.path}")


def place(
    file: Annotated[Path, typer.Argument(help="QA file to place on the map.")],
    map_name: Annotated[str, typer.Option("--map", "-m", help="Name of the stored map.")],
    layer: Annotated[str, typer.Option(help="Name of the new layer (e.g. the dataset).")],
    embeddings: EmbeddingsOpt = None,
    encoder: Annotated[str | None, typer.Option(
        help="Encoder to embed with (default: the one the map was built with; it must match).")] = None,
    save: Annotated[bool, typer.Option(help="Store the placed QAs as a new layer of the map.")] = True,
    trust_remote_code: TrustRemoteCodeOpt = False,
    backend: Annotated[str | None, typer.Option(
        help="Encoder backend (default: the one the map was embedded with; another one is refused).")] = None,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Place new QAs on an existing map (no refit: existing points never move) and identify them.

    Prints every value ID of the map ranked by cosine similarity between the new QAs' mean embedding
    and the value ID's centroid, with the share of new QAs nearest to each; when the new QAs belong to
    value IDs on the map, also the fraction nearest to their own value ID.

    Examples:

      univar place heldout.csv --map valuebench --layer heldout

      univar place new.parquet --map pre --layer new --embeddings new.npy --no-save
    """
    from univar_core.maps import store
    from univar_core.maps.placement import (
        add_layer,
        check_new_layer,
        own_value_id_fraction,
        place_on_map,
    )

    vmap = store.load_map(map_name, data_dir=data_dir)
    if save:
        check_new_layer(vmap, layer)  # before spending time on embedding
    ray_options = _ray(ray, ray_address, workers) if embeddings is None else None
    bars = TqdmProgress()
    try:
        if embeddings is None:
            _remote_code_warning(trust_remote_code, encoder or (vmap.manifest.get("encoder") or {}).get("name"))
        placement = place_on_map(vmap, file, layer=layer, encoder=encoder, embeddings=embeddings,
                                 backend=_backend(backend), trust_remote_code=trust_remote_code,
                                 ray=ray_options, progress=bars)
    finally:
        bars.close()
    _print_report(placement.report)
    if placement.centring is not None:
        c = placement.centring
        _err(f"question-centred with the map's means: {c['n_centred']:,} of {c['n_qas']:,} QAs; "
             f"{c['n_unknown_question_qas']:,} answer questions the map has no mean for and were not placed")
    nearest = placement.nearest.copy()
    nearest["similarity"] = nearest["similarity"].round(4)
    nearest["share_nearest"] = nearest["share_nearest"].round(3)
    _print_table(nearest[["rank", "value_id", "similarity", "p_first", "share_nearest"]])
    top = placement.nearest.iloc[0]
    typer.echo(f"{len(placement.qas):,} QAs placed; as a whole nearest to {top['value_id']} "
               f"(cosine {top['similarity']:.4f}); {top['share_nearest']:.1%} of them are individually "
               f"nearest to it")
    own = own_value_id_fraction(placement)
    if own is not None:
        typer.echo(f"fraction nearest to their own value ID: {own:.3f}")
    for warning in placement.warnings:
        _err(f"warning: {warning}")
    if save:
        updated = add_layer(vmap, placement, data_dir=data_dir)
        typer.echo(f"layer '{layer}' added to map '{updated.name}' -> {updated.path}")


def demo(
    maps: Annotated[list[str] | None, typer.Option(
        "--map", help="Build only this demo map: demo-values (question-centred) or demo (topics); repeat "
                      "for both. Default: both.")] = None,
    data_dir: DataDirOpt = None,
    status_dir: StatusDirOpt = None,
    write_vectors: Annotated[bool, typer.Option(
        "--write-vectors", help="Re-embed the demo corpus with the default encoder (PyTorch, fp32) into "
                                "assets/demo_vectors.npz, the vectors the demo maps are built from without "
                                "loading a model (after the demo texts or the default model change).")] = False,
) -> None:
    """Build (or rebuild) the built-in synthetic demo maps with the default encoder: "demo-values"
    (question-centred: values set the layout; the app opens it first) and "demo" (the encoder's own
    vectors: QAs group by question; QAs of new questions can be placed on it).

    The demo corpus is synthetic: fictional model-language value IDs with planted stances. Both maps
    embed the same texts: the second one takes its vectors from the embedding cache.

    Examples:

      univar demo && univar info demo-values

      univar demo --map demo      (the app builds this one in the background after its first launch)

      univar demo --write-vectors (re-embed the shipped demo vectors)
    """
    from univar_core.data.schema import QAInputError
    from univar_core.maps.build import DEMO_MAP_NAMES, build_demo_map, is_centred

    if write_vectors:
        from univar_core.encoders.shipped import write_demo_vectors

        with _stage_progress(status_dir) as (progress, _status):
            path = write_demo_vectors(progress=lambda done, total: progress("embed", done, total))
        typer.echo(f"demo vectors written: {path}")
        return
    wanted = list(dict.fromkeys(maps or DEMO_MAP_NAMES))
    unknown = [m for m in wanted if m not in DEMO_MAP_NAMES]
    if unknown:
        raise QAInputError(f"--map {unknown[0]!r}: the demo maps are {' and '.join(DEMO_MAP_NAMES)}")
    with _stage_progress(status_dir) as (progress, status):
        for name in wanted:
            vmap = build_demo_map(data_dir=data_dir, progress=progress,
                                  centre_questions=name == DEMO_MAP_NAMES[0])
            if is_centred(vmap.manifest):
                typer.echo(f"demo value map (question-centred): {len(vmap.qas):,} QAs -> {vmap.path}")
            else:
                typer.echo(f"demo map (synthetic): {len(vmap.qas):,} QAs, {vmap.qas['value_id'].nunique()} "
                           f"value IDs -> {vmap.path}")
        _built(vmap, status)


# ----------------------------------------------------------------------------------------------------
# inspecting: info, list, export
# ----------------------------------------------------------------------------------------------------

def info(name: Annotated[str, typer.Argument(help="Map name or map folder.")],
         data_dir: DataDirOpt = None) -> None:
    """Show a map's manifest and QA counts per value ID and layer; verifies every checksum.

    Example:

      univar info valuebench
    """
    from univar_core.maps import store

    vmap = store.load_map(name, data_dir=data_dir, verify=True)
    m = vmap.manifest
    typer.echo(f"map: {vmap.name}  ({vmap.path})")
    typer.echo("checksums: verified")
    typer.echo("representation: " + ("question-centred" if (m.get("representation") or {}).get("kind")
                                     == "question-centred" else "encoder embeddings"))
    for key in ("created", "updated"):
        if m.get(key):
            typer.echo(f"{key}: {m[key]}")
    enc = m.get("encoder") or {}
    typer.echo(f"encoder: {enc.get('name')}  (content hash {enc.get('content_hash')}, dim {enc.get('dim')})")
    if isinstance(m.get("projection"), dict):
        typer.echo("projection: " + ", ".join(f"{k}={v}" for k, v in m["projection"].items()))
    emb = m.get("embedding") or {}
    if emb and not emb.get("precomputed"):
        typer.echo(f"embedding: {emb.get('n_from_cache', 0):,} QAs from cache, "
                   f"{emb.get('n_truncated', 0):,} questions cut to the encoder's token limit")
    val = m.get("validation")
    if val:
        skipped = ", ".join(f"{k}: {v}" for k, v in val.get("n_skipped_by_reason", {}).items()) or "none"
        typer.echo(f"input: {val.get('n_input', '?'):,} rows, {val.get('n_accepted', '?'):,} accepted, "
                   f"skipped {val.get('n_skipped', 0):,} ({skipped}), truncated {val.get('n_truncated', 0):,}")
    qas = vmap.qas
    n_clusters = int((qas["cluster"].unique() >= 0).sum()) if "cluster" in qas else 0
    typer.echo(f"QAs: {len(qas):,}  value IDs: {qas['value_id'].nunique()}  clusters: {n_clusters}")
    by = ["value_id", "layer"] if "layer" in qas.columns and qas["layer"].nunique() > 1 else ["value_id"]
    counts = qas.groupby(by, sort=True).size().rename("n_qas").reset_index()
    _print_table(counts)


def list_maps(data_dir: DataDirOpt = None) -> None:
    """List the maps in the data folder.

    Example:

      univar list --data-dir ./maps
    """
    import pandas as pd

    from univar_core.maps import store

    rows = store.list_maps(data_dir)
    if not rows:
        typer.echo(f"no maps in {store.default_data_dir() if data_dir is None else data_dir}")
        return
    table = pd.DataFrame(rows)
    if table["error"].isna().all():  # damaged folders are listed with the reason; else no column
        table = table.drop(columns="error")
    _print_table(table)


def export(
    name: Annotated[str, typer.Argument(help="Map name or map folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .parquet or .csv.", dir_okay=False)],
    with_embeddings: Annotated[bool, typer.Option(
        help="Add an 'embedding' column (parquet only).")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Export a map's QA table with its coordinates (x, y) and clusters to parquet or CSV.

    CSV is for spreadsheets: a text cell starting with = + - @ (or a tab / carriage return) gets a
    leading ' so no spreadsheet runs it as a formula; `univar build` reads such a CSV back exactly.
    Parquet keeps every value exactly as stored.

    Written to a temporary file first and renamed, so a failed export leaves nothing half-written.
    A parquet with --with-embeddings can be rebuilt as a map without re-embedding.

    Examples:

      univar export valuebench --out vb.csv

      univar export valuebench --out vb.parquet --with-embeddings
    """
    from univar_core._atomic import atomic_path
    from univar_core.maps import store

    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise typer.BadParameter(f"{out.name}: the output must end in .parquet or .csv", param_hint="--out")
    if with_embeddings and suffix != ".parquet":
        raise typer.BadParameter("--with-embeddings needs a .parquet output (CSV cannot hold vectors "
                                 "losslessly)", param_hint="--with-embeddings")
    vmap = store.load_map(name, data_dir=data_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            _write_csv(vmap.qas, tmp)
        else:
            _write_parquet(vmap, tmp, with_embeddings)
    typer.echo(f"{len(vmap.qas):,} rows -> {out}")


def _write_csv(frame: Any, path: Path, *, index: bool = False) -> None:
    """Every CSV the CLI writes: spreadsheet-safe and readable back exactly (data.writers)."""
    from univar_core.data.writers import csv_bytes

    Path(path).write_bytes(csv_bytes(frame, index=index))


def _write_parquet(vmap: Any, path: Path, with_embeddings: bool) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(vmap.qas, preserve_index=False)
    if with_embeddings:
        emb = np.ascontiguousarray(vmap.embeddings, dtype=np.float32)
        flat = pa.array(emb.reshape(-1), type=pa.float32())
        table = table.append_column("embedding", pa.FixedSizeListArray.from_arrays(flat, emb.shape[1]))
    pq.write_table(table, path)


register(build, "build")
register(rebuild, "rebuild")
register(place, "place")
register(demo, "demo")
register(info, "info")
register(list_maps, "list")
register(export, "export")

# ----------------------------------------------------------------------------------------------------
# value lenses: distances between value IDs, lens scores (the Value Lenses page's numbers)
# ----------------------------------------------------------------------------------------------------

LEVEL_CHOICES = ("value_id", "lang", "model")


def distances(
    name: Annotated[str, typer.Argument(help="Map name or map folder.")],
    method: Annotated[str, typer.Option(help="centroid, energy or mmd.")] = "centroid",
    by: Annotated[str, typer.Option(help="value_id, lang or model (mean distance between their value IDs).")]
        = "value_id",
    pair: Annotated[list[str] | None, typer.Option(
        help="Two value IDs (give --pair twice): their distance with a bootstrap 95% CI and the "
             "permutation-test p (paired by question when they share questions).")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the matrix as CSV.", dir_okay=False)]
        = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Distance matrix between value IDs (or languages / models) of a map, in clustered order.

    Examples:

      univar distances demo --method energy

      univar distances demo --by lang --csv lang_distances.csv

      univar distances demo --pair 'aurora-7b$eng' --pair 'halo-405b$eng'
    """
    import numpy as np

    from univar_core.analysis import compare
    from univar_core.maps import store

    if method not in compare.METHODS:
        raise typer.BadParameter(f"choose one of {', '.join(compare.METHODS)}", param_hint="--method")
    if by not in LEVEL_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(LEVEL_CHOICES)}", param_hint="--by")
    if pair and len(pair) != 2:
        raise typer.BadParameter("give exactly two value IDs", param_hint="--pair")
    vmap = store.load_map(name, data_dir=data_dir)
    _print_representation(vmap.manifest)  # distances and lens scores are on the vectors the map holds
    emb = np.asarray(vmap.embeddings)
    known = set(vmap.qas["value_id"].astype(str))
    for vid in pair or []:
        if vid not in known:
            raise typer.BadParameter(f"{vid!r} is not a value ID of map '{vmap.name}'", param_hint="--pair")
    dm = compare.value_id_distance_matrix(vmap.qas, emb, method)
    if by != "value_id":
        dm = compare.aggregate_distance(dm, vmap.qas, by=by)
    order, _ = compare.cluster_order(dm)
    dm = dm.loc[order, order]
    typer.echo(dm.round(4).to_string())
    if csv_out:
        _write_csv(dm, csv_out, index=True)
        typer.echo(f"matrix written to {csv_out}")
    if pair:
        t = compare.pair_test(vmap.qas, emb, *pair, method=method, n_perm=999)
        typer.echo(f"{t['a']} vs {t['b']}: {method} distance {t['distance']:.4f} (95% CI {t['lo']:.4f}-{t['hi']:.4f}), "
                   f"permutation p = {t['p']:.4f} ({'paired by question' if t['paired'] else 'unpaired'}; small p: "
                   "distinguishable)")


def lenses_cmd(
    name: Annotated[str, typer.Argument(help="Map name or map folder.")],
    lens: Annotated[str, typer.Option(help="valuelex, schwartz, mft, or a lens JSON file.")] = "valuelex",
    encoder: Annotated[str | None, typer.Option(
        help="Encoder for the lens prototypes (default: the map's; it must be the one that made the map).")]
        = None,
    by: Annotated[str, typer.Option(help="Group column: value_id, lang or model.")] = "value_id",
    n_boot: Annotated[int, typer.Option(min=10, help="Bootstrap resamples for the 95% CI.")] = 200,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the long table as CSV.", dir_okay=False)]
        = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    backend: Annotated[str | None, typer.Option(
        help="Encoder backend for the prototypes (default: the one the map was embedded with).")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Score every value ID of a map on a value lens (ValueLex, Schwartz, Moral Foundations).

    A QA's score on a subdimension is the cosine similarity of its embedding to the subdimension's
    descriptor prototype minus its similarity to a neutral baseline; a value ID's score is the mean over
    its QAs, with a bootstrap 95% CI. Prints the dimension means (one row per value ID).

    Examples:

      univar lenses demo

      univar lenses demo --lens schwartz --csv schwartz.csv
    """
    from univar_core.analysis import lenses
    from univar_core.encoders.resolve import encoder_for_map
    from univar_core.maps import store

    if by not in LEVEL_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(LEVEL_CHOICES)}", param_hint="--by")
    the_lens = lenses.load_lens(lens) if lens.endswith(".json") else lenses.get_lens(lens)
    vmap = store.load_map(name, data_dir=data_dir)
    _print_representation(vmap.manifest)  # distances and lens scores are on the vectors the map holds
    _remote_code_warning(trust_remote_code, encoder or str((vmap.manifest.get("encoder") or {}).get("name")))
    enc = encoder_for_map(vmap, encoder, backend=_backend(backend), trust_remote_code=trust_remote_code)
    _say_backend(enc)
    qa_scores, dims, _ = lenses.map_lens_scores(vmap, the_lens, encoder=enc)
    summary = lenses.score_value_ids(vmap.qas, qa_scores, by=by, n_boot=n_boot)
    wide = summary.pivot(index=by, columns="score", values="mean")[dims]
    typer.echo(f"{the_lens.title}: mean score per {by} (cosine to prototype minus cosine to neutral)")
    typer.echo(wide.round(4).to_string())
    if csv_out:
        _write_csv(summary, csv_out)
        typer.echo(f"{len(summary):,} rows ({by}, score, mean, lo, hi, n) written to {csv_out}")


register(distances, "distances")
register(lenses_cmd, "lenses")

# ----------------------------------------------------------------------------------------------------
# training and evaluation: `univar train` / `univar eval` are registered here by train.py / evaluate.py
# owners, as plain functions passed to register(fn, "train") and register(fn, "eval").
# ----------------------------------------------------------------------------------------------------

SplitByOpt = Annotated[str | None, typer.Option(
    "--split-by", help="Hold questions out: group column (question_id, questionnaire, ...). `train` trains on "
                       "the train side only; `eval` with the same --split-by/--test-fraction/--seed scores "
                       "the held-out side.")]
TestFractionOpt = Annotated[float, typer.Option(help="Share of rows in the held-out test side.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the split and the training run.")]


def _step_bar(desc: str):
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.2)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(max(0, done - bar.n))

    return bar, progress


def train_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: the encoder, checkpoints, loss log.",
                                      file_okay=False)],
    files: Annotated[list[Path] | None, typer.Argument(
        help="QA files (any format `univar build` reads); or give --map.")] = None,
    map_name: Annotated[str | None, typer.Option(
        "--map", help="Train on a stored map's QAs (name or folder); head mode uses its stored embeddings.")] = None,
    mode: Annotated[str, typer.Option(help="head: small MLP on frozen base embeddings (fast on CPU); "
                                           "full: fine-tune the whole sentence-transformers model.")] = "head",
    base: Annotated[str | None, typer.Option(
        help=f"Base sentence-transformers model name or folder (default: the map's encoder, else "
             f"{DEFAULT_ENCODER}).")] = None,
    lam: Annotated[int, typer.Option(help="Max QAs per view (the paper's lambda).")] = 5,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (default: head 1500, full 3 epochs).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: head 1e-3, full 2e-4).")] = None,
    logit_scale: Annotated[float | None, typer.Option(help="Default: head 20, full 50.")] = None,
    batch_value_ids: Annotated[int | None, typer.Option(help="Value IDs per batch (default: all).")] = None,
    pairs_per_value_id: Annotated[int | None, typer.Option(
        help="head: view pairs per value ID per step (default 16).")] = None,
    embeddings: EmbeddingsOpt = None,
    split_by: SplitByOpt = None,
    test_fraction: TestFractionOpt = 0.3,
    seed: SeedOpt = 0,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in --out.")] = False,
    batch_pairs: Annotated[int | None, typer.Option(help="full: view pairs per optimizer step (default 256, "
                                                         "the paper's).")] = None,
    micro_batch_pairs: Annotated[int | None, typer.Option(
        help="full: view pairs per forward pass (default: the whole step on a GPU, 32 on the CPU). Lower it "
             "when the GPU runs out of memory; the in-batch negatives stay the whole step's (GradCache).")] = None,
    precision: Annotated[str, typer.Option(help="full: auto (bf16 on GPUs that have it, else fp16; fp32 on CPU), "
                                                "bf16, fp16 or fp32.")] = "auto",
    max_seq_length: Annotated[int | None, typer.Option(help="full: tokens per view (default: the model's).")] = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    backend: BackendOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Train a value encoder with multi-view contrastive learning (UniVaR).

    The result in --out loads anywhere an encoder name is accepted (e.g. `univar build --encoder OUT`).
    Progress, loss log and status.json are written in --out as the run goes (the app reads them).

    Examples:

      univar train qa.csv --out runs/head --split-by questionnaire

      univar train --map valuebench --out runs/vb-head --split-by question_id

      univar train qa.csv --out runs/full --mode full --steps 500
    """
    from univar_core.data.readers import read_many, read_qas
    from univar_core.data.schema import QAInputError
    from univar_core.training.plan import plan_training

    if bool(files) == bool(map_name):
        raise typer.BadParameter("give QA files or --map (one of them)")
    if embeddings and (map_name or len(files or []) != 1):
        raise typer.BadParameter("--embeddings goes with exactly one QA file (its rows align with the .npy)")
    backend = _backend(backend)
    if mode == "full" and backend not in (None, "auto", "torch"):
        raise typer.BadParameter("full fine-tuning trains the PyTorch model; the backend applies to --mode head",
                                 param_hint="--backend")
    manifest = source_file = None
    emb: np.ndarray | None
    if map_name:
        from univar_core.maps import store

        vmap = store.load_map(map_name, data_dir=data_dir)
        qas, emb, manifest, map_name = vmap.qas, vmap.embeddings, vmap.manifest, vmap.name
    else:
        files = files or []
        loaded = read_qas(files[0], embeddings=embeddings) if embeddings else read_many(files)
        _print_report(loaded.report)
        qas, emb, source_file = loaded.table, loaded.embeddings, loaded.report.source
    try:
        plan = plan_training(qas, emb, mode=mode, base=base, manifest=manifest, source_map=map_name,
                             source_file=source_file, split_by=split_by, test_fraction=test_fraction, seed=seed,
                             lam=lam, steps=steps, lr=lr, logit_scale=logit_scale, batch_value_ids=batch_value_ids,
                             pairs_per_value_id=pairs_per_value_id, batch_pairs=batch_pairs,
                             micro_batch_pairs=micro_batch_pairs, precision=precision, max_seq_length=max_seq_length,
                             backend=backend, trust_remote_code=trust_remote_code or None)
    except QAInputError:
        raise
    except ValueError as err:   # settings that do not fit the mode
        raise typer.BadParameter(str(err)) from None
    if plan.split_summary:
        _err(plan.split_summary + " -> training on the train side")
    _remote_code_warning(trust_remote_code, base)
    embed_bars = TqdmProgress()
    bar, progress = _step_bar(f"train ({mode})")
    try:
        result = plan.run(out, resume=resume, progress=progress, log=_err,
                          embed_progress=functools.partial(embed_bars, "embed"))
    finally:
        embed_bars.close()
        bar.close()
    typer.echo(f"trained {result.steps_done} steps on {result.device} in {result.elapsed_s:.1f} s, "
               f"loss {result.losses[0] if result.losses else float('nan'):.3f} -> {result.final_loss:.3f}; "
               f"encoder saved in {result.out_dir}")


def eval_cmd(
    files: Annotated[list[Path], typer.Argument(help="QA files (any format `univar build` reads).")],
    encoder: Annotated[list[str], typer.Option(
        "--encoder", "-e", help="Encoder name or folder (a trained head or full run); repeat to compare.")]
        = [DEFAULT_ENCODER],  # noqa: B006 - typer needs a literal default
    split_by: SplitByOpt = "question_id",
    test_fraction: TestFractionOpt = 0.3,
    seed: SeedOpt = 0,
    k: Annotated[int, typer.Option(help="Neighbours of the k-NN.")] = 50,
    probe: Annotated[bool, typer.Option(help="Also train the linear probe (acc@1/5/10).")] = True,
    tfidf: Annotated[bool, typer.Option(help="Add the TF-IDF baseline row.")] = True,
    centre_questions: Annotated[bool, typer.Option(
        "--centre-questions", help="Add a question-centred row per encoder (train QAs centred on their "
                                   "question's train mean; held-out QAs on the mean of the held-out answers to "
                                   "their question, no value-ID label used).")] = False,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.", dir_okay=False)] = None,
    trust_remote_code: TrustRemoteCodeOpt = False,
    backend: BackendOpt = None,
    ray: RayOpt = False,
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Value identification: how well each encoder tells value IDs apart on held-out questions.

    k-NN (cosine, balanced over value IDs) accuracy and macro-F1, linear-probe acc@1/5/10, with TF-IDF,
    chance and majority rows; overall and per dataset.

    Example:

      univar eval qa.csv -e all-MiniLM-L6-v2 -e runs/head --split-by questionnaire --centre-questions
    """
    from univar_core.analysis.identification import value_identification_table
    from univar_core.data.readers import read_many
    from univar_core.data.splits import assert_no_leak, split_qas
    from univar_core.encoders.resolve import load_encoder_cached, trust_option

    backend = _backend(backend)  # a typo fails before any reading
    ray_options = _ray(ray, ray_address, workers)
    backend = _ray_backend(ray_options, backend)
    loaded = read_many(files)
    _print_report(loaded.report)
    split = split_qas(loaded.table, by=split_by or "question_id", test_fraction=test_fraction, seed=seed)
    assert_no_leak(loaded.table, split)
    _err(split.summary())
    _remote_code_warning(trust_remote_code, *encoder)
    encoders = {}
    for name in encoder:  # through the shared cache: QAs that train or build embedded are not embedded again
        encoders[name] = load_encoder_cached(name, backend=backend, **trust_option(trust_remote_code))
        _say_backend(encoders[name])
    bars = TqdmProgress()
    try:
        if ray_options is not None:  # into each encoder's cache, which the table's embedding then reads
            from univar_core.maps.build import embed_on_ray

            for enc in encoders.values():
                _err(embed_on_ray(enc, loaded.table, ray_options, bars).summary())
        table = value_identification_table(loaded.table, encoders, split, k=k, probe=probe, tfidf=tfidf,
                                           seed=seed, progress=functools.partial(bars, "embed"),
                                           centre_questions=centre_questions)
    finally:
        bars.close()
    _print_table(table.round(4))
    if csv_out:
        _write_csv(table, csv_out)
        typer.echo(f"table written to {csv_out}")


register(train_cmd, "train")
register(eval_cmd, "eval")

# ----------------------------------------------------------------------------------------------------
# putting a model on the map: collect answers from it, translate them (then `univar place`)
# ----------------------------------------------------------------------------------------------------

def _collect_progress(status: Any):
    """A collection progress callback: a tqdm bar (answers, answers/s, tokens, retries) on stderr, or with
    --status-dir the run's status.json, with the same figures for the app."""
    if status is not None:
        def to_status(p) -> None:
            status.status.update({k: v for k, v in p.as_dict().items() if k not in ("done", "total", "started")})
            status("collect", p.done, p.total)

        return None, to_status
    from tqdm import tqdm

    bar = tqdm(desc="collect", unit="answer", file=sys.stderr, dynamic_ncols=True, mininterval=0.2)

    def progress(p) -> None:
        bar.total = p.total
        bar.update(max(0, p.done - bar.n))
        bar.set_postfix_str(f"{p.answers_per_s:.2f} answers/s, {p.prompt_tokens + p.completion_tokens:,} tokens, "
                            f"{p.n_retries} retries", refresh=False)

    return bar, progress


def collect_cmd(
    endpoint: Annotated[str | None, typer.Option(
        help="Base URL of an OpenAI-compatible chat-completions API, e.g. http://localhost:8000/v1.")] = None,
    model: Annotated[str | None, typer.Option(
        help="Model name the endpoint serves (with --endpoint), or the name to record for --local-model.")] = None,
    local_model: Annotated[str | None, typer.Option(
        help="A transformers causal LM (name or folder) to run here instead of an endpoint.")] = None,
    langs: Annotated[str, typer.Option(help="Languages to ask in, ISO 639 codes, comma-separated.")] = "eng",
    questions: Annotated[int | None, typer.Option(min=1, help="Ask the first N questions of the bank (default: all).")]
        = None,
    bank: Annotated[Path | None, typer.Option(
        help="Your own question bank (CSV/JSONL: question_id, question, optional lang); default: the built-in "
             "one (350 questions).", dir_okay=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="QA file to write (.csv, .jsonl, .parquet); "
                                                                 "default <model>.csv.", dir_okay=False)] = None,
    api_key_env: Annotated[str, typer.Option(
        help="Name of the environment variable holding the API key (the key itself is never written anywhere).")]
        = "OPENAI_API_KEY",
    system_prompt: Annotated[str, typer.Option(help="System message (default: none, as in UniVaR).")] = "",
    temperature: Annotated[float, typer.Option(min=0.0)] = 1.0,
    top_p: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.95,
    max_tokens: Annotated[int, typer.Option(min=1, help="New tokens per answer.")] = 128,
    seed: Annotated[int, typer.Option(help="Base seed (each question gets its own from it).")] = 0,
    samples: Annotated[int, typer.Option(min=1, help="Answers per question and language.")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once (endpoint).")] = 8,
    batch_size: Annotated[int, typer.Option(min=1, help="Prompts per generate call (local model).")] = 8,
    retries: Annotated[int, typer.Option(min=0, help="Retries of a request on 429/5xx/timeouts.")] = 5,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for one answer.")] = 120.0,
    mt_model: Annotated[str | None, typer.Option(
        help="Translation model (name or folder): questions the bank lacks in a language are machine-translated "
             "into it (without one they are asked in English with the instruction to answer in the language), "
             "and the answers are translated into English for embedding (originals kept).")] = None,
    translate_answers: Annotated[bool, typer.Option(
        help="With --mt-model: also translate the answers into English.")] = True,
    dataset: Annotated[str | None, typer.Option(help="Dataset label of the QAs.")] = None,
    restart: Annotated[bool, typer.Option(help="Discard answers of an earlier run into the same --out.")] = False,
    status_dir: StatusDirOpt = None,
) -> None:
    """Ask a model the value questions and write a QA file for `univar place` / `univar build`.

    An interrupted run (Ctrl-C, a crash, kill -9) keeps every finished answer in OUT.answers.jsonl;
    the same command again asks only what is missing. Settings go to OUT.collect.json. Empty and
    refused answers are kept (column answer_status) and counted.

    Examples:

      univar collect --endpoint http://localhost:8000/v1 --model my-model --langs eng,zho --questions 50

      OPENAI_API_KEY=... univar collect --endpoint https://api.openai.com/v1 --model gpt-4o-mini --out gpt.csv

      univar collect --local-model ./my-llm --langs eng --batch-size 16
    """
    from univar_core.collect.backends import AnswerBackend, GenerationSettings
    from univar_core.collect.bank import load_bank
    from univar_core.collect.collector import parse_langs
    from univar_core.collect.retry import RetryPolicy
    from univar_core.collect.run import run_collection

    if (endpoint is None) == (local_model is None):
        raise typer.BadParameter("give either --endpoint URL (with --model) or --local-model NAME_OR_PATH")
    if endpoint is not None and not model:
        raise typer.BadParameter("--endpoint needs --model: the model name the endpoint serves", param_hint="--model")
    lang_list = parse_langs(langs)
    the_bank = load_bank(bank)
    settings = GenerationSettings(system_prompt=system_prompt, temperature=temperature, top_p=top_p,
                                  max_tokens=max_tokens, seed=seed)
    backend: AnswerBackend
    if endpoint is not None and model:
        from univar_core.collect.chat_endpoint import ChatEndpoint

        backend = ChatEndpoint(endpoint, model, api_key_env=api_key_env, concurrency=concurrency,
                               timeout_s=timeout, retry=RetryPolicy(retries=retries))
    elif local_model is not None:
        from univar_core.collect.local_model import LocalCausalLM

        backend = LocalCausalLM(local_model, model=model, batch_size=batch_size)
    translator = None
    if mt_model:
        from univar_core.collect.translation import Translator

        translator = Translator(mt_model)
    out = out or Path(re.sub(r"[^A-Za-z0-9_.-]+", "-", backend.model).strip("-.") + ".csv")
    with _stage_progress(status_dir) as (_, status):
        bar, progress = _collect_progress(status)
        try:
            result = run_collection(backend, the_bank, langs=lang_list, out=out, n_questions=questions,
                                    samples=samples, settings=settings, dataset=dataset, bank_path=bank,
                                    translator=translator, translate_answers=translate_answers, restart=restart,
                                    progress=progress)
        finally:
            if bar is not None:
                bar.close()
            backend.close()
        if status is not None:
            status.finish(out=str(result.out), n_qas=int(len(result.qas)), summary=result.summary())
    _err(result.summary())
    typer.echo(f"{len(result.qas):,} QAs -> {result.out} (settings: {result.settings_file})")


def translate_cmd(
    file: Annotated[Path, typer.Argument(help="QA file (any format `univar build` reads).", dir_okay=False)],
    mt_model: Annotated[str, typer.Option("--model", "-m", help="Hugging Face translation model, name or folder "
                                                                "(NLLB-200, M2M100, Marian/opus-mt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Translated QA file (.csv, .jsonl, .parquet).",
                                      dir_okay=False)],
    to: Annotated[str, typer.Option(help="Target language (ISO 639).")] = "eng",
    columns: Annotated[str, typer.Option(help="Columns to translate, comma-separated.")] = "question,answer",
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per generate call.")] = 16,
    max_tokens: Annotated[int, typer.Option(min=1, help="Max tokens of a translation.")] = 256,
    status_dir: StatusDirOpt = None,
) -> None:
    """Machine-translate QAs into one language (English before embedding, as the UniVaR paper does).

    Rows already in the target language are left as they are. The original text stays in
    COLUMN_original and the language it was translated from in mt_lang (empty when untouched);
    `lang` keeps the language the model answered in, so value IDs do not change. Translations are
    cached by model hash and text: a rerun translates only new texts.

    Example:

      univar translate answers.csv --model facebook/nllb-200-distilled-600M --out answers_eng.csv
    """
    from univar_core.collect.collector import parse_langs, write_table_atomic
    from univar_core.collect.translation import Translator, translate_qas
    from univar_core.data.readers import read_qas

    target = parse_langs(to)[0]
    loaded = read_qas(file)
    _print_report(loaded.report)
    cols = [c.strip() for c in columns.split(",") if c.strip()]
    missing = [c for c in cols if c not in loaded.table.columns]
    if missing:
        raise typer.BadParameter(f"{file.name} has no column(s) {', '.join(missing)}", param_hint="--columns")
    translator = Translator(mt_model, batch_size=batch_size, max_tokens=max_tokens)
    with _stage_progress(status_dir) as (progress, status):
        table, n_new = translate_qas(loaded.table, translator, to=target, columns=cols,
                                     progress=lambda done, total: progress("translate", done, total))
        write_table_atomic(table, out)
        if status is not None:
            status.finish(out=str(out), n_qas=int(len(table)))
    n_rows = int((table["mt_lang"] != "").sum())
    typer.echo(f"{n_rows:,} of {len(table):,} QAs translated into {target} ({n_new:,} texts newly translated, "
               f"the rest from the cache) -> {out}")


register(collect_cmd, "collect")
register(translate_cmd, "translate")


_terminated = False


def _interrupt(signum: int, frame: Any) -> None:
    # The KeyboardInterrupt raised here is lost when the signal lands inside a ctypes callback (numba's
    # compiler, during UMAP): "Exception ignored on calling ctypes callback function". The flag makes
    # the next progress report raise it again, so a cancelled build never runs on to the end.
    global _terminated
    _terminated = True
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `univar` script (pyproject [project.scripts])."""
    # SIGTERM (the app's cancel, a batch scheduler) ends a run like Ctrl-C: locks released, a half-built
    # map's temporary folder removed, exit code 130.
    signal.signal(signal.SIGTERM, _interrupt)
    app(args=argv, prog_name="univar")


if __name__ == "__main__":
    main()
