"""What an input file is to a batch run -- its *shape* -- and the checks of the options that decide it.

A file's shape is the reader kind :func:`~nlpipe.readers.dispatch.sniff.sniff` gives it (``pdf``, ``zip``,
``text``...), except for the containers read here, document by document: ``warc`` (a web archive, by name or by
its first bytes, plain or gzipped), ``mbox`` (``.mbox`` / ``.mbx``, or text whose first line is an mbox ``From``
line), ``csv`` and ``jsonl`` (one document per row) and ``split`` (plain text or Markdown cut by ``--split-on``).
"""

from __future__ import annotations

import re
from typing import IO

from nlpipe.batch.mbox import looks_like_mbox
from nlpipe.batch.units import SourceOptions
from nlpipe.batch.warc import looks_like_warc
from nlpipe.readers.dispatch.sniff import sniff
from nlpipe.readers.textfile import fail

__all__ = ["CONTAINERS", "OCR_MODES", "check_options", "classify", "split_pattern"]

CONTAINERS = ("warc", "mbox", "csv", "jsonl", "split")
OCR_MODES = ("auto", "always", "never")
_MBOX_SUFFIXES = (".mbox", ".mbx")


def classify(head: bytes, name: str, fileobj: IO[bytes] | None, source: str, options: SourceOptions) -> str:
    """The shape of a file whose first bytes are ``head`` (see the module docstring); E175 for a type nlpipe does
    not read. ``fileobj`` (positioned at the start, left there) tells a DOCX from a zip."""
    if looks_like_warc(head, name):
        return "warc"
    if name.lower().endswith(_MBOX_SUFFIXES):
        return "mbox"
    kind = sniff(head, name, fileobj, source)
    if kind == "text" and looks_like_mbox(head):
        return "mbox"
    if options.split_on and kind in ("text", "markdown"):
        return "split"
    return kind


def split_pattern(options: SourceOptions) -> re.Pattern[str] | None:
    """``--split-on`` compiled, None without it; E801 for an empty or invalid regular expression."""
    if options.split_on is None:
        return None
    if not options.split_on:
        raise fail("E801", "--split-on is empty; give a regular expression that matches the separator between "
                   r"items, such as '\n\s*\n' (a blank line)", field="split_on")  # fmt: skip
    try:
        return re.compile(options.split_on)
    except (re.error, RecursionError, OverflowError) as exc:
        where = f" at position {exc.pos}" if isinstance(exc, re.error) and exc.pos is not None else ""
        raise fail("E801", f"--split-on {options.split_on!r} is not a valid regular expression ({exc}{where}); "
                   "check the escaping (Python's re syntax)", field="split_on") from None  # fmt: skip


def _position(value: str) -> bool:
    return value.isascii() and value.isdigit() and int(value) >= 1


def check_options(options: SourceOptions) -> None:
    """Refuse options no input can be read with, before anything is read: an unknown OCR mode (E196), a bad
    ``--split-on`` (E801), an empty column name, or with ``--no-header`` a column that is not a 1-based position
    (E802)."""
    if options.ocr not in OCR_MODES:
        raise fail("E196", f"unknown OCR mode '{options.ocr}'; use auto, always or never", field="ocr")
    split_pattern(options)
    columns = [("text_cols", c) for c in options.text_cols]
    if options.id_col is not None:
        columns.append(("id_col", options.id_col))
    for field, value in columns:
        if not value.strip():
            raise fail("E802", "a column name is empty; name the column (--text-col / --id-col)", field=field)
        if options.no_header and not _position(value.strip()):
            raise fail("E802", f"{value!r} is not a column position: without a header row (--no-header) columns "
                       "are named by their 1-based position (1, 2, ...)", field=field)  # fmt: skip
