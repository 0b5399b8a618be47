"""Entity-annotation formats: which exist, how they are recognised, and the entry points to read and write them.

Each format lives in its own module; :mod:`nlpipe.label.formats` (``read_records`` / ``detect_format``) and
:mod:`nlpipe.label.export` (``write_records``) dispatch to them through this registry, so ``nlpipe datasets
import/export --format NAME`` accept them like the document-label formats.

``conll`` (:mod:`nlpipe.label.conll`)
    CoNLL-2003 style ``token ... TAG`` lines, IOB1 / IOB2 / IOBES tags; one record per sentence, or per
    ``-DOCSTART-`` block with ``conll_docs``. Written as IOB2 (or IOB1 with ``conll_scheme="iob1"``).
``spacy`` (:mod:`nlpipe.label.docbin`)
    spaCy ``.spacy`` DocBin files: ``doc.ents`` <-> spans, ``doc.cats`` <-> labels (score >= 0.5).
``labelstudio`` (:mod:`nlpipe.label.labelstudio`)
    Label Studio JSON exports: a list of tasks, ``choices`` results -> labels, ``labels`` results -> spans.
``comprehend-entities`` (:mod:`nlpipe.label.comprehend_entities`)
    AWS Comprehend entity annotation CSV (``File, Line, Begin Offset, End Offset, Type``) with the documents
    files it names, looked up in ``documents`` (default: the CSV's folder).

Errors use codes E118-E139 and name the file and line (for ``.spacy`` files, the document's 1-based number).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from nlpipe.types import Record, Span

__all__ = [
    "ANNOTATION_FORMATS",
    "CONLL_SCHEMES",
    "longest_first",
    "read",
    "write",
    "format_for_suffix",
    "export_format_for_suffix",
    "detect_from_head",
    "detect_from_csv_header",
]

ANNOTATION_FORMATS: tuple[str, ...] = ("conll", "spacy", "labelstudio", "comprehend-entities")
CONLL_SCHEMES: tuple[str, ...] = ("iob2", "iob1")
_CONLL_SUFFIXES = (".conll", ".conll03", ".conllu", ".iob", ".iob1", ".iob2", ".bio")
_COMPREHEND_COLUMNS = {"file", "begin offset", "end offset", "type"}


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


# ----------------------------------------------------------------------------------------------- detection


def format_for_suffix(suffix: str) -> str | None:
    """The annotation format a file extension alone decides (``.spacy``, ``.conll``, ``.iob``...), if any."""
    suffix = suffix.lower()
    if suffix == ".spacy":
        return "spacy"
    if suffix in _CONLL_SUFFIXES:
        return "conll"
    return None


def export_format_for_suffix(suffix: str) -> str | None:
    """The annotation format ``write_records`` picks for an output extension (``.json``: labelstudio)."""
    suffix = suffix.lower()
    return "labelstudio" if suffix == ".json" else format_for_suffix(suffix)


def detect_from_head(suffix: str, head: str) -> str | None:
    """Recognise an annotation file from its first characters: a Label Studio JSON list, a CoNLL file."""
    from nlpipe.label.conll import looks_like_conll

    stripped = head.lstrip()
    if stripped.startswith("[") and ('"data"' in head or '"annotations"' in head):
        return "labelstudio"
    if suffix.lower() != ".json" and looks_like_conll(head.splitlines()[:40]):
        return "conll"
    return None


def detect_from_csv_header(cells: list[str]) -> str | None:
    """``comprehend-entities`` for a CSV header naming File, Begin Offset, End Offset and Type."""
    names = {c.strip().lower() for c in cells}
    return "comprehend-entities" if _COMPREHEND_COLUMNS <= names else None


# ----------------------------------------------------------------------------------------------- dispatch


def read(path: Path, fmt: str, **options: Any) -> Iterator[Record]:
    """Records of an annotation file; ``options`` as ``read_records`` passes them (``conll_docs``,
    ``documents``, ``encoding``, ``max_bytes``, ``text_col``...; each reader takes what it uses)."""
    if fmt == "conll":
        from nlpipe.label.conll import read_conll

        return read_conll(path, **options)
    if fmt == "spacy":
        from nlpipe.label.docbin import read_docbin

        return read_docbin(path, **options)
    if fmt == "labelstudio":
        from nlpipe.label.labelstudio import read_labelstudio

        return read_labelstudio(path, **options)
    from nlpipe.label.comprehend_entities import read_comprehend_entities

    return read_comprehend_entities(path, **options)


def write(records: Iterable[Record], out: Path, fmt: str, *, conll_scheme: str = "iob2") -> int:
    """Write records in an annotation format to ``out``; returns how many were written.

    Files are written under a temporary name and moved into place, so a failure leaves nothing behind.
    """
    from nlpipe.label.textfile import fail

    if conll_scheme not in CONLL_SCHEMES:
        raise fail("E120", f"unknown CoNLL tag scheme {conll_scheme!r}; use iob2 or iob1", field="--conll-scheme")
    if out.is_dir():
        raise fail("E116", f"is a folder; name a file to write {fmt} to", file=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "conll":
        from nlpipe.label.conll import write_conll

        return atomic_text(out, lambda fh: write_conll(records, fh, out=out, scheme=conll_scheme))
    if fmt == "spacy":
        from nlpipe.label.docbin import write_docbin

        return write_docbin(records, out)
    if fmt == "labelstudio":
        from nlpipe.label.labelstudio import write_labelstudio

        return atomic_text(out, lambda fh: write_labelstudio(records, fh, out=out))
    from nlpipe.label.comprehend_entities import write_comprehend_entities

    return write_comprehend_entities(records, out)


def temp_name(out: Path) -> Path:
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
