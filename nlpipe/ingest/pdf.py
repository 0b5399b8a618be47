"""Read PDFs into :class:`~nlpipe.types.Document`: text per page, words with boxes, OCR where there is no text.

Which tool does what
--------------------
**pypdfium2 (PDFium): the text layer, fast** (:func:`pdf_page_texts`, and the text and words of
:func:`read_pdf`). PDFium's text page gives each character's code and its loose box (font advance, descent
and ascent; ``FPDFText_GetLooseCharBox``); the character matrix is asked for where the orientation is not obvious
from the neighbours and for the first character of each run that looks plain (the rest of the run follows it),
the font size once per page and box height. These per-character calls run in a C loop, the small extension
``nlpipe.ingest._pdfium_calls`` built at install (``setup.py``); where it could not be built (no C compiler),
the same calls go through ctypes, with the same results, a few times slower (see :class:`_Many`). PDFium's own
reading order and spacing are *not* used: the characters are laid out in NumPy the way pdfplumber's
``page.extract_text()`` lays them out (several pages at once, see ``_BATCH_PAGES``):

* pdfminer's coordinates: origin at the top-left of the media box as displayed (``/Rotate`` applied), and
  ``top = bottom - font size`` (pdfminer's box; PDFium's ends at the font's ascent instead; text mirrored top
  to bottom hangs ``font size`` below PDFium's top);
* per page, characters form runs of equal uprightness (pdfminer's definition); in each run, lines are chained
  3 pt clusters of ``top`` and characters are sorted by ``x0`` (vertical text: clusters of ``x0``, sorted by
  ``top``);
* a word ends at a whitespace character, a gap of more than 3 pt, a step back, or a jump of more than 3 pt
  across the line; PDFium's generated spaces and line breaks are dropped (pdfminer has none);
* consecutive words whose tops fall in one page-wide 3 pt cluster share a text line; words are joined by a
  space, lines by a newline; ligatures U+FB00-FB06 are expanded.

Where PDFium sees other characters than pdfminer, the fast path corrects for it:

* a text object holding only a space or no-break space has no width (its glyph has no ink) and PDFium drops
  it; where such an object sits in a gap narrower than 3 pt between two words, the space is put back, as
  pdfplumber breaks the word there (:func:`_restore_dropped_spaces`; the page's objects are looked at only
  where PDFium generated a space in such a gap between two text objects);
* mirrored text (matrix ``a < 0`` or ``d < 0`` as displayed) is put back in content-stream order, which PDFium
  changes by sorting a line's text objects by x and pdfplumber keeps for ties (:func:`_stream_order`);
* glyphs painted two or more times at (nearly) one spot -- fake bold, shadows -- are kept once, by
  pdfplumber's ``dedupe_chars()`` rule (:func:`_dedupe`; pages are checked with one sort).

On pdfplumber's own test corpus the fast path gives pdfplumber's ``extract_text()`` (normalised similarity >=
0.98) on 221 of 246 pages at about 30 times its speed, 24 without the C loop (``benchmarks/ingest.py``, which
checks the other 25): on 19 of them pdfplumber's text is the odd one out -- it keeps every copy of fake-bold
glyphs ("项项目目"), and it sorts space glyphs painted under a column of dates in between the digits ("0 3 / 2
5"; PDFium folds a run of spaces into one) -- and the fast path matches pdfplumber's text without them; 6 pages
use a non-embedded CJK font (``GBK-EUC-H`` without ``/ToUnicode``) that PDFium cannot decode and pdfminer's CMaps
can: :func:`read_pdf` reads those with pdfplumber.

**Words** (``words=True``) come from the same characters and rules, as pdfplumber's
``extract_words(extra_attrs=["size"])`` makes them: a word also ends where the font size changes, and carries
the size of its first character (``Word.size``, points). Boxes (``x0, y0=top, x1, y1=bottom``) are in PDF
points in the coordinates above, clipped to the page. They agree with pdfplumber's words (same text, IoU >=
0.5) wherever both see the same characters, and cost a fraction of pdfplumber's time.

**pdfplumber: the fallback, and tables.** A file PDFium cannot open is read by pdfplumber if pdfminer can
(every page then in ``meta["fallback_pages"]``; no OCR, which renders with PDFium). A page PDFium cannot
load, or whose text it could not decode -- more text objects with empty bounds (glyphs PDFium failed to load)
than characters, e.g. the CJK fonts above -- is read by pdfplumber instead, unless pdfplumber finds no more
text. :func:`pdf_tables` extracts tables with pdfplumber; PDFium has no notion of tables.
:func:`pdf_page_texts` is the fast path alone and never falls back.

**Tesseract: pages without a usable text layer** (:mod:`nlpipe.ingest.ocr`). ``ocr="auto"`` OCRs a page with
fewer than ``MIN_TEXT_CHARS`` printable characters whose images cover at least ``MIN_IMAGE_COVER`` of it (a
scan; a blank or vector-only page is left alone), or whose characters are mostly undecodable (more than
``MAX_GARBAGE_SHARE`` U+FFFD, private-use or control characters). ``"always"`` OCRs every page, ``"never"``
none; pages left without text are listed in ``meta["no_text_pages"]``. An OCR'd page replaces the text-layer
page (``Page.ocr``); its words have boxes in the same coordinates.

Document text is the pages' texts joined with ``PAGE_SEPARATOR`` (``"\\n\\f\\n"``: a form feed on a line of its
own marks each page break); ``meta["page_offsets"]`` says where each page starts in it.

PDFium is not thread-safe: every call into it here holds ``PDFIUM_LOCK`` (OCR workers are processes).

Errors (all name the file, and the page where there is one): E150 empty file, E151 not a PDF, E152 truncated
(no ``%%EOF``), E153 damaged (neither PDFium nor pdfplumber can open it), E154 encrypted and no password,
E155 wrong password, E156 unsupported encryption, E157 more pages than ``max_pages``
(:class:`~nlpipe.errors.LimitError`), E158 no pages, E159 a page neither PDFium nor pdfplumber can read, E160
an invalid option; OCR errors E161-E166 are listed in :mod:`nlpipe.ingest.ocr`.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import itertools
import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from nlpipe.errors import InputError, LimitError, NlpipeError
from nlpipe.types import Document, Page, Word

try:  # the C loop over PDFium's per-character calls, built at install when a C compiler is there (setup.py)
    from nlpipe.ingest import _pdfium_calls as _native
except ImportError:  # pragma: no cover - depends on the install; the same calls go through ctypes
    _native = None

__all__ = [
    "read_pdf",
    "pdf_page_texts",
    "pdf_tables",
    "PAGE_SEPARATOR",
    "OCR_MODES",
    "MIN_TEXT_CHARS",
    "PDFIUM_LOCK",
]

PAGE_SEPARATOR = "\n\f\n"
OCR_MODES = ("auto", "always", "never")
MIN_TEXT_CHARS = 20
MIN_IMAGE_COVER = 0.10
MAX_GARBAGE_SHARE = 0.5
MIN_DPI, MAX_DPI = 50, 1200
PDFIUM_LOCK = threading.RLock()

_TOL = 3.0  # pdfplumber's default x_tolerance / y_tolerance
_HEAD = 1024  # PDFium, like Acrobat, accepts junk before %PDF- within the first 1024 bytes
_LIGATURES = {"ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl", "ﬁ": "fi", "ﬂ": "fl", "ﬆ": "st", "ﬅ": "st"}
_LIGATURE_TABLE = str.maketrans(_LIGATURES)
_WS_LUT = np.zeros(0x3002, dtype=bool)  # index min(code, 0x3001); str.isspace() has no code point above 0x3000
_WS_LUT[[c for c in range(0x3001) if chr(c).isspace()]] = True


# ----------------------------------------------------------------------------------------------- errors


def _fail(
    code: str, message: str, source: str, page: int | None = None, kind: type[NlpipeError] = InputError
) -> NlpipeError:
    where = f"{source}, page {page}" if page is not None else source
    return kind(code, f"{where}: {message}", file=source, page=page)


def _check_options(source: str, ocr: str, ocr_dpi: int, ocr_workers: int, max_pages: int) -> None:
    if ocr not in OCR_MODES:
        raise _fail("E160", f"unknown OCR mode '{ocr}'; use one of: {', '.join(OCR_MODES)} (--ocr)", source)
    if not MIN_DPI <= int(ocr_dpi) <= MAX_DPI:
        raise _fail(
            "E160", f"OCR resolution {ocr_dpi} dpi is outside {MIN_DPI}-{MAX_DPI}; 300 suits most scans", source
        )
    if int(ocr_workers) < 0:
        raise _fail("E160", f"OCR workers must be 0 (one per CPU core) or more, not {ocr_workers}", source)
    if int(max_pages) < 1:
        raise _fail("E160", f"max_pages must be at least 1, not {max_pages} (NLPIPE_MAX_PAGES)", source)


def _open_error(data: bytes, source: str, password: str | None, exc: pdfium.PdfiumError) -> NlpipeError:
    code = getattr(exc, "err_code", None)
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        if password:
            return _fail(
                "E155", "wrong password for this encrypted PDF; check it and pass the right one (--password)", source
            )
        return _fail("E154", "the PDF is encrypted; pass its password (--password)", source)
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return _fail(
            "E156", "the PDF uses an encryption scheme that cannot be opened; re-save it without encryption", source
        )
    if b"%PDF" not in data[:_HEAD]:
        return _not_pdf(data, source)
    return _fail("E153", f"the PDF is damaged and cannot be opened ({exc}); re-export or re-download it", source)


def _not_pdf(data: bytes, source: str) -> NlpipeError:
    head = data[:8]
    shown = head.decode("ascii") if head.isascii() and head.decode("ascii").isprintable() else head.hex(" ")
    return _fail("E151", f"not a PDF (it starts with {shown!r}, not '%PDF-'); check the file type", source)


def _check_bytes(data: bytes, source: str) -> None:
    if not data:
        raise _fail("E150", "the file is empty (0 bytes); upload it again", source)
    if b"%PDF" not in data[:_HEAD]:
        raise _not_pdf(data, source)
    if data.rfind(b"%%EOF") < 0:
        raise _fail(
            "E152",
            "the PDF is truncated (no %%EOF end marker); the download or copy was cut short, get it again",
            source,
        )


# ----------------------------------------------------------------------------------------------- PDFium plumbing

_V, _I = ctypes.c_void_p, ctypes.c_int


def _proto(fn: Any, restype: Any, *argtypes: Any) -> Any:
    """The same C function with plain ``void*``/``int`` arguments, so ``map`` can feed it addresses.

    Declared like a Python C-API function (``PYFUNCTYPE``): the GIL stays held, which saves releasing and
    taking it back around each of these sub-microsecond calls (they never call back into Python).
    """
    return ctypes.PYFUNCTYPE(restype, *argtypes)(ctypes.cast(fn, ctypes.c_void_p).value)


class _Many:
    """A PDFium function ``f(handle, index[, out])`` called for many (handle, index) pairs in one go.

    With the C extension ``_pdfium_calls`` the loop runs in C (about 20 ns a call); without it, through ctypes
    (``map`` over a ``PYFUNCTYPE`` prototype: about 0.6 us a call). Both make the same calls, so both give the
    same results. ``handles`` and ``index`` are int64 arrays of one length.
    """

    def __init__(self, fn: Any, restype: Any, *argtypes: Any) -> None:
        self.address = ctypes.cast(fn, ctypes.c_void_p).value
        self.restype = restype
        self.call = _proto(fn, restype, *argtypes)

    def floats(self, handles: np.ndarray, index: np.ndarray, width: int) -> np.ndarray:
        """``int f(handle, index, float out[width])``: a ``len x width`` float32 array."""
        n = len(index)
        out = np.zeros((n, width), dtype=np.float32)
        if n:
            if use_native():
                _native.fill(self.address, _int64(handles), _int64(index), out, 4 * width)
            else:
                base, step = out.ctypes.data, 4 * width
                _consume(map(self.call, handles.tolist(), index.tolist(), range(base, base + step * n, step)))
        return out

    def values(self, handles: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``double f(handle, index)`` (a float64 array) or ``void* f(handle, index)`` (uint64 addresses, 0 for
        NULL), by the function's return type."""
        n = len(index)
        floating = self.restype is ctypes.c_double
        dtype = np.float64 if floating else np.uint64
        if use_native():
            out = np.zeros(n, dtype=dtype)
            if n:
                (_native.doubles if floating else _native.pointers)(self.address, _int64(handles), _int64(index), out)
            return out
        got = map(self.call, handles.tolist(), index.tolist())
        return np.fromiter(got if floating else (v or 0 for v in got), dtype, n)


