"""The canonical row of a batch run: one JSON object per document, in a fixed key order, every task's fields
present in every row, written to the spool as canonical JSON Lines (:func:`row_bytes`).

A document that was read and predicted::

    {"id", "source", "sha256", "characters", "pages", "meta", "error": null,
     "predictions": {NAME: {"model": "NAME@VERSION", "task", "predicted": [...], "labels": [{"label", "score"}],
                            "spans": [{"start", "end", "label", "source", "score", "text", "page", "bbox"}],
                            "sentiment": {"kind", "label", "score", "confidence", "magnitude", "scale",
                                          "aggregated", "sentences"} | null}}}

and one that could not be (an error row)::

    {"id", "source", "sha256": null, "characters": null, "pages": null, "meta", "error": {"code", "message"},
     "predictions": {}}

Label scores are rounded as :meth:`nlpipe.types.Prediction.to_dict` rounds them (6 decimals; span scores are
kept as the predictor gives them, as there); explanation terms are not carried. A task without spans gives
``"spans": []``, one without sentiment ``"sentiment": null``; the sentiment dict always has the keys of
:data:`SENTIMENT_KEYS` (None when the predictor left one out), then any other key the predictor added.

Error codes: E821 a spool line that is not a row, E822 a row whose models are not the run's, E825 a spool that
cannot be read, E827 a row that JSON Lines cannot carry (NaN or infinite numbers, lone surrogates, objects that are
not JSON).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpipe.batch.units import Unit
from nlpipe.errors import InputError
from nlpipe.types import LabelScore, Prediction, Span

__all__ = [
    "ModelInfo",
    "ROW_KEYS",
    "MODEL_KEYS",
    "SPAN_KEYS",
    "SENTIMENT_KEYS",
    "document_row",
    "document_row_bytes",
    "error_row",
    "row_bytes",
    "read_rows",
    "read_spool",
    "spool_unreadable",
    "check_row",
    "compact_json",
]

#: The keys of every row, in order.
ROW_KEYS: tuple[str, ...] = ("id", "source", "sha256", "characters", "pages", "meta", "error", "predictions")
#: The keys of each model's entry in ``predictions``, in order.
MODEL_KEYS: tuple[str, ...] = ("model", "task", "predicted", "labels", "spans", "sentiment")
#: The keys of each span, in order (:class:`~nlpipe.types.Span`'s fields; ``bbox`` a list of 4 numbers or None).
SPAN_KEYS: tuple[str, ...] = ("start", "end", "label", "source", "score", "text", "page", "bbox")
#: The keys every sentiment dict has, in order (README "Sentiment"; ``sentences`` only when asked for).
SENTIMENT_KEYS: tuple[str, ...] = (
    "kind", "label", "score", "confidence", "magnitude", "scale", "aggregated", "sentences",
)  # fmt: skip
_LABEL_DIGITS = 6  # as Prediction.to_dict rounds label scores
_SURROGATE = re.compile("[\ud800-\udfff]")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def compact_json(value: Any) -> str:
    """``value`` as compact JSON (no ASCII escapes, no spaces, no NaN): rows, and the JSON cells of CSV and Parquet.
    One encoder made once: ``json.dumps`` with options makes a new one per call."""
    return _ENCODER.encode(value)


@dataclass(frozen=True)
class ModelInfo:
    """One model of a batch run: its name, its version and its task as the task registry names it."""

    name: str
    version: str
    task: str

    @property
    def ref(self) -> str:
        """``name@version``, as rows and CSV cells name the model."""
        return f"{self.name}@{self.version}"


def _span(span: Span) -> dict[str, Any]:
    return {
        "start": span.start,
        "end": span.end,
        "label": span.label,
        "source": span.source,
        "score": span.score,
        "text": span.text,
        "page": span.page,
        "bbox": None if span.bbox is None else list(span.bbox),
    }


def _sentiment(found: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    out = {key: found.get(key) for key in SENTIMENT_KEYS}
    out.update((key, value) for key, value in found.items() if key not in out)
    return out


def _model_entry(info: ModelInfo, prediction: Prediction) -> dict[str, Any]:
    return {
        "model": info.ref,
        "task": info.task,
        "predicted": list(prediction.predicted),
        "labels": [{"label": ls.label, "score": round(ls.score, _LABEL_DIGITS)} for ls in prediction.labels],
        "spans": [_span(s) for s in prediction.spans],
        "sentiment": _sentiment(prediction.sentiment),
    }


def document_row(
    unit: Unit, text: str, pages: int | None, results: Mapping[str, tuple[ModelInfo, Prediction]]
) -> dict[str, Any]:
    """The row of a document that was read and predicted: ``text`` is its text, ``pages`` its page count (None
    for documents without pages), ``results`` each model's prediction by model name, in the run's model order
    (which is the order of ``predictions`` in the row)."""
    return {
        "id": unit.id,
        "source": unit.source,
        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        "characters": len(text),
        "pages": pages,
        "meta": dict(unit.meta),
        "error": None,
        "predictions": {name: _model_entry(info, prediction) for name, (info, prediction) in results.items()},
    }


_STRING: Callable[[str], str] = json.encoder.encode_basestring  # the encoder's own quoting (ensure_ascii=False)


def _number(value: Any) -> str:
    """A number as the JSON encoder writes it (float.__repr__ also for numpy floats); ValueError for NaN or
    infinity, as the encoder raises with ``allow_nan=False``."""
    if isinstance(value, float):
        if value != value or value in (math.inf, -math.inf):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return float.__repr__(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return compact_json(value)
    return int.__repr__(value)


@functools.lru_cache(maxsize=256)
def _entry_head(name: str, info: ModelInfo) -> str:
    """What starts a model's entry in every row: its key and its model and task fields."""
    return f'{_STRING(name)}:{{"model":{_STRING(info.ref)},"task":{_STRING(info.task)},"predicted":['


