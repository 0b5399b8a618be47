"""The character sheet: a batch of pages' characters from PDFium, in pdfminer's coordinates and orientation, with
PDFium's generated spaces and line breaks dropped, dropped space glyphs put back, mirrored text in stream order
and glyphs painted twice at one spot (fake bold) kept once."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

import numpy as np

from nlpipe.readers.pdf.bindings import char_matrix, char_unicode, count_chars, font_size, get_text, loose_box
from nlpipe.readers.pdf.geometry import Frame, per_rotation, rotate_matrix, to_display
from nlpipe.readers.pdf.objects import restore_dropped_spaces, stream_order

__all__ = ["Sheet", "read_sheet"]

_WS_LUT = np.zeros(0x3002, dtype=bool)  # index min(code, 0x3001); str.isspace() has no code point above 0x3000
_WS_LUT[[c for c in range(0x3001) if chr(c).isspace()]] = True


@dataclass
class Sheet:
    """Characters of several pages (PDFium order, generated spaces and line breaks dropped), display coordinates."""

    page: np.ndarray  # slot of the character's page in the batch
    codes: np.ndarray  # uint32 code points
    ws: np.ndarray  # str.isspace()
    x0: np.ndarray
    x1: np.ndarray
    top: np.ndarray  # pdfminer's top: bottom - size (upright axis-aligned characters)
    bottom: np.ndarray
    upright: np.ndarray
    size: np.ndarray  # font size in points

    def take(self, rows: np.ndarray) -> Sheet:
        """The characters at ``rows`` (indices or a boolean mask)."""
        return Sheet(*(getattr(self, f.name)[rows] for f in fields(Sheet)))


def _loose_boxes(tps: np.ndarray, page: np.ndarray, local: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Loose boxes (left, top, right, bottom; y up) of a batch's characters. CR and LF are PDFium's line breaks:
    no box needed (they stay empty, as PDFium's own are)."""
    box = np.zeros((len(codes), 4), dtype=np.float32)
    need = np.flatnonzero((codes != 10) & (codes != 13))
    box[need] = loose_box.floats(tps[page[need]], local[need], 4)
    return box


def read_sheet(textpages: list[int], frames: list[Frame], pages: list[int] | None = None) -> Sheet | None:
    """Read the characters of a batch of text pages and put them in pdfplumber's coordinates.

    ``pages`` (the FPDF_PAGE handles) lets the few pages that need it look at their page objects: invisible
    space glyphs PDFium dropped (:func:`restore_dropped_spaces`) and the content-stream order of mirrored text
    (:func:`stream_order`).
    """
    tps = np.asarray(textpages, dtype=np.int64)
    ch = _read_chars(textpages, tps, pages)
    if ch is None:
        return None
    rots = np.asarray([f.rot for f in frames])
    kinds = sorted({f.rot for f in frames})
    rot = rots[ch.page] if len(kinds) > 1 else np.full(len(ch.page), kinds[0], dtype=rots.dtype)
    upright, axis, flip = _orientation(ch, tps, rot, (rot == 0) | (rot == 180), kinds)
    if pages is not None and axis is not None:
        order = _mirrored_order(pages, tps, ch, upright, axis, flip)
        if order is not None:
            ch, rot, upright, axis = ch.take(order), rot[order], upright[order], axis[order]
            flip = flip[order] if flip is not None else None
    boxes = np.asarray([f.box for f in frames], dtype=np.float64)
    boxes = boxes[0] if (boxes == boxes[0]).all() else boxes[ch.page].T  # one media box for all: scalars
    x0, x1, top, bottom = per_rotation(
        rot, lambda r, *v: to_display(r, v[4:], *v[:4]), ch.left, ch.bottom_up, ch.right, ch.top_up, *boxes, kinds=kinds
    )
    size, top, bottom = _pdfminer_boxes(ch, tps, rot, kinds, upright, axis, flip, top, bottom)
    sh = Sheet(ch.page, ch.codes, ch.ws, x0, x1, top, bottom, upright, size)
    keep_unique = _dedupe(sh)
    if keep_unique is not None:
        sh = sh.take(keep_unique)
    return sh


@dataclass
class _Chars:
    """A batch's characters as PDFium has them: loose boxes in page space (y up), not yet oriented."""

    page: np.ndarray  # slot of the character's page in the batch
    local: np.ndarray  # index of the character in its page's text page
    codes: np.ndarray  # uint32 code points
    ws: np.ndarray  # str.isspace()
    left: np.ndarray
    top_up: np.ndarray
    right: np.ndarray
    bottom_up: np.ndarray

    def take(self, rows: np.ndarray) -> _Chars:
        """The characters at ``rows`` (indices or a permutation)."""
        return _Chars(*(getattr(self, f.name)[rows] for f in fields(_Chars)))