def use_native() -> bool:
    """Whether PDFium's per-character calls run in the C extension (else through ctypes)."""
    return _native is not None


def _int64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


_loose_box = _Many(pdfium_c.FPDFText_GetLooseCharBox, _I, _V, _I, _V)
_char_matrix = _Many(pdfium_c.FPDFText_GetMatrix, _I, _V, _I, _V)
_font_size = _Many(pdfium_c.FPDFText_GetFontSize, ctypes.c_double, _V, _I)
_unicode = _proto(pdfium_c.FPDFText_GetUnicode, ctypes.c_uint, _V, _I)
_get_text = _proto(pdfium_c.FPDFText_GetText, _I, _V, _I, _I, _V)
_count_chars = _proto(pdfium_c.FPDFText_CountChars, _I, _V)
_media_box = _proto(pdfium_c.FPDFPage_GetMediaBox, _I, _V, _V, _V, _V, _V)
_consume = deque(maxlen=0).extend


def _addr(handle: Any) -> int:
    return ctypes.cast(handle, ctypes.c_void_p).value or 0


def _page_box(page: Any) -> tuple[float, float, float, float]:
    """The media box (left, bottom, right, top); PDFium's page bounding box when the page has none of its own."""
    vals = np.zeros(4, dtype=np.float32)
    base = vals.ctypes.data
    if _media_box(_addr(page), base, base + 4, base + 8, base + 12):
        left, bottom, right, top = vals.tolist()
    else:
        rect = pdfium_c.FS_RECTF()
        pdfium_c.FPDF_GetPageBoundingBox(page, rect)
        left, bottom, right, top = rect.left, rect.bottom, rect.right, rect.top
    return min(left, right), min(bottom, top), max(left, right), max(bottom, top)


