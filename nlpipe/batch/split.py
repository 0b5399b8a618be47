"""A plain-text file cut into items by a regular expression (``--split-on``), streamed block by block.

The items are what ``re.split`` on the whole (decoded) text would give -- the text between separators, stripped,
empty ones dropped -- but the file is never held whole: it is decoded :data:`BLOCK_BYTES` at a time, and a
separator is accepted only once it ends at least :data:`MARGIN` characters before the end of what has been read,
so a match that straddles a block boundary (or would grow with the next block, as ``\\n\\s*\\n`` does over a run of
blank lines) is only taken when the text after it is there. The one assumption: a separator, with whatever the
pattern looks at around it (look-ahead, look-behind), is shorter than :data:`MARGIN` characters. Unlike
``re.split``, groups in the pattern are not items. Line endings are normalised to ``\\n`` first, as the plain-text
reader does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import IO

from nlpipe.batch.problems import error_unit, too_large
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.config import Settings
from nlpipe.errors import NlpipeError
from nlpipe.readers.textfile import iter_decoded

__all__ = ["BLOCK_BYTES", "MARGIN", "RUN_BYTES", "RUN_ITEMS", "item_units", "split_text", "split_units"]

#: Bytes read (and decoded) at a time.
BLOCK_BYTES = 1024 * 1024
#: An ``items`` unit holds at most this many items, and is cut once its text reaches this many characters.
RUN_ITEMS = 256
RUN_BYTES = 4 * 1024 * 1024
#: Characters a separator match, with the text the pattern looks at around it, must stay within.
MARGIN = 64 * 1024
_NON_SPACE = re.compile(r"\S")


def _normalised(pieces: Iterator[str]) -> Iterator[str]:
    """``\\r\\n`` and ``\\r`` as ``\\n``; a ``\\r`` ending a piece waits for the next (it may be half of ``\\r\\n``)."""
    held = ""
    for piece in pieces:
        text = held + piece
        held = "\r" if text.endswith("\r") else ""
        if held:
            text = text[:-1]
        yield text.replace("\r\n", "\n").replace("\r", "\n")
    if held:
        yield "\n"


class _Splitter:
    """The items of a text fed piece by piece: ``(line, text)``, ``text`` None for an item over the size limit.

    ``buf`` holds the text from :data:`MARGIN` characters before the current item (context for look-behinds) to
    what has been read; ``pos`` is where the item starts (the end of the last separator), ``scan`` where the next
    search starts (no separator can start between ``pos`` and ``scan``), ``lines`` the line breaks before
    ``counted``.
    """

    def __init__(self, pattern: re.Pattern[str], max_bytes: int) -> None:
        self.pattern, self.max_bytes, self.margin = pattern, max_bytes, max(1, MARGIN)
        self.buf, self.pos, self.scan = "", 0, 0
        self.last_empty = False  # the last separator was an empty match at ``pos``
        self.skipping = False  # the current item was reported as too large: the rest of it is dropped
        self.lines, self.counted = 0, 0

    def feed(self, text: str, *, final: bool = False) -> Iterator[tuple[int, str | None]]:
        self.buf += text
        end = len(self.buf) if final else len(self.buf) - self.margin  # separators must end by here
        for m in self.pattern.finditer(self.buf, self.scan):
            if m.end() > end:
                self.scan = max(self.pos, min(m.start(), end))
                break
            if m.start() == m.end() == self.pos and self.last_empty:
                continue  # the empty separator taken last time, found again by the new search
            yield from self._item(self.pos, m.start())
            self.pos, self.scan, self.last_empty = m.end(), m.end(), m.start() == m.end()
        else:
            if final:
                yield from self._item(self.pos, len(self.buf))
                return
            self.scan = max(self.pos, end)
        yield from self._bound()

    def _advance(self, to: int) -> None:
        if to > self.counted:
            self.lines += self.buf.count("\n", self.counted, to)
            self.counted = to

    def _item(self, start: int, stop: int) -> Iterator[tuple[int, str | None]]:
        if self.skipping:
            self.skipping = False
            return
        first = _NON_SPACE.search(self.buf, start, stop)
        if first is None:
            return
        text = self.buf[first.start() : stop].rstrip()
        self._advance(first.start())
        too_big = len(text) * 4 > self.max_bytes and len(text.encode("utf-8", "surrogatepass")) > self.max_bytes
        yield self.lines + 1, None if too_big else text

    def _bound(self) -> Iterator[tuple[int, str | None]]:
        """Keep memory bounded: drop leading blanks of the item, report an item over the limit and drop its text
        (all but the last :data:`MARGIN` characters, where its separator may begin), forget consumed text."""
        first = _NON_SPACE.search(self.buf, self.pos)
        start = min(first.start() if first else len(self.buf), self.scan)
        if start > self.pos:  # blanks where no separator starts: stripped from the item anyway
            self.pos, self.last_empty = start, False
        if self.scan - self.pos > self.max_bytes:  # no separator starts before scan: the item is at least this long
            if not self.skipping and first is not None and first.start() == self.pos:
                self._advance(self.pos)
                self.skipping = True
                yield self.lines + 1, None
            cut = max(self.pos, len(self.buf) - self.margin)
            if self.skipping or first is None:
                self.pos, self.scan, self.last_empty = cut, max(self.scan, cut), False
        if self.pos > 2 * self.margin:
            drop = self.pos - self.margin
            self._advance(drop)
            self.buf = self.buf[drop:]
            self.pos, self.scan, self.counted = self.pos - drop, self.scan - drop, self.counted - drop


def split_text(pieces: Iterable[str], pattern: re.Pattern[str], max_bytes: int) -> Iterator[tuple[int, str | None]]:
    """The items of a text given in pieces (cut anywhere): ``(line the item starts on, item)``, the item None when
    it is over ``max_bytes`` (its text is dropped as it is read). The items are those of ``re.split`` on the
    joined pieces (see the module docstring)."""
    splitter = _Splitter(pattern, max_bytes)
    for piece in pieces:
        yield from splitter.feed(piece)
    yield from splitter.feed("", final=True)


def split_units(fh: IO[bytes], source: str, pattern: re.Pattern[str], max_bytes: int) -> Iterator[Unit]:
    """The items as ``items`` units, runs of up to :data:`RUN_ITEMS` items and about :data:`RUN_BYTES` of text,
    which the workers make into ``text`` units ``source#item-N`` (:func:`item_units`; N counts the non-empty items
    from 1); undecodable text ends the file with an E108 unit. One unit per run, not per item: this process only
    cuts the text, the workers make the documents."""
    pieces = _normalised(iter_decoded(fh, source=source, block_size=BLOCK_BYTES))
    run: list[tuple[int, int, str | None]] = []
    size = number = 0

    def flush() -> Iterator[Unit]:
        nonlocal run, size
        if run:
            yield Unit(id=f"{source}#item-{run[0][0]}", source=source, kind="items", items=tuple(run))
            run, size = [], 0

    try:
        for line, text in split_text(pieces, pattern, max_bytes):
            number += 1
            run.append((number, line, text))
            size += len(text or "")
            if len(run) >= RUN_ITEMS or size >= RUN_BYTES:
                yield from flush()
    except NlpipeError as exc:
        yield from flush()
        yield error_unit(source, source, exc)
        return
    yield from flush()


def item_units(unit: Unit, settings: Settings, options: SourceOptions) -> list[Unit]:
    """An ``items`` run as its ``text`` units (meta: the item's number and the line it starts on), an item over the
    document limit an E178 ``error`` unit."""
    source, out = unit.source, []
    for number, line, text in unit.items:
        uid, meta = f"{source}#item-{number}", {"item": number, "line": line}
        if text is None:
            out.append(error_unit(uid, source, too_large(uid, None, settings.max_document_bytes, "item"), meta))
        else:
            out.append(Unit(id=uid, source=source, kind="text", text=text, meta=meta))
    return out
