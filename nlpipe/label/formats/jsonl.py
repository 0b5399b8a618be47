"""``jsonl``: JSON Lines, one object per line.

``{"text": ..., "label": "x"}`` or ``{"text": ..., "labels": ["x", "y"]}``, optional ``"split"`` (train /
validation / test; dev and valid mean validation) and ``"id"``. A line with neither ``label`` nor ``labels`` is
an unlabeled document; ``"labels": []`` too. Entity annotations ride along as ``"spans": [{"start": 0, "end": 2,
"label": "ORG"}]`` (the spaCy / Prodigy shape; character offsets, end exclusive; E117 when malformed, E207 on
import when outside the text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from nlpipe.label.formats.common import check_text, dedupe, parse_split
from nlpipe.readers.textfile import fail, iter_lines
from nlpipe.types import Record, Span

__all__ = ["jsonl_records", "looks_like_json_object", "read_jsonl", "write_jsonl"]


def looks_like_json_object(line: str, *, truncated: bool) -> bool:
    """True when ``line`` is a JSON object (or, ``truncated``, the start of one); used by format detection."""
    if not line.lstrip().startswith("{"):
        return False
    if truncated:
        return True
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def read_jsonl(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
    """Records of a JSON Lines file, read line by line."""
    return jsonl_records(iter_lines(path, encoding), path, text_col=text_col, label_col=label_col,
                         label_sep=label_sep, max_bytes=max_bytes)  # fmt: skip


def jsonl_records(
    lines: Iterable[tuple[int, str]], path: Path, *, text_col, label_col, label_sep, max_bytes
) -> Iterator[Record]:
    """Records of ``(line number, line)`` pairs; E102-E107, E113, E117 name ``path`` and the line."""
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
        check_text(text, max_bytes, file=path, line=n, field=text_key)
        yield Record(
            text=text,
            labels=_json_labels(obj, label_col, label_sep, file=path, line=n),
            split=parse_split(obj.get("split"), file=path, line=n, field="split"),
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
    return dedupe(labels)


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


def write_jsonl(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    """One object per record: ``id`` (when set), ``text``, ``labels``, ``spans`` (when any), ``split`` (when set)."""
    count = 0
    for rec in records:
        count += 1
        obj: dict[str, Any] = {}
        if rec.external_id is not None:
            obj["id"] = rec.external_id
        obj["text"] = rec.text
        obj["labels"] = list(rec.labels)
        if rec.spans:
            obj["spans"] = [{"start": sp.start, "end": sp.end, "label": sp.label} for sp in rec.spans]
        if rec.split is not None:
            obj["split"] = rec.split
        fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return count
