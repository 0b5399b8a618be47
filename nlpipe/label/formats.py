"""Read labeled-data files into :class:`~nlpipe.types.Record` streams (writing them: ``nlpipe.label.export``).

Formats (``FORMATS``):

``jsonl``
    One JSON object per line: ``{"text": ..., "label": "x"}`` or ``{"text": ..., "labels": ["x", "y"]}``,
    optional ``"split"`` (train / validation / test; dev and valid mean validation) and ``"id"``.
    A line with neither ``label`` nor ``labels`` is an unlabeled document; ``"labels": []`` too.
    Entity annotations ride along as ``"spans": [{"start": 0, "end": 2, "label": "ORG"}]`` (the spaCy /
    Prodigy shape; character offsets, end exclusive; E117 when malformed, E207 on import when outside the
    text).
``csv``
    Header row; text column ``text`` (or content, body, document, review, comment), label column ``label``
    (or labels, category, class), optional ``split`` and ``id``. ``.tsv`` files use tabs. ``label_sep``
    splits multi-label cells; a column named ``labels`` is split on ``|`` unless another ``label_sep`` is
    given (that is what :func:`write_records` writes). An empty label cell is an unlabeled document.
``comprehend``
    AWS Comprehend custom classification CSV: no header, ``label,text``; several labels joined by
    ``label_sep`` (default ``|``).
``automl``
    Google AutoML CSV: no header, ``ML_USE,text,label,label...`` with ML_USE one of TRAIN, VALIDATE, TEST,
    UNASSIGNED. ``gs://`` references instead of inline text are rejected (E112).
``folder``
    One sub-folder per label, each file below it one document (any encoding). ``external_id`` is the
    file's path relative to the dataset folder. The same relative path with identical content under several
    label folders is one multi-label document (this is how :func:`write_records` exports them).
``fasttext``
    ``__label__a __label__b text`` per line.
``conll``, ``spacy``, ``labelstudio``, ``comprehend-entities``
    Entity-annotation formats, read by the modules :mod:`nlpipe.label.annotations` names. ``conll_docs``
    (conll) and ``documents`` (comprehend-entities) are their options.

Every error is an :class:`~nlpipe.errors.InputError` (or ``LimitError`` for E107) whose message starts
with the file and line. Readers raise on the first bad row.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nlpipe.errors import LimitError
from nlpipe.label import annotations
from nlpipe.label.textfile import fail, iter_lines, read_head, read_text
from nlpipe.types import Record, Span

__all__ = ["FORMATS", "detect_format", "parse_bytes", "read_records", "read_text"]

FORMATS: tuple[str, ...] = (
    "jsonl", "csv", "automl", "comprehend", "folder", "fasttext", *annotations.ANNOTATION_FORMATS
)  # fmt: skip
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

_TEXT_COLUMNS = ("text", "content", "body", "document", "review", "comment")
_LABEL_COLUMNS = ("label", "labels", "category", "class")
_SPLITS = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "validate": "validation", "dev": "validation",
    "test": "test",
}  # fmt: skip
_ML_USE = {"TRAIN": "train", "VALIDATE": "validation", "VALIDATION": "validation", "TEST": "test",
           "UNASSIGNED": None}  # fmt: skip
_ML_USE_OUT = {"train": "TRAIN", "validation": "VALIDATE", "test": "TEST", None: "UNASSIGNED"}
_FT_PREFIX = "__label__"
_CHOICES = ", ".join(FORMATS)
_CSV_LIMIT_CAP = 2**31 - 1


# ----------------------------------------------------------------------------------------------- helpers


def _check_format(fmt: str) -> str:
    name = fmt.strip().lower()
    if name not in FORMATS:
        raise fail("E111", f"unknown format '{fmt}'; choose one of: {_CHOICES}", field="--format")
    return name


def _check_text(text: str, max_bytes: int, *, file: object, line: int | None, field: str | None = None) -> str:
    if len(text) * 4 > max_bytes:  # cheap pre-check: UTF-8 needs at most 4 bytes per character
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > max_bytes:
            raise _too_large(size, max_bytes, file=file, line=line)
    if not text or text.isspace():  # (not text.strip(), without copying the text)
        raise fail("E106", "empty text; remove the row or give it text", file=file, line=line, field=field)
    return text


def _too_large(size: int | None, max_bytes: int, *, file: object, line: int | None) -> Exception:
    what = f"document is {size:,} bytes" if size is not None else "a field is"
    return fail(
        "E107",
        f"{what} larger than the {max_bytes:,}-byte limit; split it into smaller documents or raise "
        "NLPIPE_MAX_DOCUMENT_BYTES",
        file=file,
        line=line,
        kind=LimitError,
    )


def _dedupe(labels: list[str]) -> list[str]:
    return list(dict.fromkeys(labels))


def _split_cell(cell: str, sep: str | None, *, file: object, line: int, field: str | None) -> list[str]:
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
    return _dedupe(parts)


def _split_value(value: Any, *, file: object, line: int | None, field: str | None) -> str | None:
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


def _delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    if "," not in first_line:
        if "\t" in first_line:
            return "\t"
        if ";" in first_line:
            return ";"
    return ","


def _first_line(text: str) -> str:
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


def _csv_rows(path: Path, text: str | Iterable[str], delimiter: str, max_bytes: int) -> Iterator[tuple[int, list[str]]]:
    """``(line where the row starts, cells)`` for each non-blank row; csv errors become E109 / E107.

    ``text``: the whole file, or its lines with their line endings (:func:`_csv_lines`, read as they go).
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
                raise _too_large(None, max_bytes, file=path, line=start) from None
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


