"""``jsonl``: JSON Lines, one object per line.

``{"text": ..., "label": "x"}`` or ``{"text": ..., "labels": ["x", "y"]}``, optional ``"split"`` (train /
validation / test; dev and valid mean validation) and ``"id"``. A line with neither ``label`` nor ``labels`` is
an unlabeled document; ``"labels": []`` too. Entity annotations ride along as ``"spans": [{"start": 0, "end": 2,
"label": "ORG"}]`` (the spaCy / Prodigy shape; character offsets, end exclusive; E117 when malformed, E207 on
import when outside the text). The lines are parsed by :func:`nlpipe.readers.rows.jsonl_records`, which the
readers share.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from nlpipe.readers.rows import jsonl_records
from nlpipe.readers.textfile import iter_lines
from nlpipe.types import Record

__all__ = ["looks_like_json_object", "read_jsonl", "write_jsonl"]


def looks_like_json_object(line: str, *, truncated: bool) -> bool:
    """True when ``line`` is a JSON object (or, ``truncated``, the start of one); used by format detection. An
    object nested too deeply to parse, or holding a number too long to convert, counts as one: reading it then gives
    the reader's coded error with its line."""
    if not line.lstrip().startswith("{"):
        return False
    if truncated:
        return True
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False
    except (RecursionError, ValueError):  # ValueError: an integer over 4,300 digits
        return True


def read_jsonl(
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    encoding: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of a JSON Lines file, read line by line."""
    return jsonl_records(iter_lines(path, encoding), path, text_col=text_col, label_col=label_col,
                         label_sep=label_sep, max_bytes=max_bytes)  # fmt: skip


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
