"""Which label formats exist, how a file's format is detected, and reading / writing a format by name.

``FORMATS`` and the modules that read and write them:

- documents with labels: ``jsonl`` (:mod:`~nlpipe.label.formats.jsonl`; its lines may also carry entity spans),
  ``csv`` (:mod:`~nlpipe.label.formats.csvfile`), ``automl`` (:mod:`~nlpipe.label.formats.automl`),
  ``comprehend`` (:mod:`~nlpipe.label.formats.comprehend`), ``folder`` (:mod:`~nlpipe.label.formats.folder`),
  ``fasttext`` (:mod:`~nlpipe.label.formats.fasttext`);
- entity annotations (``ANNOTATION_FORMATS``): ``conll`` (:mod:`~nlpipe.label.formats.conll`), ``spacy``
  (:mod:`~nlpipe.label.formats.docbin`), ``labelstudio`` (:mod:`~nlpipe.label.formats.labelstudio`),
  ``comprehend-entities`` (:mod:`~nlpipe.label.formats.comprehend_entities`). ``conll_docs`` (conll) and
  ``documents`` (comprehend-entities) are their read options, ``conll_scheme`` (conll) their write option.

Every error is an :class:`~nlpipe.errors.InputError` (or ``LimitError`` for E107) whose message starts with the
file and line (for ``.spacy`` files, the document's 1-based number). Readers raise on the first bad row. Writers
write under a temporary name and move the result into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from nlpipe.label.formats.automl import ML_USE, read_automl, write_automl
from nlpipe.label.formats.common import atomic_text
from nlpipe.label.formats.comprehend import read_comprehend, write_comprehend
from nlpipe.label.formats.comprehend_entities import (
    is_annotation_header,
    read_comprehend_entities,
    write_comprehend_entities,
)
from nlpipe.label.formats.conll import SCHEMES, SUFFIXES, looks_like_conll, read_conll, write_conll
from nlpipe.label.formats.csvfile import read_csv, write_csv
from nlpipe.label.formats.docbin import read_docbin, write_docbin
from nlpipe.label.formats.fasttext import LABEL_PREFIX, read_fasttext, write_fasttext
from nlpipe.label.formats.folder import read_folder, write_folder
from nlpipe.label.formats.jsonl import looks_like_json_object, read_jsonl, write_jsonl
from nlpipe.label.formats.labelstudio import looks_like_labelstudio, read_labelstudio, write_labelstudio
from nlpipe.readers.fields import DEFAULT_MAX_BYTES, csv_delimiter, first_line, parse_split
from nlpipe.readers.rows import TEXT_COLUMNS, non_empty
from nlpipe.readers.textfile import fail, read_head
from nlpipe.types import Record

__all__ = [
    "ANNOTATION_FORMATS",
    "FORMATS",
    "check_format",
    "detect_format",
    "read_records",
    "write_records",
]

ANNOTATION_FORMATS: tuple[str, ...] = ("conll", "spacy", "labelstudio", "comprehend-entities")
FORMATS: tuple[str, ...] = ("jsonl", "csv", "automl", "comprehend", "folder", "fasttext", *ANNOTATION_FORMATS)
_CHOICES = ", ".join(FORMATS)

_READERS: dict[str, Callable[..., Iterator[Record]]] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "automl": read_automl,
    "comprehend": read_comprehend,
    "folder": read_folder,
    "fasttext": read_fasttext,
    "conll": read_conll,
    "spacy": read_docbin,
    "labelstudio": read_labelstudio,
    "comprehend-entities": read_comprehend_entities,
}
_TEXT_WRITERS: dict[str, Callable[..., int]] = {
    "jsonl": write_jsonl,
    "csv": write_csv,
    "automl": write_automl,
    "comprehend": write_comprehend,
    "fasttext": write_fasttext,
}
_EXPORT_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv", ".txt": "fasttext",
                    ".ft": "fasttext"}  # fmt: skip


def check_format(fmt: str) -> str:
    """The format name ``fmt`` (stripped, lower case); E111 when it is not one of ``FORMATS``."""
    name = fmt.strip().lower()
    if name not in FORMATS:
        raise fail("E111", f"unknown format '{fmt}'; choose one of: {_CHOICES}", field="--format")
    return name


# ----------------------------------------------------------------------------------------------- detection


def detect_format(path: Path, *, text_col: str | None = None) -> str:
    """Guess a file's format from its name and first lines.

    A folder is ``folder``; ``.jsonl``/``.ndjson`` are ``jsonl``; ``.spacy`` and the CoNLL extensions decide
    alone; otherwise the first lines are read: a JSON object per line is ``jsonl``, ``__label__`` first is
    ``fasttext``, a JSON list of tasks is ``labelstudio``, token/tag lines are ``conll``, and a CSV's first row
    tells ``automl`` (ML_USE first), ``comprehend-entities`` (its header), ``csv`` (a text column) and
    ``comprehend`` (two columns). ``text_col`` lets a CSV header with a custom text column count as ``csv``.
    Raises E100 (missing), E110 (empty file) or E101 (cannot tell).
    """
    path = Path(path)
    if not path.exists():
        raise fail("E100", "file not found; check the path", file=path)
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if found := _format_for_suffix(suffix):
        return found
    head, complete = read_head(path)
    if not head.strip():
        raise fail("E110", "file is empty; nothing to import", file=path)
    first = first_line(head)
    truncated = not complete and first == head.rstrip("\r\n")  # the first line did not fit in the chunk
    if suffix == ".json":
        if looks_like_json_object(first, truncated=truncated):
            return "jsonl"
        if found := _annotation_format_from_head(suffix, head):
            return found
        raise _undetected(
            path,
            "a .json file is read as JSON Lines (one object per line) or as a Label Studio export (a list of "
            "tasks with 'data'), but it is neither -- convert a JSON array to one object per line",
        )
    if suffix in (".txt", ".ft", ".fasttext"):
        if first.lstrip().startswith(LABEL_PREFIX):
            return "fasttext"
        if found := _annotation_format_from_head(suffix, head):
            return found
        raise _undetected(
            path, f"a text file is read as fastText, but its first line does not start with '{LABEL_PREFIX}'"
        )
    if suffix in (".csv", ".tsv"):
        return _sniff_csv(path, head, complete, text_col)
    if looks_like_json_object(first, truncated=truncated):
        return "jsonl"
    if first.lstrip().startswith(LABEL_PREFIX):
        return "fasttext"
    if found := _annotation_format_from_head(suffix, head):
        return found
    raise _undetected(path, f"unrecognised extension '{suffix or '(none)'}'")


def _format_for_suffix(suffix: str) -> str | None:
    """The annotation format a file extension alone decides (``.spacy``, ``.conll``, ``.iob``...), if any."""
    if suffix == ".spacy":
        return "spacy"
    if suffix in SUFFIXES:
        return "conll"
    return None


def _annotation_format_from_head(suffix: str, head: str) -> str | None:
    """Recognise an annotation file from its first characters: a Label Studio JSON list, a CoNLL file."""
    if looks_like_labelstudio(head):
        return "labelstudio"
    if suffix != ".json" and looks_like_conll(head.splitlines()[:40]):
        return "conll"
    return None


def _undetected(path: Path, why: str) -> Exception:
    return fail("E101", f"cannot tell the file's format ({why}); pass --format with one of: {_CHOICES}", file=path)


def _sniff_csv(path: Path, head: str, complete: bool, text_col: str | None) -> str:
    delimiter = csv_delimiter(path, first_line(head))
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(head, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in row):
                rows.append(row)
            if len(rows) >= 6:
                break
    except csv.Error:
        pass
    if not complete and len(rows) > 1:
        rows = rows[:-1]  # the last row of a cut-off chunk may be incomplete
    if not rows:
        raise _undetected(path, "no CSV row could be read from its start")
    first = [cell.strip() for cell in rows[0]]
    if first[0].upper() in ML_USE:
        return "automl"
    if is_annotation_header(first):
        return "comprehend-entities"
    names = {cell.lower() for cell in first}
    wanted = {text_col.strip().lower()} if text_col else set(TEXT_COLUMNS)
    if names & wanted:
        return "csv"
    if len(first) == 2 and not text_col:
        return "comprehend"
    raise _undetected(
        path,
        f"its first row has {len(first)} column(s) ({', '.join(repr(c) for c in first[:6])}): expected a "
        f"header with a text column for csv, ML_USE (TRAIN/VALIDATE/TEST/UNASSIGNED) first for automl, or "
        f"two columns label,text for comprehend",
    )


# ----------------------------------------------------------------------------------------------- reading


def read_records(
    path: Path,
    fmt: str | None = None,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    conll_docs: bool = False,
    documents: Path | None = None,
    split: str | None = None,
) -> Iterator[Record]:
    """Stream the records of a labeled-data file (or folder).

    The path, format and detection are checked at call time (E100, E101, E111, E114); row errors are
    raised while iterating. An input without any record raises E110 at the end. ``conll_docs`` (one record
    per ``-DOCSTART-`` block) applies to ``conll`` only, ``documents`` (the folder of the documents files)
    to ``comprehend-entities`` only (E130 otherwise). ``split`` (train, validation or test; dev and valid mean
    validation; E105 otherwise, checked first) is the split of every record the file gives none.
    """
    default_split = parse_split(split, file=None, line=None, field="--split")
    path = Path(path)
    if not path.exists():
        raise fail("E100", "file not found; check the path", file=path)
    fmt = check_format(fmt) if fmt else detect_format(path, text_col=text_col)
    if fmt == "folder" and not path.is_dir():
        raise fail("E114", "--format folder needs a folder with one sub-folder per label, not a file", file=path)
    if fmt != "folder" and path.is_dir():
        raise fail(
            "E114", f"is a folder, but --format {fmt} reads a file; use --format folder or name a file", file=path
        )
    options = {"text_col": text_col, "label_col": label_col, "label_sep": label_sep, "encoding": encoding,
               "max_bytes": max_bytes}  # fmt: skip
    if conll_docs and fmt != "conll":
        raise fail("E130", f"--conll-docs applies to --format conll, not {fmt}", file=path, field="--conll-docs")
    if documents is not None and fmt != "comprehend-entities":
        raise fail("E130", f"--documents applies to --format comprehend-entities, not {fmt}", file=path,
                   field="--documents")  # fmt: skip
    if fmt in ANNOTATION_FORMATS:  # each annotation reader takes the options it uses and ignores the others
        records = non_empty(path, _READERS[fmt](path, conll_docs=conll_docs, documents=documents, **options))
    else:
        records = non_empty(path, _READERS[fmt](path, **options))
    return _with_split(records, default_split) if default_split else records


def _with_split(records: Iterator[Record], split: str) -> Iterator[Record]:
    """The records, each without a split of its own put in ``split``."""
    for rec in records:
        rec.split = rec.split or split
        yield rec


# ----------------------------------------------------------------------------------------------- writing


def write_records(
    records: Iterable[Record], out: Path, fmt: str | None = None, *, label_sep: str = "|", conll_scheme: str = "iob2"
) -> int:
    """Write ``records`` to ``out`` and return how many were written; they read back identically.

    ``fmt`` defaults from the extension: .jsonl/.ndjson -> jsonl, .csv/.tsv -> csv, .txt/.ft -> fasttext,
    .conll/.iob... -> conll, .spacy -> spacy, .json -> labelstudio. ``folder`` writes ``out/<label>/<id or
    n>.txt`` (a multi-label document goes in each label's folder) and needs ``out`` to be absent or empty
    (E116). E115: a record the format cannot carry. ``conll_scheme`` (``iob2`` or ``iob1``, else E120) applies
    to the entity-annotation formats.
    """
    out = Path(out)
    fmt = check_format(fmt) if fmt else _export_format(out)
    if not label_sep:
        raise fail("E115", "label_sep must not be empty", field="label_sep")
    if fmt == "folder":
        return write_folder(records, out)
    if fmt in ANNOTATION_FORMATS and conll_scheme not in SCHEMES:
        raise fail("E120", f"unknown CoNLL tag scheme {conll_scheme!r}; use iob2 or iob1", field="--conll-scheme")
    if out.is_dir():
        raise fail("E116", f"is a folder; name a file to write {fmt} to", file=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "spacy":
        return write_docbin(records, out)
    if fmt == "comprehend-entities":
        return write_comprehend_entities(records, out)
    if fmt == "conll":
        return atomic_text(out, lambda fh: write_conll(records, fh, out=out, scheme=conll_scheme))
    if fmt == "labelstudio":
        return atomic_text(out, lambda fh: write_labelstudio(records, fh, out=out))
    return atomic_text(out, lambda fh: _TEXT_WRITERS[fmt](records, fh, out=out, label_sep=label_sep))


def _export_format(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix == ".json":
        return "labelstudio"
    if found := _format_for_suffix(suffix):
        return found
    if suffix not in _EXPORT_SUFFIXES:
        raise fail(
            "E101",
            f"cannot tell the export format from the extension '{suffix or '(none)'}'; pass "
            f"--format with one of: {_CHOICES}",
            file=out,
        )
    return _EXPORT_SUFFIXES[suffix]
