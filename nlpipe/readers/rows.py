"""The row parser: records from JSON Lines and CSV text, for the readers (:mod:`nlpipe.readers.text` reads an
uploaded ``.csv`` / ``.jsonl`` one document per row) and the label formats (the ``jsonl`` and ``csv`` formats read
files through :func:`jsonl_records` and :func:`csv_records`).

JSON Lines: ``{"text": ..., "label": "x"}`` or ``{"text": ..., "labels": ["x", "y"]}``, optional ``"split"``,
``"id"`` and ``"spans"``. CSV: a header with a text column (``text``, or one of :data:`TEXT_COLUMNS`), optional
label, ``split`` and ``id`` columns. Errors E102-E110, E113, E117 and E210 name the file and the line (E111: a
format :func:`parse_bytes` does not read). Every reader of JSON written by users parses it with :func:`json_value`
or :func:`json_raw_decode`, so JSON nested deeper than Python can parse is E210, never a RecursionError.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeGuard

from nlpipe.readers.fields import (
    DEFAULT_MAX_BYTES,
    check_text,
    csv_delimiter,
    csv_rows,
    dedupe,
    first_line,
    parse_split,
    split_labels,
)
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Record, Span

__all__ = [
    "LABEL_COLUMNS",
    "TEXT_COLUMNS",
    "csv_records",
    "json_raw_decode",
    "json_value",
    "jsonl_records",
    "non_empty",
    "parse_bytes",
]

TEXT_COLUMNS = ("text", "content", "body", "document", "review", "comment")
LABEL_COLUMNS = ("label", "labels", "category", "class")


# -------------------------------------------------------------------------------------------- JSON Lines


def _too_deep(file: object, line: int | None) -> Exception:
    return fail(
        "E210",
        "JSON nested too deeply to read (lists or objects inside each other more than a few hundred levels "
        "deep); flatten that part of the data",
        file=file,
        line=line,
    )


#: A ``\uD800``-``\uDFFF`` escape: half of a surrogate pair, or (alone) a character no UTF-8 text can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _no_lone_surrogates(value: Any, text: str, at: int, end: int) -> Any:
    """``value`` parsed from ``text``, or a JSONDecodeError when it holds a lone surrogate: valid JSON syntax, but
    no UTF-8 text (nor the databases) can hold it, so storing it failed with a UnicodeEncodeError."""
    if _SURROGATE_ESCAPE.search(text, at, end):  # rare: only then is the parsed value checked
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise json.JSONDecodeError(
                "a \\uD800-\\uDFFF escape that is not half of a surrogate pair (no UTF-8 text can hold it)", text, at
            ) from None
    return value


def json_value(text: str, *, file: object, line: int | None) -> Any:
    """``json.loads(text)``; JSON nested too deeply to parse is E210 naming ``file`` and ``line`` (a
    ``JSONDecodeError`` is raised as it is, for the caller's own message, and so are a number too long to read and
    a lone surrogate escape)."""
    try:
        return _no_lone_surrogates(json.loads(text), text, 0, len(text))
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise _too_long_number(exc, text, 0) from None
    except RecursionError:
        pass  # raised below, outside this block: the error must not keep the deep traceback as its context
    raise _too_deep(file, line)


def json_raw_decode(
    decoder: json.JSONDecoder, text: str, at: int, *, file: object, line: int | None
) -> tuple[Any, int]:
    """``decoder.raw_decode(text, at)``, with E210 and over-long numbers as :func:`json_value` gives them."""
    try:
        value, end = decoder.raw_decode(text, at)
        return _no_lone_surrogates(value, text, at, end), end
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise _too_long_number(exc, text, at) from None
    except RecursionError:
        pass
    raise _too_deep(file, line)


def _too_long_number(exc: ValueError, text: str, at: int) -> json.JSONDecodeError:
    """A number of more than 4,300 digits (``int()`` refuses it: ``sys.get_int_max_str_digits``) as the invalid JSON
    it is to nlpipe, so each reader reports it with its own invalid-JSON code, file and line."""
    return json.JSONDecodeError("a number with more digits than can be read (4,300)", text, at)


def jsonl_records(
    lines: Iterable[tuple[int, str]],
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of ``(line number, line)`` pairs; E102-E107, E113, E117, E210 name ``path`` and the line."""
    text_key = text_col or "text"
    for n, line in lines:
        if not line or line.isspace():
            continue
        try:
            obj = json_value(line, file=path, line=n)
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
        check_text(text, max_bytes, file=path, line=n, field=text_key)
        yield Record(
            text=text,
            labels=_json_labels(obj, label_col, label_sep, file=path, line=n),
            split=parse_split(obj.get("split"), file=path, line=n, field="split"),
            external_id=json_id(obj.get("id"), file=path, line=n),
            file=str(path),
            line=n,
            spans=_json_spans(obj.get("spans"), file=path, line=n),
        )


