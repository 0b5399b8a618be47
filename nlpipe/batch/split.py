"""A plain-text file cut into items by a regular expression (``--split-on``), streamed block by block.

The items are what ``re.split`` on the whole (decoded) text would give -- the text between separators, stripped,
empty ones dropped -- but the file is never held whole: it is decoded :data:`BLOCK_BYTES` at a time, and a
separator is accepted only once it ends at least :data:`MARGIN` characters before the end of what has been read,
so a match that straddles a block boundary (or would grow with the next block, as ``\\n\\s*\\n`` does over a run of
blank lines) is only taken when the text after it is there. The one assumption: a separator, with whatever the
pattern looks at around it (look-ahead, look-behind), is shorter than :data:`MARGIN` characters. Unlike
``re.split``, groups in the pattern are not items. Line endings are normalised to ``\\n`` first, as the plain-text
reader does. An item is over the document limit when its text as cut -- from its first non-blank character to the
separator, trailing blanks included -- is: that is what can be known while the item is read (it is dropped as soon
as it is over), so the answer does not depend on where blocks end.
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

__all__ = ["BLOCK_BYTES", "MARGIN", "RUN_BYTES", "RUN_ITEMS", "item_units", "span_items", "split_units"]

#: Bytes read (and decoded) at a time.
BLOCK_BYTES = 1024 * 1024
#: An ``items`` unit holds at most this many items, and is cut once its text reaches this many characters.
RUN_ITEMS = 256
RUN_BYTES = 4 * 1024 * 1024
#: Characters a separator match, with the text the pattern looks at around it, must stay within.
MARGIN = 64 * 1024
_NON_SPACE = re.compile(r"\S")
_CR = re.compile(r"\r\n?")


def _normalised(pieces: Iterator[str]) -> Iterator[str]:
    """``\\r\\n`` and ``\\r`` as ``\\n``; a ``\\r`` ending a piece waits for the next (it may be half of ``\\r\\n``)."""
    held = ""
    for piece in pieces:
        text = held + piece
        held = "\r" if text.endswith("\r") else ""
        if held:
            text = text[:-1]
        yield _CR.sub("\n", text) if "\r" in text else text  # one pass (two replace() calls take three times as long)
    if held:
        yield "\n"


def _over(raw: str, max_bytes: int) -> bool:
    """Whether an item's text is over the document limit (in UTF-8 bytes)."""
    return len(raw) * 4 > max_bytes and len(raw.encode("utf-8", "surrogatepass")) > max_bytes


