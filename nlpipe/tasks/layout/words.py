"""A document's words tied to its text: pure functions over :class:`~nlpipe.types.Document` pages.

A document's words (``Page.words``, PDF points, origin top-left) are tied to the characters of its text
(:func:`document_words`), grouped into lines and blocks, so that character spans (annotations, predictions) and
word boxes can be turned into each other (:func:`word_tags`, :func:`spans_from_boxes`; the model's decoding turns
runs of words back into spans). The features of each word (:mod:`nlpipe.tasks.layout.features`) read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nlpipe.types import Document, Span, Word

BLOCK_GAP = 1.2  # a gap wider than this many font sizes starts a new block on a line
BOX_TOLERANCE = 1.5  # points a word's centre may lie outside an annotated box


@dataclass
class DocWords:
    """One document's words, page by page, lines top to bottom, words left to right; tied to its text.

    ``words[i]`` is on page ``pages[i]`` (1-based) and covers ``text[starts[i]:ends[i]]`` (-1 when it could not
    be found). ``line[i]`` numbers the word's line on its page in document order; ``block[i]`` its block
    (``BLOCK_GAP``). ``page_size[p]`` is (width, height) of page p; ``median_size[p]`` its median font size.
    """

    text: str
    words: list[Word] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    block: list[int] = field(default_factory=list)
    page_size: dict[int, tuple[float, float]] = field(default_factory=dict)
    median_size: dict[int, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)


def has_words(doc: Document) -> bool:
    return any(p.words for p in doc.pages)


def font_size(w: Word) -> float:
    """The word's font size, else its box's height (at least 1 point)."""
    return float(w.size) if w.size else max(float(w.y1 - w.y0), 1.0)


def _lines(words: Sequence[Word]) -> list[list[int]]:
    """Word indices grouped into lines (vertical centres within half a line height), each sorted by x."""
    order = sorted(range(len(words)), key=lambda i: ((words[i].y0 + words[i].y1) / 2, words[i].x0))
    lines: list[list[int]] = []
    centre = height = 0.0
    for i in order:
        w = words[i]
        c, h = (w.y0 + w.y1) / 2, max(w.y1 - w.y0, 1.0)
        if lines and abs(c - centre) <= 0.5 * max(h, height):
            lines[-1].append(i)
        else:
            lines.append([i])
            centre, height = c, h
    return [sorted(line, key=lambda i: words[i].x0) for line in lines]


def _align(haystack: str, needles: Iterable[str], base: int) -> list[tuple[int, int]]:
    """Offsets of each needle in ``haystack``, searched in order from a moving cursor; (-1, -1) if absent."""
    out = []
    cursor = 0
    for needle in needles:
        at = haystack.find(needle, cursor) if needle else -1
        if at < 0:
            at = haystack.find(needle) if needle else -1
            if at < 0:
                out.append((-1, -1))
                continue
        else:
            cursor = at + len(needle)
        out.append((base + at, base + at + len(needle)))
    return out


def document_words(doc: Document) -> DocWords:
    """The document's words (see :class:`DocWords`) with their character offsets, lines and blocks.

    Each page's text is found in the document's text and each word in its page's text, searching forward in the
    order the page lists its words (the order the PDF reader laid the text out in).
    """
    dw = DocWords(text=doc.text)
    cursor = 0
    line_no = block_no = 0
    for page in doc.pages:
        words = list(page.words)
        if not words:
            continue
        at = doc.text.find(page.text, cursor) if page.text else -1
        base = at if at >= 0 else 0
        if at >= 0:
            cursor = at + len(page.text)
        offsets = _align(page.text if at >= 0 else doc.text, (w.text for w in words), base)
        width = float(page.width or max(w.x1 for w in words))
        height = float(page.height or max(w.y1 for w in words))
        dw.page_size[page.number] = (width, height)
        dw.median_size[page.number] = float(np.median([font_size(w) for w in words]))
        for line in _lines(words):
            prev: Word | None = None
            for i in line:
                w = words[i]
                if prev is not None and w.x0 - prev.x1 > BLOCK_GAP * max(font_size(w), font_size(prev)):
                    block_no += 1
                dw.words.append(w)
                dw.pages.append(page.number)
                dw.starts.append(offsets[i][0])
                dw.ends.append(offsets[i][1])
                dw.line.append(line_no)
                dw.block.append(block_no)
                prev = w
            line_no += 1
            block_no += 1
    return dw


def word_tags(dw: DocWords, spans: Iterable[Span], outside: str = "O") -> list[str]:
    """Each word's field: the label of a span its characters overlap, else ``outside``."""
    tags = [outside] * len(dw)
    for sp in spans:
        for i in range(len(dw)):
            if dw.starts[i] >= 0 and dw.starts[i] < sp.end and dw.ends[i] > sp.start:
                tags[i] = sp.label
    return tags


def spans_from_boxes(doc: Document, boxes: Iterable[tuple[str, int, tuple[float, float, float, float]]]) -> list[Span]:
    """Character spans for fields given as boxes: (label, 1-based page, (x0, top, x1, bottom)).

    A field covers the words whose centre lies in its box (``BOX_TOLERANCE`` points of slack); its span runs
    from the first of them to the last in the text. A box holding no word gives no span.
    """
    dw = document_words(doc)
    out = []
    for label, page, (x0, y0, x1, y1) in boxes:
        t = BOX_TOLERANCE
        inside = [
            i
            for i, w in enumerate(dw.words)
            if dw.pages[i] == page
            and dw.starts[i] >= 0
            and x0 - t <= (w.x0 + w.x1) / 2 <= x1 + t
            and y0 - t <= (w.y0 + w.y1) / 2 <= y1 + t
        ]
        if inside:
            out.append(Span(min(dw.starts[i] for i in inside), max(dw.ends[i] for i in inside), label))
    return sorted(out, key=lambda s: (s.start, s.end, s.label))


def reading_order(dw: DocWords) -> list[int]:
    """Word indices in the order of the text."""
    return sorted(range(len(dw)), key=lambda i: (dw.starts[i] < 0, dw.starts[i], i))


def text_lines(dw: DocWords, order: list[int]) -> list[int]:
    """Per word (by index), its line in the text: a newline between two consecutive words starts a new one."""
    line = [0] * len(dw)
    ln = 0
    for r, i in enumerate(order):
        if r and "\n" in dw.text[max(dw.ends[order[r - 1]], 0) : max(dw.starts[i], 0)]:
            ln += 1
        line[i] = ln
    return line
