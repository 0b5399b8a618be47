"""Tesseract itself: whether it and a language are installed, one image through ``image_to_data`` (words, boxes and
confidences in points, text rebuilt from its layout), and what a failure means (E161 ConfigError: the server
lacks Tesseract; E163 Tesseract failed on a page).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from nlpipe.errors import ConfigError, InputError, NlpipeError
from nlpipe.readers.errors import fail
from nlpipe.types import Word

__all__ = [
    "INSTALL_HINT",
    "MAX_PIXELS",
    "PAGE_TIMEOUT",
    "Shot",
    "TESSERACT_THREADS",
    "check_ready",
    "describe",
    "error_kind",
    "ocr_available",
    "ocr_languages",
    "run_tesseract",
    "tesseract_cmd",
]

MAX_PIXELS = 64_000_000  # about 26 x 33 inches at 300 dpi
PAGE_TIMEOUT = 600  # seconds Tesseract may spend on one page
TESSERACT_THREADS = 1  # OMP_THREAD_LIMIT for tesseract, unless the environment sets it
INSTALL_HINT = "install tesseract-ocr (apt-get install tesseract-ocr) or pass --ocr never"
_checked: dict[str, bool] = {}
_langs: dict[str, list[str]] = {}


# Codes that are not about the file: the server lacks something (HTTP 500 through the API, not 422).
_CONFIG_CODES = frozenset({"E161"})


def error_kind(code: str) -> type[NlpipeError]:
    """The error class of an OCR failure's code: :class:`~nlpipe.errors.ConfigError` for the server's own lack
    (E161), :class:`~nlpipe.errors.InputError` otherwise."""
    return ConfigError if code in _CONFIG_CODES else InputError


def tesseract_cmd() -> str:
    import pytesseract

    return str(pytesseract.pytesseract.tesseract_cmd)


def ocr_available() -> bool:
    """True when pytesseract is installed and its ``tesseract_cmd`` runs (checked once per command path)."""
    try:
        import pytesseract
    except ImportError:
        return False
    cmd = tesseract_cmd()
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

    cmd = tesseract_cmd()
    if cmd not in _langs:
        _langs[cmd] = sorted(pytesseract.get_languages())
    return _langs[cmd]


def check_ready(lang: str, source: str) -> None:
    if not ocr_available():
        raise fail("E161", f"OCR is needed but Tesseract is not available; {INSTALL_HINT}", source, kind=ConfigError)
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


@dataclass
class Shot:
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


def run_tesseract(shot: Shot, lang: str) -> tuple[str, list[Word]]:
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


def describe(exc: BaseException) -> tuple[str, str]:
    """(code, message) for an exception raised while OCR-ing a page."""
    import pytesseract

    if isinstance(exc, pytesseract.TesseractNotFoundError):
        return "E161", f"Tesseract is not available; {INSTALL_HINT}"
    if isinstance(exc, pytesseract.TesseractError):
        return "E163", f"Tesseract failed ({exc.message or exc.status}); try another --ocr-dpi or --ocr never"
    if isinstance(exc, RuntimeError) and "timeout" in str(exc).lower():
        return "E163", f"Tesseract took longer than {PAGE_TIMEOUT} s on this page; try a lower --ocr-dpi"
    return "E163", f"OCR failed ({type(exc).__name__}: {exc}); try another --ocr-dpi or --ocr never"
