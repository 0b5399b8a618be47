"""``labelstudio``: Label Studio JSON exports <-> records.

Reading: the file is Label Studio's "JSON" export, a list of tasks. Each task is one record:

- text: ``task["data"]["text"]`` (another key of ``data`` with ``text_col``);
- labels: every ``choices`` result (``value.choices``) of every annotation;
- spans: every ``labels`` result (``value.start``, ``value.end``, ``value.labels``; character offsets,
  end exclusive), one span per label;
- split: ``data.split`` when present (train / validation / test); id: ``data.id``, else the task's ``id``.

Span offsets are checked against ``value.text`` when the export has it: offsets Label Studio counted in
JavaScript (UTF-16) units, as versions before its emoji fix did, are converted to characters; offsets that select
other text fail with E131.

Annotations marked ``was_cancelled`` are skipped; several annotations of one task are merged. ``predictions``
(pre-annotations made by a model) are not read: they are not human labels. Result types that carry no text
label (``relation``, ``textarea``, ``rating``, ``number``, ``datetime``, ``taxonomy``, ``pairwise``,
``ranker``) are skipped; any other type is an error (E125), since its labels would be lost silently.
Errors name the line where the offending task or result object starts.

Writing: the same shape, one task per line (``{"id", "data": {"text", "id"?, "split"?}, "annotations":
[{"result": [...]}]}``) with a ``choices`` result named ``category`` for the labels and ``labels`` results
named ``label`` for the spans, so the file can be imported into a Label Studio project whose labeling config
has ``<Choices name="category" toName="text">`` and ``<Labels name="label" toName="text">``.
"""

from __future__ import annotations

import bisect
import json
import json.scanner
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from nlpipe.readers.fields import check_text, parse_split
from nlpipe.readers.rows import json_raw_decode
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Record, Span

__all__ = ["looks_like_labelstudio", "read_labelstudio", "write_labelstudio"]

_SKIPPED_TYPES = frozenset({"relation", "textarea", "rating", "number", "datetime", "taxonomy", "pairwise", "ranker"})
_WS = re.compile(r"\s*")


def looks_like_labelstudio(head: str) -> bool:
    """True when a file's first characters start a JSON list that names ``data`` or ``annotations``."""
    return head.lstrip().startswith("[") and ('"data"' in head or '"annotations"' in head)


class _Lines:
    """Character offset -> 1-based line number."""

    def __init__(self, text: str) -> None:
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1


class _PosDict(dict):
    """A JSON object that remembers where its ``{`` was."""

    pos = 0


