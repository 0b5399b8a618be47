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

:func:`predict_lines` is the streaming path (``nlpipe predict -``): one result per input line, in order, each with
its line number, given out as soon as its line is predicted. A blank, over-long or undecodable line is an error
row in its place, so output lines stay in step with input lines. :class:`LineReader` cuts a byte stream (stdin)
into those lines with bounded memory and tells, without blocking, whether the next line is already there.
"""

from __future__ import annotations

import codecs
import select
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from nlpipe import artifacts
from nlpipe.config import DEFAULT_MAX_MODEL_BYTES, Settings
from nlpipe.errors import InputError, LimitError, NlpipeError
from nlpipe.ingest import documents_for_prediction
from nlpipe.readers.budget import BUDGET_ERRORS, checkpoint
from nlpipe.readers.dispatch.results import IngestFailure
from nlpipe.tasks import registry
from nlpipe.tasks.base import BasePredictor, LoadedModel
from nlpipe.types import Prediction

T = TypeVar("T")

__all__ = [
    "predictor_for",
    "load_predictor",
    "predict_inputs",
    "PredictionRun",
    "predict_lines",
    "LineReader",
]

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
    if batch is not None:
        check_not_blank(batch)
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


def applicable_options(
    predictor: BasePredictor, options: dict[str, Any], *, strict: bool = False
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The options ``predictor``'s task takes, and a W415 warning for each set one it does not, which is left out
    (a client sending ``top_k`` to every model gets its sentiment too). ``strict``: all of them kept, so the
    predictor refuses one it does not take (E415)."""
    if strict:
        return options, []
    kept, warnings = {}, []
    takes = ", ".join(predictor.options) or "none"
    for key, value in options.items():
        if value is None or value is False or key in predictor.options:
            kept[key] = value
        else:
            warnings.append({"code": "W415", "field": key, "message": f"Option {key!r} does not apply to "
                             f"{predictor.task} model {predictor.name!r} (its options: {takes}); it was ignored. "
                             "Send strict=true to have it refused instead."})  # fmt: skip
    return kept, warnings


def check_not_blank(texts: Sequence[str]) -> None:
    """E418 for an empty or whitespace-only text: there is nothing to predict on, and a label for it would be
    noise."""
    for i, text in enumerate(texts):
        if not text.strip():
            where = "The text" if len(texts) == 1 else f"Text {i + 1} of {len(texts)}"
            raise InputError("E418", f"{where} is empty or only whitespace; there is nothing to predict on.",
                             field="text" if len(texts) == 1 else f"texts[{i}]")  # fmt: skip


#: Characters of text one streamed batch holds at most: long lines cut a batch short of ``batch`` lines, so the
#: memory of :func:`predict_lines` stays near this however long the stream runs.
STREAM_BATCH_CHARS = 1 << 22