# ----------------------------------------------------------------------------------------------- detection


def detect_format(path: Path, *, text_col: str | None = None) -> str:
    """Guess a file's format from its name and first lines; see the module docstring for the rules.

    ``text_col`` lets a CSV header with a custom text column count as ``csv``. Raises E100 (missing), E110
    (empty file) or E101 (cannot tell).
    """
    path = Path(path)
    if not path.exists():
        raise fail("E100", "file not found; check the path", file=path)
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if found := annotations.format_for_suffix(suffix):
        return found
    head, complete = read_head(path)
    if not head.strip():
        raise fail("E110", "file is empty; nothing to import", file=path)
    first = _first_line(head)
    truncated = not complete and first == head.rstrip("\r\n")  # the first line did not fit in the chunk
    if suffix == ".json":
        if _looks_like_json_object(first, truncated=truncated):
            return "jsonl"
        if found := annotations.detect_from_head(suffix, head):
            return found
        raise _undetected(
            path,
            "a .json file is read as JSON Lines (one object per line) or as a Label Studio export (a list of "
            "tasks with 'data'), but it is neither -- convert a JSON array to one object per line",
        )
    if suffix in (".txt", ".ft", ".fasttext"):
        if first.lstrip().startswith(_FT_PREFIX):
            return "fasttext"
        if found := annotations.detect_from_head(suffix, head):
            return found
        raise _undetected(
            path, f"a text file is read as fastText, but its first line does not start with '{_FT_PREFIX}'"
        )
    if suffix in (".csv", ".tsv"):
        return _sniff_csv(path, head, complete, text_col)
    if _looks_like_json_object(first, truncated=truncated):
        return "jsonl"
    if first.lstrip().startswith(_FT_PREFIX):
        return "fasttext"
    if found := annotations.detect_from_head(suffix, head):
        return found
    raise _undetected(path, f"unrecognised extension '{suffix or '(none)'}'")


def _undetected(path: Path, why: str) -> Exception:
    return fail("E101", f"cannot tell the file's format ({why}); pass --format with one of: {_CHOICES}", file=path)


