"""Checks of one row's fields and CSV row splitting, shared by the row parser (:mod:`nlpipe.readers.rows`) and the
label formats above the readers: text size and blankness, labels in a cell, split names, the CSV delimiter and
header line, CSV rows with their line numbers.

Every error is built with :func:`nlpipe.readers.textfile.fail`, so its message starts with the file and line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nlpipe.errors import LimitError
from nlpipe.readers.textfile import fail

__all__ = [
    "DEFAULT_MAX_BYTES",
    "check_text",
    "csv_delimiter",
    "csv_rows",
    "dedupe",
    "first_line",
    "parse_split",
    "split_labels",
    "too_large",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

_SPLITS = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "validate": "validation", "dev": "validation",
    "test": "test",
}  # fmt: skip
_CSV_LIMIT_CAP = 2**31 - 1


def check_text(text: str, max_bytes: int, *, file: object, line: int | None, field: str | None = None) -> str:
    """``text`` itself, or E107 when it is over ``max_bytes`` of UTF-8, or E106 when it is empty or blank."""
    if len(text) * 4 > max_bytes:  # cheap pre-check: UTF-8 needs at most 4 bytes per character
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > max_bytes:
            raise too_large(size, max_bytes, file=file, line=line)
    if not text or text.isspace():  # (not text.strip(), without copying the text)
        raise fail("E106", "empty text; remove the row or give it text", file=file, line=line, field=field)
    return text


def too_large(size: int | None, max_bytes: int, *, file: object, line: int | None) -> Exception:
    """The E107 error (a :class:`~nlpipe.errors.LimitError`) for a document or field over ``max_bytes``."""
    what = f"document is {size:,} bytes" if size is not None else "a field is"
    return fail(
        "E107",
        f"{what} larger than the {max_bytes:,}-byte limit; split it into smaller documents or raise "
        "NLPIPE_MAX_DOCUMENT_BYTES",
        file=file,
        line=line,
        kind=LimitError,
    )


def dedupe(labels: list[str]) -> list[str]:
    """``labels`` without repeats, in their first order."""
    return list(dict.fromkeys(labels))


def split_labels(cell: str, sep: str | None, *, file: object, line: int, field: str | None) -> list[str]:
    """Labels in one CSV cell: empty cell -> [], otherwise split on ``sep`` (if any) and stripped."""
    value = cell.strip()
    if not value:
        return []
    if not sep:
        return [value]
    parts = [p.strip() for p in value.split(sep)]
    if any(not p for p in parts):
        raise fail(
            "E104",
            f"empty label in '{cell}' (split on '{sep}'); remove the extra '{sep}'",
            file=file,
            line=line,
            field=field,
        )
    return dedupe(parts)


def parse_split(value: Any, *, file: object, line: int | None, field: str | None) -> str | None:
    """``train``, ``validation``, ``test`` or None (no split) from a split name; dev and valid mean validation.

    E105 for anything else.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(
            "E105",
            f"split must be a string (train, validation or test), got {type(value).__name__} {value!r}",
            file=file,
            line=line,
            field=field,
        )
    key = value.strip().lower()
    if not key:
        return None
    if key not in _SPLITS:
        raise fail(
            "E105",
            f"unknown split '{value}'; use train, validation or test (dev and valid also mean validation), "
            "or leave it empty",
            file=file,
            line=line,
            field=field,
        )
    return _SPLITS[key]


def csv_delimiter(path: Path, header_line: str) -> str:
    """Tab for ``.tsv``; otherwise comma, unless the first line has none but has a tab or a semicolon."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    if "," not in header_line:
        if "\t" in header_line:
            return "\t"
        if ";" in header_line:
            return ";"
    return ","


def first_line(text: str) -> str:
    """First non-blank line, without materialising every line of a large file."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end].rstrip("\r")
        if line.strip():
            return line
        start = end + 1
    return ""


def csv_rows(path: Path, text: str | Iterable[str], delimiter: str, max_bytes: int) -> Iterator[tuple[int, list[str]]]:
    """``(line where the row starts, cells)`` for each non-blank row; csv errors become E109 / E107.

    ``text``: the whole file, or its lines with their line endings (read as they go).
    """
    limit = min(max(csv.field_size_limit(), max_bytes + 1), _CSV_LIMIT_CAP)
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)  # process-wide, but only ever raised: long documents need it
    source = io.StringIO(text, newline="") if isinstance(text, str) else text
    reader = csv.reader(source, delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise too_large(None, max_bytes, file=path, line=start) from None
            if "unexpected end of data" in str(exc):
                raise fail(
                    "E109",
                    "a quoted field starting in this row is never closed (the file ends inside quotes); add "
                    'the closing double quote, and double any quote inside the text ("")',
                    file=path,
                    line=start,
                ) from None
            raise fail(
                "E109",
                f"malformed CSV row ({exc}); check the quoting -- a field containing the delimiter, quotes "
                'or line breaks must be wrapped in double quotes, with inner quotes doubled ("")',
                file=path,
                line=start,
            ) from None
        if any(cell.strip() for cell in row):
            yield start, row