def _page_codes(tp: int) -> np.ndarray | None:
    """The code points of a text page's characters (uint32); ``None`` when it has none."""
    n = count_chars(tp) if tp else 0
    if n <= 0:
        return None
    buf = np.zeros(n + 1, dtype=np.uint16)
    got = get_text(tp, 0, n, buf.ctypes.data)
    codes = buf[:n].astype(np.uint32)
    if got - 1 != n or ((codes >= 0xD800) & (codes < 0xE000)).any():
        # the text buffer does not line up with the character list (surrogates, dropped characters)
        codes = np.fromiter(map(char_unicode, itertools.repeat(tp, n), range(n)), dtype=np.uint32, count=n)
    return codes


def _read_chars(textpages: list[int], tps: np.ndarray, pages: list[int] | None) -> _Chars | None:
    """The batch's characters and loose boxes without PDFium's generated spaces and line breaks, and (with
    ``pages``) with the space glyphs it dropped put back. ``None`` when no character is left."""
    parts_codes, counts = [], []
    for tp in textpages:
        page_codes = _page_codes(tp)
        counts.append(0 if page_codes is None else len(page_codes))
        if page_codes is not None:
            parts_codes.append(page_codes)
    if not parts_codes:
        return None
    codes = np.concatenate(parts_codes)
    ns = np.asarray(counts)
    page = np.repeat(np.arange(len(ns)), ns)
    local = np.arange(len(codes)) - np.repeat(np.cumsum(ns) - ns, ns)  # index within the page's text page
    box = _loose_boxes(tps, page, local, codes)  # left, top, right, bottom (y up), float32
    if not np.isfinite(box).all():
        box = np.nan_to_num(box, nan=0.0, posinf=0.0, neginf=0.0)
    ws = _WS_LUT[np.minimum(codes, 0x3001)]
    ch = _Chars(page, local, codes, ws, box[:, 0], box[:, 1], box[:, 2], box[:, 3])  # views: see box's changes

    # PDFium's generated spaces and line breaks (always U+0020, CR, LF) have empty boxes; a character it read
    # from the page never has one (PDFium widens an empty glyph box to the font size and advance), so no need to
    # ask FPDFText_IsGenerated, which costs three times a box. Other empty-box whitespace is kept.
    empty_ws = ws & (ch.left == ch.right) & (ch.top_up == ch.bottom_up)
    generated = empty_ws & ((codes == 32) | (codes == 10) | (codes == 13))
    keep = (codes != 0) & ~generated
    if pages is not None and generated.any():
        restore_dropped_spaces(np.flatnonzero(generated & (codes == 32)), textpages, pages, page, local, box, ws, keep)
    if keep.all():
        return ch
    idx = np.flatnonzero(keep)
    return ch.take(idx) if len(idx) else None


