"""One batch run, resumable: inputs -> units -> chunks -> rows appended to a spool -> the output file.

Beside the output ``OUT`` a folder ``OUT.nlpipe-batch/`` holds the run's state while it runs:

- ``manifest.json``: what the run is (its inputs' sizes and modification times, each model's resolved version and
  the digest of its meta.json, the options that shape the rows, the output format). A run that finds a manifest
  continues it only when the new manifest is the same; otherwise it refuses (E844) unless ``restart`` is given.
  Workers and engine are not in it: a run may continue on another engine or with other workers.
- ``rows.jsonl``: the rows so far, in input order (canonical JSON Lines, :mod:`nlpipe.batch.output`).
- ``state.json``: how many units are done, how many bytes of ``rows.jsonl`` hold them, and the summary so far,
  replaced atomically after the rows it counts are on disk (fsync). A run killed at any point continues from the
  last state: the spool is cut back to the recorded size and the units before it are not predicted again.

When every unit is done the spool is converted to ``OUT`` (written beside it and renamed) and the folder removed,
so the output of a run that was killed and continued is byte-identical to one that was not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpipe import artifacts
from nlpipe.batch.engines import dask_chunks, local_chunks
from nlpipe.batch.into_dataset import TEXTS, store_predictions, text_line
from nlpipe.batch.output import Summary, check_output, convert
from nlpipe.batch.sources import check_inputs, count_units, iter_units
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.batch.work import Job, ModelRef, Packed, meta_digest, ship, worker_count
from nlpipe.config import Settings
from nlpipe.errors import ConflictError, InputError
from nlpipe.tasks.saved import read_meta

ENGINES = ("local", "dask")
STATE_SUFFIX = ".nlpipe-batch"
# v2: JSON Lines/CSV files as ranges of rows; v3: --split-on items in runs; v4: --split-on items in spans of text
MANIFEST_FORMAT = "nlpipe.batch.v4"
#: A chunk is cut at this many documents or this many bytes of payload, whichever comes first. Chunks depend only on
#: the input (never on the workers), and a resumed run starts at a chunk boundary, so chunks are always the same.
CHUNK_UNITS = 256
CHUNK_BYTES = 16 * 1024 * 1024
#: The checkpoint (an fsync of the spools, state.json replaced) is written at most this often, when a run is
#: cancelled, and at the end: an fsync per chunk cost more than the predictions of a fast model.
CHECKPOINT_SECONDS = 1.0

#: Called after each checkpoint (at most every CHECKPOINT_SECONDS, and at the end): documents done and on disk (rows
#: and skipped inputs), documents in all (None when unknown), the summary so far.
Progress = Callable[[int, int | None, Summary], None]


@dataclass
class BatchRequest:
    """A batch run as the CLI or the API asks for it. ``models`` are ``NAME`` or ``NAME@VERSION`` (or an alias)."""

    inputs: list[str]
    models: list[str]
    out: Path
    fmt: str = "jsonl"
    options: SourceOptions = field(default_factory=SourceOptions)
    workers: int | None = None
    engine: str = "local"
    scheduler: str | None = None
    ship_model: bool = False
    top_k: int | None = None
    resume: bool = False
    restart: bool = False
    into_dataset: str | None = None


def state_dir(out: Path) -> Path:
    return out.with_name(out.name + STATE_SUFFIX)


def resolve_models(settings: Settings, specs: Iterable[str]) -> tuple[ModelRef, ...]:
    """Each ``NAME[@VERSION]`` resolved to a version folder now, so the whole run uses one version even when the
    alias moves meanwhile."""
    refs: list[ModelRef] = []
    for spec in specs:
        name, _, version = spec.partition("@")
        path = artifacts.resolve(settings.models_dir, name, version or None)
        meta = read_meta(path)
        refs.append(ModelRef(name, str(meta["version"]), str(meta.get("task") or "classify"), str(path),
                             meta_digest(path)))  # fmt: skip
    if not refs:
        raise InputError("E840", "Give at least one --model to predict with.", field="model")
    return tuple(refs)


def _input_record(path: Path) -> dict[str, Any]:
    """What identifies an input's content cheaply: size and modification time (of every file, for a folder)."""
    st = path.stat()
    if not path.is_dir():
        return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    digest, files = hashlib.sha256(), 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            fst = full.lstat()
            digest.update(f"{full.relative_to(path).as_posix()}\0{fst.st_size}\0{fst.st_mtime_ns}\n".encode())
            files += 1
    return {"path": str(path), "files": files, "digest": digest.hexdigest()}