class _Cutter:
    """Finds the separators of a text fed piece by piece and hands on *spans*: the text from the start of an item
    to the end of a later one (up to :data:`RUN_ITEMS` items, about :data:`RUN_BYTES`) with where each item starts
    and ends in it, the number of its first item and the line breaks before it. The workers strip each item, count
    its line and check its size (:func:`span_items`), so the reading process does the search and two appends per
    item, and copies no item. An item over the limit is handed on alone, as an ``items`` unit without text, and its
    text is dropped as it is read.

    ``buf`` holds the text from :data:`MARGIN` characters before the open span (or the current item: context for
    look-behinds) to what has been read; ``pos`` is where the current item starts (the end of the last separator),
    ``scan`` where the next search starts (no separator can start between ``pos`` and ``scan``), ``lines`` the line
    breaks before ``counted``. ``span`` is where the open span starts (None while an item over the limit is being
    skipped), ``bounds`` its items' (first non-blank character, end) relative to it, flat; ``cut`` is where its last
    item ends.
    """

    def __init__(self, pattern: re.Pattern[str], max_bytes: int, source: str) -> None:
        self.pattern, self.max_bytes, self.margin, self.source = pattern, max_bytes, max(1, MARGIN), source
        self.buf, self.pos, self.scan = "", 0, 0
        self.last_empty = False  # the last separator was an empty match at ``pos``
        self.skipping = False  # the current item was reported as too large: the rest of it is dropped
        self.lines, self.counted = 0, 0
        self.number = 0  # items handed on so far
        self.out: list[Unit] = []
        self.span: int | None = 0
        self.bounds: list[int] = []
        self.cut = 0

    def feed(self, text: str, *, final: bool = False) -> list[Unit]:
        """The spans (and items over the limit) completed by ``text``, in order."""
        self.buf += text
        buf, bounds = self.buf, self.bounds
        end = len(buf) if final else len(buf) - self.margin  # separators must end by here
        pos, last_empty, non_space = self.pos, self.last_empty, _NON_SPACE.search
        for m in self.pattern.finditer(buf, self.scan):
            s, e = m.span()
            if e > end:
                self.scan = max(pos, min(s, end))
                break
            if s == e == pos and last_empty:
                continue  # the empty separator taken last time, found again by the new search
            if self.skipping:  # the end of an item over the limit: a span starts after it
                self.skipping, self.span = False, e
            elif (first := non_space(buf, pos, s)) and self.span is not None:
                bounds += (first.start() - self.span, s - self.span)
                self.cut = s
                if len(bounds) >= 2 * RUN_ITEMS or s - self.span >= RUN_BYTES:
                    self._close()
                    bounds, self.span = self.bounds, e
            pos, last_empty = e, s == e
        else:
            self.pos, self.last_empty = pos, last_empty
            if final:
                if self.span is not None and not self.skipping and (first := non_space(buf, pos, len(buf))):
                    bounds += (first.start() - self.span, len(buf) - self.span)
                    self.cut = len(buf)
                return self.close_taken()
            self.scan = max(pos, end)
        self.pos, self.last_empty = pos, last_empty
        self._bound()
        if self.span is None and not self.skipping or self.span is not None and not self.bounds:
            self.span = self.pos  # no item open before pos: the span starts there
        out, self.out = self.out, []
        return out

    def _advance(self, to: int) -> None:
        if to > self.counted:
            self.lines += self.buf.count("\n", self.counted, to)
            self.counted = to

    def _bound(self) -> None:
        """Keep memory bounded: drop leading blanks of the item; hand on an item over the limit alone (the open span
        first) and drop its text up to where the next search starts (its separator may begin there); forget text no
        span needs."""
        first = _NON_SPACE.search(self.buf, self.pos)
        start = min(first.start() if first else len(self.buf), self.scan)
        if start > self.pos:  # blanks where no separator starts: stripped from the item anyway
            self.pos, self.last_empty = start, False
        if self.scan - self.pos > self.max_bytes:  # no separator starts before scan: the item is at least this long
            self._close()  # the open span ends before the long item (or run of blanks): its text may be dropped
            if not self.skipping and first is not None and first.start() == self.pos:
                self._advance(self.pos)
                self.skipping = True
                self.number += 1
                self.out.append(Unit(id=f"{self.source}#item-{self.number}", source=self.source, kind="items",
                                     items=((self.number, self.lines + 1, None),)))  # fmt: skip
            # never past scan: a separator may start there (one that ends in the last MARGIN characters is not
            # taken yet); jumping to the last MARGIN characters lost it and the item after it (found by a test)
            cut = max(self.pos, min(self.scan, len(self.buf) - self.margin))
            if self.skipping or first is None:
                self.pos, self.scan, self.last_empty = cut, max(self.scan, cut), False
        keep = self.pos if self.span is None else min(self.pos, self.span)
        if keep > 2 * self.margin:
            drop = keep - self.margin
            self._advance(drop)
            self.buf = self.buf[drop:]
            self.pos, self.scan, self.counted = self.pos - drop, self.scan - drop, self.counted - drop
            self.cut -= drop
            if self.span is not None:
                self.span -= drop

    def _close(self) -> None:
        """Hand on the open span, if it holds items (to the end of its last item)."""
        if self.span is None or not self.bounds:
            return
        self._advance(self.span)
        first, text = self.number + 1, self.buf[self.span : self.cut]
        span = (first, self.lines, tuple(self.bounds))
        self.out.append(Unit(id=f"{self.source}#item-{first}", source=self.source, kind="items", text=text, span=span))
        self.number += len(self.bounds) // 2
        self.span, self.bounds = None, []

    def close_taken(self) -> list[Unit]:
        """The open span's items taken so far, and the units not yet handed on."""
        self._close()
        out, self.out = self.out, []
        return out


def split_units(fh: IO[bytes], source: str, pattern: re.Pattern[str], max_bytes: int) -> Iterator[Unit]:
    """The items as ``items`` units: spans of up to :data:`RUN_ITEMS` items and about :data:`RUN_BYTES` of text,
    which the workers split into ``text`` units ``source#item-N`` (:func:`item_units`; N counts the non-empty items
    from 1), and each item over the limit alone; undecodable text ends the file with an E108 unit. This process
    only finds the separators (see :class:`_Cutter`); the workers make the documents."""
    cutter = _Cutter(pattern, max_bytes, source)
    try:
        for piece in _normalised(iter_decoded(fh, source=source, block_size=BLOCK_BYTES)):
            yield from cutter.feed(piece)
    except NlpipeError as exc:
        yield from cutter.close_taken()
        yield error_unit(source, source, exc)
        return
    yield from cutter.feed("", final=True)


def span_items(unit: Unit, max_bytes: int) -> Iterator[tuple[int, int, str | None]]:
    """The items of a span (see :class:`_Cutter`): ``(number, line, text)``, the text None over the limit."""
    assert unit.span is not None and unit.text is not None
    number, lines, bounds = unit.span
    text, counted = unit.text, 0
    for i in range(0, len(bounds), 2):
        start, stop = bounds[i], bounds[i + 1]  # from the item's first non-blank character to its separator
        lines += text.count("\n", counted, start)
        counted, raw = start, text[start:stop]
        yield number, lines + 1, None if _over(raw, max_bytes) else raw.rstrip()
        number += 1


def item_units(unit: Unit, settings: Settings, options: SourceOptions) -> list[Unit]:
    """A span's items (or an item over the limit, handed on alone) as ``text`` units (meta: the item's number and
    the line it starts on), an item over the document limit an E178 ``error`` unit."""
    source, out = unit.source, []
    found: Iterable[tuple[int, int, str | None]] = unit.items
    if unit.span is not None:
        found = span_items(unit, settings.max_document_bytes)
    for number, line, text in found:
        uid, meta = f"{source}#item-{number}", {"item": number, "line": line}
        if text is None:
            out.append(error_unit(uid, source, too_large(uid, None, settings.max_document_bytes, "item"), meta))
        else:
            out.append(Unit(id=uid, source=source, kind="text", text=text, meta=meta))
    return out
