"""HTML pages: the visible text (scripts, styles, hidden elements dropped; blocks as line breaks, table cells as
tabs), decoded with the charset the page declares (WHATWG's aliases) or by detection.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from typing import Any

from nlpipe.readers.text.plain import no_text, normalise_newlines
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Document

__all__ = ["MIME_HTML", "SPACE", "html_to_text", "read_html"]

MIME_HTML = "text/html"


# Elements whose content is never shown: scripts, styles, fallbacks, templates and embedded objects.
_SKIP = frozenset(
    {"script", "style", "noscript", "template", "title", "iframe", "object", "svg", "canvas", "select",
     "datalist"}
)  # fmt: skip


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
     "wbr", "keygen"}
)  # fmt: skip


# Blocks that start a new paragraph (blank line) or a new line.
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl", "hr", "figure",
     "address", "section", "article", "header", "footer", "main", "aside", "nav", "form", "fieldset",
     "details"}
)  # fmt: skip


_LINE = frozenset(
    {"br", "div", "li", "dt", "dd", "tr", "caption", "figcaption", "summary", "legend", "body", "html",
     "dialog", "hgroup", "option", "center"}
)  # fmt: skip
_CELL = frozenset({"td", "th"})


# Elements whose end tag may be left out: a new one of the same name closes the open one.
_AUTOCLOSE = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rt", "rp"})


_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
SPACE = re.compile(r"[ \t\n\r\f\v\u00a0]+")
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)


# WHATWG: these labels mean windows-1252 in HTML; a UTF-16 label in an ASCII-readable file means UTF-8.
_HTML_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
                         "us-ascii": "cp1252", "ascii": "cp1252", "utf-16": "utf-8", "utf-16le": "utf-8",
                         "utf-16be": "utf-8"}  # fmt: skip


class _TextExtractor(HTMLParser):
    """Collects visible text; block elements become line breaks, table cells are separated by tabs.

    Event-driven (no tree), so arbitrarily deep or malformed markup costs no recursion.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip_tag: str | None = None  # element whose content is being dropped
        self._skip_depth = 0
        self._pre = 0
        self._last = "\n"  # last character written: leading spaces after a break are dropped
        self._newlines = 2  # line breaks at the end of the output (2 at the start: no leading breaks)

    def _emit(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self._last = text[-1]
            stripped = text.rstrip("\n")
            self._newlines = len(text) - len(stripped) + (self._newlines if not stripped else 0)

    def _brk(self, sep: str) -> None:
        """End the current line (one newline) or paragraph (two); the breaks of nested blocks merge."""
        if sep == "\t":
            self._emit(sep)
        elif len(sep) > self._newlines:
            self._emit("\n" * (len(sep) - self._newlines))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag != self._skip_tag or tag in _VOID:
                return
            if tag in _AUTOCLOSE and self._skip_depth == 1:
                self._skip_tag, self._skip_depth = None, 0  # <p hidden>...<p>: the hidden one has ended
            else:
                self._skip_depth += 1
                return
        if tag in _VOID:
            if tag == "br":
                self._emit("\n")  # not merged: <br><br> is a blank line
            elif tag == "hr":
                self._brk("\n\n")
            return
        # aria-hidden content is still on screen (it is only hidden from screen readers), so it stays
        hidden = any(k == "hidden" or (k == "style" and v and _HIDDEN_STYLE.search(v)) for k, v in attrs)
        if tag in _SKIP or hidden:
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag == "pre":
            self._pre += 1
        if tag in _PARAGRAPH:
            self._brk("\n\n")
        elif tag in _LINE:
            self._brk("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag == "pre" and self._pre:
            self._pre -= 1
        if tag in _PARAGRAPH:
            self._brk("\n\n")
        elif tag in _LINE:
            self._brk("\n")
        elif tag in _CELL:
            self._brk("\t")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <div/> is not self-closing in HTML, but treating it as empty is the kinder reading
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._skip_tag is not None:
            if self._skip_tag == "title":
                self.title.append(data)
            return
        if self._pre:
            self._emit(data)
            return
        text = SPACE.sub(" ", data)
        if self._last in " \n\t":
            text = text.lstrip(" ")
        self._emit(text)


def _tidy(text: str) -> str:
    lines = [line.rstrip(" \t").lstrip("\t") for line in normalise_newlines(text).split("\n")]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return out.strip("\n ")


def html_to_text(html: str) -> tuple[str, str | None]:
    """Visible text of an HTML document and its ``<title>`` (None when absent).

    Drops script, style, noscript, template, the head's title and metadata, embedded objects and elements
    marked ``hidden`` or ``display: none``; paragraphs and headings are separated by a blank line, other
    blocks (div, li, tr, br) by a line break, table cells by a tab.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    title = SPACE.sub(" ", "".join(parser.title)).strip() or None
    return _tidy("".join(parser.parts)), title


def _declared_charset(data: bytes) -> str | None:
    head = data[:4096]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if not m:
        return None
    label = m.group(1).decode("ascii", errors="ignore").strip().lower()
    label = _HTML_CHARSET_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
        b" ".decode(name)  # LookupError for codecs that are not text encodings (rot13, hex, base64, zlib...)
    except LookupError:
        return None
    except UnicodeError:  # a text encoding that cannot decode a space (undefined): decoding the page decides
        pass
    return name


def _decode_html(data: bytes, source: str) -> tuple[str, str | None]:
    """Text of an HTML file and the charset used: BOM, then the declared charset, then detection."""
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return read_text(data, source=source), None
    declared = _declared_charset(data)
    if declared:
        try:
            return data.decode(declared), declared
        except UnicodeError:  # UnicodeDecodeError, or UnicodeError from codecs such as idna and punycode
            if declared == "cp1252":
                return data.decode("latin-1"), "latin-1"  # cp1252 leaves five bytes undefined
    return read_text(data, source=source), None


def read_html(data: bytes | str, *, source: str) -> Document:
    """An HTML page's visible text (see :func:`html_to_text`), decoded with its declared charset or detection.

    ``meta`` holds ``title`` and ``charset`` (the declared one, when it was used). Raises E108, E177 or E179.
    """
    if isinstance(data, str):
        html, charset = data, None
    else:
        html, charset = _decode_html(data, source)
    try:
        text, title = html_to_text(html)
    except Exception as exc:  # html.parser is lenient; anything it still raises is this file's fault
        raise fail(
            "E179",
            f"cannot parse the HTML ({type(exc).__name__}: {exc}); save the page again or as text",
            file=source,
        ) from None
    if not text.strip():
        raise no_text(source, "the page has no visible text outside scripts, styles and markup")
    meta: dict[str, Any] = {}
    if title:
        meta["title"] = title
    if charset:
        meta["charset"] = charset
    return Document(text=text, source=source, mime=MIME_HTML, meta=meta)