def _looks_like_json_object(line: str, *, truncated: bool) -> bool:
    if not line.lstrip().startswith("{"):
        return False
    if truncated:
        return True
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _sniff_csv(path: Path, head: str, complete: bool, text_col: str | None) -> str:
    delimiter = _delimiter(path, _first_line(head))
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
    if first[0].upper() in _ML_USE:
        return "automl"
    if found := annotations.detect_from_csv_header(first):
        return found
    names = {cell.lower() for cell in first}
    wanted = {text_col.strip().lower()} if text_col else set(_TEXT_COLUMNS)
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
) -> Iterator[Record]:
    """Stream the records of a labeled-data file (or folder).

    The path, format and detection are checked at call time (E100, E101, E111, E114); row errors are
    raised while iterating. An input without any record raises E110 at the end. ``conll_docs`` (one record
    per ``-DOCSTART-`` block) applies to ``conll`` only, ``documents`` (the folder of the documents files)
    to ``comprehend-entities`` only (E130 otherwise).
    """
    path = Path(path)
    if not path.exists():
        raise fail("E100", "file not found; check the path", file=path)
    fmt = _check_format(fmt) if fmt else detect_format(path, text_col=text_col)
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
    if fmt in annotations.ANNOTATION_FORMATS:
        return _non_empty(path, annotations.read(path, fmt, conll_docs=conll_docs, documents=documents, **options))
    return _non_empty(path, _READERS[fmt](path, **options))


