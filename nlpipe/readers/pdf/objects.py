"""What the page's objects say where its characters do not: space glyphs PDFium dropped, the content-stream order
of mirrored text, text objects PDFium could not decode, and how much of the page images cover."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pypdfium2.raw as pdfium_c

from nlpipe.readers.pdf.bindings import (
    count_objects,
    form_count,
    form_object,
    get_object,
    object_bounds,
    object_type,
    page_object,
    text_object,
)
from nlpipe.readers.pdf.geometry import TOL, Frame

__all__ = ["restore_dropped_spaces", "stream_order", "empty_text_objects", "image_cover"]

_DROPPED_SCAN = 16  # most objects looked at between two neighbouring characters' text objects


def restore_dropped_spaces(
    generated: np.ndarray,
    textpages: list[int],
    pages: list[int],
    page: np.ndarray,
    local: np.ndarray,
    box: np.ndarray,
    ws: np.ndarray,
    keep: np.ndarray,
) -> None:
    """Put back space glyphs PDFium dropped, in place (``box``, ``local``, ``keep``).

    PDFium skips a text object without width -- a lone space or no-break space, whose glyph has no ink -- and
    may generate a space of its own in the gap. pdfminer keeps the glyph, so pdfplumber breaks the word there
    even when the gap is under its 3 pt tolerance. Only such narrow gaps matter (a wider one breaks the word
    anyway): where a generated space sits in one and a zero-width text object of the page lies in it, the
    generated space becomes a real one spanning the gap, on the left neighbour's line.
    """
    n = len(page)
    g = generated[(generated > 0) & (generated < n - 1)]
    if not len(g):
        return
    prev, nxt = g - 1, g + 1
    left, top_up, right, bottom_up = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    gap = left[nxt] - right[prev]
    narrow = (
        (page[prev] == page[g])
        & (page[nxt] == page[g])
        & ~ws[prev]
        & ~ws[nxt]
        & (gap <= TOL)
        & (gap > -TOL)
        & (np.abs(bottom_up[nxt] - bottom_up[prev]) < 0.5)
        & (top_up[prev] > bottom_up[prev])
    )
    if not narrow.any():
        return
    g, prev, nxt = g[narrow], prev[narrow], nxt[narrow]
    # a dropped object lies between the two neighbours' text objects in the content stream, never inside one
    tps = np.asarray(textpages, dtype=np.int64)[page[g]]
    before = text_object.values(tps, local[prev])
    after = text_object.values(tps, local[nxt])
    between = (before != 0) & (after != 0) & (before != after)
    if not between.any():
        return
    g, prev, nxt, before, after = g[between], prev[between], nxt[between], before[between], after[between]
    # only pairs with a few objects between them in the stream are looked at
    lo, hi = _stream_positions(pages, page[g], before, after)
    gap_objects = np.abs(hi - lo)
    look = np.flatnonzero((lo >= 0) & (hi >= 0) & (gap_objects > 1) & (gap_objects <= _DROPPED_SCAN))
    if not len(look):
        return
    cells = np.zeros(4, dtype=np.float32)
    base = cells.ctypes.data
    for j in look.tolist():
        k, a, b = int(g[j]), int(prev[j]), int(nxt[j])
        handle = pages[int(page[k])]
        x0, x1 = min(right[a], left[b]) - 0.5, max(right[a], left[b]) + 0.5
        for i in range(min(lo[j], hi[j]) + 1, max(lo[j], hi[j])):
            obj = get_object(handle, i)
            if object_type(obj) != pdfium_c.FPDF_PAGEOBJ_TEXT:
                continue
            object_bounds(obj, base, base + 4, base + 8, base + 12)
            ox0, oy0, ox1, _ = cells.tolist()
            if ox1 - ox0 < 0.01 and x0 <= ox0 <= x1 and bottom_up[a] - 0.5 <= oy0 <= top_up[a]:
                box[k] = (min(right[a], left[b]), top_up[a], max(right[a], left[b]), bottom_up[a])
                local[k] = local[a]
                keep[k] = True
                break


def _stream_positions(
    pages: list[int], slot: np.ndarray, before: np.ndarray, after: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions in their page's object list of the text objects ``before`` and ``after`` (on the pages
    ``slot``), -1 where the object is not one of the page's own; looked up a page at a time."""
    lo = np.full(len(slot), -1, dtype=np.int64)
    hi = np.full(len(slot), -1, dtype=np.int64)
    for s in np.unique(slot).tolist():
        sel = np.flatnonzero(slot == s)
        handle = pages[s]
        count = count_objects(handle)
        objs = page_object.values(np.full(count, handle, dtype=np.int64), np.arange(count, dtype=np.int64))
        order = np.argsort(objs, kind="stable")
        ranked = objs[order]
        for obj, out in ((before[sel], lo), (after[sel], hi)):
            at = np.minimum(np.searchsorted(ranked, obj), max(count - 1, 0))
            found = ranked[at] == obj if count else np.zeros(len(sel), dtype=bool)
            out[sel] = np.where(found, order[at] if count else -1, -1)
    return lo, hi


