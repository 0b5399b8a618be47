"""Readers for text-like documents: plain text and Markdown, HTML, DOCX, e-mail (.eml), CSV and JSON Lines.

Every reader takes the file's bytes and ``source`` (the name used on the documents and in messages, such as
``report.docx`` or ``mail.zip!inbox/1.eml``) and returns one :class:`~nlpipe.types.Document` -- or, for
CSV and JSON Lines, one document per row with ``source`` ``file.csv#line=N``. Size limits, type sniffing and
archives are the dispatcher's job (:mod:`nlpipe.readers.dispatch`); these functions only parse.

Text decoding always goes through :func:`nlpipe.readers.textfile.read_text` (BOM, UTF-8, UTF-16, then a
legacy code page such as cp1252); HTML and e-mail first try the charset they declare.

Errors (all :class:`~nlpipe.errors.InputError`, messages start with the source):

- E177 the file holds no text (only whitespace, only markup, an empty document or e-mail);
- E179 HTML or text that a parser could not handle;
- E180 a DOCX file python-docx cannot open (corrupt, or not really DOCX);
- E181 an e-mail python's ``email`` package cannot parse;
- plus the codes of the reused readers: E108 (binary data where text was expected) from
  :mod:`nlpipe.readers.textfile`, and E102-E109 (bad JSON, missing text column, bad label or split, malformed
  CSV row, text over the size limit) from :mod:`nlpipe.readers.rows`, the row parser the label formats use too.
"""

from __future__ import annotations

import codecs
import io
import re
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any

from nlpipe.errors import NlpipeError
from nlpipe.readers.fields import DEFAULT_MAX_BYTES, csv_delimiter, first_line
from nlpipe.readers.rows import parse_bytes
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Document

__all__ = [
    "MIME_CSV",
    "MIME_DOCX",
    "MIME_EML",
    "MIME_HTML",
    "MIME_JSONL",
    "MIME_MARKDOWN",
    "MIME_TEXT",
    "MIME_TSV",
    "html_to_text",
    "read_csv",
    "read_docx",
    "read_eml",
    "read_html",
    "read_jsonl",
    "read_plain",
]

MIME_TEXT = "text/plain"
MIME_MARKDOWN = "text/markdown"
MIME_HTML = "text/html"
MIME_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME_EML = "message/rfc822"
MIME_CSV = "text/csv"
MIME_TSV = "text/tab-separated-values"
MIME_JSONL = "application/x-ndjson"

_MB = 1024 * 1024


def _no_text(source: str, what: str) -> NlpipeError:
    return fail("E177", f"no text found ({what}); check the file has content, or remove it", file=source)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ------------------------------------------------------------------------------------------- plain text


def read_plain(data: bytes, *, source: str, mime: str = MIME_TEXT) -> Document:
    """A ``.txt`` / ``.md`` file: encoding detected by :func:`~nlpipe.readers.textfile.read_text`.

    Line endings become ``\\n``. Raises E108 (binary data) or E177 (only whitespace).
    """
    text = _normalise_newlines(read_text(data, source=source))
    if not text.strip():
        raise _no_text(source, "the file is empty or only whitespace")
    return Document(text=text, source=source, mime=mime)


# ------------------------------------------------------------------------------------------------- HTML

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
_SPACE = re.compile(r"[ \t\n\r\f\v\u00a0]+")
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
        text = _SPACE.sub(" ", data)
        if self._last in " \n\t":
            text = text.lstrip(" ")
        self._emit(text)


def _tidy(text: str) -> str:
    lines = [line.rstrip(" \t").lstrip("\t") for line in _normalise_newlines(text).split("\n")]
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
    title = _SPACE.sub(" ", "".join(parser.title)).strip() or None
    return _tidy("".join(parser.parts)), title


