"""OCR with Tesseract (through pytesseract): PDF pages without a usable text layer, and image files.

PDF pages are rendered with PDFium in grayscale at ``dpi`` and read by ``tesseract`` (``image_to_data``: words,
boxes and confidences). Several pages run in parallel worker processes (``workers``; 0 means one per CPU core);
each worker receives the PDF's bytes once and renders its own pages. Tesseract runs single-threaded
(``OMP_THREAD_LIMIT=1`` unless the environment sets it): its OpenMP threads only fight each other and the pool
for cores. One page, or one worker, runs in-process.

A page's text is rebuilt from Tesseract's layout: words of a line joined by spaces, lines by newlines, an empty
line between paragraphs. Words carry boxes in PDF points, origin top-left of the page's media box as
displayed, like text-layer words (pixel boxes are scaled by 72/dpi and shifted by the crop box's offset);
``Word.size`` is the box height, ``Word.conf`` Tesseract's confidence (0-100). Images use their own resolution
(``dpi`` when the file has none) to turn pixels into points.

Pages are rendered at most ``MAX_PIXELS`` pixels (the resolution is lowered for larger pages).

Errors (all name the file; page errors the page too): E161 Tesseract is not installed (a
:class:`~nlpipe.errors.ConfigError`: the server lacks a system package, the file is fine), E162 an OCR language
is not installed, E163 Tesseract failed on a page, E164 not a readable image, E165 an image too large to read
(:class:`~nlpipe.errors.LimitError`), E166 an OCR worker process died, E167 an image file with more frames
than the page cap (:class:`~nlpipe.errors.LimitError`).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from nlpipe.errors import ConfigError, InputError, LimitError, NlpipeError
from nlpipe.readers.errors import fail
from nlpipe.types import Page, Word

__all__ = [
    "ocr_available",
    "ocr_languages",
    "ocr_pages",
    "ocr_image",
    "ocr_image_pages",
    "levenshtein",
    "char_error_rate",
    "MAX_PIXELS",
    "PAGE_TIMEOUT",
]

MAX_PIXELS = 64_000_000  # about 26 x 33 inches at 300 dpi
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's decompression-bomb threshold: larger images are refused (E165)
PAGE_TIMEOUT = 600  # seconds Tesseract may spend on one page
TESSERACT_THREADS = 1  # OMP_THREAD_LIMIT for tesseract, unless the environment sets it
_INSTALL = "install tesseract-ocr (apt-get install tesseract-ocr) or pass --ocr never"
_checked: dict[str, bool] = {}
_langs: dict[str, list[str]] = {}


# Codes that are not about the file: the server lacks something (HTTP 500 through the API, not 422).
_CONFIG_CODES = frozenset({"E161"})


def _kind(code: str) -> type[NlpipeError]:
    """The error class of an OCR failure's code: :class:`~nlpipe.errors.ConfigError` for the server's own lack
    (E161), :class:`~nlpipe.errors.InputError` otherwise."""
    return ConfigError if code in _CONFIG_CODES else InputError


def _tesseract_cmd() -> str:
    import pytesseract

    return str(pytesseract.pytesseract.tesseract_cmd)


def ocr_available() -> bool:
    """True when pytesseract is installed and its ``tesseract_cmd`` runs (checked once per command path)."""
    try:
        import pytesseract
    except ImportError:
        return False
    cmd = _tesseract_cmd()
    if cmd not in _checked:
        try:
            pytesseract.get_tesseract_version()
            _checked[cmd] = True
        except (pytesseract.TesseractNotFoundError, OSError, SystemExit):
            _checked[cmd] = False
    return _checked[cmd]


def ocr_languages() -> list[str]:
    """Installed Tesseract languages (``[]`` without Tesseract)."""
    if not ocr_available():
        return []
    import pytesseract

    cmd = _tesseract_cmd()
    if cmd not in _langs:
        _langs[cmd] = sorted(pytesseract.get_languages())
    return _langs[cmd]


def _check_ready(lang: str, source: str) -> None:
    if not ocr_available():
        raise fail("E161", f"OCR is needed but Tesseract is not available; {_INSTALL}", source, kind=ConfigError)
    installed = ocr_languages()
    parts = [p for p in lang.split("+") if p]
    missing = [p for p in parts if p not in installed]
    if not parts or missing:
        names = ", ".join(missing) if missing else repr(lang)
        raise fail(
            "E162",
            f"OCR language {names} is not installed (installed: {', '.join(installed) or 'none'}); install "
            f"tesseract-ocr-<lang> (e.g. apt-get install tesseract-ocr-deu) or pass another language (--ocr-lang)",
            source,
        )


# ----------------------------------------------------------------------------------------------- Tesseract


@dataclass
class _Shot:
    """A rendered page or an image, ready for Tesseract."""

    image: Any  # PIL image, mode L
    points_per_pixel: float
    dx: float  # offset of the image's top-left corner in page coordinates (points)
    dy: float
    width: float  # page size in points
    height: float
    dpi: float


class _TesseractEnv(Mapping[str, str]):
    """``os.environ`` (live) plus ``OMP_THREAD_LIMIT`` when it is not set.

    Tesseract's OpenMP threads spin against each other and anything else running: one thread per process is
    faster on a busy machine and lets the worker pool scale. pytesseract hands its module-level ``environ`` to
    the tesseract child process only, so this process's own OpenMP users (scikit-learn) are not limited.
    """

    def _extra(self) -> dict[str, str]:
        return {} if "OMP_THREAD_LIMIT" in os.environ else {"OMP_THREAD_LIMIT": str(TESSERACT_THREADS)}

    def __getitem__(self, key: str) -> str:
        return os.environ[key] if key in os.environ else self._extra()[key]

    def __iter__(self) -> Iterator[str]:
        yield from os.environ
        yield from self._extra()

    def __len__(self) -> int:
        return len(os.environ) + len(self._extra())


_TESSERACT_ENV = _TesseractEnv()


def _tesseract(shot: _Shot, lang: str) -> tuple[str, list[Word]]:
    """Run Tesseract on one image; text rebuilt from block/paragraph/line numbers, words in points."""
    import pytesseract

    pytesseract.pytesseract.environ = _TESSERACT_ENV
    with tempfile.TemporaryDirectory(prefix="nlpipe-ocr-") as tmp:
        path = os.path.join(tmp, "page.pgm")
        shot.image.save(path, format="PPM")  # uncompressed: much faster to write than PNG
        data = pytesseract.image_to_data(
            path,
            lang=lang,
            config=f"--psm 3 --dpi {max(int(round(shot.dpi)), 1)}",
            output_type=pytesseract.Output.DICT,
            timeout=PAGE_TIMEOUT,
        )
    k = shot.points_per_pixel
    lines: list[list[str]] = []
    line_keys: list[tuple[int, int]] = []
    words: list[Word] = []
    last: tuple[int, int, int] | None = None
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        if key != last:
            lines.append([])
            line_keys.append(key[:2])
            last = key
        lines[-1].append(text)
        left, top = float(data["left"][i]), float(data["top"][i])
        w, h = float(data["width"][i]), float(data["height"][i])
        words.append(
            Word(
                text,
                round(min(max(left * k + shot.dx, 0.0), shot.width), 2),
                round(min(max(top * k + shot.dy, 0.0), shot.height), 2),
                round(min(max((left + w) * k + shot.dx, 0.0), shot.width), 2),
                round(min(max((top + h) * k + shot.dy, 0.0), shot.height), 2),
                round(h * k, 2),
                round(conf, 2),
            )
        )
    out: list[str] = []
    for j, line in enumerate(lines):
        if j and line_keys[j] != line_keys[j - 1]:
            out.append("")  # paragraph break
        out.append(" ".join(line))
    return "\n".join(out), words


def _render(doc: Any, number: int, dpi: int) -> _Shot:
    """Render a page (1-based) in grayscale; boxes map back to the text layer's coordinates."""
    import pypdfium2.raw as pdfium_c

    from nlpipe.readers.pdf.bindings import page_frame

    page = doc[number - 1]
    try:
        raw = page.raw
        frame = page_frame(raw)
        width, height = frame.size
        rect = pdfium_c.FS_RECTF()
        if pdfium_c.FPDF_GetPageBoundingBox(raw, rect):  # the region PDFium renders (crop box)
            x0, _, top, _ = frame.rect(
                min(rect.left, rect.right),
                min(rect.bottom, rect.top),
                max(rect.left, rect.right),
                max(rect.bottom, rect.top),
            )
        else:
            x0, top = 0.0, 0.0
        pw, ph = page.get_size()
        scale = dpi / 72.0
        if pw * ph * scale * scale > MAX_PIXELS:
            scale = math.sqrt(MAX_PIXELS / max(pw * ph, 1e-9))
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=False)
        image = bitmap.to_pil().convert("L")
        bitmap.close()
    finally:
        page.close()
    return _Shot(image, 1.0 / scale, float(x0), float(top), float(width), float(height), scale * 72.0)


