"""``comprehend-entities``: AWS Comprehend entity annotation CSV <-> records.

Comprehend keeps the documents apart from the annotations, so an import reads both:

- the annotation CSV has a header row naming ``File``, ``Begin Offset``, ``End Offset`` and ``Type``, and
  ``Line`` when the documents are one per line (Comprehend's ONE_DOC_PER_LINE; lines count from 0);
  without ``Line`` each file is one document (ONE_DOC_PER_FILE);
- each ``File`` value is a file name looked up in ``documents`` (``nlpipe datasets import --documents DIR``),
  by default the CSV's own folder;
- every non-blank line of each documents file the CSV names becomes a record, also lines without
  annotations (they are the negative examples Comprehend trains on). With one document per file, the CSV
  names only files that have entities: the others are read only when ``documents`` is given, and then every
  (non-hidden) file in that folder is a document. Offsets are characters from the start of the line (or
  file), end exclusive. ``external_id`` is ``<File>:<Line>`` (or ``<File>``).

Errors name the CSV file and line: E126 header, E127 a malformed row, E128 a documents file or line that is
missing or blank, E129 offsets outside the document, E236 a ``File`` that points outside the documents folder
(an absolute path, ``..``, or a link out of it).

Writing produces ``OUT`` (the CSV) and the documents beside it: ``<stem>-documents.txt`` with one document
per line, or, when a text holds a line break, one file per document ``<stem>-doc-<n>.txt`` and a CSV
without ``Line``. Only spans are written (the format has no document labels or splits).
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from nlpipe.label.formats.common import temp_name
from nlpipe.readers.fields import check_text, csv_rows
from nlpipe.readers.textfile import fail, iter_lines, read_text
from nlpipe.types import Record, Span

__all__ = ["is_annotation_header", "read_comprehend_entities", "write_comprehend_entities"]

_HEADER = ("File", "Line", "Begin Offset", "End Offset", "Type")
_REQUIRED = {"file", "begin offset", "end offset", "type"}


def is_annotation_header(cells: list[str]) -> bool:
    """True for a CSV header naming File, Begin Offset, End Offset and Type (used by format detection)."""
    return _REQUIRED <= {c.strip().lower() for c in cells}


def _int(cell: str, *, path: Path, line: int, field: str) -> int:
    value = cell.strip()
    if not value.isdigit():
        raise fail("E127", f"{field} must be a whole number >= 0, got {cell!r}", file=path, line=line, field=field)
    return int(value)


#: documents file -> line (None: the whole file) -> [(begin, end, type, csv line)]
_Wanted = dict[str, dict[int | None, list[tuple[int, int, str, int]]]]


def read_comprehend_entities(
    path: Path, *, documents: Path | None = None, encoding: str | None = None, max_bytes: int, **_: object
) -> Iterator[Record]:
    """Records of a Comprehend entity annotation CSV and the documents files it names."""
    path = Path(path)
    base = Path(documents) if documents is not None else path.parent
    if not base.is_dir():
        raise fail("E128", "the documents folder does not exist; pass --documents DIR", file=base,
                   field="--documents")  # fmt: skip
    rows = csv_rows(path, read_text(path, encoding), ",", max_bytes)
    first = next(rows, None)
    if first is None:
        return
    header_line, header = first
    col = _columns(path, header_line, header)
    per_line = "Line" in col
    wanted = _wanted_spans(path, rows, len(header), col, per_line)
    if not per_line and documents is not None:  # the documents folder holds every document, named or not
        for extra in sorted(p.name for p in base.iterdir() if p.is_file() and not p.name.startswith(".")):
            if extra not in wanted and (base / extra).resolve() != path.resolve():
                wanted[extra] = defaultdict(list, {None: []})
    for name, by_line in wanted.items():
        yield from _document_records(path, base, name, by_line, per_line, encoding, max_bytes)


def _columns(path: Path, header_line: int, header: list[str]) -> dict[str, int]:
    """The index of each column of ``_HEADER`` the header names (``Line`` is optional); E126 for a missing one."""
    names = [h.strip().lower() for h in header]
    missing = [h for h in _HEADER if h.lower() not in names and h != "Line"]
    if missing:
        raise fail(
            "E126",
            f"the header lacks {', '.join(missing)} (found: {', '.join(repr(h) for h in header)}); the first row "
            "must name the columns File, Line, Begin Offset, End Offset, Type",
            file=path,
            line=header_line,
        )
    return {h: names.index(h.lower()) for h in _HEADER if h.lower() in names}


def _wanted_spans(
    path: Path, rows: Iterator[tuple[int, list[str]]], n_columns: int, col: dict[str, int], per_line: bool
) -> _Wanted:
    """The annotation rows, checked (E127, E129), grouped by documents file and line."""
    wanted: _Wanted = defaultdict(lambda: defaultdict(list))
    for n, row in rows:
        if len(row) < n_columns:
            raise fail("E127", f"row has {len(row)} columns but the header has {n_columns}", file=path, line=n)
        name = row[col["File"]].strip()
        if not name:
            raise fail("E127", "empty File; name the documents file", file=path, line=n, field="File")
        begin = _int(row[col["Begin Offset"]], path=path, line=n, field="Begin Offset")
        end = _int(row[col["End Offset"]], path=path, line=n, field="End Offset")
        typ = row[col["Type"]].strip()
        if not typ or any(ch.isspace() for ch in typ):
            raise fail("E127", f"entity type {row[col['Type']]!r} must be a non-empty name without spaces",
                       file=path, line=n, field="Type")  # fmt: skip
        if end <= begin:
            raise fail("E129", f"End Offset {end} must be greater than Begin Offset {begin}", file=path, line=n,
                       field="End Offset")  # fmt: skip
        doc_line = _int(row[col["Line"]], path=path, line=n, field="Line") if per_line else None
        wanted[name][doc_line].append((begin, end, typ, n))
    return wanted


def _inside(base: Path, doc_path: Path) -> bool:
    """True when ``doc_path`` (after links) is in the folder ``base`` (after links) or below it."""
    try:
        return doc_path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError, ValueError):  # a NUL in the name, a link loop: is_file() says no (E128)
        return True


def _document_records(
    path: Path,
    base: Path,
    name: str,
    by_line: dict[int | None, list[tuple[int, int, str, int]]],
    per_line: bool,
    encoding: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """The records of documents file ``name`` with their spans; E128 for a missing file or line, E129 offsets."""
    doc_path = base / name
    if not _inside(base, doc_path):
        csv_line = min(a[3] for anns in by_line.values() for a in anns)
        raise fail("E236", f"File {name!r} points outside the documents folder {base} (an absolute path, '..' or a "
                   "link out of it); name a file in that folder", file=path, line=csv_line, field="File")  # fmt: skip
    if not doc_path.is_file():
        csv_line = min(a[3] for anns in by_line.values() for a in anns)
        raise fail("E128", f"documents file {name!r} not found in {base}; put it there or pass --documents DIR",
                   file=path, line=csv_line, field="File")  # fmt: skip
    docs: Iterator[tuple[int | None, str]]
    if per_line:
        docs = ((i, text) for i, text in ((k - 1, t) for k, t in iter_lines(doc_path, encoding)))
    else:
        docs = iter([(None, read_text(doc_path, encoding))])
    seen: set[int | None] = set()
    for i, text in docs:
        seen.add(i)
        anns = by_line.get(i, [])
        if not text.strip():
            if anns:
                raise fail("E128", f"line {i} of {name!r} is blank but has annotations", file=path,
                           line=anns[0][3], field="Line")  # fmt: skip
            continue
        spans = []
        for begin, end, typ, n in anns:
            if end > len(text):
                raise fail("E129", f"offsets {begin}-{end} lie outside the document ({len(text)} characters, "
                           f"{name!r}{'' if i is None else f' line {i}'})", file=path, line=n,
                           field="End Offset")  # fmt: skip
            spans.append(Span(begin, end, typ))
        yield Record(
            text=check_text(text, max_bytes, file=doc_path, line=None if i is None else i + 1),
            labels=[],
            external_id=name if i is None else f"{name}:{i}",
            file=str(doc_path),
            line=None if i is None else i + 1,
            spans=spans,
        )
    # without Line the only key is None, always seen: what is absent are line numbers
    absent = [k for k in by_line if k is not None and k not in seen]
    if absent:
        first_bad = min(absent)
        raise fail("E128", f"{name!r} has no line {first_bad} (lines count from 0)", file=path,
                   line=by_line[first_bad][0][3], field="Line")  # fmt: skip


def write_comprehend_entities(records: Iterable[Record], out: Path) -> int:
    """Write the annotation CSV ``out`` and the documents beside it; returns how many documents were written."""
    records = list(records)
    per_line = not any("\n" in r.text or "\r" in r.text for r in records)
    stem = out.stem
    files: dict[Path, str] = {}  # final path -> content
    rows: list[list[object]] = []
    if per_line:
        doc_name = f"{stem}-documents.txt"
        files[out.with_name(doc_name)] = "".join(r.text + "\n" for r in records)
        for i, rec in enumerate(records):
            rows += [[doc_name, i, s.start, s.end, s.label] for s in rec.spans]
    else:
        for i, rec in enumerate(records, 1):
            doc_name = f"{stem}-doc-{i:06d}.txt"
            files[out.with_name(doc_name)] = rec.text
            rows += [[doc_name, s.start, s.end, s.label] for s in rec.spans]
    for n, rec in enumerate(records, 1):
        for s in rec.spans:
            if any(ch.isspace() or ch == "," for ch in s.label):
                raise fail("E115", f"record {n}: Comprehend entity types cannot hold spaces or commas: {s.label!r}",
                           file=out)  # fmt: skip
    temps: list[tuple[Path, Path]] = []
    try:
        for final, content in files.items():
            tmp = temp_name(final)
            temps.append((tmp, final))
            tmp.write_text(content, encoding="utf-8", newline="")
        tmp = temp_name(out)
        temps.append((tmp, out))
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(list(_HEADER) if per_line else [h for h in _HEADER if h != "Line"])
            writer.writerows(rows)
        for tmp, final in temps:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise
    return len(records)
