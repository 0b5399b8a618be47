"""OCR of image files (PNG, JPEG, TIFF, ...): every frame's size checked before it is decoded (E164, E165), a
multi-page TIFF one page per frame (E167 past the page cap), several frames in worker processes.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from typing import Any

from nlpipe.errors import ConfigError, InputError, LimitError, NlpipeError
from nlpipe.readers.budget import charge_ocr, checkpoint
from nlpipe.readers.errors import fail
from nlpipe.readers.ocr.pool import pool_map
from nlpipe.readers.ocr.tesseract import (
    MAX_PIXELS,
    Shot,
    check_ready,
    describe,
    error_kind,
    run_tesseract,
    tesseract_cmd,
)
from nlpipe.types import Page

__all__ = ["MAX_IMAGE_PIXELS", "ocr_image", "ocr_image_pages"]

MAX_IMAGE_PIXELS = 89_478_485  # Pillow's decompression-bomb threshold: larger images are refused (E165)


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
    check_ready(lang, source)
    charge_ocr(1, source)
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
    check_ready(lang, source)
    charge_ocr(count, source)  # an API request's page cap (E612) and deadline (E611)
    if count == 1:
        return [_ocr_frame(image, source, lang, dpi, 1, page=None)]
    pool_size = min(workers or os.cpu_count() or 1, count)
    if pool_size <= 1:
        pages = [_ocr_frame(image, source, lang, dpi, 1, page=1)]
        for frame in range(1, count):
            checkpoint(source)
            image = _open_image(image_bytes, source, frame, page=frame + 1)
            pages.append(_ocr_frame(image, source, lang, dpi, frame + 1, page=frame + 1))
        return pages
    initargs = (image_bytes, source, tesseract_cmd(), lang, dpi)
    pages = []
    outs = pool_map(source, pool_size, _image_worker_init, initargs, _image_worker_frame, range(count))
    with contextlib.closing(outs):
        for out in outs:
            checkpoint(source)
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
    shot = Shot(image, 72.0 / (res * factor), 0.0, 0.0, width, height, res * factor)
    try:
        text, words = run_tesseract(shot, lang)
    except Exception as exc:
        code, message = describe(exc)
        raise fail(code, message, source, page, kind=error_kind(code)) from None
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
        code, message = describe(exc)
        err = fail(code, message, w["source"], number, kind=error_kind(code))
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