def predict_lines(
    predictor: BasePredictor,
    lines: Iterable[str | NlpipeError],
    *,
    options: dict[str, Any] | None = None,
    max_bytes: int | None = None,
    batch: int = PREDICT_BATCH,
    ready: Callable[[], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """One JSON-ready result per item of ``lines``, in order, each led by ``"line": N`` (1-based): the prediction's
    fields, or ``"error": {"code", "message"}`` for a line that cannot be predicted -- blank (E417), longer than
    ``max_bytes`` in UTF-8 (E613), or an error a reader put in the line's place (:class:`LineReader`). A line's
    ``\\n`` / ``\\r\\n`` end is cut, so a text file's lines can be given as they are.

    Lines are predicted up to ``batch`` at a time, for speed, but a result is never held back for a batch to fill:
    after each line ``ready()`` is asked whether the next one is already at hand, and when it is not (a user
    typing, a slow producer) the lines read so far are predicted and given out at once. Without ``ready`` the
    input is taken to be all at hand (a list, a file) and batches fill up. A batch the predictor refuses with a
    coded error is predicted again line by line, so only the lines at fault become error rows. ``options`` are
    checked here, before any line is read (E415). Memory holds one batch: at most ``batch`` lines and about
    :data:`STREAM_BATCH_CHARS` characters, however long the stream.
    """
    checked = predictor.check_options(options or {})
    return _stream(predictor, lines, checked, max_bytes, max(1, batch), ready)


def _stream(
    predictor: BasePredictor,
    lines: Iterable[str | NlpipeError],
    checked: dict[str, Any],
    max_bytes: int | None,
    batch: int,
    ready: Callable[[], bool] | None,
) -> Iterator[dict[str, Any]]:
    """The generator behind :func:`predict_lines` (which checks the options before it is first advanced)."""
    pending: list[tuple[int, str | NlpipeError]] = []
    chars = 0
    for number, given in enumerate(lines, 1):
        item = _line_item(number, given, max_bytes)
        pending.append((number, item))
        chars += len(item) if isinstance(item, str) else 0
        if len(pending) >= batch or chars >= STREAM_BATCH_CHARS or (ready is not None and not ready()):
            yield from _predict_pending(predictor, pending, checked)
            pending, chars = [], 0
    yield from _predict_pending(predictor, pending, checked)


def _line_item(number: int, given: str | NlpipeError, max_bytes: int | None) -> str | NlpipeError:
    """The text of line ``number``, or the error row that takes its place."""
    if isinstance(given, NlpipeError):
        return given
    text = given.removesuffix("\n").removesuffix("\r")
    if not text.strip():
        return InputError(
            "E417", f"line {number} is blank: there is no text to predict (its row keeps the output in step "
            "with the input lines; leave blank lines out of the input to have no row)", line=number,
        )  # fmt: skip
    if max_bytes is not None and len(text) * 4 > max_bytes:
        if (size := len(text.encode("utf-8", "surrogatepass"))) > max_bytes:
            return _too_long(number, size, max_bytes)
    return text


def _too_long(number: int, size: int | None, max_bytes: int) -> LimitError:
    """E613 for line ``number`` of ``size`` bytes (None: not known, the line was dropped as it was read)."""
    says = "is longer than" if size is None else f"is {size:,} bytes, more than"
    return LimitError(
        "E613", f"line {number} {says} the {max_bytes:,}-byte document limit (NLPIPE_MAX_DOCUMENT_BYTES); "
        "split it into shorter lines", line=number,
    )  # fmt: skip


def _predict_pending(
    predictor: BasePredictor, pending: list[tuple[int, str | NlpipeError]], checked: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The rows of ``pending`` in order: its texts predicted in one call, its errors as error rows."""
    if not pending:
        return
    checkpoint()
    texts = [item for _, item in pending if isinstance(item, str)]
    results = iter(predict_isolating(lambda batch: predictor.predict(batch, **checked), texts))
    for number, item in pending:
        result = next(results) if isinstance(item, str) else item
        if isinstance(result, NlpipeError):
            yield {"line": number, "error": {"code": result.code, "message": result.message}}
        else:
            yield {"line": number} | result.to_dict()


def predict_isolating(
    call: Callable[[list[T]], Sequence[Prediction]],
    items: list[T],
    *,
    unexpected: Callable[[Exception], NlpipeError] | None = None,
) -> list[Prediction | NlpipeError]:
    """``call(items)``, one prediction per item; when the call fails with a coded error, each item alone, so that
    one bad item is one error and not the whole batch's. With ``unexpected``, any other exception is isolated the
    same way and recorded as the coded error it makes. The work budget's errors and MemoryError stop the call."""
    if not items:
        return []
    caught = NlpipeError if unexpected is None else Exception
    try:
        return list(call(items))
    except (*BUDGET_ERRORS, MemoryError):
        raise
    except caught as exc:
        if len(items) > 1:
            return [result for item in items for result in predict_isolating(call, [item], unexpected=unexpected)]
        if isinstance(exc, NlpipeError):
            return [exc]
        assert unexpected is not None
        return [unexpected(exc)]


class LineReader:
    """The lines of a byte stream (``nlpipe predict -``'s stdin), one item per line, for :func:`predict_lines`:
    the line's text (UTF-8; a leading byte-order mark and the ``\\n`` / ``\\r\\n`` end cut), or in its place the
    error that keeps it from being one -- E613 for a line longer than ``max_bytes`` (the rest of it is read and
    dropped, never held), E108 for one that is not valid UTF-8. Memory holds one line (at most ``max_bytes``) and
    one read of ``chunk`` bytes, however long the stream.

    :meth:`ready` tells, without blocking, whether the next item is at hand: a whole line already read, the end of
    the stream, or bytes waiting on the stream's file descriptor (``select`` with a zero timeout; they are read at
    once, so a line arriving in pieces is put together). A stream without a file descriptor (``io.BytesIO``) is
    taken to be all at hand; one that ``select`` cannot watch (pipes on Windows) is taken never to be, so each line
    is answered alone. ``lines`` counts the items given so far.
    """

    def __init__(self, stream: BinaryIO, max_bytes: int, *, chunk: int = 1 << 16) -> None:
        # read1: one read of the underlying file at most, and a BufferedReader keeps nothing back that select
        # cannot see; a raw file's read does the same.
        read1 = getattr(stream, "read1", None)
        self._read: Callable[[int], bytes] = read1 if callable(read1) else stream.read
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
            self._fd = None
        self._max = max_bytes
        self._chunk = chunk
        self._buf = bytearray()
        self._start = 0  # where the current line starts in _buf
        self._scan = 0  # _buf[_start:_scan] holds no "\n"
        self._skipping = False  # dropping the rest of an over-long line
        self._eof = False
        self.lines = 0

    def __iter__(self) -> LineReader:
        return self

    def __next__(self) -> str | NlpipeError:
        while True:
            end = self._buf.find(b"\n", self._scan)
            if end >= 0:
                raw = bytes(self._buf[self._start : end])
                self._start = self._scan = end + 1
                return self._item(raw)
            self._scan = len(self._buf)
            if self._scan - self._start > self._max + 1:  # + 1: a "\r" before the "\n" is no text
                self.lines += 1
                self._skipping = True
                self._buf.clear()
                self._start = self._scan = 0
                return _too_long(self.lines, None, self._max)
            if self._eof:
                if self._start == len(self._buf):
                    raise StopIteration
                raw = bytes(self._buf[self._start :])
                self._start = self._scan = len(self._buf)
                return self._item(raw)
            self._fill()

    def ready(self) -> bool:
        """True when the next item (or the end) can be had without waiting for the stream."""
        while not self._at_hand():
            if not self._waiting():
                return False
            self._fill()
        return True

    def _at_hand(self) -> bool:
        if self._eof or self._buf.find(b"\n", self._scan) >= 0:
            return True
        self._scan = len(self._buf)
        return self._scan - self._start > self._max + 1

    def _waiting(self) -> bool:
        """Bytes (or the end) can be read from the stream at once."""
        if self._fd is None:
            return True
        try:
            return bool(select.select([self._fd], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _fill(self) -> None:
        """One read from the stream into the buffer (dropping what belongs to a line being skipped)."""
        if self._start:
            del self._buf[: self._start]
            self._scan -= self._start
            self._start = 0
        data = self._read(self._chunk)
        if not data:
            self._eof = True
            return
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return
            self._skipping = False
            data = data[end + 1 :]
        self._buf += data

    def _item(self, raw: bytes) -> str | NlpipeError:
        self.lines += 1
        raw = raw.removesuffix(b"\r")
        if self.lines == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        if len(raw) > self._max:
            return _too_long(self.lines, len(raw), self._max)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return InputError(
                "E108", f"line {self.lines} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}); "
                "convert the input to UTF-8 first, e.g. iconv -f cp1252 -t utf-8", line=self.lines,
            )  # fmt: skip