def _score_json(value: Any) -> str:
    """``round(value, 6)`` as the encoder writes it. For a float in [1e-4, 1e9) that is the correctly rounded
    ``%.6f`` without its trailing zeros (at most 15 significant digits, so no shorter decimal reads back as the
    same float): twice as fast as rounding and ``repr``."""
    if type(value) is float and 1e-4 <= value < 1e9:
        text = (_SIX % value).rstrip("0")
        return text + "0" if text.endswith(".") else text
    score = round(value, _LABEL_DIGITS)
    # a finite Python float (inf - inf and nan - nan are nan) as the encoder writes it; anything else by _number
    return float.__repr__(score) if type(score) is float and score - score == 0.0 else _number(score)


_SIX = f"%.{_LABEL_DIGITS}f"


def _labels_json(labels: Sequence[LabelScore]) -> str:
    return ",".join([f'{{"label":{_STRING(ls.label)},"score":{_score_json(ls.score)}}}' for ls in labels])


def _entry_json(name: str, info: ModelInfo, prediction: Prediction) -> str:
    labels = _labels_json(prediction.labels)
    spans = compact_json([_span(s) for s in prediction.spans]) if prediction.spans else "[]"
    sentiment = "null" if prediction.sentiment is None else compact_json(_sentiment(prediction.sentiment))
    predicted = ",".join([_STRING(label) for label in prediction.predicted])
    return f'{_entry_head(name, info)}{predicted}],"labels":[{labels}],"spans":{spans},"sentiment":{sentiment}}}'


def _meta_json(meta: Mapping[str, Any]) -> str:
    """A unit's meta as :func:`compact_json` writes it; directly when every value is an integer (a row's line, an
    item's number and line: most rows' meta), which the encoder takes five times longer to write."""
    if all(type(value) is int for value in meta.values()):
        return "{" + ",".join([f"{_STRING(key)}:{value}" for key, value in meta.items()]) + "}"
    return compact_json(meta)


def document_row_bytes(
    unit: Unit, text: str, pages: int | None, results: Mapping[str, tuple[ModelInfo, Prediction]]
) -> bytes:
    """``row_bytes(document_row(unit, text, pages, results))``, the same bytes, written directly: the dict and the
    generic encoder cost more than a fast model's prediction. E827 as :func:`row_bytes` raises it."""
    try:
        predictions = ",".join([_entry_json(name, info, p) for name, (info, p) in results.items()])
        line = (
            f'{{"id":{_STRING(unit.id)},"source":{_STRING(unit.source)},'
            f'"sha256":"{hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()}",'
            f'"characters":{len(text)},"pages":{"null" if pages is None else _number(pages)},'
            f'"meta":{_meta_json(unit.meta)},"error":null,"predictions":{{{predictions}}}}}\n'
        )
        return line.encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError, AttributeError):
        return row_bytes(document_row(unit, text, pages, results))  # raises E827 naming what it cannot write