@dataclass
class _Frame:
    """Page space -> display space (origin top-left, y down, ``/Rotate`` applied), as pdfminer's CTM does it."""

    box: tuple[float, float, float, float]
    rot: int

    @property
    def size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (y1 - y0, x1 - x0) if self.rot in (90, 270) else (x1 - x0, y1 - y0)

    def rect(self, left: Any, bottom: Any, right: Any, top: Any) -> tuple[Any, Any, Any, Any]:
        """(x0, x1, top, bottom) in display space of page-space rectangles (scalars or arrays)."""
        return _to_display(self.rot, self.box, left, bottom, right, top)


def _to_display(rot: int, box: Any, left: Any, bottom: Any, right: Any, top: Any) -> tuple[Any, Any, Any, Any]:
    x0m, y0m, x1m, y1m = box
    if rot == 90:
        return bottom - y0m, top - y0m, left - x0m, right - x0m
    if rot == 180:
        return x1m - right, x1m - left, bottom - y0m, top - y0m
    if rot == 270:
        return y1m - top, y1m - bottom, x1m - right, x1m - left
    return left - x0m, right - x0m, y1m - top, y1m - bottom


def _rotate_matrix(rot: int, a: Any, b: Any, c: Any, d: Any) -> tuple[Any, Any, Any, Any]:
    """A character matrix's (a, b, c, d) after a page rotation of ``rot`` degrees."""
    if rot == 90:
        return b, -a, d, -c
    if rot == 180:
        return -a, -b, -c, -d
    if rot == 270:
        return -b, a, -d, c
    return a, b, c, d


def _per_rotation(rot: np.ndarray, fn: Any, *arrays: np.ndarray, kinds: list[int]) -> tuple[np.ndarray, ...]:
    """Apply ``fn(rot, *arrays)`` per rotation value, for arrays whose elements have different rotations.

    ``kinds``: the rotations that may occur (the batch's pages'), so one rotation needs no look at ``rot``."""
    if len(kinds) == 1:
        return tuple(np.asarray(v) for v in fn(kinds[0], *arrays))
    outs = [np.empty(len(rot), dtype=np.float64) for _ in range(4)]
    for r in np.unique(rot).tolist():
        sel = rot == r
        for out, v in zip(outs, fn(int(r), *(x[sel] for x in arrays)), strict=True):
            out[sel] = v
    return tuple(outs)


@dataclass
class _Sheet:
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