def _positioned_decoder() -> json.JSONDecoder:
    """A (slow, pure-Python) decoder whose objects are ``_PosDict``; used only to locate an error."""
    dec = json.JSONDecoder()
    # typeshed's JSONDecoder lacks parse_object and scan_once, which JSONDecoder.__init__ sets and the scanner reads
    parse_object = dec.parse_object  # type: ignore[attr-defined]

    def parse(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        obj, end = parse_object(s_and_end, *args)
        out = _PosDict(obj)
        out.pos = s_and_end[1] - 1
        return out, end

    dec.parse_object = parse  # type: ignore[attr-defined]
    dec.scan_once = json.scanner.py_make_scanner(dec)  # type: ignore[attr-defined]
    return dec


def _tasks(content: str, path: Path, lines: _Lines) -> Iterator[tuple[int, int, Any]]:
    """``(start offset, line, task)`` for each element of the top-level JSON list."""
    dec = json.JSONDecoder()

    def bad(pos: int, why: str) -> Exception:
        return fail("E123", f"not a Label Studio JSON export: {why}", file=path, line=lines(pos))

    i = _WS.match(content, 0).end()  # type: ignore[union-attr]
    if not content.startswith("[", i):
        raise bad(i, "expected a JSON list of tasks ('[' first); export the project as JSON, not JSON-MIN or CSV")
    i = _WS.match(content, i + 1).end()  # type: ignore[union-attr]
    if content.startswith("]", i):
        return
    while True:
        try:
            task, end = json_raw_decode(dec, content, i, file=path, line=lines(i))
        except json.JSONDecodeError as exc:
            raise fail("E123", f"invalid JSON ({exc.msg} at column {exc.colno})", file=path, line=exc.lineno) from None
        yield i, lines(i), task
        i = _WS.match(content, end).end()  # type: ignore[union-attr]
        if content.startswith(",", i):
            i = _WS.match(content, i + 1).end()  # type: ignore[union-attr]
        elif content.startswith("]", i):
            rest = _WS.match(content, i + 1).end()  # type: ignore[union-attr]
            if rest != len(content):
                raise bad(rest, "text after the closing ']'")
            return
        else:
            raise bad(i, "expected ',' or ']' between tasks")


class _Task:
    """Validation of one task, with errors that name the line of the object at fault."""

    def __init__(self, content: str, start: int, line: int, path: Path, lines: _Lines) -> None:
        self.content, self.start, self.line, self.path, self.lines = content, start, line, path, lines

    def fail(self, code: str, message: str, where: tuple[Any, ...] = (), field: str | None = None) -> Exception:
        line = self.line
        if where:  # re-parse this task with positions to find the line of the nested object
            try:
                obj, _ = _positioned_decoder().raw_decode(self.content, self.start)
            except (RecursionError, ValueError):  # the pure-Python scanner recurses deeper than the C one
                return fail(code, message, file=self.path, line=line, field=field)
            for key in where:
                try:
                    obj = obj[key]
                except (KeyError, IndexError, TypeError):
                    break
                if isinstance(obj, _PosDict):
                    line = self.lines(obj.pos)
        return fail(code, message, file=self.path, line=line, field=field)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _utf16_to_code_points(text: str, offset: int) -> int:
    """The code point offset of a UTF-16 code unit offset into ``text`` (JavaScript string indices)."""
    units = 0
    for i, ch in enumerate(text):
        if units >= offset:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text)


def _span_offsets(task: _Task, text: str, value: dict, where: tuple[Any, ...]) -> tuple[int, int]:
    """``value.start``/``value.end`` as code point offsets into ``text``.

    Label Studio versions before the emoji fix counted JavaScript (UTF-16) string indices, later ones count code
    points; the two differ after a character outside the Basic Multilingual Plane (most emoji). ``value.text``
    (the selected text) tells which: the offsets are taken as they are when they select it, else converted
    from UTF-16 when that selects it; else E131. Without ``value.text`` they are taken as they are.
    """
    start, end = value["start"], value["end"]
    quoted = value.get("text")
    if not isinstance(quoted, str) or text[start:end] == quoted:
        return start, end
    if any(ord(ch) > 0xFFFF for ch in text[: min(end, len(text))]):
        s, e = _utf16_to_code_points(text, start), _utf16_to_code_points(text, end)
        if text[s:e] == quoted:
            return s, e
    raise task.fail(
        "E131",
        f"value.start..value.end ({start}..{end}) select {text[start:end]!r}, not value.text {quoted!r} (as "
        "character or as UTF-16 offsets); was the task's text changed after it was labelled?",
        where,
        field="value.text",
    )


def _result(task: _Task, text: str, item: Any, where: tuple[Any, ...], labels: list[str], spans: list[Span]) -> None:
    if not isinstance(item, dict):
        raise task.fail("E125", f"result must be an object, got {type(item).__name__}", where[:-1])
    kind = item.get("type")
    value = item.get("value")
    if kind in _SKIPPED_TYPES:
        return
    if kind not in ("choices", "labels"):
        raise task.fail(
            "E125",
            f"unknown result type {kind!r}; nlpipe reads 'choices' (document labels) and 'labels' (spans)",
            where,
            field="type",
        )
    if not isinstance(value, dict):
        raise task.fail("E125", f"a '{kind}' result needs a 'value' object", where, field="value")
    if kind == "choices":
        if not _strings(value.get("choices")):
            raise task.fail("E125", f"value.choices must be a list of label names, got {value.get('choices')!r}",
                            where, field="value.choices")  # fmt: skip
        labels.extend(c.strip() for c in value["choices"])
        return
    start, end, names = value.get("start"), value.get("end"), value.get("labels")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise task.fail("E125", f"a 'labels' result needs integer value.start and value.end, got {start!r}, {end!r}",
                        where, field="value.start")  # fmt: skip
    if not _strings(names) or not names:
        raise task.fail("E125", f"value.labels must be a non-empty list of entity types, got {names!r}", where,
                        field="value.labels")  # fmt: skip
    start, end = _span_offsets(task, text, value, where)
    spans.extend(Span(start, end, name.strip()) for name in names)