def _declared_charset(data: bytes) -> str | None:
    head = data[:4096]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if not m:
        return None
    label = m.group(1).decode("ascii", errors="ignore").strip().lower()
    label = _HTML_CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _decode_html(data: bytes, source: str) -> tuple[str, str | None]:
    """Text of an HTML file and the charset used: BOM, then the declared charset, then detection."""
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return read_text(data, source=source), None
    declared = _declared_charset(data)
    if declared:
        try:
            return data.decode(declared), declared
        except UnicodeDecodeError:
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
        raise _no_text(source, "the page has no visible text outside scripts, styles and markup")
    meta: dict[str, Any] = {}
    if title:
        meta["title"] = title
    if charset:
        meta["charset"] = charset
    return Document(text=text, source=source, mime=MIME_HTML, meta=meta)


# ------------------------------------------------------------------------------------------------- DOCX


def _cell_text(cell: Any) -> str:
    from docx.table import Table

    parts: list[str] = []
    for item in cell.iter_inner_content():
        if isinstance(item, Table):
            parts.extend(_table_lines(item))
        else:
            parts.append(item.text)
    return " ".join(p.strip() for p in parts if p.strip())


def _table_lines(table: Any) -> list[str]:
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(_cell_text(cell))
        line = "\t".join(cells).strip()
        if line:
            lines.append(line)
    return lines


def _story_text(container: Any) -> list[str]:
    from docx.table import Table

    blocks: list[str] = []
    for item in container.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend(_table_lines(item))
        else:
            blocks.append(item.text)
    return blocks


def read_docx(
    data: bytes,
    *,
    source: str,
    max_unpacked_bytes: int = 512 * _MB,
    max_compression_ratio: float = 200.0,
    max_members: int = 10_000,
) -> Document:
    """A Word document's paragraphs and table rows (cells joined by tabs) in document order.

    The package is checked as a zip first (member count, declared sizes, compression ratio; see
    :func:`nlpipe.readers.archives.zips.check_zip_package`) so a DOCX-shaped zip bomb is refused before python-docx
    inflates it. Header and footer text goes to ``meta["headers"]`` / ``meta["footers"]``, not the text.
    Raises E180 (not a readable DOCX), E177 (no text) or the zip limit errors E184-E186.
    """
    from nlpipe.readers.archives.zips import check_zip_package

    check_zip_package(
        data, source=source, max_unpacked_bytes=max_unpacked_bytes, max_ratio=max_compression_ratio,
        max_members=max_members, what="DOCX",
    )  # fmt: skip
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        blocks = _story_text(document)
        headers: list[str] = []
        footers: list[str] = []
        for section in document.sections:
            for part, out in ((section.header, headers), (section.footer, footers)):
                if part.is_linked_to_previous:  # no header of its own; reading it would add one
                    continue
                text = "\n".join(b for b in _story_text(part) if b.strip())
                if text and text not in out:
                    out.append(text)
    except NlpipeError:
        raise
    except Exception as exc:
        raise fail(
            "E180",
            f"cannot read the DOCX file ({type(exc).__name__}: {exc}); check that it opens in Word or LibreOffice "
            "and save it again as .docx (legacy .doc files must be converted first)",
            file=source,
        ) from None
    text = "\n".join(b for b in blocks if b.strip())
    if not text.strip():
        raise _no_text(source, "the document has no paragraphs or table cells with text")
    meta: dict[str, Any] = {}
    if headers:
        meta["headers"] = headers
    if footers:
        meta["footers"] = footers
    return Document(text=text, source=source, mime=MIME_DOCX, meta=meta)


# ----------------------------------------------------------------------------------------------- e-mail


def _part_text(part: Any, source: str) -> str:
    """Decoded text of a MIME part: its declared charset when that decodes cleanly, else detection."""
    raw = part.get_payload(decode=True)
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    charset = part.get_content_charset()
    if charset:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return read_text(raw, source=source) if raw else ""


def _header(msg: Any, name: str) -> str | None:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse is left out, not fatal
        return None
    if value is None:
        return None
    return _SPACE.sub(" ", str(value)).strip() or None


