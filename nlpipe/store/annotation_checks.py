"""The checks an annotation passes before it is stored: the annotator's name, a label (E243: no control
characters, no lone surrogates, at most MAX_LABEL characters) and a span's offsets."""

from __future__ import annotations

import re
import unicodedata

from nlpipe.errors import InputError

ANNOTATOR_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.@ -]{0,99}"
ANNOTATOR_RE = re.compile(rf"\A{ANNOTATOR_PATTERN}\Z")  # \Z, not $: a final newline is not part of a name
MAX_LABEL = 200


def check_annotator(name: str | None) -> str:
    """An annotator name: 1-100 letters, digits, spaces, '_', '.', '@' or '-', starting with a letter or digit."""
    if not isinstance(name, str) or not ANNOTATOR_RE.fullmatch(name.strip() or "-"):
        raise InputError(
            "E241",
            f"Invalid annotator name {name!r}: use 1-100 letters, digits, spaces, '_', '.', '@' or '-', "
            "starting with a letter or digit.",
            field="annotator",
        )
    return name.strip()


def check_label(label: object, field: str) -> str:
    """A label: 1..MAX_LABEL characters, none a control character (NUL cannot be stored in PostgreSQL) or a
    lone surrogate (valid JSON escape, but no UTF-8 encoding: the databases cannot store it)."""
    if (
        not isinstance(label, str)
        or not label.strip()
        or len(label.strip()) > MAX_LABEL
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in label.strip())
    ):
        raise InputError(
            "E243",
            f"{field}: a label must be a non-empty string of at most {MAX_LABEL} characters, without control "
            "characters.",
            field=field,
        )
    return label.strip()


def check_span(start: object, end: object, n: int, field: str) -> tuple[int, int]:
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= n):
        raise InputError(
            "E242",
            f"{field}: span ({start}, {end}) is not inside the text of {n} characters (offsets are 0-based "
            "characters, end exclusive, start < end).",
            field=field,
        )
    return start, end
