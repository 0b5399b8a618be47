"""Units that stand for a problem (an ``error`` or ``skipped`` unit carrying a code and a message) and the coded
error a worker raises for one, of the class the code is catalogued with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nlpipe import errors
from nlpipe.batch.units import Unit
from nlpipe.error_codes import CODES
from nlpipe.errors import NlpipeError
from nlpipe.readers.dispatch.route import too_large as document_too_large
from nlpipe.readers.textfile import fail

__all__ = ["coded_error", "error_unit", "image_off", "problem_unit", "too_large"]


def error_unit(uid: str, source: str, exc: NlpipeError, meta: Mapping[str, Any] | None = None) -> Unit:
    """An ``error`` unit: the row that will say why document ``uid`` of ``source`` could not be read."""
    return Unit(id=uid, source=source, kind="error", error=(exc.code, exc.message), meta=dict(meta or {}))


def problem_unit(source: str, exc: NlpipeError, *, skipped: bool) -> Unit:
    """A reader's problem with a file or archive member, as an ``error`` unit or (left out on purpose) ``skipped``."""
    return Unit(id=source, source=source, kind="skipped" if skipped else "error", error=(exc.code, exc.message))


def too_large(source: str, size: int | None, limit: int, what: str = "document") -> NlpipeError:
    """E178 for a document over ``max_document_bytes`` (``size`` None: found while reading, the rest not read)."""
    return document_too_large(source, size, limit, f"the {what}")


def coded_error(code: str, message: str, *, source: str | None = None) -> NlpipeError:
    """The error ``code`` stands for, raised with the class the catalogue (:mod:`nlpipe.error_codes`) gives it, so a
    problem that travelled as data (a unit's ``error``, an ingest failure) is re-raised as the reader raised it."""
    kind = CODES.get(code, ("InputError", ""))[0]
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, NlpipeError)):
        cls = errors.InputError
    return cls(code, message, file=source)


def image_off(source: str) -> NlpipeError:
    """E190: an image is read by OCR, and OCR is off (the unit is left out, as ingest leaves it out)."""
    return fail("E190", "skipped: an image is read by OCR, and OCR is off; pass --ocr auto to read it", file=source)