def _ocr_one(doc: Any, number: int, lang: str, dpi: int) -> tuple[int, str, float, float, list[Word]]:
    shot = _render(doc, number, dpi)
    text, words = _tesseract(shot, lang)
    return number, text, round(shot.width, 2), round(shot.height, 2), words


def _describe(exc: BaseException) -> tuple[str, str]:
    """(code, message) for an exception raised while OCR-ing a page."""
    import pytesseract

    if isinstance(exc, pytesseract.TesseractNotFoundError):
        return "E161", f"Tesseract is not available; {_INSTALL}"
    if isinstance(exc, pytesseract.TesseractError):
        return "E163", f"Tesseract failed ({exc.message or exc.status}); try another --ocr-dpi or --ocr never"
    if isinstance(exc, RuntimeError) and "timeout" in str(exc).lower():
        return "E163", f"Tesseract took longer than {PAGE_TIMEOUT} s on this page; try a lower --ocr-dpi"
    return "E163", f"OCR failed ({type(exc).__name__}: {exc}); try another --ocr-dpi or --ocr never"


# Worker processes keep the document open between pages.
_worker: dict[str, Any] = {}


def _worker_init(data: bytes, password: str | None, cmd: str, lang: str, dpi: int) -> None:
    import pypdfium2 as pdfium
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = cmd
    _worker.update(doc=pdfium.PdfDocument(data, password=password or None), lang=lang, dpi=dpi)