def _orientation(
    ch: _Chars, tps: np.ndarray, rot: np.ndarray, default_up: np.ndarray, kinds: list[int]
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Each character's orientation as displayed: ``(upright, axis, flip)``.

    ``upright`` is pdfminer's; ``axis``: axis-aligned (``None``: every character is); ``flip``: axis-aligned but
    mirrored top to bottom, matrix d < 0 as displayed (``None``: no character is). A character on the same
    baseline box as the next or previous non-space character of its page, and left of the next, looks like plain
    horizontal text; PDFium is asked for the matrix of the first character of each such run (a mirrored or
    rotated run can look plain too; the rest of the run follows its first character) and of every other
    character. Whitespace takes the orientation of the character before it on its page.
    """
    nwi = np.flatnonzero(~ch.ws)
    if not len(nwi):
        return default_up, None, None
    bn, tn, ln, pn = ch.bottom_up[nwi], ch.top_up[nwi], ch.left[nwi], ch.page[nwi]
    same = (
        (pn[1:] == pn[:-1])
        & (np.abs(bn[1:] - bn[:-1]) < 0.01)
        & (np.abs(tn[1:] - tn[:-1]) < 0.01)
        & (ln[1:] >= ln[:-1] - 0.01)
    )
    paired = np.zeros(len(nwi), dtype=bool)
    paired[1:] |= same
    paired[:-1] |= same
    plain = paired & (tn > bn)
    run_start = plain.copy()
    run_start[1:] &= ~(plain[:-1] & same)
    ask = np.flatnonzero(~plain | run_start)
    up_ask, axis_ask, flip_ask = _matrix_orientation(ch, tps, rot, kinds, nwi[ask])
    unusual = (up_ask != default_up[nwi[ask]]) | ~axis_ask | flip_ask
    if not unusual.any():
        return default_up, None, None
    up_nw = default_up[nwi].copy()
    up_nw[ask] = up_ask
    axis_nw = np.ones(len(nwi), dtype=bool)
    axis_nw[ask] = axis_ask
    flip_nw = np.zeros(len(nwi), dtype=bool)
    flip_nw[ask] = flip_ask
    # the rest of a plain-looking run is oriented like its first character
    member = np.flatnonzero(plain & ~run_start)
    if len(member):
        first = np.flatnonzero(run_start)[np.cumsum(run_start)[member] - 1]
        up_nw[member], axis_nw[member], flip_nw[member] = up_nw[first], axis_nw[first], flip_nw[first]
    m = len(ch.codes)
    if len(nwi) < m:  # whitespace: as the character before it on its page, else the page's default
        src = np.searchsorted(nwi, np.arange(m), side="right") - 1
        alone = (src < 0) | (ch.page[nwi[np.maximum(src, 0)]] != ch.page)
        src[src < 0] = 0
        up_nw, axis_nw, flip_nw = up_nw[src], axis_nw[src], flip_nw[src]
        up_nw[alone], axis_nw[alone], flip_nw[alone] = default_up[alone], True, False
    return up_nw, axis_nw, (flip_nw if flip_nw.any() else None)


def _matrix_orientation(
    ch: _Chars, tps: np.ndarray, rot: np.ndarray, kinds: list[int], idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upright, axis-aligned, mirrored top to bottom) of the characters ``idx`` from PDFium's matrices."""
    mo = char_matrix.floats(tps[ch.page[idx]], ch.local[idx], 6)
    a, b, c, d = per_rotation(rot[idx], rotate_matrix, *(mo[:, k].astype(np.float64) for k in range(4)), kinds=kinds)
    eps = 1e-4 * np.maximum(np.abs(a) + np.abs(b) + np.abs(c) + np.abs(d), 1e-9)
    a, b, c, d = (np.where(np.abs(v) < eps, 0.0, v) for v in (a, b, c, d))
    axis_aligned = (b == 0) & (c == 0)
    return (a * d > 0) & (b * c <= 0), axis_aligned, axis_aligned & (d < 0)  # pdfminer's upright


def _mirrored_order(
    pages: list[int], tps: np.ndarray, ch: _Chars, upright: np.ndarray, axis: np.ndarray, flip: np.ndarray | None
) -> np.ndarray | None:
    """:func:`stream_order` for pages with mirrored characters; ``None`` when nothing moves."""
    mirrored = axis & ~upright  # axis-aligned as displayed yet not upright: mirrored left to right
    if flip is not None:
        mirrored |= flip & ~upright
    if not mirrored.any():
        return None
    return stream_order(pages, tps, ch.page, ch.local, mirrored)


def _pdfminer_boxes(
    ch: _Chars,
    tps: np.ndarray,
    rot: np.ndarray,
    kinds: list[int],
    upright: np.ndarray,
    axis: np.ndarray | None,
    flip: np.ndarray | None,
    top: np.ndarray,
    bottom: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Font sizes and pdfminer's (top, bottom) from the display boxes' ``top`` and ``bottom``.

    pdfminer's char box is [baseline + descent, baseline + descent + size]; PDFium's loose box shares the bottom
    but ends at the font's ascent, so for upright axis-aligned text pdfminer's top is bottom - size. Characters
    of a page with the same loose-box height share a font and size: PDFium is asked for the size once per such
    class.
    """
    m = len(ch.codes)
    key = ch.page.astype(np.int64) * (1 << 32) + np.rint((ch.top_up - ch.bottom_up) * 64).astype(np.int64)
    change = np.empty(m, dtype=bool)
    change[0] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    run_first = np.flatnonzero(change)
    classes, pos, run_cls = np.unique(key[run_first], return_index=True, return_inverse=True)
    cls = run_cls[np.cumsum(change) - 1]
    rep = run_first[pos]
    rep_tp, rep_local = tps[ch.page[rep]], ch.local[rep]
    fsize = font_size.values(rep_tp, rep_local)
    rmat = char_matrix.floats(rep_tp, rep_local, 6).astype(np.float64)
    ra, rb, rc, rd = per_rotation(rot[rep], rotate_matrix, rmat[:, 0], rmat[:, 1], rmat[:, 2], rmat[:, 3], kinds=kinds)
    size_axis = (fsize * np.abs(rd))[cls]
    size_any = (fsize * np.sqrt(np.abs(ra * rd - rb * rc)))[cls]
    fix = upright if axis is None else upright & axis
    if axis is not None:  # mirrored left to right: pdfminer's box is still [bottom - size, bottom] as displayed
        fix = fix | (axis & ~upright & (flip is None or ~flip))
    size = np.where(fix if axis is None else axis, size_axis, size_any)
    top = np.where(fix & (size > 0), bottom - size, top)
    if flip is not None:  # mirrored top to bottom: PDFium's top is pdfminer's, the box hangs from it
        bottom = np.where(flip & (size > 0), top + size, bottom)
    return size, top, bottom


_DEDUPE_TOL = 1.0  # pdfplumber's dedupe_chars tolerance, points


def _dedupe(sh: Sheet) -> np.ndarray | None:
    """Which characters to keep once glyphs painted twice or more at the same spot (fake bold, shadows) are
    dropped, the way pdfplumber's ``dedupe_chars()`` drops them: among characters of one page with the same
    uprightness, code and font size whose tops chain within 1 pt and then whose x0s chain within 1 pt, the one
    with the smallest (top, x0) stays. PDFium's pieces of a ligature (``ﬃ`` -> f, f, i: consecutive, one box)
    are one pdfminer character and always stay. ``None`` when nothing is dropped (the usual case)."""
    n = len(sh.codes)
    if n < 2:
        return None
    # Cheap look first (one sort): pages where two characters of one code share a 1-pt cell of (x0, top). A copy
    # painted a fraction of a point off its glyph nearly always shares its cell; only those pages are
    # deduplicated, all of their characters. PDFium's pieces of a ligature share a box and are left out.
    piece = np.zeros(n, dtype=bool)
    piece[1:] = (sh.x0[1:] == sh.x0[:-1]) & (sh.x1[1:] == sh.x1[:-1]) & (sh.top[1:] == sh.top[:-1])
    cell = (
        (sh.page.astype(np.int64) << 53)
        | (sh.codes.astype(np.int64) << 32)
        | (np.clip(np.rint(sh.top), 0, 0xFFFF).astype(np.int64) << 16)
        | np.clip(np.rint(sh.x0), 0, 0xFFFF).astype(np.int64)
    )
    cell = np.sort(cell[~piece])
    twins = cell[1:][cell[1:] == cell[:-1]]
    if not len(twins):
        return None
    near = np.isin(sh.page, np.unique(twins >> 53))
    rows = np.flatnonzero(near)
    keep = np.ones(n, dtype=bool)
    sub = sh.take(rows)
    kept = _dedupe_all(sub)
    if kept is None:
        return None
    keep[rows[~kept]] = False
    return keep


def _dedupe_all(sh: Sheet) -> np.ndarray | None:
    """:func:`_dedupe` on every character of ``sh``."""
    n = len(sh.codes)
    piece = np.zeros(n, dtype=bool)
    piece[1:] = (
        (sh.x0[1:] == sh.x0[:-1])
        & (sh.x1[1:] == sh.x1[:-1])
        & (sh.top[1:] == sh.top[:-1])
        & (sh.page[1:] == sh.page[:-1])
    )
    sel = np.flatnonzero(~piece) if piece.any() else np.arange(n)
    size = np.clip(np.rint(sh.size[sel] * 100).astype(np.int64), 0, (1 << 20) - 1)
    key = (
        (sh.page[sel].astype(np.int64) << 42)
        | (sh.upright[sel].astype(np.int64) << 41)
        | (sh.codes[sel].astype(np.int64) << 20)
        | size
    )
    top = sh.top[sel]
    o = np.lexsort((top, key))
    ko, to = key[o], top[o]
    start = np.empty(len(sel), dtype=bool)
    start[0] = True
    start[1:] = (ko[1:] != ko[:-1]) | (to[1:] - to[:-1] > _DEDUPE_TOL)
    if start[1:].all():  # no two alike characters whose tops are that close
        return None
    c1 = np.cumsum(start) - 1  # top cluster of each sorted character
    multi = np.bincount(c1)[c1] >= 2
    idx = sel[o[multi]]
    cl = c1[multi]
    o2 = np.lexsort((sh.x0[idx], cl))
    idx, cl = idx[o2], cl[o2]
    xs = sh.x0[idx]
    xstart = np.empty(len(idx), dtype=bool)
    xstart[0] = True
    xstart[1:] = (cl[1:] != cl[:-1]) | (xs[1:] - xs[:-1] > _DEDUPE_TOL)
    c2 = np.cumsum(xstart) - 1
    o3 = np.lexsort((xs, sh.top[idx], c2))
    first = np.empty(len(idx), dtype=bool)
    first[0] = True
    first[1:] = c2[o3][1:] != c2[o3][:-1]
    if first.all():
        return None
    keep = np.ones(n, dtype=bool)
    keep[idx[o3[~first]]] = False
    return keep