def stream_order(
    pages: list[int], tps: np.ndarray, page: np.ndarray, local: np.ndarray, mirrored: np.ndarray
) -> np.ndarray | None:
    """A permutation putting the characters of pages with mirrored text in content-stream order.

    PDFium orders the text objects of a line by their origin's x, which scrambles mirrored runs (drawn right to
    left); pdfminer keeps the stream order, and for such text pdfplumber's sort leaves ties in that order. The
    page's objects are numbered depth first (form XObjects where they are drawn) and each character sorted by
    its object's number, keeping PDFium's order inside an object. ``None`` when no page needs it.
    """
    slots = np.unique(page[mirrored]).tolist()
    if not slots:
        return None
    order = np.arange(len(page))
    bounds = np.searchsorted(page, np.arange(len(pages) + 1))
    changed = False
    for slot in slots:
        a, b = int(bounds[slot]), int(bounds[slot + 1])
        seq = _object_sequence(pages[slot])
        objs = text_object.values(np.full(b - a, tps[slot], dtype=np.int64), local[a:b]).tolist()
        rank = np.fromiter((seq.get(o, -1) for o in objs), dtype=np.int64, count=b - a)
        if (rank < 0).all():
            continue
        known = np.maximum.accumulate(np.where(rank >= 0, np.arange(b - a), 0))
        rank = rank[known]  # a character of an unknown object follows the character before it
        sub = np.argsort(rank, kind="stable")
        if (sub != np.arange(b - a)).any():
            order[a:b] = a + sub
            changed = True
    return order if changed else None


def _object_sequence(page: int) -> dict[int, int]:
    """Page objects (form XObjects' objects included, where the form is drawn) numbered in stream order."""
    seq: dict[int, int] = {}
    stack: list[tuple[int, bool, int, int]] = [(page, False, 0, count_objects(page))]
    while stack:
        parent, form, i, count = stack.pop()
        while i < count:
            obj = form_object(parent, i) if form else get_object(parent, i)
            i += 1
            if not obj:
                continue
            seq[obj] = len(seq)
            if object_type(obj) == pdfium_c.FPDF_PAGEOBJ_FORM and len(stack) < 8:
                stack.append((parent, form, i, count))
                parent, form, i, count = obj, True, 0, form_count(obj)
    return seq


def empty_text_objects(page: Any, limit: int) -> int:
    """Text objects with empty bounds (form XObjects included, two levels deep); counting stops past ``limit``.

    PDFium gives a text object empty bounds when it cannot load the font's glyphs; such objects yield no
    characters. Space-only objects have empty bounds too, hence the comparison with the page's characters.
    """
    count = 0
    vals = [ctypes.c_float() for _ in range(4)]
    refs = list(map(ctypes.byref, vals))
    stack = [(page, pdfium_c.FPDFPage_CountObjects, pdfium_c.FPDFPage_GetObject, 0)]
    while stack:
        parent, count_fn, get_fn, depth = stack.pop()
        for i in range(count_fn(parent)):
            obj = get_fn(parent, i)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
                pdfium_c.FPDFPageObj_GetBounds(obj, *refs)
                left, bottom, right, top = (v.value for v in vals)
                if (right - left) * (top - bottom) <= 0:
                    count += 1
                    if count > limit:
                        return count
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth < 2:
                stack.append((obj, pdfium_c.FPDFFormObj_CountObjects, pdfium_c.FPDFFormObj_GetObject, depth + 1))
    return count


def image_cover(page: Any, frame: Frame) -> float:
    """Share of the page area covered by image objects (sum of their bounds, capped at 1)."""
    width, height = frame.size
    area = max(width * height, 1e-9)
    covered = 0.0
    stack = [(page, pdfium_c.FPDFPage_CountObjects, pdfium_c.FPDFPage_GetObject, 0)]
    vals = [ctypes.c_float() for _ in range(4)]
    refs = list(map(ctypes.byref, vals))
    while stack:
        parent, count_fn, get_fn, depth = stack.pop()
        for i in range(count_fn(parent)):
            obj = get_fn(parent, i)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE and pdfium_c.FPDFPageObj_GetBounds(obj, *refs):
                left, bottom, right, top = (v.value for v in vals)
                x0, x1, y0, y1 = frame.rect(left, bottom, right, top)
                w = min(x1, width) - max(x0, 0.0)
                h = min(y1, height) - max(y0, 0.0)
                if w > 0 and h > 0:
                    covered += w * h
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth < 2:
                stack.append((obj, pdfium_c.FPDFFormObj_CountObjects, pdfium_c.FPDFFormObj_GetObject, depth + 1))
    return min(covered / area, 1.0)