def _is_int(value: Any) -> TypeGuard[int]:
    """An integer that is not a bool (JSON true/false are no offsets)."""
    return isinstance(value, int) and not isinstance(value, bool)


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
        if not (_is_int(start) and _is_int(end)):
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
    return dedupe(labels)


def json_id(value: Any, *, file: object, line: int, field: str = "id") -> str | None:
    """A JSON row's id: a string, or an integer as a string; None when absent or empty; E113 for another type."""
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
        field=field,
    )


# --------------------------------------------------------------------------------------------------- CSV


def _column(header: list[str], wanted: str | None, defaults: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in [wanted] if wanted else defaults:
        if name.strip().lower() in lowered:
            return lowered.index(name.strip().lower())
    return None


def csv_records(
    content: str | Iterator[str],
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of a CSV given as its whole text or as its lines with their endings; E103-E109."""
    if isinstance(content, str):
        header_text = first_line(content)
    else:  # lines: read up to the first non-blank one (the header) for the delimiter, then read on from there
        ahead: list[str] = []
        for line in content:
            ahead.append(line)
            if line.strip():
                break
        header_text = ahead[-1].rstrip("\r\n") if ahead else ""
        content = itertools.chain(ahead, content)
    rows = csv_rows(path, content, csv_delimiter(path, header_text), max_bytes)
    first = next(rows, None)
    if first is None:
        return
    header_line, header = first
    header = [h.strip() for h in header]
    found = ", ".join(repr(h) for h in header)
    t = _column(header, text_col, TEXT_COLUMNS)
    if t is None:
        want = f"'{text_col}'" if text_col else "'text' (or " + ", ".join(TEXT_COLUMNS[1:]) + ")"
        raise fail(
            "E103",
            f"no text column {want} in the header (columns found: {found}); name it with --text-col",
            file=path,
            line=header_line,
        )
    lab = _column(header, label_col, LABEL_COLUMNS)
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
        text = check_text(row[t], max_bytes, file=path, line=n, field=header[t])
        yield Record(
            text=text,
            labels=split_labels(row[lab], sep, file=path, line=n, field=header[lab]) if lab is not None else [],
            split=parse_split(row[split_i], file=path, line=n, field=header[split_i]) if split_i is not None else None,
            external_id=(row[id_i].strip() or None) if id_i is not None else None,
            file=str(path),
            line=n,
        )


# ------------------------------------------------------------------------------------------------- bytes


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
    content = read_text(data, source=name)
    if fmt == "jsonl":
        lines = ((n, line.removesuffix("\r")) for n, line in enumerate(content.split("\n"), 1))
        records = jsonl_records(
            lines, path, text_col=text_col, label_col=label_col, label_sep=label_sep, max_bytes=max_bytes
        )
        return non_empty(path, records)
    if fmt == "csv":
        records = csv_records(
            content, path, text_col=text_col, label_col=label_col, label_sep=label_sep, max_bytes=max_bytes
        )
        return non_empty(path, records)
    raise fail("E111", f"parse_bytes reads jsonl or csv, not {fmt!r}", file=path)


def non_empty(path: Path, records: Iterator[Record]) -> Iterator[Record]:
    """``records`` as they come; E110 at the end when there was none."""
    count = 0
    for record in records:
        count += 1
        yield record
    if count == 0:
        raise fail("E110", "no records found (empty file or folder, only blank lines, or only a header)", file=path)
