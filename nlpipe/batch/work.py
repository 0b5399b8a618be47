"""The workers' side of a batch run: a chunk of units -> one row each (None for a skipped unit).

A worker is a process of the local pool, the calling process itself (one worker), or a Dask worker. Each loads
the run's models once and keeps them (:data:`_LOADED`, keyed by the version's content digest, so a worker serving
several runs never mixes two versions of one name). With ``--ship-model`` the model folders travel with the job
as zip bytes and are unpacked into a private folder; they are read by the same loader as any model folder
(checksums, trusted types, crfsuite checks), never unpickled.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from nlpipe import artifacts
from nlpipe.batch.members import member_units
from nlpipe.batch.output import ModelInfo, document_row_bytes, error_row, row_bytes
from nlpipe.batch.sources import unit_document
from nlpipe.batch.split import item_units
from nlpipe.batch.tables import line_units
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.config import Settings
from nlpipe.errors import ArtifactError, InputError, NlpipeError
from nlpipe.predict import predict_isolating, predictor_for
from nlpipe.tasks.base import BasePredictor
from nlpipe.types import Document, Prediction


@dataclass(frozen=True)
class ModelRef:
    """One model of a run: its name, resolved version, task, folder, and the SHA-256 of its meta.json (which records
    every file's checksum, so it names the version's content)."""

    name: str
    version: str
    task: str
    path: str
    digest: str

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.name, self.version, self.task)


@dataclass(frozen=True)
class Job:
    """What every worker needs for every chunk of a run."""

    models: tuple[ModelRef, ...]
    options: SourceOptions
    settings: Settings
    predict_options: dict[str, Any] = field(default_factory=dict)
    shipped: dict[str, bytes] | None = None  # digest -> the version folder as zip bytes (--ship-model)
    keep_text: bool = False  # rows carry the document's text (for --into-dataset); it is not written out


_LOADED: dict[str, BasePredictor] = {}
_UNPACKED: dict[str, Path] = {}


def ship(ref: ModelRef) -> bytes:
    """The version folder of ``ref`` as zip bytes, for workers that cannot read it (``--ship-model``)."""
    buf = io.BytesIO()
    root = Path(ref.path)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not path.is_symlink() and not rel.startswith("evaluations/"):
                zf.write(path, rel)  # the report too: its files are in meta.json's checksum record
    return buf.getvalue()


def _unpack(ref: ModelRef, data: bytes) -> Path:
    """A private copy of a shipped version folder (made once per worker process), laid out as models/NAME/VERSION
    so the loader reads it like any other."""
    if ref.digest not in _UNPACKED:
        root = Path(tempfile.mkdtemp(prefix="nlpipe-shipped-")) / ref.name / ref.version
        root.mkdir(parents=True)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                target = (root / info.filename).resolve()
                if not target.is_relative_to(root.resolve()) or info.is_dir():
                    continue  # written by ship(): never outside, but a zip is checked like any other
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
        _UNPACKED[ref.digest] = root
    return _UNPACKED[ref.digest]


def predictors(job: Job) -> list[tuple[ModelRef, BasePredictor]]:
    """The run's predictors, loaded once per process."""
    out = []
    for ref in job.models:
        if ref.digest not in _LOADED:
            shipped = (job.shipped or {}).get(ref.digest)
            path = _unpack(ref, shipped) if shipped is not None else Path(ref.path)
            loaded = artifacts.load(path, max_bytes=job.settings.max_model_bytes)
            if meta_digest(path) != ref.digest:
                raise ArtifactError("E842", f"Model {ref.name}@{ref.version} changed since the run started (its "
                                  "meta.json differs); start the run again.")  # fmt: skip
            _LOADED[ref.digest] = predictor_for(loaded)
        out.append((ref, _LOADED[ref.digest]))
    return out


def meta_digest(version_folder: Path) -> str:
    return hashlib.sha256((version_folder / "meta.json").read_bytes()).hexdigest()


class Written(NamedTuple):
    """A unit's row as the spool gets it (encoded by the worker, so the runner only writes bytes), its error code
    (None for a document's row), and its document's text when the job keeps texts (``--into-dataset``)."""

    data: bytes
    code: str | None
    text: str | None = None


class Skipped(NamedTuple):
    """A unit left out on purpose: no row, counted by its code."""

    code: str
    message: str


Outcome = Written | Skipped


def _error_written(unit: Unit, code: str, message: str) -> Written:
    return Written(row_bytes(error_row(unit, code, message)), code)