def _clean(value: Any) -> Any:
    """``value`` with lone surrogates in its strings replaced (U+FFFD), so an error row can always be written."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def error_row(unit: Unit, code: str, message: str) -> dict[str, Any]:
    """The row of a document that could not be read or predicted: the error's ``code`` and ``message``, no
    predictions. Its strings are cleaned (lone surrogates replaced, values JSON cannot carry made strings or
    null) so that this row can always be written, whatever broke the document."""
    return {
        "id": _clean(unit.id),
        "source": _clean(unit.source),
        "sha256": None,
        "characters": None,
        "pages": None,
        "meta": _clean(dict(unit.meta)),
        "error": {"code": code, "message": _clean(message)},
        "predictions": {},
    }


def row_bytes(row: Mapping[str, Any]) -> bytes:
    """``row`` as one canonical JSON Lines line: UTF-8, no ASCII escapes, no spaces, no NaN, ``\\n``-terminated;
    the same row always gives the same bytes. E827 when the row holds what JSON Lines cannot carry (NaN or an
    infinite number, a lone surrogate, an object that is not JSON): the caller makes it an error row instead."""
    try:
        return (compact_json(row) + "\n").encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
        raise InputError(
            "E827",
            f"The row of {_clean(str(row.get('id')))!r} cannot be written as JSON Lines ({exc}); a predictor gave a "
            "NaN or infinite score, or the document's id, meta or text holds a lone surrogate or a value that is not "
            "JSON.",
            id=_clean(row.get("id")),
        ) from exc


def _not_a_row(spool: Path, line: int, why: str) -> InputError:
    return InputError(
        "E821",
        f"{spool}:{line} is not a batch row ({why}). The spool was damaged or written by something else; run the "
        "batch again with --restart.",
        file=str(spool),
        line=line,
    )


def _shape_problem(row: Any) -> str | None:
    """What keeps ``row`` from being a row, or None when it is one."""
    if not isinstance(row, dict) or tuple(row) != ROW_KEYS:
        got = list(row) if isinstance(row, dict) else type(row).__name__
        return f"expected an object with the keys {', '.join(ROW_KEYS)}; got {got}"
    error, predictions = row["error"], row["predictions"]
    if not isinstance(row["id"], str) or not isinstance(row["meta"], dict) or not isinstance(predictions, dict):
        return "id must be a string, meta and predictions objects"
    if error is not None and (not isinstance(error, dict) or tuple(error) != ("code", "message")):
        return "error must be null or an object with code and message"
    for name, entry in predictions.items():
        if not isinstance(entry, dict) or tuple(entry) != MODEL_KEYS:
            return f"the prediction of {name!r} must be an object with the keys {', '.join(MODEL_KEYS)}"
    return None


def check_row(row: Any, spool: Path, line: int, models: Sequence[str] | None = None) -> dict[str, Any]:
    """``row`` (decoded from ``spool``'s ``line``) when it has a row's shape: E821 when it does not, E822 when its
    predictions are not those of ``models`` (every model, in order, for a document row; none for an error row)."""
    why = _shape_problem(row)
    if why is not None:
        raise _not_a_row(spool, line, why)
    if models is not None:
        error, predictions = row["error"], row["predictions"]
        expected = [] if error is not None else list(models)
        if list(predictions) != expected:
            raise InputError(
                "E822",
                f"{spool}:{line} has predictions of {list(predictions) or 'no model'}, but the run's models are "
                f"{list(models)} ({'none for an error row' if error is not None else 'all of them, in order'}). "
                "The spool is from another run; run the batch again with --restart.",
                file=str(spool),
                line=line,
            )
    return row  # checked above: a dict of a row's shape


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def spool_unreadable(spool: Path, exc: OSError) -> InputError:
    """E825: the spool cannot be read (a run's own, or one given to :func:`~nlpipe.batch.output.convert`)."""
    return InputError("E825", f"The spool {spool} cannot be read: {exc.strerror or exc}.", file=str(spool))


def read_spool(spool: Path, models: Sequence[str] | None = None) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """(line number, the line's bytes, the row) for each line of ``spool``, one line at a time, each checked by
    :func:`check_row` (``models``: the run's model names, checked when given). A last line without its ``\\n`` (a
    write cut short) is E821."""
    try:
        f = spool.open("rb")
    except OSError as exc:
        raise spool_unreadable(spool, exc) from None
    with f:
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                raise _not_a_row(spool, number, "the line is cut short: it has no line end")
            try:
                row = _DECODER.decode(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                raise _not_a_row(spool, number, f"not JSON: {exc}") from None
            yield number, raw, check_row(row, spool, number, models)


def read_rows(spool: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSON Lines spool written with :func:`row_bytes`, in order, one line in memory at a time
    (E821 naming the line for one that is not a row)."""
    return (row for _, _, row in read_spool(spool))
