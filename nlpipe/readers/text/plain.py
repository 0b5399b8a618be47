"""Plain text and Markdown files, and what every text reader shares: the E177 of a file without text and
newline normalisation.
"""

from __future__ import annotations

from nlpipe.errors import NlpipeError
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Document

__all__ = ["MIME_MARKDOWN", "MIME_TEXT", "no_text", "normalise_newlines", "read_plain"]

MIME_TEXT = "text/plain"
MIME_MARKDOWN = "text/markdown"


def no_text(source: str, what: str) -> NlpipeError:
    return fail("E177", f"no text found ({what}); check the file has content, or remove it", file=source)


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_plain(data: bytes, *, source: str, mime: str = MIME_TEXT) -> Document:
    """A ``.txt`` / ``.md`` file: encoding detected by :func:`~nlpipe.readers.textfile.read_text`.

    Line endings become ``\\n``. Raises E108 (binary data) or E177 (only whitespace).
    """
    text = normalise_newlines(read_text(data, source=source))
    if not text.strip():
        raise no_text(source, "the file is empty or only whitespace")
    return Document(text=text, source=source, mime=mime)