def manifest(request: BatchRequest, models: tuple[ModelRef, ...]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "inputs": [_input_record(Path(p)) for p in request.inputs],
        "models": [{"name": m.name, "version": m.version, "digest": m.digest} for m in models],
        "options": request.options.fingerprint(),
        "top_k": request.top_k,
        "output": request.fmt,
        "into_dataset": request.into_dataset,
    }


def _changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    what = {"inputs": "an input changed", "models": "a model version changed", "options": "the options changed",
            "top_k": "--top-k changed", "output": "the output format changed", "into_dataset": "--into-dataset changed",
            "format": "an older nlpipe wrote it"}  # fmt: skip
    return "; ".join(text for key, text in what.items() if old.get(key) != new.get(key)) or "it differs"


def _write_json(path: Path, value: Any) -> None:
    """Replace ``path`` atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fresh_state() -> dict[str, Any]:
    """The state of a run with nothing done yet (also of one killed before its first checkpoint)."""
    return {"units": 0, "bytes": 0, "text_bytes": 0, "summary": None, "complete": False}


def _prepare(request: BatchRequest, wanted: dict[str, Any]) -> dict[str, Any]:
    """The state to continue from: a fresh one, or the checkpoint of the same run (E844 for another run's, E845
    for ``resume`` with none, E846 when OUT exists and no run is in progress)."""
    folder = state_dir(request.out)
    if folder.exists() and request.restart:
        shutil.rmtree(folder)
    if folder.exists():
        try:
            found = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if found != wanted:
            why = _changes(found, wanted) if isinstance(found, dict) else "its manifest is missing or damaged"
            raise ConflictError("E844", f"{folder} holds an unfinished run that is not this one ({why}); give "
                                "--restart to start again (its rows are discarded).", file=str(folder))  # fmt: skip
        try:
            return dict(json.loads((folder / "state.json").read_text(encoding="utf-8")))
        except FileNotFoundError:
            return _fresh_state()
    if request.resume:
        raise InputError("E845", f"Nothing to resume: no unfinished run for {request.out} ({folder} is missing).",
                         file=str(request.out))  # fmt: skip
    if request.out.exists() and not request.restart:
        raise ConflictError("E846", f"{request.out} exists; give --restart to write it again, or another --out.",
                            file=str(request.out))  # fmt: skip
    request.out.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir()
    _write_json(folder / "manifest.json", wanted)
    return _fresh_state()


def chunked(units: Iterator[Unit], skip: int) -> Iterator[list[Unit]]:
    """``units`` after the first ``skip``, cut into chunks of at most :data:`CHUNK_UNITS` documents (a range of
    zip members counts each) and :data:`CHUNK_BYTES` bytes (never empty)."""
    chunk: list[Unit] = []
    size = count = 0
    for n, unit in enumerate(units):
        if n < skip:
            continue
        payload, weight = unit.size, unit.count
        if chunk and (count + weight > CHUNK_UNITS or size + payload > CHUNK_BYTES):
            yield chunk
            chunk, size, count = [], 0, 0
        chunk.append(unit)
        size += payload
        count += weight
    if chunk:
        yield chunk


def run_batch(
    request: BatchRequest,
    settings: Settings,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Summary:
    """Run (or continue) ``request``; returns the summary once OUT is written. ``cancelled`` is asked between
    chunks: when it says yes the run stops with its checkpoint in place (E847), to be continued later."""
    if request.engine not in ENGINES:
        raise InputError("E851", f"Unknown engine {request.engine!r}; use local or dask.", field="engine")
    check_inputs(request.inputs)
    models = resolve_models(settings, request.models)
    check_output(request.fmt, [m.info for m in models])  # a known format; no model name twice
    state = _prepare(request, manifest(request, models))
    folder = state_dir(request.out)
    summary = Summary.from_dict(state["summary"]) if state.get("summary") else Summary()
    if not state.get("complete"):
        job = Job(models, request.options, settings, {"top_k": request.top_k or 5},
                  {m.digest: ship(m) for m in models} if request.ship_model else None,
                  keep_text=request.into_dataset is not None)  # fmt: skip
        total = count_units(request.inputs, request.options, settings) if progress is not None else None
        state = _predict_all(request, job, state, summary, total, progress, cancelled)
    if request.into_dataset is not None:
        store_predictions(settings, folder, [m.info for m in models], request.into_dataset)
    convert(folder / "rows.jsonl", request.out, request.fmt, [m.info for m in models], checked=False)  # type: ignore[arg-type]
    shutil.rmtree(folder)
    return summary


def _predict_all(
    request: BatchRequest,
    job: Job,
    state: dict[str, Any],
    summary: Summary,
    total: int | None,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> dict[str, Any]:
    folder = state_dir(request.out)
    spool = folder / "rows.jsonl"
    done = int(state["units"])
    workers = worker_count(request.workers)
    chunks = chunked(iter_units(request.inputs, request.options, job.settings), done)
    if request.engine == "dask":
        results = dask_chunks(job, chunks, workers, request.scheduler)
    else:
        results = local_chunks(job, chunks, workers)
    started = time.monotonic()
    base_seconds = summary.seconds
    with spool.open("ab") as f, (folder / TEXTS).open("ab") as tf:
        for handle, key in ((f, "bytes"), (tf, "text_bytes")):
            handle.truncate(int(state.get(key, 0)))  # rows written after the last checkpoint are written again
        saved = time.monotonic()
        for n_units, rows in results:
            _append(f, tf, rows, summary)
            done += n_units
            summary.seconds = base_seconds + time.monotonic() - started
            stop = cancelled is not None and cancelled()
            if stop or time.monotonic() - saved >= CHECKPOINT_SECONDS:
                state, saved = _checkpoint(folder, f, tf, done, summary), time.monotonic()
                if progress is not None:  # counts that are on disk: a count shown never goes back after a crash
                    progress(summary.handled, total, summary)
            if stop:
                results.close()  # type: ignore[attr-defined]
                raise InputError("E847", f"The run was cancelled after {summary.handled:,} documents; run it again "
                                 "to continue.")  # fmt: skip
        state = _checkpoint(folder, f, tf, done, summary)
        if progress is not None:
            progress(summary.handled, total, summary)
    state["complete"] = True
    _write_json(folder / "state.json", state)
    return state


def _checkpoint(folder: Path, f: Any, tf: Any, done: int, summary: Summary) -> dict[str, Any]:
    """Make the rows so far durable, then record them in state.json (replaced atomically)."""
    for handle in (f, tf):
        handle.flush()
        os.fsync(handle.fileno())
    state = {"units": done, "bytes": f.tell(), "text_bytes": tf.tell(), "summary": summary.to_dict(),
             "complete": False}  # fmt: skip
    _write_json(folder / "state.json", state)
    return state


def _append(f: Any, tf: Any, rows: Packed, summary: Summary) -> None:
    """Write a chunk's rows (skipped units have none; texts only for --into-dataset); the next checkpoint makes them
    durable."""
    f.write(rows.data)  # one write per chunk
    for text in rows.texts:
        tf.write(text_line(text))
    for code, n in rows.rows.items():
        summary.count(code, n)
    for code, n in rows.skipped.items():
        summary.skip(code, n)