def _worker_page(number: int) -> tuple[Any, ...]:
    try:
        return ("ok", *_ocr_one(_worker["doc"], number, _worker["lang"], _worker["dpi"]))
    except Exception as exc:  # sent back as data: NlpipeError does not survive pickling
        code, message = _describe(exc)
        return ("error", number, code, message)


def ocr_pages(
    data: bytes,
    page_numbers: list[int],
    *,
    source: str,
    password: str | None,
    lang: str,
    dpi: int,
    workers: int,
) -> list[Page]:
    """OCR the given pages (1-based) of a PDF; one :class:`~nlpipe.types.Page` (``ocr=True``) per number, in order.

    Raises E161 without Tesseract, E162 for a language that is not installed, E163 when Tesseract fails on a
    page, E166 when a worker process dies, E160 for a page the PDF does not have, and the PDF's own open errors
    (E150-E156) as :func:`~nlpipe.readers.pdf.reader.read_pdf` does.
    """
    from nlpipe.readers.pdf.bindings import open_document

    numbers = list(dict.fromkeys(int(n) for n in page_numbers))
    if not numbers:
        return []
    _check_ready(lang, source)
    with open_document(data, source, password) as doc:  # the coded errors for a file that does not open
        total = len(doc)
    bad = [n for n in numbers if not 1 <= n <= total]
    if bad:
        raise fail("E160", f"there is no page {bad[0]} to OCR (the PDF has {total})", source)
    count = min(workers or os.cpu_count() or 1, len(numbers))
    results: dict[int, Page] = {}
    if count <= 1:
        import pypdfium2 as pdfium

        from nlpipe.readers.pdf.bindings import PDFIUM_LOCK

        with PDFIUM_LOCK:
            doc = pdfium.PdfDocument(data, password=password or None)
        try:
            for number in numbers:
                with PDFIUM_LOCK:  # PDFium is not thread-safe; Tesseract runs outside the lock
                    shot = _render(doc, number, dpi)
                try:
                    text, words = _tesseract(shot, lang)
                except Exception as exc:
                    code, message = _describe(exc)
                    raise fail(code, message, source, number, kind=_kind(code)) from None
                results[number] = Page(number, text, round(shot.width, 2), round(shot.height, 2), words, ocr=True)
        finally:
            with PDFIUM_LOCK:
                doc.close()
    else:
        initargs = (data, password, _tesseract_cmd(), lang, dpi)
        with contextlib.closing(_pool_map(source, count, _worker_init, initargs, _worker_page, numbers)) as outs:
            for out in outs:
                if out[0] == "error":
                    _, number, code, message = out
                    raise fail(code, message, source, number, kind=_kind(code))
                _, number, text, width, height, words = out
                results[number] = Page(number, text, width, height, words, ocr=True)
    return [results[n] for n in numbers]