def read_labelstudio(
    path: Path, *, text_col: str | None = None, encoding: str | None = None, max_bytes: int, **_: object
) -> Iterator[Record]:
    """Records of a Label Studio JSON export. E123: not a JSON list; E124: a malformed task; E125: a malformed
    or unknown result."""
    path = Path(path)
    content = read_text(path, encoding)
    lines = _Lines(content)
    key = text_col or "text"
    for start, line, obj in _tasks(content, path, lines):
        task = _Task(content, start, line, path, lines)
        if not isinstance(obj, dict):
            raise task.fail("E124", f"each task must be an object, got {type(obj).__name__}")
        data = obj.get("data")
        if not isinstance(data, dict) or not isinstance(data.get(key), str):
            found = ", ".join(repr(k) for k in data) if isinstance(data, dict) else "no 'data' object"
            raise task.fail("E124", f"task has no text in data.{key} (found: {found}); name the key with --text-col",
                            ("data",), field=f"data.{key}")  # fmt: skip
        text = check_text(data[key], max_bytes, file=path, line=line, field=f"data.{key}")
        annotations = obj.get("annotations", obj.get("completions", []))  # "completions": Label Studio < 1.0
        if not isinstance(annotations, list):
            raise task.fail("E124", "'annotations' must be a list", field="annotations")
        labels: list[str] = []
        spans: list[Span] = []
        for j, ann in enumerate(annotations):
            if not isinstance(ann, dict) or not isinstance(ann.get("result", []), list):
                raise task.fail("E124", "each annotation must be an object with a 'result' list",
                                ("annotations", j), field=f"annotations[{j}]")  # fmt: skip
            if ann.get("was_cancelled"):
                continue
            for k, item in enumerate(ann.get("result", [])):
                _result(task, text, item, ("annotations", j, "result", k), labels, spans)
        ext = data.get("id", obj.get("id"))
        yield Record(
            text=text,
            labels=list(dict.fromkeys(labels)),
            split=parse_split(data.get("split"), file=path, line=line, field="data.split"),
            external_id=str(ext) if ext is not None and ext != "" else None,
            file=str(path),
            line=line,
            spans=spans,
        )


def write_labelstudio(records: Iterable[Record], fh: IO[str], *, out: Path) -> int:
    """Write records as a Label Studio JSON export, one task per line; returns how many were written."""
    fh.write("[")
    n = 0
    for n, rec in enumerate(records, 1):
        data: dict[str, Any] = {"text": rec.text}
        if rec.external_id is not None:
            data["id"] = rec.external_id
        if rec.split is not None:
            data["split"] = rec.split
        result: list[dict[str, Any]] = []
        if rec.labels:
            result.append({"id": f"{n}-c", "from_name": "category", "to_name": "text", "type": "choices",
                           "value": {"choices": list(rec.labels)}})  # fmt: skip
        for k, sp in enumerate(rec.spans):
            value = {"start": sp.start, "end": sp.end, "text": rec.text[sp.start : sp.end], "labels": [sp.label]}
            result.append({"id": f"{n}-{k}", "from_name": "label", "to_name": "text", "type": "labels",
                           "value": value})  # fmt: skip
        task = {"id": n, "data": data, "annotations": [{"id": n, "result": result}]}
        fh.write(("\n" if n == 1 else ",\n") + json.dumps(task, ensure_ascii=False))
    fh.write("\n]\n" if n else "]\n")
    return n