def _loose_boxes(tps: np.ndarray, page: np.ndarray, local: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Loose boxes (left, top, right, bottom; y up) of a batch's characters. CR and LF are PDFium's line breaks:
    no box needed (they stay empty, as PDFium's own are)."""
    box = np.zeros((len(codes), 4), dtype=np.float32)
    need = np.flatnonzero((codes != 10) & (codes != 13))
    box[need] = _loose_box.floats(tps[page[need]], local[need], 4)
    return box


def _sheet(textpages: list[int], frames: list[_Frame], pages: list[int] | None = None) -> _Sheet | None:
    """Read the characters of a batch of text pages and put them in pdfplumber's coordinates.

    ``pages`` (the FPDF_PAGE handles) lets the few pages that need it look at their page objects: invisible
    space glyphs PDFium dropped (:func:`_restore_dropped_spaces`) and the content-stream order of mirrored text
    (:func:`_stream_order`).
    """
    parts_codes, counts = [], []
    for tp in textpages:
        n = _count_chars(tp) if tp else 0
        if n <= 0:
            counts.append(0)
            continue
        buf = np.zeros(n + 1, dtype=np.uint16)
        got = _get_text(tp, 0, n, buf.ctypes.data)
        codes = buf[:n].astype(np.uint32)
        if got - 1 != n or ((codes >= 0xD800) & (codes < 0xE000)).any():
            # the text buffer does not line up with the character list (surrogates, dropped characters)
            codes = np.fromiter(map(_unicode, itertools.repeat(tp, n), range(n)), dtype=np.uint32, count=n)
        parts_codes.append(codes)
        counts.append(n)
    if not parts_codes:
        return None
    codes = np.concatenate(parts_codes)
    ns = np.asarray(counts)
    page = np.repeat(np.arange(len(ns)), ns)
    local = np.arange(len(codes)) - np.repeat(np.cumsum(ns) - ns, ns)  # index within the page's text page
    tps = np.asarray(textpages, dtype=np.int64)
    box = _loose_boxes(tps, page, local, codes)  # left, top, right, bottom (y up), float32
    if not np.isfinite(box).all():
        box = np.nan_to_num(box, nan=0.0, posinf=0.0, neginf=0.0)
    left, top_up, right, bottom_up = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    ws = _WS_LUT[np.minimum(codes, 0x3001)]

    # PDFium's generated spaces and line breaks (always U+0020, CR, LF) have empty boxes; a character it read
    # from the page never has one (PDFium widens an empty glyph box to the font size and advance), so no need to
    # ask FPDFText_IsGenerated, which costs three times a box. Other empty-box whitespace is kept.
    empty_ws = ws & (left == right) & (top_up == bottom_up)
    generated = empty_ws & ((codes == 32) | (codes == 10) | (codes == 13))
    keep = (codes != 0) & ~generated
    if pages is not None and generated.any():
        _restore_dropped_spaces(np.flatnonzero(generated & (codes == 32)), textpages, pages, page, local, box, ws, keep)
    if not keep.all():
        idx = np.flatnonzero(keep)
        if not len(idx):
            return None
        codes, ws, left, top_up, right, bottom_up, page, local = (
            v[idx] for v in (codes, ws, left, top_up, right, bottom_up, page, local)
        )
    m = len(codes)
    rots = np.asarray([f.rot for f in frames])
    kinds = sorted({f.rot for f in frames})
    rot = rots[page] if len(kinds) > 1 else np.full(len(page), kinds[0], dtype=rots.dtype)
    default_up = (rot == 0) | (rot == 180)

    # Orientation. A character on the same baseline box as the next or previous non-space character of its page,
    # and left of the next, looks like plain horizontal text; PDFium is asked for the matrix of the first
    # character of each such run (a mirrored or rotated run can look plain too; the rest of the run follows its
    # first character) and of every other character. Whitespace takes the orientation of the character before
    # it on its page. ``flip``: axis-aligned but mirrored top to bottom (matrix d < 0 as displayed).
    upright = default_up
    axis: np.ndarray | None = None  # None: every character axis-aligned
    flip: np.ndarray | None = None  # None: no character mirrored top to bottom
    nwi = np.flatnonzero(~ws)
    if len(nwi):
        bn, tn, ln, pn = bottom_up[nwi], top_up[nwi], left[nwi], page[nwi]
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

        def orientation(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            idx = nwi[pos]
            mo = _char_matrix.floats(tps[page[idx]], local[idx], 6)
            a, b, c, d = _per_rotation(
                rot[idx], _rotate_matrix, *(mo[:, k].astype(np.float64) for k in range(4)), kinds=kinds
            )
            eps = 1e-4 * np.maximum(np.abs(a) + np.abs(b) + np.abs(c) + np.abs(d), 1e-9)
            a, b, c, d = (np.where(np.abs(v) < eps, 0.0, v) for v in (a, b, c, d))
            axis_aligned = (b == 0) & (c == 0)
            return (a * d > 0) & (b * c <= 0), axis_aligned, axis_aligned & (d < 0)  # pdfminer's upright

        run_start = plain.copy()
        run_start[1:] &= ~(plain[:-1] & same)
        ask = np.flatnonzero(~plain | run_start)
        up_ask, axis_ask, flip_ask = orientation(ask)
        unusual = (up_ask != default_up[nwi[ask]]) | ~axis_ask | flip_ask
        if unusual.any():
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
            if len(nwi) < m:  # whitespace: as the character before it on its page, else the page's default
                src = np.searchsorted(nwi, np.arange(m), side="right") - 1
                alone = (src < 0) | (page[nwi[np.maximum(src, 0)]] != page)
                src[src < 0] = 0
                up_nw, axis_nw, flip_nw = up_nw[src], axis_nw[src], flip_nw[src]
                up_nw[alone], axis_nw[alone], flip_nw[alone] = default_up[alone], True, False
            upright, axis, flip = up_nw, axis_nw, (flip_nw if flip_nw.any() else None)

    mirrored = None
    if axis is not None:
        mirrored = axis & ~upright  # axis-aligned as displayed yet not upright: mirrored left to right
        if flip is not None:
            mirrored |= flip & ~upright
    if pages is not None and mirrored is not None and mirrored.any():
        order = _stream_order(pages, tps, page, local, mirrored)
        if order is not None:
            codes, ws, left, top_up, right, bottom_up, page, local, rot = (
                v[order] for v in (codes, ws, left, top_up, right, bottom_up, page, local, rot)
            )
            upright = upright[order]
            axis = axis[order] if axis is not None else None
            flip = flip[order] if flip is not None else None

    boxes = np.asarray([f.box for f in frames], dtype=np.float64)
    boxes = boxes[0] if (boxes == boxes[0]).all() else boxes[page].T  # one media box for all: scalars
    x0, x1, top, bottom = _per_rotation(
        rot, lambda r, *v: _to_display(r, v[4:], *v[:4]), left, bottom_up, right, top_up, *boxes, kinds=kinds
    )

    # pdfminer's char box is [baseline + descent, baseline + descent + size]; PDFium's loose box shares the
    # bottom but ends at the font's ascent, so for upright axis-aligned text pdfminer's top is bottom - size.
    # Characters of a page with the same loose-box height share a font and size: ask PDFium for the size once
    # per such class.
    key = page.astype(np.int64) * (1 << 32) + np.rint((top_up - bottom_up) * 64).astype(np.int64)
    change = np.empty(m, dtype=bool)
    change[0] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    run_first = np.flatnonzero(change)
    classes, pos, run_cls = np.unique(key[run_first], return_index=True, return_inverse=True)
    cls = run_cls[np.cumsum(change) - 1]
    rep = run_first[pos]
    rep_tp, rep_local = tps[page[rep]], local[rep]
    fsize = _font_size.values(rep_tp, rep_local)
    rmat = _char_matrix.floats(rep_tp, rep_local, 6).astype(np.float64)
    ra, rb, rc, rd = _per_rotation(
        rot[rep], _rotate_matrix, rmat[:, 0], rmat[:, 1], rmat[:, 2], rmat[:, 3], kinds=kinds
    )
    size_axis = (fsize * np.abs(rd))[cls]
    size_any = (fsize * np.sqrt(np.abs(ra * rd - rb * rc)))[cls]
    fix = upright if axis is None else upright & axis
    if axis is not None:  # mirrored left to right: pdfminer's box is still [bottom - size, bottom] as displayed
        fix = fix | (axis & ~upright & (flip is None or ~flip))
    size = np.where(fix if axis is None else axis, size_axis, size_any)
    top = np.where(fix & (size > 0), bottom - size, top)
    if flip is not None:  # mirrored top to bottom: PDFium's top is pdfminer's, the box hangs from it
        bottom = np.where(flip & (size > 0), top + size, bottom)
    sh = _Sheet(page, codes, ws, x0, x1, top, bottom, upright, size)
    keep_unique = _dedupe(sh)
    if keep_unique is not None:
        sh = _Sheet(*(getattr(sh, f.name)[keep_unique] for f in fields(_Sheet)))
    return sh


_DEDUPE_TOL = 1.0  # pdfplumber's dedupe_chars tolerance, points


def _dedupe(sh: _Sheet) -> np.ndarray | None:
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
    sub = _Sheet(*(getattr(sh, f.name)[rows] for f in fields(_Sheet)))
    kept = _dedupe_all(sub)
    if kept is None:
        return None
    keep[rows[~kept]] = False
    return keep


def _dedupe_all(sh: _Sheet) -> np.ndarray | None:
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


def _restore_dropped_spaces(
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
        & (gap <= _TOL)
        & (gap > -_TOL)
        & (np.abs(bottom_up[nxt] - bottom_up[prev]) < 0.5)
        & (top_up[prev] > bottom_up[prev])
    )
    if not narrow.any():
        return
    g, prev, nxt = g[narrow], prev[narrow], nxt[narrow]
    # a dropped object lies between the two neighbours' text objects in the content stream, never inside one
    tps = np.asarray(textpages, dtype=np.int64)[page[g]]
    before = _text_object.values(tps, local[prev])
    after = _text_object.values(tps, local[nxt])
    between = (before != 0) & (after != 0) & (before != after)
    if not between.any():
        return
    g, prev, nxt, before, after = g[between], prev[between], nxt[between], before[between], after[between]
    # stream positions of both objects, a page at a time; only pairs with a few objects between them are looked at
    lo = np.full(len(g), -1, dtype=np.int64)
    hi = np.full(len(g), -1, dtype=np.int64)
    slot = page[g]
    for s in np.unique(slot).tolist():
        sel = np.flatnonzero(slot == s)
        handle = pages[s]
        count = _count_objects(handle)
        objs = _page_object.values(np.full(count, handle, dtype=np.int64), np.arange(count, dtype=np.int64))
        order = np.argsort(objs, kind="stable")
        ranked = objs[order]
        for obj, out in ((before[sel], lo), (after[sel], hi)):
            at = np.minimum(np.searchsorted(ranked, obj), max(count - 1, 0))
            found = ranked[at] == obj if count else np.zeros(len(sel), dtype=bool)
            out[sel] = np.where(found, order[at] if count else -1, -1)
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
            obj = _get_object(handle, i)
            if _object_type(obj) != pdfium_c.FPDF_PAGEOBJ_TEXT:
                continue
            _object_bounds(obj, base, base + 4, base + 8, base + 12)
            ox0, oy0, ox1, _ = cells.tolist()
            if ox1 - ox0 < 0.01 and x0 <= ox0 <= x1 and bottom_up[a] - 0.5 <= oy0 <= top_up[a]:
                box[k] = (min(right[a], left[b]), top_up[a], max(right[a], left[b]), bottom_up[a])
                local[k] = local[a]
                keep[k] = True
                break


_DROPPED_SCAN = 16  # most objects looked at between two neighbouring characters' text objects


_count_objects = _proto(pdfium_c.FPDFPage_CountObjects, _I, _V)
_get_object = _proto(pdfium_c.FPDFPage_GetObject, ctypes.c_size_t, _V, _I)  # 0 for none
_object_type = _proto(pdfium_c.FPDFPageObj_GetType, _I, _V)
_object_bounds = _proto(pdfium_c.FPDFPageObj_GetBounds, _I, _V, _V, _V, _V, _V)
_form_count = _proto(pdfium_c.FPDFFormObj_CountObjects, _I, _V)
_form_object = _proto(pdfium_c.FPDFFormObj_GetObject, ctypes.c_size_t, _V, ctypes.c_ulong)
_text_object = _Many(pdfium_c.FPDFText_GetTextObject, ctypes.c_size_t, _V, _I)  # 0 for none
_page_object = _Many(pdfium_c.FPDFPage_GetObject, ctypes.c_size_t, _V, _I)


def _stream_order(
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
        objs = _text_object.values(np.full(b - a, tps[slot], dtype=np.int64), local[a:b]).tolist()
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
    stack: list[tuple[int, bool, int, int]] = [(page, False, 0, _count_objects(page))]
    while stack:
        parent, form, i, count = stack.pop()
        while i < count:
            obj = _form_object(parent, i) if form else _get_object(parent, i)
            i += 1
            if not obj:
                continue
            seq[obj] = len(seq)
            if _object_type(obj) == pdfium_c.FPDF_PAGEOBJ_FORM and len(stack) < 8:
                stack.append((parent, form, i, count))
                parent, form, i, count = obj, True, 0, _form_count(obj)
    return seq


def _cluster(values: np.ndarray) -> np.ndarray:
    """pdfplumber's cluster_list: sort, chain values no more than 3 pt apart; cluster id per value."""
    o = np.argsort(values, kind="stable")  # timsort: the values come nearly sorted (PDFium reads top to bottom)
    ids = np.empty(len(values), dtype=np.int64)
    if not len(values):
        return ids
    ids[0] = 0
    np.cumsum(np.diff(values[o]) > _TOL, out=ids[1:])
    out = np.empty_like(ids)
    out[o] = ids
    return out


_SPREAD = 1e7  # offset between groups (pages, runs of equal uprightness) so clusters never chain across them


@dataclass
class _Layout:
    order: np.ndarray  # indices of non-space characters, in reading order
    wstart: np.ndarray  # True where a word starts (aligned with order)
    sizebreak: np.ndarray  # True where the font size changes inside a word (extract_words' extra_attrs)
    wline: np.ndarray  # per word: line id (words of a line are consecutive)


def _layout(sh: _Sheet) -> _Layout | None:
    """pdfplumber's ``extract_text`` / ``extract_words`` ordering, for every page of a batch at once.

    Per page, characters form runs of equal uprightness (in PDFium's order); in each run, lines are clusters of
    ``top`` (vertical text: ``x0``) and characters are sorted along the line; words break at whitespace, gaps
    over 3 pt, steps back and jumps across the line. Words whose tops cluster together form a text line.
    """
    up, page = sh.upright, sh.page
    n = len(up)
    group = np.empty(n, dtype=np.int64)
    group[0] = 0
    np.cumsum((up[1:] != up[:-1]) | (page[1:] != page[:-1]), out=group[1:])
    if up.all():
        key, lo, hi, across, sort2 = sh.top, sh.x0, sh.x1, sh.top, None
    else:
        key = np.where(up, sh.top, sh.x0)
        lo = np.where(up, sh.x0, sh.top)
        hi = np.where(up, sh.x1, sh.bottom)
        across = key
        sort2 = np.where(up, sh.x0, sh.bottom)
    spread = max(_SPREAD, 4 * float(np.abs(key).max(initial=0.0)) + 1.0)
    line = _cluster(key + group * spread)
    span = float(lo.max() - lo.min()) if n else 0.0
    o = None
    if span < 1e6 and line.max() < 1e7:  # one stable sort on (line, x0): fast, the input is nearly in order
        combined = line * 1e7 + (lo - lo.min())
        o = np.argsort(combined, kind="stable")
        if sort2 is not None:  # ties must follow the tie-breaker: keep the sort only if they already do
            c_o, s_o = combined[o], sort2[o]
            tie = np.flatnonzero(c_o[1:] == c_o[:-1])
            if len(tie) and (s_o[tie + 1] < s_o[tie]).any():
                o = None
    if o is None:
        o = np.lexsort((lo if sort2 is None else sort2, lo, line))
    lo_o, across_o, line_o = lo[o], across[o], line[o]
    brk = np.empty(n, dtype=bool)
    brk[0] = True
    brk[1:] = (
        sh.ws[o[:-1]]
        | (lo_o[1:] < lo_o[:-1])
        | (lo_o[1:] > hi[o[:-1]] + _TOL)
        | (np.abs(across_o[1:] - across_o[:-1]) > _TOL)
        | (line_o[1:] != line_o[:-1])
    )
    size_o = np.rint(sh.size[o] * 100)
    sizebreak = np.zeros(n, dtype=bool)
    sizebreak[1:] = size_o[1:] != size_o[:-1]
    keep = ~sh.ws[o]
    order = o[keep]
    if not len(order):
        return None
    wstart, sizebreak = brk[keep], sizebreak[keep]
    wpos = np.flatnonzero(wstart)
    wtop = np.minimum.reduceat(sh.top[order], wpos)
    wspread = max(_SPREAD, 4 * float(np.abs(wtop).max(initial=0.0)) + 1.0)
    wline = _cluster(wtop + page[order[wpos]] * wspread)
    return _Layout(order, wstart, sizebreak, wline)


def _decode(codes: np.ndarray) -> str:
    text = codes.astype(np.uint32).tobytes().decode("utf-32-le", errors="replace")
    if ((codes >= 0xFB00) & (codes <= 0xFB06)).any():
        text = text.translate(_LIGATURE_TABLE)
    return text


def _page_bounds(page_of: np.ndarray, pages: int) -> np.ndarray:
    """Start offsets (length pages + 1) of each page's block in an array sorted by page."""
    return np.searchsorted(page_of, np.arange(pages + 1))


def _layout_texts(sh: _Sheet, lay: _Layout, pages: int) -> list[str]:
    chars = sh.codes[lay.order]
    wpos = np.flatnonzero(lay.wstart)
    sep = np.zeros(len(chars), dtype=np.uint32)
    sep[wpos[1:]] = np.where(lay.wline[1:] != lay.wline[:-1], 10, 32)
    page_of = sh.page[lay.order]
    bounds = _page_bounds(page_of, pages)
    sep[bounds[1:-1][bounds[1:-1] < len(sep)]] = 0  # no separator before a page's first word
    out = np.empty(2 * len(chars), dtype=np.uint32)
    out[0::2] = sep
    out[1::2] = chars
    texts = []
    for p in range(pages):
        block = out[2 * bounds[p] : 2 * bounds[p + 1]]
        texts.append(_decode(block[block != 0]) if len(block) else "")
    return texts


def _layout_words(sh: _Sheet, lay: _Layout, sizes: list[tuple[float, float]]) -> list[list[Word]]:
    order = lay.order
    wpos = np.flatnonzero(lay.wstart | lay.sizebreak)
    text = _decode_raw(sh.codes[order])
    word_page = sh.page[order[wpos]]
    width = np.asarray([w for w, _ in sizes], dtype=np.float64)[word_page]
    height = np.asarray([h for _, h in sizes], dtype=np.float64)[word_page]
    x0 = np.clip(np.minimum.reduceat(sh.x0[order], wpos), 0, width).round(2).tolist()
    x1 = np.clip(np.maximum.reduceat(sh.x1[order], wpos), 0, width).round(2).tolist()
    top = np.clip(np.minimum.reduceat(sh.top[order], wpos), 0, height).round(2).tolist()
    bottom = np.clip(np.maximum.reduceat(sh.bottom[order], wpos), 0, height).round(2).tolist()
    size = sh.size[order[wpos]].round(2).tolist()
    starts = wpos.tolist()
    ends = [*starts[1:], len(order)]
    lig = bool(((sh.codes >= 0xFB00) & (sh.codes <= 0xFB06)).any())
    out: list[list[Word]] = [[] for _ in sizes]
    for i, (p, s, e) in enumerate(zip(word_page.tolist(), starts, ends, strict=True)):
        t = text[s:e]
        if lig:
            t = t.translate(_LIGATURE_TABLE)
        out[p].append(Word(t, x0[i], top[i], x1[i], bottom[i], size[i] or None))
    return out


def _decode_raw(codes: np.ndarray) -> str:
    return codes.astype(np.uint32).tobytes().decode("utf-32-le", errors="replace")


@dataclass
class _PageResult:
    number: int
    text: str
    words: list[Word]
    width: float
    height: float
    chars: int  # non-space characters in the text layer
    garbage: int  # of which undecodable (U+FFFD, private use, control)
    text_objects_lost: bool  # more undecodable text objects (empty bounds) than characters
    image_cover: float | None  # share of the page covered by images (computed only when it matters)
    loaded: bool  # PDFium could load the page


def _garbage_mask(codes: np.ndarray) -> np.ndarray:
    return (
        (codes == 0xFFFD)
        | ((codes >= 0xE000) & (codes <= 0xF8FF))
        | (codes < 0x20)
        | ((codes >= 0x7F) & (codes < 0xA0))
    )


def _empty_text_objects(page: Any, limit: int) -> int:
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


def _image_cover(page: Any, frame: _Frame) -> float:
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


_BATCH_PAGES = 64  # pages whose text pages stay open together while their characters are laid out
_BATCH_CHARS = 400_000


def _read_pages(doc: Any, indices: list[int], *, words: bool, probe: bool, ocr_auto: bool) -> list[_PageResult]:
    """Pages through PDFium, laid out in batches. ``probe``: look for text objects PDFium could not decode;
    ``ocr_auto``: measure how much of nearly text-less pages images cover."""
    results: list[_PageResult] = []
    pending: list[tuple[int, Any, Any, _Frame | None]] = []
    chars = 0

    def flush() -> None:
        nonlocal chars
        try:
            results.extend(_finish_batch(pending, words=words, probe=probe, ocr_auto=ocr_auto))
        finally:
            for _, page, textpage, _ in pending:
                if textpage:
                    pdfium_c.FPDFText_ClosePage(textpage)
                if page:
                    pdfium_c.FPDF_ClosePage(page)
            pending.clear()
            chars = 0

    try:
        for index in indices:
            page = pdfium_c.FPDF_LoadPage(doc, index)
            textpage, frame = None, None
            if page:
                frame = _Frame(_page_box(page), (pdfium_c.FPDFPage_GetRotation(page) % 4) * 90)
                textpage = pdfium_c.FPDFText_LoadPage(page)
            pending.append((index, page, textpage, frame))
            chars += max(pdfium_c.FPDFText_CountChars(textpage), 0) if textpage else 0
            if len(pending) >= _BATCH_PAGES or chars >= _BATCH_CHARS:
                flush()
        if pending:
            flush()
    finally:
        for _, page, textpage, _ in pending:
            if textpage:
                pdfium_c.FPDFText_ClosePage(textpage)
            if page:
                pdfium_c.FPDF_ClosePage(page)
    return results


def _finish_batch(
    pending: list[tuple[int, Any, Any, _Frame | None]], *, words: bool, probe: bool, ocr_auto: bool
) -> list[_PageResult]:
    live = [(k, item) for k, item in enumerate(pending) if item[2]]
    count = len(live)
    texts = [""] * count
    word_lists: list[list[Word]] = [[] for _ in range(count)]
    nchars = np.zeros(count, dtype=np.int64)
    garbage = np.zeros(count, dtype=np.int64)
    if live:
        frames = [item[3] for _, item in live]
        sh = _sheet([_addr(item[2]) for _, item in live], frames, [_addr(item[1]) for _, item in live])
        lay = _layout(sh) if sh is not None else None
        if lay is not None:
            texts = _layout_texts(sh, lay, count)
            page_of = sh.page[lay.order]
            nchars = np.bincount(page_of, minlength=count)
            garbage = np.bincount(page_of, weights=_garbage_mask(sh.codes[lay.order]), minlength=count).astype(int)
            if words:
                word_lists = _layout_words(sh, lay, [f.size for f in frames])
    out = []
    slot = {k: j for j, (k, _) in enumerate(live)}
    for k, (index, page, _, frame) in enumerate(pending):
        if k not in slot:
            width, height = frame.size if frame else (0.0, 0.0)
            out.append(_PageResult(index + 1, "", [], width, height, 0, 0, False, None, False))
            continue
        j = slot[k]
        n, bad = int(nchars[j]), int(garbage[j])
        lost = False
        limit = max(n, MIN_TEXT_CHARS)
        if probe and pdfium_c.FPDFPage_CountObjects(page) > limit:
            lost = _empty_text_objects(page, limit) > limit
        cover = _image_cover(page, frame) if ocr_auto and n - bad < MIN_TEXT_CHARS else None
        width, height = frame.size
        out.append(_PageResult(index + 1, texts[j], word_lists[j], width, height, n, bad, lost, cover, True))
    return out


@contextlib.contextmanager
def _quiet_pdfminer() -> Iterator[None]:
    """pdfminer logs a warning for every oddity it repairs; keep them out of the caller's logs."""
    logger = logging.getLogger("pdfminer")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class _Plumber:
    """pdfplumber opened lazily, once per document, for fallback pages."""

    def __init__(self, data: bytes, password: str | None) -> None:
        self.data, self.password = data, password
        self.pdf: Any = None
        self.error: Exception | None = None

    def _ensure(self) -> bool:
        if self.pdf is None and self.error is None:
            try:
                import pdfplumber

                self.pdf = pdfplumber.open(io.BytesIO(self.data), password=self.password or "")
            except Exception as exc:  # pdfminer raises many types on damaged files; any of them means "no"
                self.error = exc
        return self.pdf is not None

    def page_count(self) -> int | None:
        with _quiet_pdfminer():
            if not self._ensure():
                return None
            try:
                return len(self.pdf.pages)
            except Exception as exc:
                self.error = exc
                return None

    def page(self, number: int, words: bool) -> tuple[str, list[Word], float, float] | None:
        with _quiet_pdfminer():
            if not self._ensure():
                return None
            try:
                if number > len(self.pdf.pages):
                    return None
                page = self.pdf.pages[number - 1]
                text = page.extract_text() or ""
                word_list = []
                if words:
                    width, height = float(page.width), float(page.height)
                    for w in page.extract_words(extra_attrs=["size"]):
                        word_list.append(
                            Word(
                                w["text"],
                                round(min(max(float(w["x0"]), 0.0), width), 2),
                                round(min(max(float(w["top"]), 0.0), height), 2),
                                round(min(max(float(w["x1"]), 0.0), width), 2),
                                round(min(max(float(w["bottom"]), 0.0), height), 2),
                                round(float(w["size"]), 2),
                            )
                        )
                result = (text, word_list, float(page.width), float(page.height))
                page.close()
                return result
            except Exception:  # pdfminer raises many types on damaged pages; any of them means "no"
                return None

    def close(self) -> None:
        if self.pdf is not None:
            with _quiet_pdfminer(), contextlib.suppress(Exception):
                self.pdf.close()


def _nonspace(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def _needs_ocr(res: _PageResult) -> bool:
    usable = res.chars - res.garbage
    if res.chars and res.garbage > MAX_GARBAGE_SHARE * res.chars:
        return True
    return usable < MIN_TEXT_CHARS and (res.image_cover or 0.0) >= MIN_IMAGE_COVER


@contextlib.contextmanager
def _open(data: bytes, source: str, password: str | None) -> Iterator[Any]:
    if not isinstance(data, bytes):
        data = bytes(data)  # bytearray, memoryview: PDFium needs bytes
    _check_bytes(data, source)
    with PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data, password=password or None)
        except pdfium.PdfiumError as exc:
            raise _open_error(data, source, password, exc) from None
        try:
            yield doc
        finally:
            doc.close()


def _page_count(doc: Any, source: str, max_pages: int) -> int:
    return _check_page_count(len(doc), source, max_pages)


def _check_page_count(n: int, source: str, max_pages: int) -> int:
    """``n`` if it is a page count nlpipe reads: E158 for none, E157 (LimitError) past ``max_pages``."""
    if n < 1:
        raise _fail("E158", "the PDF has no pages", source)
    if n > max_pages:
        raise _fail(
            "E157",
            f"the PDF has {n:,} pages, more than the {max_pages:,}-page limit; split it or raise NLPIPE_MAX_PAGES",
            source,
            kind=LimitError,
        )
    return n


# ----------------------------------------------------------------------------------------------- public API


def pdf_page_texts(data: bytes, *, source: str, password: str | None = None, max_pages: int = 2000) -> list[str]:
    """Each page's text through the fast path alone (PDFium, pdfplumber-style layout; no OCR, no fallback).

    For prediction and batch work where speed matters. A page PDFium cannot load comes back as ``""``; a file it
    cannot open is E153 (:func:`read_pdf` tries pdfplumber for both). Errors E150-E158 as in :func:`read_pdf`.
    """
    with _open(data, source, password) as doc:
        n = _page_count(doc, source, max_pages)
        results = _read_pages(doc.raw, list(range(n)), words=False, probe=False, ocr_auto=False)
        return [r.text for r in results]


def read_pdf(
    data: bytes,
    *,
    source: str,
    password: str | None = None,
    ocr: str = "auto",
    ocr_lang: str = "eng",
    ocr_dpi: int = 300,
    ocr_workers: int = 0,
    max_pages: int = 2000,
    words: bool = True,
) -> Document:
    """Read a PDF: text per page, words with boxes (``words=True``), OCR for pages without a text layer.

    Parameters
    ----------
    data:
        The file's bytes.
    source:
        The file's name, used in error messages and stored as ``Document.source``.
    password:
        For encrypted PDFs (E154 without one, E155 when wrong).
    ocr:
        ``"auto"`` (pages whose text layer is unusable, see the module docs), ``"always"`` or ``"never"``.
    ocr_lang, ocr_dpi, ocr_workers:
        Tesseract language(s) (``eng+deu``), render resolution, worker processes (0: one per CPU core).
    max_pages:
        More pages than this is E157 (``NLPIPE_MAX_PAGES``).
    words:
        ``True``: words with boxes and font sizes (from PDFium's characters, pdfplumber's word rules);
        ``False``: text only, faster.

    Returns
    -------
    Document
        ``text`` is the pages joined with ``PAGE_SEPARATOR``; ``pages`` one :class:`~nlpipe.types.Page` each;
        ``meta``: ``pages``, ``page_offsets``, ``ocr_pages``, ``no_text_pages``, ``fallback_pages`` (read with
        pdfplumber because PDFium could not), ``encrypted`` and the PDF's ``info`` (title, author, ...).
    """
    _check_options(source, ocr, ocr_dpi, ocr_workers, max_pages)
    if not isinstance(data, bytes):
        data = bytes(data)
    results: list[_PageResult] = []
    fallback: list[int] = []
    plumber = _Plumber(data, password)
    try:
        try:
            with _open(data, source, password) as doc:
                n = _page_count(doc, source, max_pages)
                encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(doc.raw) != -1
                info = _metadata(doc)
                results = _read_pages(doc.raw, list(range(n)), words=words, probe=True, ocr_auto=ocr == "auto")
        except NlpipeError as exc:
            if exc.code != "E153":
                raise
            # PDFium cannot open it; pdfplumber (pdfminer) sometimes can, and then reads every page
            results, encrypted, info = _plumber_document(plumber, exc, source, max_pages, words), False, {}
            fallback = [r.number for r in results]
        for res in results:
            if res.number in fallback or (res.loaded and not res.text_objects_lost):
                continue
            alt = plumber.page(res.number, words)
            if alt is None:
                if not res.loaded:
                    raise _fail(
                        "E159",
                        "neither PDFium nor pdfplumber can read this page; the PDF is damaged, re-export it",
                        source,
                        res.number,
                    )
                continue
            text, word_list, width, height = alt
            if res.loaded and _nonspace(text) <= res.chars:
                continue  # pdfplumber finds no more text than PDFium did
            res.text, res.words = text, word_list
            res.width, res.height = res.width or width, res.height or height
            res.chars, res.garbage = _nonspace(text), 0
            fallback.append(res.number)
    finally:
        plumber.close()

    pages = [Page(r.number, r.text, round(r.width, 2), round(r.height, 2), r.words) for r in results]
    renderable = [r for r in results if r.loaded]  # OCR renders with PDFium
    if ocr == "always":
        ocr_numbers = [r.number for r in renderable]
    elif ocr == "auto":
        ocr_numbers = [r.number for r in renderable if r.number not in fallback and _needs_ocr(r)]
    else:
        ocr_numbers = []
    if ocr_numbers:
        from nlpipe.ingest.ocr import ocr_pages

        done = ocr_pages(
            data, ocr_numbers, source=source, password=password, lang=ocr_lang, dpi=ocr_dpi, workers=ocr_workers
        )
        for page in done:
            pages[page.number - 1] = page
    offsets, pos = [], 0
    for page in pages:
        offsets.append(pos)
        pos += len(page.text) + len(PAGE_SEPARATOR)
    meta: dict[str, Any] = {
        "pages": len(pages),
        "page_offsets": offsets,
        "ocr_pages": ocr_numbers,
        "no_text_pages": [p.number for p in pages if not p.text.strip()],
        "fallback_pages": sorted(fallback),
        "encrypted": encrypted,
    }
    if info:
        meta["info"] = info
    return Document(
        text=PAGE_SEPARATOR.join(p.text for p in pages),
        source=source,
        mime="application/pdf",
        pages=pages,
        meta=meta,
    )


def _plumber_document(
    plumber: _Plumber, error: NlpipeError, source: str, max_pages: int, words: bool
) -> list[_PageResult]:
    """Every page through pdfplumber, for a file PDFium cannot open; re-raise ``error`` if pdfplumber cannot either."""
    count = plumber.page_count()
    if count is None:
        raise error
    _check_page_count(count, source, max_pages)
    results = []
    for number in range(1, count + 1):
        alt = plumber.page(number, words)
        if alt is None:
            raise _fail("E159", "pdfplumber cannot read this page (and PDFium cannot open the file)", source, number)
        text, word_list, width, height = alt
        results.append(_PageResult(number, text, word_list, width, height, _nonspace(text), 0, False, None, False))
    return results


def _metadata(doc: Any) -> dict[str, str]:
    try:
        items = doc.get_metadata_dict(skip_empty=True).items()
        return {k.lower(): v.strip() for k, v in items if isinstance(v, str) and v.strip()}
    except Exception:  # metadata is a nicety; a broken info dictionary must not lose the document
        return {}


def pdf_tables(
    data: bytes, *, source: str, password: str | None = None, pages: list[int] | None = None
) -> dict[int, list[list[list[str | None]]]]:
    """Tables per page number (1-based), with pdfplumber's ``extract_tables`` (ruled tables work best).

    ``pages`` limits the pages read (default: all). Open errors are the same coded errors as :func:`read_pdf`.
    """
    with _open(data, source, password):
        pass  # PDFium's verdict on encryption and damage gives the coded error before pdfplumber is tried
    import pdfplumber

    out: dict[int, list[list[list[str | None]]]] = {}
    with _quiet_pdfminer():
        try:
            pdf = pdfplumber.open(io.BytesIO(data), password=password or "")
        except Exception as exc:
            raise _fail(
                "E153", f"pdfplumber cannot open the PDF ({type(exc).__name__}); re-export it", source
            ) from None
        with pdf:
            numbers = pages or list(range(1, len(pdf.pages) + 1))
            for number in numbers:
                if not 1 <= number <= len(pdf.pages):
                    raise _fail("E160", f"there is no page {number} (the PDF has {len(pdf.pages)})", source)
                try:
                    tables = pdf.pages[number - 1].extract_tables()
                except Exception as exc:
                    raise _fail(
                        "E159", f"pdfplumber cannot read this page ({type(exc).__name__})", source, number
                    ) from None
                if tables:
                    out[number] = tables
    return out