def _pool_map(source: str, workers: int, initializer: Any, initargs: tuple, fn: Any, items: Any) -> Iterator[Any]:
    """``fn`` over ``items`` in ``workers`` new worker processes (``initializer(*initargs)`` in each), results in
    order. A worker that dies is E166. Close the generator when stopping early (an error): the items not yet
    started are then cancelled and the workers shut down."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fork is unsafe in threaded servers
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs)
    try:
        yield from pool.map(fn, items)
    except BrokenProcessPool:
        raise fail(
            "E166", "an OCR worker process died (out of memory?); lower --ocr-dpi or the worker count", source
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def ocr_image(
    image_bytes: bytes, *, source: str, lang: str = "eng", dpi: int = 300, frame: int = 0, number: int = 1
) -> Page:
    """OCR one frame of an image file (PNG, JPEG, TIFF, ...): one :class:`~nlpipe.types.Page` with ``ocr=True``.

    ``frame`` picks the frame of a multi-page TIFF/GIF (0-based; :func:`ocr_image_pages` reads them all);
    ``number`` is the page number given to the result. Boxes are in points: pixels x 72 / the image's own dpi
    (``dpi`` when the file records none). E164 for data that is not a readable image, E165 (LimitError) for an
    image over ``MAX_IMAGE_PIXELS`` pixels, plus the OCR errors of :func:`ocr_pages`.
    """
    image = _open_image(image_bytes, source, frame)
    _check_ready(lang, source)
    return _ocr_frame(image, source, lang, dpi, number, page=None)


def ocr_image_pages(
    image_bytes: bytes,
    *,
    source: str,
    lang: str = "eng",
    dpi: int = 300,
    workers: int = 1,
    max_pages: int = 2000,
) -> list[Page]:
    """OCR every frame of an image file: one :class:`~nlpipe.types.Page` per frame, numbered from 1.

    Most images have one frame; a multi-page TIFF (a fax, a scanner's batch) or an animated GIF has several.
    More frames than ``max_pages`` is E167 (:class:`~nlpipe.errors.LimitError`, ``NLPIPE_MAX_PAGES``), checked
    before any frame is read. Several frames run in ``workers`` worker processes (0: one per CPU core; 1: in this
    process). Errors as :func:`ocr_image`; a frame's error names its page.
    """
    image = _open_image(image_bytes, source, 0)
    count = int(getattr(image, "n_frames", 1) or 1)
    if count > max_pages:
        raise fail(
            "E167",
            f"the image has {count:,} frames (pages), more than the {max_pages:,}-page limit; split it or raise "
            "NLPIPE_MAX_PAGES",
            source,
            kind=LimitError,
        )
    _check_ready(lang, source)
    if count == 1:
        return [_ocr_frame(image, source, lang, dpi, 1, page=None)]
    pool_size = min(workers or os.cpu_count() or 1, count)
    if pool_size <= 1:
        pages = [_ocr_frame(image, source, lang, dpi, 1, page=1)]
        for frame in range(1, count):
            image = _open_image(image_bytes, source, frame, page=frame + 1)
            pages.append(_ocr_frame(image, source, lang, dpi, frame + 1, page=frame + 1))
        return pages
    initargs = (image_bytes, source, _tesseract_cmd(), lang, dpi)
    pages = []
    outs = _pool_map(source, pool_size, _image_worker_init, initargs, _image_worker_frame, range(count))
    with contextlib.closing(outs):
        for out in outs:
            if out[0] == "error":
                _, kind, code, message, details = out
                error = {"LimitError": LimitError, "ConfigError": ConfigError}.get(kind, InputError)
                raise error(code, message, **details)
            pages.append(out[1])
    return pages


def _ocr_frame(image: Any, source: str, lang: str, dpi: int, number: int, page: int | None) -> Page:
    """OCR a loaded frame; ``page`` goes into error messages (None for a single-frame image)."""
    file_dpi = image.info.get("dpi")
    try:
        res = float(file_dpi[0]) if file_dpi else 0.0
    except (TypeError, ValueError, IndexError):
        res = 0.0
    if not 50 <= res <= 4800:
        res = float(dpi)
    if image.mode != "L":
        image = (
            image.convert("RGBA").convert("L") if "A" in image.getbands() or image.mode == "P" else image.convert("L")
        )
    px_w, px_h = image.size
    width, height = px_w * 72.0 / res, px_h * 72.0 / res
    factor = 1.0
    if px_w * px_h > MAX_PIXELS:
        factor = math.sqrt(MAX_PIXELS / (px_w * px_h))
        image = image.resize((max(1, int(px_w * factor)), max(1, int(px_h * factor))))
    shot = _Shot(image, 72.0 / (res * factor), 0.0, 0.0, width, height, res * factor)
    try:
        text, words = _tesseract(shot, lang)
    except Exception as exc:
        code, message = _describe(exc)
        raise fail(code, message, source, page, kind=_kind(code)) from None
    return Page(number, text, round(width, 2), round(height, 2), words, ocr=True)


_image_worker: dict[str, Any] = {}


def _image_worker_init(data: bytes, source: str, cmd: str, lang: str, dpi: int) -> None:
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = cmd
    _image_worker.update(data=data, source=source, lang=lang, dpi=dpi)


def _image_worker_frame(frame: int) -> tuple[Any, ...]:
    w = _image_worker
    number = frame + 1
    try:
        image = _open_image(w["data"], w["source"], frame, page=number)
        return ("ok", _ocr_frame(image, w["source"], w["lang"], w["dpi"], number, page=number))
    except NlpipeError as exc:  # sent back as data: NlpipeError does not survive pickling
        return ("error", type(exc).__name__, exc.code, exc.message, exc.details)
    except Exception as exc:
        code, message = _describe(exc)
        err = fail(code, message, w["source"], number, kind=_kind(code))
        return ("error", type(err).__name__, err.code, err.message, err.details)


def _open_image(image_bytes: bytes, source: str, frame: int, page: int | None = None) -> Any:
    """The image with ``frame`` (0-based) loaded; every frame's size is checked, not only the first one's."""
    from PIL import Image, UnidentifiedImageError

    if not image_bytes:
        raise fail("E164", "the image file is empty (0 bytes); upload it again", source)

    def check_size(image: Any) -> None:
        w, h = image.size
        if w * h > MAX_IMAGE_PIXELS:
            raise fail(
                "E165",
                f"the image is {w:,} x {h:,} pixels, more than {MAX_IMAGE_PIXELS:,}; scale it down",
                source,
                page,
                kind=LimitError,
            )

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(image_bytes))
            check_size(image)
            if frame:
                image.seek(frame)
                check_size(image)  # a later frame of a TIFF may be far larger than the first
            image.load()
    except NlpipeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise fail(
            "E165", "the image is too large to decode safely; scale it down", source, page, kind=LimitError
        ) from None
    except EOFError:
        raise fail("E164", f"the image has no frame {frame + 1}", source) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise fail(
            "E164", f"not a readable image ({type(exc).__name__}); check the file is a PNG, JPEG or TIFF", source, page
        ) from None
    return image


# ----------------------------------------------------------------------------------------------- accuracy


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), bit-parallel (Myers/Hyyrö): fast for whole pages."""
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if not m:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(b):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = full, 0, m
    for ch in a:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


def normalise_space(text: str) -> str:
    """Whitespace runs collapsed to one space, ends stripped: how extracted texts are compared."""
    return " ".join(text.split())


def text_similarity(a: str, b: str) -> float:
    """difflib's ratio of two texts after :func:`normalise_space` (1.0 for two empty texts): the per-page
    similarity the PDF fast path is measured by against pdfplumber."""
    import difflib

    a, b = normalise_space(a), normalise_space(b)
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance / reference length, both after :func:`normalise_space`."""
    ref = normalise_space(reference)
    hyp = normalise_space(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)
