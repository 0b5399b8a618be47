"""``fasttext``: ``__label__a __label__b text``, one document per line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from nlpipe.label.formats.common import cannot_write
from nlpipe.readers.fields import check_text, dedupe
from nlpipe.readers.textfile import fail, iter_lines
from nlpipe.types import Record

__all__ = ["LABEL_PREFIX", "read_fasttext", "write_fasttext"]

LABEL_PREFIX = "__label__"
_NEWLINES = re.compile(r"\r\n|\r|\n")


def read_fasttext(
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    encoding: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of a fastText file: the leading ``__label__`` words are the labels, the rest of the line the text."""
    for n, line in iter_lines(path, encoding):
        if not line.strip():
            continue
        labels: list[str] = []
        pos = 0
        while True:
            while pos < len(line) and line[pos].isspace():
                pos += 1
            if not line.startswith(LABEL_PREFIX, pos):
                break
            end = pos
            while end < len(line) and not line[end].isspace():
                end += 1
            label = line[pos + len(LABEL_PREFIX) : end]
            if not label:
                raise fail(
                    "E104", f"'{LABEL_PREFIX}' without a label name; write {LABEL_PREFIX}name", file=path, line=n
                )
            labels.append(label)
            pos = end
        text = check_text(line[pos:], max_bytes, file=path, line=n)
        yield Record(text=text, labels=dedupe(labels), file=str(path), line=n)


def write_fasttext(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    """One line per record; line breaks in the text become spaces, labels with whitespace are E115."""
    n = 0
    for n, rec in enumerate(records, 1):
        for label in rec.labels:
            if any(ch.isspace() for ch in label):
                raise cannot_write(out, n, f"fastText labels cannot contain whitespace: '{label}'; rename it")
        prefix = "".join(f"{LABEL_PREFIX}{label} " for label in rec.labels)
        fh.write(prefix + _NEWLINES.sub(" ", rec.text) + "\n")  # fastText is one document per line
    return n
