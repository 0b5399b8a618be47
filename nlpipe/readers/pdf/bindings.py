"""PDFium for the PDF reader and OCR: the process-wide lock, opening a document, and the C functions called per
character or per page object.

PDFium is not thread-safe: every call into it holds :data:`PDFIUM_LOCK` (OCR workers are processes).

Per-character calls (a box, a matrix, a font size, a text object for each of thousands of characters) go
through :class:`BatchedCall`: in the C loop of the optional extension ``nlpipe.readers.pdf._pdfium_calls`` (built at
install by ``setup.py``; about 20 ns a call) or, where it could not be built, through ctypes (about 0.6 us a
call). Both make the same calls, so both give the same results; :func:`use_native` says which one runs. Other
functions are plain ctypes prototypes (:func:`_proto`) called with integer addresses.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from nlpipe.readers.pdf.errors import check_bytes, open_error
from nlpipe.readers.pdf.geometry import Frame

try:  # the C loop over PDFium's per-character calls, built at install when a C compiler is there (setup.py)
    import nlpipe.readers.pdf._pdfium_calls as _native
except ImportError:  # pragma: no cover - depends on the install; the same calls go through ctypes
    _native = None

PDFIUM_LOCK = threading.RLock()

_V, _I = ctypes.c_void_p, ctypes.c_int


def _proto(fn: Any, restype: Any, *argtypes: Any) -> Any:
    """The same C function with plain ``void*``/``int`` arguments, so ``map`` can feed it addresses.

    Declared like a Python C-API function (``PYFUNCTYPE``): the GIL stays held, which saves releasing and
    taking it back around each of these sub-microsecond calls (they never call back into Python).
    """
    address = ctypes.cast(fn, ctypes.c_void_p).value
    if address is None:  # a NULL symbol: the TypeError ctypes itself raises for None
        raise TypeError("argument must be callable or integer function address")
    return ctypes.PYFUNCTYPE(restype, *argtypes)(address)


class BatchedCall:
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


# per character of a text page
loose_box = BatchedCall(pdfium_c.FPDFText_GetLooseCharBox, _I, _V, _I, _V)
char_matrix = BatchedCall(pdfium_c.FPDFText_GetMatrix, _I, _V, _I, _V)
font_size = BatchedCall(pdfium_c.FPDFText_GetFontSize, ctypes.c_double, _V, _I)
text_object = BatchedCall(pdfium_c.FPDFText_GetTextObject, ctypes.c_size_t, _V, _I)  # 0 for none
char_unicode = _proto(pdfium_c.FPDFText_GetUnicode, ctypes.c_uint, _V, _I)
get_text = _proto(pdfium_c.FPDFText_GetText, _I, _V, _I, _I, _V)
count_chars = _proto(pdfium_c.FPDFText_CountChars, _I, _V)
# per page object
page_object = BatchedCall(pdfium_c.FPDFPage_GetObject, ctypes.c_size_t, _V, _I)
count_objects = _proto(pdfium_c.FPDFPage_CountObjects, _I, _V)
get_object = _proto(pdfium_c.FPDFPage_GetObject, ctypes.c_size_t, _V, _I)  # 0 for none
object_type = _proto(pdfium_c.FPDFPageObj_GetType, _I, _V)
object_bounds = _proto(pdfium_c.FPDFPageObj_GetBounds, _I, _V, _V, _V, _V, _V)
form_count = _proto(pdfium_c.FPDFFormObj_CountObjects, _I, _V)
form_object = _proto(pdfium_c.FPDFFormObj_GetObject, ctypes.c_size_t, _V, ctypes.c_ulong)
_media_box = _proto(pdfium_c.FPDFPage_GetMediaBox, _I, _V, _V, _V, _V, _V)
_consume: Callable[[Iterable[Any]], None] = deque[Any](maxlen=0).extend


def addr(handle: Any) -> int:
    """A PDFium handle (ctypes pointer) as an integer address, 0 for NULL."""
    return ctypes.cast(handle, ctypes.c_void_p).value or 0


def page_box(page: Any) -> tuple[float, float, float, float]:
    """The media box (left, bottom, right, top); PDFium's page bounding box when the page has none of its own."""
    vals = np.zeros(4, dtype=np.float32)
    base = vals.ctypes.data
    if _media_box(addr(page), base, base + 4, base + 8, base + 12):
        left, bottom, right, top = vals.tolist()
    else:
        rect = pdfium_c.FS_RECTF()
        pdfium_c.FPDF_GetPageBoundingBox(page, rect)
        left, bottom, right, top = rect.left, rect.bottom, rect.right, rect.top
    return min(left, right), min(bottom, top), max(left, right), max(bottom, top)


def page_frame(page: Any) -> Frame:
    """A loaded page's (FPDF_PAGE) media box and rotation: how its coordinates map to display space."""
    return Frame(page_box(page), (pdfium_c.FPDFPage_GetRotation(page) % 4) * 90)


@contextlib.contextmanager
def open_document(data: bytes, source: str, password: str | None) -> Iterator[Any]:
    """The PDF open in PDFium (a ``PdfDocument``), with :data:`PDFIUM_LOCK` held until it is closed.

    Errors E150-E156 for a file that is empty, not a PDF, truncated, damaged or encrypted."""
    if not isinstance(data, bytes):
        data = bytes(data)  # bytearray, memoryview: PDFium needs bytes
    check_bytes(data, source)
    with PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data, password=password or None)
        except pdfium.PdfiumError as exc:
            raise open_error(data, source, password, exc) from None
        try:
            yield doc
        finally:
            doc.close()