def read_eml(data: bytes, *, source: str) -> Document:
    """An e-mail: subject, a blank line, then the text/plain body (or the HTML body as text).

    Attachments are not read; ``meta["attachments"]`` lists their ``filename``, ``content_type`` and
    ``bytes``. ``meta`` also holds ``subject``, ``from``, ``to``, ``date`` and ``message_id`` when present.
    Raises E181 (unparseable message), E108 or E177 (neither subject nor body).
    """
    import email
    from email import policy

    try:
        msg = email.message_from_bytes(data, policy=policy.default)
        subject = _header(msg, "subject") or ""
        body_part = msg.get_body(preferencelist=("plain", "html"))
        body = ""
        if body_part is not None:
            content = _part_text(body_part, source)
            if body_part.get_content_type() == "text/html":
                body = html_to_text(content)[0]
            else:
                body = _normalise_newlines(content).strip()
        attachments = []
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            attachments.append(
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "bytes": len(payload) if isinstance(payload, bytes) else None,
                }
            )
        meta: dict[str, Any] = {}
        for key, header in (("subject", "subject"), ("from", "from"), ("to", "to"), ("date", "date"),
                            ("message_id", "message-id")):  # fmt: skip
            value = _header(msg, header)
            if value:
                meta[key] = value
    except NlpipeError:
        raise
    except Exception as exc:
        raise fail(
            "E181",
            f"cannot parse the e-mail ({type(exc).__name__}: {exc}); export it again as .eml (RFC 822)",
            file=source,
        ) from None
    text = "\n\n".join(p for p in (subject.strip(), body.strip()) if p)
    if not text:
        raise _no_text(source, "the e-mail has neither a subject nor a text or HTML body")
    if attachments:
        meta["attachments"] = attachments
    return Document(text=text, source=source, mime=MIME_EML, meta=meta)


# ------------------------------------------------------------------------------------------ CSV / JSONL


def _row_document(text: str, *, source: str, line: int, mime: str, labels: list[str], split: str | None,
                  external_id: str | None) -> Document:  # fmt: skip
    meta: dict[str, Any] = {"line": line, "labels": labels, "split": split}
    if external_id is not None:
        meta["id"] = external_id
    return Document(text=text, source=f"{source}#line={line}", mime=mime, meta=meta)


def _rows(data: bytes, source: str, fmt: str, mime: str, max_bytes: int, text_col: str | None) -> list[Document]:
    return [
        _row_document(
            _normalise_newlines(rec.text),
            source=source,
            line=rec.line or 0,
            mime=mime,
            labels=rec.labels,
            split=rec.split,
            external_id=rec.external_id,
        )  # fmt: skip
        for rec in parse_bytes(data, source, fmt, text_col=text_col, max_bytes=max_bytes)
    ]


def read_csv(
    data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES, text_col: str | None = None
) -> list[Document]:
    """One document per row of a CSV / TSV file with a header naming a text column.

    The same rules as the ``csv`` import format (:func:`nlpipe.readers.rows.parse_bytes`): text column
    ``text`` (or content, body, document, review, comment) unless ``text_col`` names it; optional
    ``label``/``labels``, ``split`` and ``id`` columns go to ``meta["labels"]``, ``meta["split"]`` and
    ``meta["id"]``. ``source`` of each document is ``<source>#line=N``. Raises on the first bad row, like the
    import readers (E103-E110).
    """
    content_head = data[:4096].decode("utf-8", "replace")
    name = PurePosixPath(source.rsplit("!", 1)[-1])  # only its suffix matters: .tsv means tabs
    tsv = csv_delimiter(name, first_line(content_head)) == "\t"  # type: ignore[arg-type]
    return _rows(data, source, "csv", MIME_TSV if tsv else MIME_CSV, max_bytes, text_col)


def read_jsonl(
    data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES, text_col: str | None = None
) -> list[Document]:
    """One document per line of a JSON Lines file: ``{"text": ..., "label"/"labels": ..., "split": ..., "id": ...}``.

    The same rules as the ``jsonl`` import format; labels, split and id go to ``meta``. ``source`` of each
    document is ``<source>#line=N``. Raises on the first bad line (E102-E106, E110, E113).
    """
    return _rows(data, source, "jsonl", MIME_JSONL, max_bytes, text_col)