def _document_written(
    unit: Unit, doc: Document, results: dict[str, tuple[ModelInfo, Prediction]], keep_text: bool
) -> Written:
    """The document's row encoded; one JSON Lines cannot carry (a NaN score: E827) becomes the unit's error row."""
    try:
        data = document_row_bytes(unit, doc.text, len(doc.pages) if doc.pages else None, results)
    except NlpipeError as exc:
        return _error_written(unit, exc.code, exc.message)
    return Written(data, None, doc.text if keep_text else None)


def _expanded(unit: Unit, job: Job) -> Sequence[Unit]:
    expand = _RANGES.get(unit.kind)
    return (unit,) if expand is None else expand(unit, job.settings, job.options)


_RANGES: dict[str, Callable[[Unit, Settings, SourceOptions], list[Unit]]] = {
    "members": member_units,
    "lines": line_units,
    "items": item_units,
}


def predict_chunk(job: Job, units: Sequence[Unit]) -> list[Outcome]:
    """One outcome per unit, in order (a range -- ``members``, ``lines``, ``items`` -- one per document): the
    document's row (predictions by every model, or an error), or a skipped unit's (code, message). Never raises for
    a document; raises only when a model cannot be loaded (the whole run stops)."""
    models = predictors(job)
    if any(unit.kind in _RANGES for unit in units):  # ranges of members, lines or items: each a unit, in place
        units = [u for unit in units for u in _expanded(unit, job)]
    rows: list[Outcome | None] = [None] * len(units)
    docs: list[tuple[int, Document]] = []
    archives: dict[str, IO[bytes]] = {}  # the zips this chunk's members are read from, open for the chunk only
    try:
        for i, unit in enumerate(units):
            if unit.kind == "skipped":
                rows[i] = Skipped(*(unit.error or ("", "left out")))
                continue
            try:
                docs.append((i, unit_document(unit, job.settings, job.options, archives)))
            except NlpipeError as exc:  # an image found only by reading it, with OCR off, is left out (E190)
                left_out = exc.code == "E190"
                rows[i] = Skipped(exc.code, exc.message) if left_out else _error_written(unit, exc.code, exc.message)
    finally:
        for fh in archives.values():
            fh.close()
    results: dict[int, dict[str, tuple[ModelInfo, Prediction]]] = {i: {} for i, _ in docs}
    for ref, predictor in models:
        options = {k: v for k, v in job.predict_options.items() if k in predictor.options}
        info = ref.info
        for (i, _), prediction in zip(docs, _predict(predictor, [d for _, d in docs], options), strict=True):
            if isinstance(prediction, NlpipeError):
                rows[i] = rows[i] or _error_written(units[i], prediction.code, f"{ref.name}: {prediction.message}")
            else:
                results[i][ref.name] = (info, prediction)
    for i, doc in docs:
        if rows[i] is None:
            rows[i] = _document_written(units[i], doc, results[i], job.keep_text)
    return [row for row in rows if row is not None]


class Packed(NamedTuple):
    """A chunk's outcomes as the runner needs them, cheap to send between processes: the rows' bytes joined (in
    order), the texts kept for ``--into-dataset`` (in order; empty otherwise), and the counts of rows by error code
    (None: a document's row) and of units left out by code."""

    data: bytes
    texts: list[str]
    rows: dict[str | None, int]
    skipped: dict[str, int]


def packed_chunk(job: Job, units: Sequence[Unit]) -> Packed:
    """:func:`predict_chunk`, packed: one bytes object and two small dicts instead of a named tuple per row."""
    data: list[bytes] = []
    texts: list[str] = []
    rows: dict[str | None, int] = {}
    skipped: dict[str, int] = {}
    for outcome in predict_chunk(job, units):
        if isinstance(outcome, Skipped):
            skipped[outcome.code] = skipped.get(outcome.code, 0) + 1
            continue
        data.append(outcome.data)
        if outcome.text is not None:
            texts.append(outcome.text)
        rows[outcome.code] = rows.get(outcome.code, 0) + 1
    return Packed(b"".join(data), texts, rows, skipped)


def _predict(predictor: BasePredictor, docs: list[Document], options: dict[str, Any]) -> list[Prediction | NlpipeError]:
    """Predictions for ``docs``; when the batch fails, each document alone, so one bad document is one error row
    (E841 for an exception that is not a coded error: a document that breaks a model is a row, not the end of the
    run)."""
    return predict_isolating(
        lambda batch: predictor.predict_documents(batch, **options),
        docs,
        unexpected=lambda exc: InputError("E841", f"prediction failed ({type(exc).__name__}: {exc})"[:500]),
    )


def worker_count(requested: int | None) -> int:
    """``--workers``: the number asked for, else the cores this process may use."""
    if requested is not None:
        return max(1, requested)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
