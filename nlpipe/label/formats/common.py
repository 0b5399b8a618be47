"""What the format modules share: span overlap and writing (cells, CSV writers, atomic writes).

The checks of a row's fields when reading (text, labels, split names, CSV rows) are in
:mod:`nlpipe.readers.fields`, below the formats, because the readers parse CSV and JSON Lines rows too.

Every error is built with :func:`nlpipe.readers.textfile.fail`, so its message starts with the file and line.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from nlpipe.readers.textfile import fail
from nlpipe.types import Span

__all__ = ["atomic_text", "cannot_write", "csv_writer", "join_labels", "longest_first", "temp_name"]

# ------------------------------------------------------------------------------------------------- spans


def longest_first(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, sorted by start: longer spans win, then earlier ones, then the first given.

    The same rule as ``spacy.util.filter_spans``; formats whose entities cannot overlap (CoNLL tags,
    ``doc.ents``) and gazetteer rules use it.
    """
    unique = list(dict.fromkeys((s.start, s.end, s.label) for s in spans))
    kept: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    for start, end, label in sorted(unique, key=lambda s: (-(s[1] - s[0]), s[0])):
        if all(end <= a or start >= b for a, b in taken):
            kept.append((start, end, label))
            taken.append((start, end))
    return [Span(s, e, lab) for s, e, lab in sorted(kept)]


# ----------------------------------------------------------------------------------------------- writing


def cannot_write(out: Path, n: int, why: str) -> Exception:
    """E115: record ``n`` (1-based) cannot be written to ``out`` in the chosen format."""
    return fail("E115", f"record {n} cannot be written: {why}", file=out)


def join_labels(labels: list[str], sep: str, out: Path, n: int) -> str:
    """Labels joined by ``sep`` for one cell; E115 when a label contains ``sep``."""
    for label in labels:
        if sep in label:
            raise cannot_write(out, n, f"label '{label}' contains the separator '{sep}'; pick another label_sep")
    return sep.join(labels)


def csv_writer(fh: IO[str], out: Path) -> Any:
    """A CSV writer for ``out``: tabs for ``.tsv``, commas otherwise, ``\\n`` line ends."""
    return csv.writer(fh, delimiter="\t" if out.suffix.lower() == ".tsv" else ",", lineterminator="\n")


def temp_name(out: Path) -> Path:
    """The hidden temporary name a file is written under before it is moved to ``out``."""
    return out.with_name(f".{out.name}.{os.getpid()}.tmp")


def atomic_text(out: Path, write_fn: Callable[[IO[str]], int]) -> int:
    """Run ``write_fn`` on a temporary UTF-8 file and move it to ``out`` when it succeeds."""
    tmp = temp_name(out)
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            count = write_fn(fh)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
