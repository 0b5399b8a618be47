"""Predictors: one loaded model -> predictions for texts, in batches.

:func:`load_predictor` / :func:`predictor_for` build the predictor of a model's task (its ``predictor`` class in
:mod:`nlpipe.tasks.registry`: ``ClassifyPredictor``, ``SentimentPredictor``, ``EntityPredictor``,
``LayoutPredictor``, ...), all built on :class:`~nlpipe.tasks.base.BasePredictor`. Every predictor's
``predict(texts, **options)`` returns one :class:`~nlpipe.types.Prediction` per text and refuses an option its
task does not have (E415).

:func:`predict_inputs` is the one way from input to predictions for every edge: texts given directly, a stream of
lines (``nlpipe predict -``) or one file or upload (an archive gives one prediction per document inside). The CLI's
``predict`` command and the API's ``:predict``, ``:predictFile`` and ``/v1/sentiment:predict`` routes only
translate their input to its arguments and its :class:`PredictionRun` back to their output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpipe import artifacts
from nlpipe.config import DEFAULT_MAX_MODEL_BYTES, Settings
from nlpipe.errors import InputError, LimitError
from nlpipe.ingest import documents_for_prediction
from nlpipe.readers.budget import checkpoint
from nlpipe.readers.dispatch.results import IngestFailure
from nlpipe.tasks import registry
from nlpipe.tasks.base import BasePredictor, LoadedModel
from nlpipe.types import Prediction

__all__ = ["predictor_for", "load_predictor", "predict_inputs", "PredictionRun", "text_lines"]

#: Texts or documents predicted in one call of the predictor; the work budget (deadline) is checked between them.
PREDICT_BATCH = 256


def predictor_for(loaded: LoadedModel) -> BasePredictor:
    """The predictor for a loaded model, chosen by the task in its meta.json (E416 for a task not known here)."""
    return registry.for_model(loaded.meta, loaded.path).predictor(loaded)


def load_predictor(
    models_dir: Path, name: str, version: str | None = None, *, max_bytes: int = DEFAULT_MAX_MODEL_BYTES
) -> BasePredictor:
    """The predictor of ``name`` at ``version``; its files are checked first (``max_bytes``: NLPIPE_MAX_MODEL_BYTES)."""
    return predictor_for(artifacts.load(artifacts.resolve(models_dir, name, version), max_bytes=max_bytes))


@dataclass
class PredictionRun:
    """One call's predictions: the model and version that made them, one :class:`Prediction` per input text or
    document (with the document's source for files), the archive members that could not be read (``failures``)
    and those left out on purpose (``skipped``: links, unsafe paths, hidden files, images with OCR off)."""

    model: str
    version: str
    predictions: list[Prediction]
    sources: list[str | None]
    failures: list[IngestFailure] = field(default_factory=list)
    skipped: list[IngestFailure] = field(default_factory=list)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each prediction as a JSON-ready dict, led by its ``source`` when it came from a file."""
        for source, prediction in zip(self.sources, self.predictions, strict=True):
            yield ({"source": source} if source else {}) | prediction.to_dict()


def text_lines(stream: Iterable[str]) -> Iterator[str]:
    """The texts of a stream read one per line (``nlpipe predict -``): line ends cut, blank lines left out."""
    return (line.rstrip("\n") for line in stream if line.strip())


def check_text_sizes(texts: list[str], max_bytes: int) -> None:
    """E613 for the first text longer than ``max_bytes`` in UTF-8 (``NLPIPE_MAX_DOCUMENT_BYTES``, the limit files
    have), naming its index."""
    for i, text in enumerate(texts):
        if len(text) * 4 > max_bytes and (size := len(text.encode("utf-8", "surrogatepass"))) > max_bytes:
            raise LimitError(
                "E613",
                f"texts[{i}] is {size:,} bytes, more than the {max_bytes:,}-byte document limit "
                "(NLPIPE_MAX_DOCUMENT_BYTES); split it into smaller texts",
                field=f"texts[{i}]",
            )


def predict_inputs(
    predictor: BasePredictor | Callable[[], BasePredictor],
    *,
    texts: Iterable[str] | None = None,
    file: Path | bytes | None = None,
    settings: Settings | None = None,
    name: str | None = None,
    password: str | None = None,
    ocr: str | None = None,
    max_documents: int | None = None,
    options: dict[str, Any] | None = None,
) -> PredictionRun:
    """Predict on ``texts`` (a list or a stream) or on the documents of one ``file`` (a path, or an upload's bytes
    named ``name``; reading it needs ``settings`` for the size limits and OCR).

    ``predictor`` is a loaded predictor, or a function that loads one: it is then called after the file is read,
    so a missing or unreadable file is reported before a missing model. ``options`` are the task options
    (``top_k``, ``threshold``, ``explain``, ``sentences``; unset ones may be None), checked by the predictor (E415
    for one its task does not take). ``max_documents`` caps the documents a file may yield (E607). With
    ``settings``, each of ``texts`` may be at most ``settings.max_document_bytes`` long (E613), as a file may.
    Predictions are made in batches of :data:`PREDICT_BATCH`, the work budget
    (:mod:`nlpipe.readers.budget`) checked between them.
    """
    if (texts is None) == (file is None):
        raise InputError("E414", "Give exactly one of TEXT, '-' (stdin, one text per line) or --file PATH.")
    sources: list[str | None] = []
    failures: list[IngestFailure] = []
    skipped: list[IngestFailure] = []
    docs = None
    if file is not None:
        if settings is None:
            raise TypeError("predict(file=...) needs the settings that limit and read files")
        docs, failures = documents_for_prediction(
            file, settings, name=name, password=password, ocr=ocr, skipped=skipped
        )
        if max_documents is not None and len(docs) > max_documents:
            raise LimitError("E607", f"{len(docs)} documents in one upload; the limit is {max_documents} "
                             "(NLPIPE_MAX_BATCH_TEXTS).", field="file")  # fmt: skip
        sources = [d.source for d in docs]
    batch = None if texts is None else list(texts)
    if batch is not None and settings is not None:
        check_text_sizes(batch, settings.max_document_bytes)
    loaded = predictor if isinstance(predictor, BasePredictor) else predictor()
    checked = loaded.check_options(options or {})
    predictions: list[Prediction] = []
    if docs is not None:
        for start in range(0, len(docs), PREDICT_BATCH):
            checkpoint(name)
            predictions += loaded.predict_documents(docs[start : start + PREDICT_BATCH], **checked)
    else:
        batch = batch or []
        for start in range(0, max(len(batch), 1), PREDICT_BATCH):  # an empty list is still one call
            checkpoint()
            predictions += loaded.predict(batch[start : start + PREDICT_BATCH], **checked)
        sources = [None] * len(batch)
    return PredictionRun(loaded.name, loaded.version, predictions, sources, failures, skipped)
