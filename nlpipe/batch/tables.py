"""CSV / TSV and JSON Lines inputs, one ``text`` unit per row, streamed line by line.

The text is the ``--text-col`` columns joined by a newline (default: the first of ``text``, ``content``, ``body``...
a CSV header has, as the import formats read it; ``text`` for JSON Lines; the first column of a CSV without a
header); the id is the ``--id-col`` value, else an ``id`` column, else ``file:LINE`` -- the 1-based line the row
starts on, also in ``meta["line"]``. A bad row is an ``error`` unit naming the file and line, and the next row is
read: no text or blank text (E106), text over the document limit (E107), a missing column (E103, E803), a
malformed CSV row (E109), invalid JSON or JSON that is not an object (E102), JSON nested too deeply (E210), an id
that is not a string or an integer (E113). A CSV header without the text or id column is one unit for the file.
Lines longer than :data:`LINE_FACTOR` times the document limit are not held: the row is E107.

A file on disk is not parsed into units by the client: :func:`jsonl_ranges` and :func:`csv_ranges` cut it into
``lines`` units (byte ranges of whole rows, with a CSV file's :class:`CsvLayout`) and each worker makes the units of
its ranges with :func:`line_units`, parsing them exactly as :func:`jsonl_units` / :func:`csv_units` parse the whole
file (the tests compare the two, cut every way). An archive member that is a CSV or JSON Lines file is text.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from nlpipe.batch.problems import error_unit
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.config import Settings
from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.fields import check_text, csv_delimiter
from nlpipe.readers.rows import TEXT_COLUMNS, json_id, json_value
from nlpipe.readers.text.plain import normalise_newlines
from nlpipe.readers.textfile import fail, iter_decoded

__all__ = [
    "LINE_FACTOR",
    "RANGE_BYTES",
    "RANGE_LINES",
    "csv_units",
    "jsonl_ranges",
    "jsonl_units",
    "line_units",
    "physical_lines",
]

#: A line longer than this many times NLPIPE_MAX_DOCUMENT_BYTES (in characters) is not read.
LINE_FACTOR = 4
#: A ``lines`` range holds at most this many lines, and is cut at the first line end past this many bytes.
RANGE_LINES = 256
RANGE_BYTES = 4 * 1024 * 1024
_BLOCK = 256 * 1024
_SCAN = 1024 * 1024
_CSV_LIMIT_CAP = 2**31 - 1
Line = tuple[int, str | None]


def physical_lines(pieces: Iterator[str], cap: int, first: int = 1) -> Iterator[Line]:
    """``(line number, line with its ending)`` for each line of the decoded ``pieces``, numbered from ``first``; the
    line is None when it is longer than ``cap`` characters (its text is dropped as it is read)."""
    held: list[str] = []
    number, held_len, over = first, 0, False
    for piece in pieces:
        start = 0
        while (nl := piece.find("\n", start)) >= 0:
            part = piece[start : nl + 1]
            if over or held_len + len(part) > cap:
                yield number, None
            else:
                yield number, "".join(held) + part if held else part
            number, held, held_len, over, start = number + 1, [], 0, False, nl + 1
        rest = piece[start:]
        if rest and not over:
            held.append(rest)
            held_len += len(rest)
            if held_len > cap:
                held, over = [], True
    if over:
        yield number, None
    elif held:
        yield number, "".join(held)


def _lines(fh: IO[bytes], source: str, max_bytes: int, first: int = 1) -> Iterator[Line]:
    return physical_lines(iter_decoded(fh, source=source, block_size=_BLOCK), _cap(max_bytes), first)


def _cap(max_bytes: int) -> int:
    return LINE_FACTOR * max_bytes + _BLOCK


def _too_long(source: str, line: int, max_bytes: int) -> NlpipeError:
    return fail("E107", f"the line is longer than {LINE_FACTOR} times the {max_bytes:,}-byte document limit; it was "
                "not read -- split the row or raise NLPIPE_MAX_DOCUMENT_BYTES", file=source, line=line,
                kind=LimitError)  # fmt: skip


def _row_unit(source: str, line: int, texts: list[str], uid: str | None, fields: str, max_bytes: int) -> Unit:
    text = normalise_newlines("\n".join(texts))
    meta = {"line": line}
    uid = uid or f"{source}:{line}"
    try:
        check_text(text, max_bytes, file=source, line=line, field=fields)
    except NlpipeError as exc:
        return error_unit(uid, source, exc, meta)
    return Unit(id=uid, source=source, kind="text", text=text, meta=meta)


# --------------------------------------------------------------------------------------------------- CSV


class _Feed:
    """The lines ``csv.reader`` reads, one physical line each (so its ``line_num`` is the file's line); a line too
    long to hold is read as a blank line and noted, so the row it belongs to becomes an E107 unit."""

    def __init__(self, lines: Iterator[Line]) -> None:
        self.lines = lines
        self.too_long: int | None = None

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        number, line = next(self.lines)
        if line is None:
            self.too_long = self.too_long or number
            return "\n"
        return line


def _csv_rows(
    feed: _Feed, delimiter: str, source: str, max_bytes: int, first: int = 1
) -> Iterator[tuple[int, list[str] | Unit]]:
    """``(line, cells)`` of each non-blank row, or ``(line, error unit)`` for a row that cannot be parsed; the feed's
    first line is line ``first``."""
    limit = min(max(csv.field_size_limit(), max_bytes + 1), _CSV_LIMIT_CAP)
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)  # process-wide, but only ever raised, as the import readers do
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    while True:
        start, feed.too_long = reader.line_num + first, None
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                err = fail("E107", f"a field is larger than the {max_bytes:,}-byte document limit; split it or raise "
                           "NLPIPE_MAX_DOCUMENT_BYTES", file=source, line=start, kind=LimitError)  # fmt: skip
            else:
                err = fail("E109", f"malformed CSV row ({exc}); a field holding the delimiter, quotes or line "
                           'breaks must be wrapped in double quotes, inner quotes doubled ("")', file=source,
                           line=start)  # fmt: skip
            yield start, error_unit(f"{source}:{start}", source, err, {"line": start})
            continue
        if feed.too_long is not None:
            yield start, error_unit(f"{source}:{start}", source, _too_long(source, start, max_bytes), {"line": start})
        elif any(cell.strip() for cell in row):
            yield start, row


def _column(header: list[str], name: str) -> int | None:
    lowered = [h.strip().lower() for h in header]
    key = name.strip().lower()
    return lowered.index(key) if key in lowered else None


def _header_columns(header: list[str], options: SourceOptions, source: str, line: int) -> tuple[list[int], int | None]:
    """Indices of the text columns and the id column in a header; E103 / E803 naming the columns found."""
    found = ", ".join(repr(h) for h in header)
    wanted = list(options.text_cols) or [next((c for c in TEXT_COLUMNS if _column(header, c) is not None), "text")]
    texts = [_column(header, name) for name in wanted]
    missing = [name for name, i in zip(wanted, texts, strict=True) if i is None]
    if missing:
        raise fail("E103", f"no text column {', '.join(repr(m) for m in missing)} in the header (columns found: "
                   f"{found}); name the text columns with --text-col", file=source, line=line)  # fmt: skip
    id_i = _column(header, options.id_col or "id")
    if options.id_col and id_i is None:
        raise fail("E803", f"no id column {options.id_col!r} in the header (columns found: {found}); name it with "
                   "--id-col, or leave --id-col out to number rows by line", file=source, line=line)  # fmt: skip
    return [i for i in texts if i is not None], id_i


def _positions(options: SourceOptions) -> tuple[list[int], int | None]:
    """Columns of a CSV without a header: 1-based positions (checked up front by ``check_options``)."""
    texts = [int(c) - 1 for c in options.text_cols] or [0]
    return texts, int(options.id_col) - 1 if options.id_col else None


class CsvLayout(NamedTuple):
    """How a CSV file's rows become units, decided from its first lines: the delimiter, the text columns (indices)
    and their names, the id column, and the header's width (None without a header)."""

    delimiter: str
    texts: tuple[int, ...]
    id_i: int | None
    names: str
    width: int | None


def _csv_layout(lines: Iterator[Line], source: str, options: SourceOptions, max_bytes: int) -> Iterator[Unit | _Start]:
    """The units the first lines give (a header that cannot be read or lacks a column: one error unit, and nothing
    more), then a :class:`_Start`: the layout and the rows after the header."""
    ahead: list[Line] = []
    for item in lines:  # the first non-blank line decides the delimiter
        ahead.append(item)
        if item[1] is None or item[1].strip():
            break
    first = next((line for _, line in reversed(ahead) if line is not None), "")
    delimiter = csv_delimiter(Path(source.rsplit("!", 1)[-1]), first.rstrip("\r\n"))

    def chained() -> Iterator[Line]:
        yield from ahead
        yield from lines

    feed = _Feed(chained())
    rows = _csv_rows(feed, delimiter, source, max_bytes)
    header: list[str] | None = None
    if options.no_header:
        texts, id_i = _positions(options)
    else:
        for line, row in rows:
            if isinstance(row, Unit):
                yield row
                return  # no header: the columns are unknown
            header = row
            try:
                texts, id_i = _header_columns(row, options, source, line)
            except NlpipeError as exc:
                yield error_unit(f"{source}:{line}", source, exc, {"line": line})
                return
            break
        if header is None:
            return
    names = ", ".join(header[i].strip() if header else str(i + 1) for i in texts)
    layout = CsvLayout(delimiter, tuple(texts), id_i, names, len(header) if header is not None else None)
    yield _Start(layout, rows, feed)


class _Start(NamedTuple):
    layout: CsvLayout
    rows: Iterator[tuple[int, list[str] | Unit]]
    feed: _Feed


def _csv_body(rows: Iterator[tuple[int, list[str] | Unit]], layout: CsvLayout, source: str, max_bytes: int
              ) -> Iterator[Unit]:  # fmt: skip
    """The units of the rows after the header."""
    width, texts, id_i = layout.width, layout.texts, layout.id_i
    needed = max([*texts, id_i if id_i is not None else 0])
    for line, row in rows:
        if isinstance(row, Unit):
            yield row
            continue
        bad = len(row) < width or any(cell.strip() for cell in row[width:]) if width is not None else len(row) <= needed
        if bad:
            what = f"the header has {width}" if width is not None else f"column {needed + 1} is read"
            err = fail("E109", f"the row has {len(row)} columns but {what}; quote fields that hold the delimiter",
                       file=source, line=line)  # fmt: skip
            yield error_unit(f"{source}:{line}", source, err, {"line": line})
            continue
        uid = row[id_i].strip() if id_i is not None else None
        yield _row_unit(source, line, [row[i] for i in texts], uid, layout.names, max_bytes)


def csv_units(fh: IO[bytes], source: str, options: SourceOptions, max_bytes: int) -> Iterator[Unit]:
    """The rows of a CSV / TSV file as ``text`` units (see the module docstring)."""
    for item in _csv_layout(_lines(fh, source, max_bytes), source, options, max_bytes):
        if isinstance(item, _Start):
            yield from _csv_body(item.rows, item.layout, source, max_bytes)
        else:
            yield item


# ------------------------------------------------------------------------------------------ CSV by ranges


class _NotUtf8(Exception):
    """The file is not UTF-8 from some block on: the rest is read by the client (encoding detected)."""


class _ByteLines:
    """The physical lines of a UTF-8 file from byte ``start``, as :func:`physical_lines` gives them (numbered from 1,
    None for a line over ``cap`` characters), with :attr:`end` the byte offset after the last line given and
    :attr:`number` its number. Each block is checked to be UTF-8 before a line of it is given (:class:`_NotUtf8`)."""

    def __init__(self, fh: IO[bytes], start: int, cap: int) -> None:
        self.fh, self.start, self.cap = fh, start, cap
        self.end, self.number = start, 0
        self.cut: tuple[int, int, CsvLayout] | None = None  # set by _csv_cut: where its current range starts

    def lines(self) -> Iterator[Line]:
        decoder = codecs.getincrementaldecoder("utf-8")()
        held: list[bytes] = []
        held_bytes, over, pos = 0, False, self.start
        self.fh.seek(pos)
        try:
            while block := self.fh.read(_SCAN):
                decoder.decode(block)
                at = 0
                while (nl := block.find(b"\n", at)) >= 0:
                    part = block[at : nl + 1]
                    text = None if over else self._text(held, held_bytes, part)
                    held, held_bytes, over, at = [], 0, False, nl + 1
                    self.number, self.end = self.number + 1, pos + at
                    yield self.number, text
                rest = block[at:]
                if rest and not over:
                    held.append(rest)
                    held_bytes += len(rest)
                    if held_bytes > self.cap and _chars(b"".join(held)) > self.cap:
                        held, held_bytes, over = [], 0, True
                pos += len(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _NotUtf8 from None
        if held or over:
            self.number, self.end = self.number + 1, pos
            yield self.number, None if over else self._text(held, held_bytes, b"")

    def _text(self, held: list[bytes], held_bytes: int, part: bytes) -> str | None:
        data = b"".join([*held, part]) if held else part
        if held_bytes + len(part) > self.cap and _chars(data) > self.cap:
            return None
        return data.decode("utf-8")


_CONTINUATION = bytes(range(0x80, 0xC0))


def _chars(data: bytes) -> int:
    """Characters in UTF-8 ``data``: its bytes that are not continuation bytes."""
    return len(data.translate(None, _CONTINUATION))


def _utf8_start(fh: IO[bytes]) -> int | None:
    """Where a file's text starts when it may be UTF-8 (after a UTF-8 byte-order mark), or None when it is UTF-16 or
    UTF-32 (a byte-order mark, or NUL bytes in its first block, as :func:`iter_decoded` tells them)."""
    head = fh.read(_BLOCK)
    fh.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return len(codecs.BOM_UTF8)
    return None if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head else 0


def csv_ranges(fh: IO[bytes], path: str, source: str, options: SourceOptions, max_bytes: int) -> Iterator[Unit]:
    """A CSV / TSV file on disk as ``lines`` units: ranges of up to :data:`RANGE_LINES` rows and about
    :data:`RANGE_BYTES` bytes, cut between rows, with the file's layout (delimiter, columns) for the workers, which
    read and parse them (:func:`line_units`). Rows can span lines (quoted line breaks), so the client finds where
    each ends with the same parser (without making units, joining texts or sending them); the rows are those of
    :func:`csv_units`. A file that is not UTF-8 is read here from the first range not yet handed on, as
    :func:`csv_units` reads it."""
    start = _utf8_start(fh)
    if start is None:
        yield from csv_units(fh, source, options, max_bytes)
        return
    scanner = _ByteLines(fh, start, _cap(max_bytes))
    archive = os.path.abspath(path)
    try:
        for item in _csv_layout(scanner.lines(), source, options, max_bytes):
            if not isinstance(item, _Start):
                yield item
                continue
            yield from _csv_cut(item, scanner, archive, source, max_bytes, options.no_header)
    except _NotUtf8:
        if scanner.cut is None:  # still in the header: the whole file is read here
            fh.seek(0)
            yield from csv_units(fh, source, options, max_bytes)
            return
        begin, first, layout = scanner.cut
        fh.seek(begin)
        feed = _Feed(_lines(fh, source, max_bytes, first))
        yield from _csv_body(_csv_rows(feed, layout.delimiter, source, max_bytes, first), layout, source, max_bytes)


def _csv_cut(
    start: _Start, scanner: _ByteLines, archive: str, source: str, max_bytes: int, no_header: bool
) -> Iterator[Unit]:
    """The rows after the header, parsed here only to find where ranges end; ``scanner.cut`` holds where the range
    being cut starts (its byte, its first line, the layout), for :func:`csv_ranges`' fallback."""
    layout = start.layout
    begin, first = (scanner.start, 1) if no_header else (scanner.end, scanner.number + 1)
    scanner.cut = (begin, first, layout)
    rows = 0
    for _ in start.rows:
        rows += 1
        if rows >= RANGE_LINES or scanner.end - begin >= RANGE_BYTES:
            yield _range(source, archive, (begin, scanner.end, first, rows), layout)
            begin, first, rows = scanner.end, scanner.number + 1, 0
            scanner.cut = (begin, first, layout)
    if rows:
        yield _range(source, archive, (begin, scanner.end, first, rows), layout)


def _range(source: str, archive: str, lines: tuple[int, int, int, int], layout: CsvLayout | None) -> Unit:
    return Unit(id=f"{source}:{lines[2]}", source=source, kind="lines", path=archive, lines=lines, table=layout)


# -------------------------------------------------------------------------------------------- JSON Lines


def _json_id(obj: dict[str, Any], key: str, required: bool, source: str, line: int) -> str | None:
    if key not in obj:
        if required:
            found = ", ".join(repr(k) for k in obj) or "none"
            raise fail("E803", f"no id field {key!r} (fields found: {found}); name it with --id-col, or leave "
                       "--id-col out to number rows by line", file=source, line=line)  # fmt: skip
        return None
    return json_id(obj[key], file=source, line=line, field=key)


def _json_row(text: str, source: str, line: int, options: SourceOptions, max_bytes: int) -> Unit:
    try:
        obj = json_value(text, file=source, line=line)
    except json.JSONDecodeError as exc:
        raise fail("E102", f"invalid JSON ({exc.msg} at column {exc.colno}); each line must be one complete JSON "
                   "object", file=source, line=line) from None  # fmt: skip
    if not isinstance(obj, dict):
        raise fail("E102", f"expected a JSON object ({{...}}) on each line, got a {type(obj).__name__}", file=source,
                   line=line)  # fmt: skip
    uid = _json_id(obj, options.id_col or "id", bool(options.id_col), source, line)
    keys = list(options.text_cols) or ["text"]
    texts = []
    for key in keys:
        if key not in obj:
            found = ", ".join(repr(k) for k in obj) or "none"
            err = fail("E103", f"no {key!r} field (fields found: {found}); name the text fields with --text-col",
                       file=source, line=line)  # fmt: skip
            return error_unit(uid or f"{source}:{line}", source, err, {"line": line})
        if not isinstance(obj[key], str):
            err = fail("E103", f"text must be a string, got {type(obj[key]).__name__}", file=source, line=line,
                       field=key)  # fmt: skip
            return error_unit(uid or f"{source}:{line}", source, err, {"line": line})
        texts.append(obj[key])
    return _row_unit(source, line, texts, uid, ", ".join(keys), max_bytes)


def jsonl_units(fh: IO[bytes], source: str, options: SourceOptions, max_bytes: int, first: int = 1) -> Iterator[Unit]:
    """The lines of a JSON Lines file (``fh`` at the start of line ``first``) as ``text`` units (see the module
    docstring); blank lines are skipped."""
    return _jsonl_rows(_lines(fh, source, max_bytes, first), source, options, max_bytes)


def _jsonl_rows(lines: Iterator[Line], source: str, options: SourceOptions, max_bytes: int) -> Iterator[Unit]:
    for line, text in lines:
        if text is None:
            yield error_unit(f"{source}:{line}", source, _too_long(source, line, max_bytes), {"line": line})
            continue
        if not text.strip():
            continue
        try:
            yield _json_row(text.strip(), source, line, options, max_bytes)
        except NlpipeError as exc:
            yield error_unit(f"{source}:{line}", source, exc, {"line": line})


# ------------------------------------------------------------------------------------ JSON Lines by ranges


def jsonl_ranges(fh: IO[bytes], path: str, source: str, options: SourceOptions, max_bytes: int) -> Iterator[Unit]:
    """A JSON Lines file on disk as ``lines`` units: ranges of up to :data:`RANGE_LINES` lines and about
    :data:`RANGE_BYTES` bytes (a longer line is a range of its own), cut at line ends, that the workers read and parse
    (:func:`line_units`), so this process only looks for line breaks. JSON Lines is UTF-8; the file is checked to be
    as it is scanned. A file that is not (a UTF-16/32 byte-order mark, NUL bytes in its first block, bytes that are
    not UTF-8) is read here from the first range not yet handed on, as :func:`jsonl_units` reads it (the encoding
    detected, the rows sent as ``text`` units), so the rows are the same either way."""
    text_start = _utf8_start(fh)
    if text_start is None:
        yield from jsonl_units(fh, source, options, max_bytes)
        return
    start = text_start
    archive = os.path.abspath(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    first, lines, pos = 1, 0, start  # the range being cut: its first line's number, its lines; pos: block's offset
    open_line = False  # the bytes read so far end inside a line
    fh.seek(start)

    def cut(end: int, count: int) -> Unit:
        return _range(source, archive, (start, end, first, count), None)

    try:
        while block := fh.read(_SCAN):
            decoder.decode(block)  # the block checked before any range in it is handed on
            at = 0
            while (nl := block.find(b"\n", at)) >= 0:
                lines, at = lines + 1, nl + 1
                if lines >= RANGE_LINES or pos + at - start >= RANGE_BYTES:
                    yield cut(pos + at, lines)
                    start, first, lines = pos + at, first + lines, 0
            pos, open_line = pos + len(block), not block.endswith(b"\n")
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # not UTF-8 from here on: the rest is read here, its encoding detected
        fh.seek(start)
        yield from jsonl_units(fh, source, options, max_bytes, first)
        return
    if pos > start:
        yield cut(pos, lines + open_line)  # with the last line when it has no line break


def _range_pieces(fh: IO[bytes], length: int, source: str, line: int) -> Iterator[str]:
    """``length`` bytes of ``fh`` decoded as UTF-8, piece by piece; E108 when they are not UTF-8 (the file changed
    since the range was cut)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while length > 0:
            block = fh.read(min(_BLOCK, length))
            if not block:
                raise fail("E108", "the file is shorter than when the batch started; it changed while the batch ran -- "
                           "run it again with --restart", file=source, line=line)  # fmt: skip
            length -= len(block)
            yield decoder.decode(block)
        yield decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise fail("E108", "not UTF-8 any more; the file changed while the batch ran -- run it again with --restart",
                   file=source, line=line) from None  # fmt: skip


def line_units(unit: Unit, settings: Settings, options: SourceOptions) -> list[Unit]:
    """A ``lines`` range as the units of its rows, in order, read and parsed here (in the worker) as
    :func:`jsonl_units` parses them; a range that cannot be read is one error unit."""
    assert unit.lines is not None and unit.path is not None, "a lines unit names its file and range"
    start, end, first, _ = unit.lines
    max_bytes = settings.max_document_bytes
    try:
        with open(unit.path, "rb") as fh:
            fh.seek(start)
            lines = physical_lines(_range_pieces(fh, end - start, unit.source, first), _cap(max_bytes), first)
            layout = unit.table
            if layout is None:
                return list(_jsonl_rows(lines, unit.source, options, max_bytes))
            rows = _csv_rows(_Feed(lines), layout.delimiter, unit.source, max_bytes, first)
            return list(_csv_body(rows, layout, unit.source, max_bytes))
    except NlpipeError as exc:
        return [error_unit(unit.id, unit.source, exc, {"line": first})]
    except OSError as exc:
        err = fail(
            "E195",
            f"cannot read it ({exc.strerror or exc}); the workers read JSON Lines inputs at the path "
            "the client was given -- run them where that path is readable",
            file=unit.source,
            line=first,
        )
        return [error_unit(unit.id, unit.source, err, {"line": first})]
