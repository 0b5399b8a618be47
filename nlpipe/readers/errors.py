"""The coded error of a reader that names the file and, where there is one, the page: ``source, page N: message``.

The PDF reader (:mod:`nlpipe.readers.pdf`) and OCR (:mod:`nlpipe.readers.ocr`) build theirs with :func:`fail`. It
sits outside the ``pdf`` package so that OCR can import it without importing the PDF reader, which imports OCR.
"""

from __future__ import annotations

from nlpipe.errors import InputError, NlpipeError

__all__ = ["fail"]


def fail(
    code: str, message: str, source: str, page: int | None = None, kind: type[NlpipeError] = InputError
) -> NlpipeError:
    """The error ``code`` (an :class:`~nlpipe.errors.InputError` unless ``kind`` says otherwise) naming the file
    and the page, if any."""
    where = f"{source}, page {page}" if page is not None else source
    return kind(code, f"{where}: {message}", file=source, page=page)