def parse_bytes(
    data: bytes,
    name: str,
    fmt: str,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[Record]:
    """The records of a ``jsonl`` or ``csv`` file given as bytes (an upload, an archive member).

    ``name`` stands for the file in messages and decides the CSV delimiter (``.tsv``: tab). The same rules and
    error codes as :func:`read_records`.
    """
    path = Path(name)
    options = {"text_col": text_col, "label_col": label_col, "label_sep": label_sep, "max_bytes": max_bytes}
    content = read_text(data, source=name)
    if fmt == "jsonl":
        lines = ((n, line.removesuffix("\r")) for n, line in enumerate(content.split("\n"), 1))
        return _non_empty(path, _jsonl_records(lines, path, **options))
    if fmt == "csv":
        return _non_empty(path, _csv_records(content, path, **options))
    raise fail("E111", f"parse_bytes reads jsonl or csv, not {fmt!r}", file=path)


def _non_empty(path: Path, records: Iterator[Record]) -> Iterator[Record]:
    count = 0
    for record in records:
        count += 1
        yield record
    if count == 0:
        raise fail("E110", "no records found (empty file or folder, only blank lines, or only a header)", file=path)


def _read_jsonl(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
    return _jsonl_records(iter_lines(path, encoding), path, text_col=text_col, label_col=label_col,
                          label_sep=label_sep, max_bytes=max_bytes)  # fmt: skip


def _jsonl_records(
    lines: Iterable[tuple[int, str]], path: Path, *, text_col, label_col, label_sep, max_bytes
) -> Iterator[Record]:
    text_key = text_col or "text"
    for n, line in lines:
        if not line or line.isspace():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(
                "E102",
                f"invalid JSON ({exc.msg} at column {exc.colno}); each line must be one complete JSON object",
                file=path,
                line=n,
            ) from None
        if not isinstance(obj, dict):
            raise fail(
                "E102", f"expected a JSON object ({{...}}) on each line, got a {type(obj).__name__}", file=path, line=n
            )
        if text_key not in obj:
            found = ", ".join(repr(k) for k in obj) or "none"
            raise fail(
                "E103",
                f"no '{text_key}' field (fields found: {found}); name the text field with --text-col",
                file=path,
                line=n,
            )
        text = obj[text_key]
        if not isinstance(text, str):
            raise fail("E103", f"text must be a string, got {type(text).__name__}", file=path, line=n, field=text_key)
        _check_text(text, max_bytes, file=path, line=n, field=text_key)
        yield Record(
            text=text,
            labels=_json_labels(obj, label_col, label_sep, file=path, line=n),
            split=_split_value(obj.get("split"), file=path, line=n, field="split"),
            external_id=_json_id(obj.get("id"), file=path, line=n),
            file=str(path),
            line=n,
            spans=_json_spans(obj.get("spans"), file=path, line=n),
        )


def _json_spans(value: Any, *, file: Path, line: int) -> list[Span]:
    """``"spans": [{"start": 0, "end": 5, "label": "ORG"}, ...]`` (the spaCy / Prodigy shape); E117 if malformed.

    Offsets are characters into the text, end exclusive; whether they fit the text is checked on import (E207).
    Extra keys (``token_start``, ``text``...) are allowed and ignored.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("E117", f"spans must be a list of objects, got {type(value).__name__}", file=file, line=line,
                   field="spans")  # fmt: skip
    out: list[Span] = []
    for i, item in enumerate(value):
        where = f"spans[{i}]"
        if not isinstance(item, dict):
            raise fail(
                "E117", f"{where} must be an object with start, end and label", file=file, line=line, field=where
            )
        start, end, label = item.get("start"), item.get("end"), item.get("label")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise fail("E117", f"{where} needs integer 'start' and 'end' character offsets, got {start!r}, {end!r}",
                       file=file, line=line, field=where)  # fmt: skip
        if not isinstance(label, str) or not label.strip():
            raise fail("E117", f"{where} needs a non-empty string 'label', got {label!r}", file=file, line=line,
                       field=where)  # fmt: skip
        out.append(Span(start, end, label.strip()))
    return out


def _json_labels(obj: dict, label_col: str | None, sep: str | None, *, file: Path, line: int) -> list[str]:
    if not label_col and not sep and "labels" not in obj:  # the common cases, as the general path reads them
        value = obj.get("label")
        if value is None and "label" not in obj:
            return []
        if type(value) is str and value and not value[0].isspace() and not value[-1].isspace():
            return [value]
    keys = [label_col] if label_col else [k for k in ("label", "labels") if k in obj]
    if len(keys) > 1:
        raise fail("E104", "has both 'label' and 'labels'; keep one", file=file, line=line)
    if not keys or keys[0] not in obj:
        return []  # unlabeled document (an explicit --label-col that is absent counts the same)
    key = keys[0]
    value = obj[key]
    items = value if isinstance(value, list) else [value]
    if isinstance(value, dict | float | bool) or value is None:
        raise fail(
            "E104",
            f"labels must be a string, an integer or a list of them, got {type(value).__name__} {value!r}; "
            "drop the key for an unlabeled document",
            file=file,
            line=line,
            field=key,
        )
    labels: list[str] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)  # sentiment 0/1, class ids: integer labels are common in public datasets
        if not isinstance(item, str):
            raise fail(
                "E104",
                f"each label must be a string or an integer, got {type(item).__name__} {item!r}",
                file=file,
                line=line,
                field=key,
            )
        parts = item.split(sep) if sep else [item]
        for part in parts:
            if not part.strip():
                raise fail(
                    "E104",
                    "empty label; give it a name, or remove the key for an unlabeled document",
                    file=file,
                    line=line,
                    field=key,
                )
            labels.append(part.strip())
    return _dedupe(labels)


def _json_id(value: Any, *, file: Path, line: int) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise fail(
        "E113",
        f"id must be a string or an integer, got {type(value).__name__} {value!r}",
        file=file,
        line=line,
        field="id",
    )


def _column(header: list[str], wanted: str | None, defaults: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in [wanted] if wanted else defaults:
        if name.strip().lower() in lowered:
            return lowered.index(name.strip().lower())
    return None


def _read_csv(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
    return _csv_records(_csv_lines(path, encoding), path, text_col=text_col, label_col=label_col,
                        label_sep=label_sep, max_bytes=max_bytes)  # fmt: skip


def _csv_lines(path: Path, encoding: str | None) -> Iterator[str]:
    """The file's lines with their endings, decoded as they are read (a large CSV is never held whole).

    Split as ``io.StringIO(text, newline="")`` splits the whole text: at ``\\n``, ``\\r\\n`` and a lone ``\\r``.
    """
    for _, line in iter_lines(path, encoding, keep_ends=True):
        if "\r" in line and not (line.endswith("\r\n") and line.count("\r") == 1):
            yield from io.StringIO(line, newline="")
        else:
            yield line


def _csv_records(
    content: str | Iterator[str], path: Path, *, text_col, label_col, label_sep, max_bytes
) -> Iterator[Record]:
    if isinstance(content, str):
        first_line = _first_line(content)
    else:  # lines: read up to the first non-blank one (the header) for the delimiter, then read on from there
        ahead: list[str] = []
        for line in content:
            ahead.append(line)
            if line.strip():
                break
        first_line = ahead[-1].rstrip("\r\n") if ahead else ""
        content = itertools.chain(ahead, content)
    rows = _csv_rows(path, content, _delimiter(path, first_line), max_bytes)
    first = next(rows, None)
    if first is None:
        return
    header_line, header = first
    header = [h.strip() for h in header]
    found = ", ".join(repr(h) for h in header)
    t = _column(header, text_col, _TEXT_COLUMNS)
    if t is None:
        want = f"'{text_col}'" if text_col else "'text' (or " + ", ".join(_TEXT_COLUMNS[1:]) + ")"
        raise fail(
            "E103",
            f"no text column {want} in the header (columns found: {found}); name it with --text-col",
            file=path,
            line=header_line,
        )
    lab = _column(header, label_col, _LABEL_COLUMNS)
    if lab is None and label_col:
        raise fail(
            "E103",
            f"no label column '{label_col}' in the header (columns found: {found}); name it with --label-col",
            file=path,
            line=header_line,
        )
    sep = label_sep if label_sep else ("|" if lab is not None and header[lab].lower() == "labels" else None)
    split_i = _column(header, None, ("split",))
    id_i = _column(header, None, ("id",))
    width = len(header)
    for n, row in rows:
        if len(row) < width or any(cell.strip() for cell in row[width:]):
            raise fail(
                "E109",
                f"row has {len(row)} columns but the header has {width}; quote fields that contain the delimiter",
                file=path,
                line=n,
            )
        text = _check_text(row[t], max_bytes, file=path, line=n, field=header[t])
        yield Record(
            text=text,
            labels=_split_cell(row[lab], sep, file=path, line=n, field=header[lab]) if lab is not None else [],
            split=_split_value(row[split_i], file=path, line=n, field=header[split_i]) if split_i is not None else None,
            external_id=(row[id_i].strip() or None) if id_i is not None else None,
            file=str(path),
            line=n,
        )


def _read_comprehend(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
    content = read_text(path, encoding)
    sep = label_sep or "|"
    for n, row in _csv_rows(path, content, _delimiter(path, _first_line(content)), max_bytes):
        if len(row) < 2 or any(cell.strip() for cell in row[2:]):
            raise fail(
                "E109",
                f"expected 2 columns (label,text) but found {len(row)}; quote the text if it contains commas",
                file=path,
                line=n,
            )
        labels = _split_cell(row[0], sep, file=path, line=n, field="label")
        if not labels:
            raise fail("E104", "empty label; every Comprehend row needs label,text", file=path, line=n, field="label")
        yield Record(
            text=_check_text(row[1], max_bytes, file=path, line=n, field="text"), labels=labels, file=str(path), line=n
        )


def _read_automl(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
    content = read_text(path, encoding)
    for n, row in _csv_rows(path, content, _delimiter(path, _first_line(content)), max_bytes):
        if len(row) < 2:
            raise fail("E109", "expected ML_USE,text[,label...] but found 1 column", file=path, line=n)
        use = row[0].strip().upper()
        if use not in _ML_USE:
            raise fail(
                "E105",
                f"unknown ML_USE '{row[0]}'; AutoML rows start with TRAIN, VALIDATE, TEST or UNASSIGNED",
                file=path,
                line=n,
                field="ML_USE",
            )
        text = row[1]
        if text.strip().lower().startswith("gs://"):
            raise fail(
                "E112",
                f"text is a Cloud Storage reference ({text.strip()}); nlpipe cannot fetch gs:// files -- "
                "download them and put the text inline, or import the folder of files with --format folder",
                file=path,
                line=n,
            )
        labels: list[str] = []
        for cell in row[2:]:
            labels.extend(_split_cell(cell, label_sep, file=path, line=n, field="label"))
        yield Record(
            text=_check_text(text, max_bytes, file=path, line=n, field="text"),
            labels=_dedupe(labels),
            split=_ML_USE[use],
            file=str(path),
            line=n,
        )


def _read_fasttext(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
    for n, line in iter_lines(path, encoding):
        if not line.strip():
            continue
        labels: list[str] = []
        pos = 0
        while True:
            while pos < len(line) and line[pos].isspace():
                pos += 1
            if not line.startswith(_FT_PREFIX, pos):
                break
            end = pos
            while end < len(line) and not line[end].isspace():
                end += 1
            label = line[pos + len(_FT_PREFIX) : end]
            if not label:
                raise fail("E104", f"'{_FT_PREFIX}' without a label name; write {_FT_PREFIX}name", file=path, line=n)
            labels.append(label)
            pos = end
        text = _check_text(line[pos:], max_bytes, file=path, line=n)
        yield Record(text=text, labels=_dedupe(labels), file=str(path), line=n)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _read_folder(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
    with os.scandir(path) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    stray = [e.name for e in entries if not _hidden(e.name) and not e.is_dir()]
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise fail(
            "E114",
            f"file(s) directly in the dataset folder have no label: {shown}; move each into a sub-folder "
            "named after its label, or delete them",
            file=path,
        )
    labels = [e.name for e in entries if e.is_dir() and not _hidden(e.name)]
    docs: dict[str, dict[str, Path]] = {}  # label -> path below the label folder -> file
    for label in labels:
        files: dict[str, Path] = {}
        for root, dirs, names in os.walk(path / label):
            dirs[:] = sorted(d for d in dirs if not _hidden(d))
            for name in sorted(names):
                if not _hidden(name):
                    full = Path(root) / name
                    files[full.relative_to(path / label).as_posix()] = full
        docs[label] = files
    done: set[tuple[str, str]] = set()
    for i, label in enumerate(labels):
        for rel, file in docs[label].items():
            if (label, rel) in done:
                continue
            data = _read_doc(file, max_bytes)
            doc_labels = [label]
            for other in labels[i + 1 :]:
                twin = docs[other].get(rel)
                if (
                    twin is not None
                    and (other, rel) not in done
                    and twin.stat().st_size == len(data)
                    and twin.read_bytes() == data
                ):
                    doc_labels.append(other)
                    done.add((other, rel))
            text = _check_text(read_text(data, encoding, source=file), max_bytes, file=file, line=None)
            yield Record(text=text, labels=doc_labels, external_id=f"{label}/{rel}", file=str(file))


def _read_doc(file: Path, max_bytes: int) -> bytes:
    size = file.stat().st_size
    if size > 4 * max_bytes + 4:  # even UTF-32 text this size decodes to more than max_bytes of UTF-8
        raise _too_large(size, max_bytes, file=file, line=None)
    try:
        return file.read_bytes()
    except OSError as exc:
        raise fail("E100", f"cannot read the file ({exc.strerror or exc})", file=file) from None


_READERS: dict[str, Callable[..., Iterator[Record]]] = {
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "automl": _read_automl,
    "comprehend": _read_comprehend,
    "folder": _read_folder,
    "fasttext": _read_fasttext,
}
