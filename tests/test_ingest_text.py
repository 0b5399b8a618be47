"""Readers of nlpipe.readers.text and the single-file paths of nlpipe.readers.dispatch."""

from __future__ import annotations

import importlib.util
import io
import sys
import types
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from nlpipe.errors import InputError, LimitError, NlpipeError
from nlpipe.readers.dispatch.results import IngestSkipped
from nlpipe.readers.dispatch.route import ingest_bytes, ingest_path, iter_ingest
from nlpipe.readers.dispatch.sniff import SUPPORTED_TYPES, sniff_kind
from nlpipe.readers.text import mail, markup, plain, records, word
from nlpipe.types import Document, Page
from tests.conftest import make_settings


@pytest.fixture
def cfg(tmp_path: Path):
    return make_settings(tmp_path)


def _raises(code: str, fn, *args, kind: type[NlpipeError] = InputError, **kw) -> NlpipeError:
    with pytest.raises(kind) as info:
        fn(*args, **kw)
    assert info.value.code == code, str(info.value)
    return info.value


def _only_doc(result):
    assert not result.failures, result.failures
    assert len(result.documents) == 1, result.documents
    return result.documents[0]


def _only_failure(result, code: str):
    assert not result.documents, result.documents
    assert [f.code for f in result.failures] == [code], result.failures
    return result.failures[0]


def _docx(build) -> bytes:
    import docx

    document = docx.Document()
    build(document)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _pdf(text: bytes) -> bytes:
    """A one-page PDF with a Helvetica text layer, xref offsets computed."""
    content = b"BT /F1 24 Tf 72 700 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


# ------------------------------------------------------------------------------------------- plain text


def test_ingest_plain_utf8_and_newlines():
    doc = plain.read_plain("Grüße\r\naus Köln\r".encode(), source="a.txt")
    assert doc.text == "Grüße\naus Köln\n"
    assert doc.mime == "text/plain" and doc.source == "a.txt"


@pytest.mark.parametrize(
    "encoding, text",
    [
        ("cp1252", "Caf\u00e9 \u2013 \u201cna\u00efve\u201d prices \u20ac12"),
        ("latin-1", "Gr\u00f6\u00dfe und Stra\u00dfe, se\u00f1or, gar\u00e7on"),
        ("utf-16", "UTF-16 with a BOM: \u00e9t\u00e9 \u2603"),
    ],
)
def test_ingest_plain_encodings(encoding, text):
    data = text.encode(encoding)
    if encoding == "utf-16":
        assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert plain.read_plain(data, source="x.txt").text == text


def test_ingest_plain_whitespace_only_is_e177():
    err = _raises("E177", plain.read_plain, b" \n\t\n", source="blank.txt")
    assert "blank.txt" in err.message


def test_ingest_plain_binary_is_e108():
    _raises("E108", plain.read_plain, b"\x00\x01\x02\xff\xfe\x00garbage\x00\x9c", source="bin.txt")


def test_ingest_markdown_mime(cfg):
    doc = _only_doc(ingest_bytes(b"# Title\n\nSome *text*.", "notes.md", cfg))
    assert doc.mime == "text/markdown" and doc.text.startswith("# Title")


# ------------------------------------------------------------------------------------------------- HTML


HTML = b"""<!DOCTYPE html>
<html><head>
  <meta charset="utf-8"><title>The  Title</title>
  <style>body { color: red }</style>
  <script>var secret = "do not index";</script>
  <link rel="stylesheet" href="x.css">
</head>
<body>
  <noscript>Enable JavaScript</noscript>
  <template><p>template text</p></template>
  <h1>Heading</h1>
  <p>First   paragraph with <b>bold</b> and <a href="#">a link</a>.</p>
  <p>Line one<br>line two</p>
  <ul><li>one</li><li>two</li></ul>
  <table><tr><th>Name</th><th>Qty</th></tr><tr><td>apple</td><td>3</td></tr></table>
  <div hidden>hidden div</div><div style="display: none">invisible</div>
  <pre>keep
   this</pre>
  <p>Fish &amp; chips &euro;5 &#x263A;</p>
  <script type="module">also dropped</script>
</body></html>"""


def test_ingest_html_visible_text_only():
    doc = markup.read_html(HTML, source="page.html")
    for dropped in ("secret", "color: red", "Enable JavaScript", "template text", "hidden div", "invisible",
                    "also dropped", "The  Title"):  # fmt: skip
        assert dropped not in doc.text, dropped
    assert doc.meta["title"] == "The Title"
    assert doc.mime == "text/html"
    assert "Fish & chips \u20ac5 \u263a" in doc.text


def test_ingest_html_block_structure():
    text = markup.read_html(HTML, source="page.html").text
    assert "one\ntwo" in text and "Name\tQty\napple\t3" in text  # list items and rows: one line each
    assert "Heading\n\nFirst paragraph" in text
    lines = text.split("\n")
    assert lines[0] == "Heading"
    assert "First paragraph with bold and a link." in lines
    assert "Line one" in lines and "line two" in lines
    assert "one" in lines and "two" in lines
    assert "Name\tQty" in lines and "apple\t3" in lines
    assert "keep" in lines and "   this" in lines  # <pre> keeps its lines and indentation
    assert "" in lines and "\n\n\n" not in "\n".join(lines)  # paragraphs: one blank line, never more


def test_ingest_html_meta_charset_cp1252():
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>' \
           "<body><p>\u20ac10 \u2013 caf\u00e9</p></body></html>"  # fmt: skip
    doc = markup.read_html(html.encode("cp1252"), source="old.htm")  # iso-8859-1 means windows-1252 in HTML
    assert doc.text == "\u20ac10 \u2013 caf\u00e9"
    assert doc.meta["charset"] == "cp1252"


def test_ingest_html_wrong_meta_charset_falls_back_to_detection():
    html = '<meta charset="utf-8"><p>na\u00efve caf\u00e9 cr\u00e8me br\u00fbl\u00e9e</p>'
    doc = markup.read_html(html.encode("cp1252"), source="liar.html")
    assert doc.text == "na\u00efve caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"


def test_ingest_html_utf16_bom_and_detection():
    html = "<html><body><p>\u00e9t\u00e9 \u2603</p></body></html>"
    assert markup.read_html(html.encode("utf-16"), source="u16.html").text == "\u00e9t\u00e9 \u2603"
    assert markup.read_html(html.encode("cp1252", errors="ignore"), source="noset.html").text == "\u00e9t\u00e9"


def test_ingest_html_without_visible_text_is_e177():
    _raises("E177", markup.read_html, b"<html><head><title>t</title><script>x()</script></head><body> </body></html>",
            source="empty.html")  # fmt: skip


def test_ingest_html_deep_nesting_and_unclosed_tags():
    deep = b"<div>" * 20000 + b"deep text" + b"</div>" * 20000
    assert markup.read_html(deep, source="deep.html").text == "deep text"
    messy = b"<p>one<p hidden>secret<p>two<li>three</b></i>"
    assert markup.read_html(messy, source="messy.html").text.split() == ["one", "two", "three"]


def test_ingest_html_via_dispatch(cfg):
    doc = _only_doc(ingest_bytes(HTML, "page.htm", cfg))
    assert doc.source == "page.htm" and "Heading" in doc.text
    doc = _only_doc(ingest_bytes(b"<!doctype html><p>no extension</p>", "index", cfg))  # sniffed by content
    assert doc.mime == "text/html" and doc.text == "no extension"


# ------------------------------------------------------------------------------------------------- DOCX


def test_ingest_docx_paragraphs_and_tables_in_order(cfg):
    def build(d):
        d.add_heading("Quarterly report", level=1)
        d.add_paragraph("Revenue grew in every region.")
        table = d.add_table(rows=2, cols=3)
        table.cell(0, 0).text = "Region"
        table.cell(0, 1).text = "Q1"
        table.cell(0, 2).text = "Q2"
        table.cell(1, 0).text = "North"
        merged = table.cell(1, 1).merge(table.cell(1, 2))
        merged.text = "up 5%"
        d.add_paragraph("")
        d.add_paragraph("Closing remarks.")
        d.sections[0].header.paragraphs[0].text = "CONFIDENTIAL"

    data = _docx(build)
    doc = word.read_docx(data, source="report.docx")
    assert doc.text.split("\n") == [
        "Quarterly report",
        "Revenue grew in every region.",
        "Region\tQ1\tQ2",
        "North\tup 5%",
        "Closing remarks.",
    ]
    assert doc.meta["headers"] == ["CONFIDENTIAL"]
    assert doc.mime == word.MIME_DOCX
    via = _only_doc(ingest_bytes(data, "report.docx", cfg))
    assert via.text == doc.text
    assert sniff_kind(data, "renamed.bin") == "docx"  # by content, not name


def test_ingest_docx_corrupt_is_e180(cfg):
    err = _raises("E180", word.read_docx, b"PK\x03\x04 this is no zip at all", source="broken.docx")
    assert "broken.docx" in err.message and "save it again" in err.message
    # a valid zip without the Word parts
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<not-really-word/>")
    f = _only_failure(ingest_bytes(buf.getvalue(), "fake.docx", cfg), "E180")
    assert f.source == "fake.docx"


def test_ingest_docx_without_text_is_e177():
    _raises("E177", word.read_docx, _docx(lambda d: d.add_paragraph("   ")), source="blank.docx")


def test_ingest_docx_bomb_refused_before_python_docx():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w") as fh:
            for _ in range(8):
                fh.write(b" " * (1024 * 1024))
    err = _raises("E184", word.read_docx, buf.getvalue(), source="bomb.docx", kind=LimitError)
    assert "bomb.docx!word/document.xml" in err.message


# ----------------------------------------------------------------------------------------------- e-mail


def _eml(*, subject="Invoice 42", plain=None, html=None, attach=False, charset="utf-8") -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "Alice <alice@example.com>"
    msg["To"] = "bob@example.com"
    msg["Date"] = "Tue, 02 Jan 2024 10:00:00 +0000"
    if plain is not None:
        msg.set_content(plain, charset=charset)
    if html is not None:
        if plain is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    if attach:
        msg.add_attachment(b"%PDF-1.4 secret attachment body", maintype="application", subtype="pdf",
                           filename="invoice.pdf")  # fmt: skip
    return bytes(msg)


def test_ingest_eml_plain_body_and_attachments_listed(cfg):
    data = _eml(plain="Please pay by Friday.\nThanks", attach=True)
    doc = _only_doc(ingest_bytes(data, "mail.eml", cfg))
    assert doc.text == "Invoice 42\n\nPlease pay by Friday.\nThanks"
    assert doc.mime == "message/rfc822"
    assert doc.meta["from"] == "Alice <alice@example.com>" and doc.meta["subject"] == "Invoice 42"
    assert doc.meta["attachments"] == [{"filename": "invoice.pdf", "content_type": "application/pdf", "bytes": 31}]
    assert "secret attachment" not in doc.text


def test_ingest_eml_prefers_plain_over_html():
    data = _eml(plain="plain version", html="<p>html version</p>")
    assert mail.read_eml(data, source="m.eml").text == "Invoice 42\n\nplain version"


def test_ingest_eml_html_only_body_converted():
    data = _eml(html="<html><body><script>track()</script><p>Hello <b>Bob</b></p><p>Bye</p></body></html>")
    assert mail.read_eml(data, source="m.eml").text == "Invoice 42\n\nHello Bob\n\nBye"


def test_ingest_eml_latin1_body_and_wrong_charset():
    data = _eml(plain="Gr\u00fc\u00dfe aus M\u00fcnchen", charset="iso-8859-1")
    assert mail.read_eml(data, source="m.eml").text.endswith("Gr\u00fc\u00dfe aus M\u00fcnchen")
    raw = (
        b"Subject: =?utf-8?q?Caf=C3=A9?=\r\nContent-Type: text/plain; charset=x-unknown-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nna\xefve caf\xe9 cr\xe8me\r\n"
    )
    assert mail.read_eml(raw, source="odd.eml").text == "Caf\u00e9\n\nna\u00efve caf\u00e9 cr\u00e8me"


def test_ingest_eml_without_subject_or_body_is_e177():
    _raises("E177", mail.read_eml, b"From: a@example.com\r\n\r\n", source="empty.eml")


# ------------------------------------------------------------------------------------------ CSV / JSONL


def test_ingest_csv_rows_with_labels_split_and_lines(cfg):
    data = (
        b"id,text,labels,split\n"
        b'1,"first, with comma",billing|refund,train\n'
        b"\n"
        b'2,"multi\nline",,test\n'
        b"3,third,shipping,\n"
    )
    result = ingest_bytes(data, "rows.csv", cfg)
    assert not result.failures
    docs = result.documents
    assert [d.source for d in docs] == ["rows.csv#line=2", "rows.csv#line=4", "rows.csv#line=6"]
    assert [d.text for d in docs] == ["first, with comma", "multi\nline", "third"]
    assert docs[0].meta == {"line": 2, "labels": ["billing", "refund"], "split": "train", "id": "1"}
    assert docs[1].meta["labels"] == [] and docs[1].meta["split"] == "test"
    assert all(d.mime == "text/csv" for d in docs)


def test_ingest_csv_cp1252_and_tsv():
    docs = records.read_csv("text;label\ncaf\u00e9 \u20ac5;x\n".encode("cp1252"), source="eu.csv")
    assert docs[0].text == "caf\u00e9 \u20ac5" and docs[0].meta["labels"] == ["x"]
    docs = records.read_csv(b"text\tlabel\nhello, world\ty\n", source="data.tsv")
    assert docs[0].text == "hello, world" and docs[0].mime == "text/tab-separated-values"


def test_ingest_csv_without_text_column_is_e103(cfg):
    f = _only_failure(ingest_bytes(b"title,body_text\na,b\n", "nope.csv", cfg), "E103")
    assert f.source == "nope.csv" and "columns found" in f.message


def test_ingest_jsonl_rows(cfg):
    data = b'{"text": "one", "label": "a", "id": 7}\n\n{"text": "two", "labels": ["b", "c"], "split": "dev"}\n'
    docs = ingest_bytes(data, "rows.jsonl", cfg).documents
    assert [(d.source, d.text) for d in docs] == [("rows.jsonl#line=1", "one"), ("rows.jsonl#line=3", "two")]
    assert docs[0].meta == {"line": 1, "labels": ["a"], "split": None, "id": "7"}
    assert docs[1].meta["labels"] == ["b", "c"] and docs[1].meta["split"] == "validation"


def test_ingest_jsonl_bad_line_names_file_and_line(cfg):
    f = _only_failure(ingest_bytes(b'{"text": "ok"}\n{"text": oops}\n', "bad.jsonl", cfg), "E102")
    assert f.message.startswith("bad.jsonl, line 2:")


# ----------------------------------------------------------------------------------------------- sniff


def test_ingest_sniff_kind_by_magic_then_extension():
    import gzip
    import tarfile

    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"a"))
    zip_ = io.BytesIO()
    with zipfile.ZipFile(zip_, "w") as zf:
        zf.writestr("a.txt", "a")
    cases = {
        ("pdf", "x.txt"): b"%PDF-1.7\n...",
        ("pdf", "junk.pdf"): b"\r\n junk before the header %PDF-1.4\n...",
        ("zip", "x.dat"): zip_.getvalue(),
        ("tar", "x.bin"): tar.getvalue(),
        ("tar", "x.gz"): gzip.compress(tar.getvalue()),
        ("gzip", "notes.txt.gz"): gzip.compress(b"hello"),
        ("image", "scan"): b"\x89PNG\r\n\x1a\n\x00\x00",
        ("image", "a.jpg"): b"\xff\xd8\xff\xe0\x00\x10JFIF",
        ("image", "a.tif"): b"II*\x00\x08\x00",
        ("text", "a.TXT"): b"plain",
        ("markdown", "a.md"): b"# md",
        ("html", "a.htm"): b"<p>x</p>",
        ("eml", "a.eml"): b"Subject: x\r\n\r\nbody",
        ("csv", "a.tsv"): b"text\tlabel",
        ("jsonl", "a.ndjson"): b'{"text": "x"}',
        ("text", "README"): b"no extension, plain text",
    }
    for (kind, name), data in cases.items():
        assert sniff_kind(data, name) == kind, (kind, name)


@pytest.mark.parametrize(
    "data, name, words",
    [
        (b"MZ\x90\x00binary", "setup.exe", "'.exe'"),
        (b"\x00\x01\x02", "blob", "no extension"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.doc", "legacy Office"),
    ],
)
def test_ingest_sniff_unsupported_is_e175(data, name, words):
    err = _raises("E175", sniff_kind, data, name)
    assert name in err.message and words in err.message and SUPPORTED_TYPES in err.message


def test_ingest_sniff_xlsx_is_e175():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    err = _raises("E175", sniff_kind, buf.getvalue(), "sheet.xlsx")
    assert "CSV" in err.message


# -------------------------------------------------------------------------------------------- dispatch


def test_ingest_empty_file_is_e176(cfg, tmp_path):
    f = _only_failure(ingest_bytes(b"", "empty.txt", cfg), "E176")
    assert f.source == "empty.txt" and "empty.txt" in f.message
    (tmp_path / "e.html").write_bytes(b"")
    _only_failure(ingest_path(tmp_path / "e.html", cfg), "E176")


def test_ingest_too_large_is_refused_before_reading(tmp_path, monkeypatch):
    cfg = make_settings(tmp_path, max_document_bytes=1000)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 1001)
    reads: list[int] = []
    real_open = open

    def spy_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if str(file) == str(big):
            read = fh.read
            fh = types.SimpleNamespace(
                read=lambda n=-1: reads.append(n) or read(n), seek=fh.seek, fileno=fh.fileno, close=fh.close
            )
        return fh

    monkeypatch.setattr("builtins.open", spy_open)
    f = _only_failure(ingest_path(big, cfg), "E178")
    assert "1,001 bytes" in f.message and "NLPIPE_MAX_DOCUMENT_BYTES" in f.message
    assert all(0 <= n <= 8192 for n in reads), reads  # only the sniffing head was read
    monkeypatch.undo()
    f = _only_failure(ingest_bytes(b"y" * 1001, "big.txt", cfg), "E178")
    assert f.source == "big.txt"


def test_ingest_parser_exception_becomes_coded_failure(cfg, monkeypatch):
    def boom(data, *, source):
        raise ValueError("parser exploded")

    monkeypatch.setattr(markup, "read_html", boom)
    f = _only_failure(ingest_bytes(b"<p>x</p>", "x.html", cfg), "E179")
    assert "ValueError: parser exploded" in f.message and f.message.startswith("x.html:")


def test_ingest_missing_path_and_bad_ocr_mode_raise(cfg, tmp_path):
    err = _raises("E195", iter_ingest, tmp_path / "nope.txt", cfg)
    assert "nope.txt" in err.message
    (tmp_path / "a.txt").write_text("x")
    _raises("E196", ingest_path, tmp_path / "a.txt", cfg, ocr="sometimes")


def test_ingest_progress_reports_each_file(cfg, tmp_path):
    for name in ("a.txt", "b.txt", "sub/c.md"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_text(f"text of {name}")
    (tmp_path / "in" / "bad.exe").write_bytes(b"MZ")
    seen: list[tuple[str, int, int | None]] = []
    result = ingest_path(tmp_path / "in", cfg, progress=lambda *a: seen.append(a))
    assert len(result.documents) == 3 and [f.code for f in result.failures] == ["E175"]
    assert [s[1:] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[-1][0].endswith("in/sub/c.md")


# ------------------------------------------------------------------------------------------- OCR / PDF


def test_ingest_image_goes_to_ocr(cfg, monkeypatch):
    calls = []

    def ocr_image(image_bytes, *, source, lang, dpi):
        calls.append((source, lang, dpi))
        return Page(number=1, text="scanned words", ocr=True)

    from nlpipe.readers.ocr import images as ocr

    monkeypatch.setattr(ocr, "ocr_image", ocr_image)  # the real module, whatever imported it first
    doc = _only_doc(ingest_bytes(b"\x89PNG\r\n\x1a\n rest", "scan.png", cfg))
    assert doc.text == "scanned words" and doc.mime == "image/png" and doc.pages[0].ocr
    assert calls == [("scan.png", "eng", 300)]


def test_ingest_image_with_ocr_off_is_skipped(cfg):
    result = ingest_bytes(b"\xff\xd8\xff\xe0 jpeg", "photo.jpg", cfg, ocr="never")
    assert not result.documents and not result.failures
    assert [(s.code, type(s)) for s in result.skipped] == [("E190", IngestSkipped)]
    assert "OCR is off" in result.skipped[0].message


def test_ingest_pdf_dispatch_passes_settings(tmp_path, monkeypatch):
    cfg = make_settings(tmp_path, ocr="always", ocr_lang="deu", ocr_dpi=200, ocr_workers=1, max_pages=7)
    seen = {}

    def read_pdf(data, **kw):
        seen.update(kw)
        return Document(text="pdf text", source=kw["source"], mime="application/pdf")

    fake = types.ModuleType("nlpipe.readers.pdf.reader")
    fake.read_pdf = read_pdf  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nlpipe.readers.pdf.reader", fake)
    doc = _only_doc(ingest_bytes(b"%PDF-1.4 ...", "a.pdf", cfg, password="pw"))
    assert doc.text == "pdf text"
    assert seen == {"source": "a.pdf", "password": "pw", "ocr": "always", "ocr_lang": "deu", "ocr_dpi": 200,
                    "ocr_workers": 1, "max_pages": 7, "words": True}  # fmt: skip


@pytest.mark.skipif(importlib.util.find_spec("nlpipe.readers.pdf") is None, reason="nlpipe.readers.pdf not there yet")
def test_ingest_pdf_real_reader(cfg):
    data = _pdf(b"Hello PDF world")
    doc = _only_doc(ingest_bytes(data, "hello.pdf", cfg, ocr="never"))
    assert "Hello PDF world" in doc.text and doc.source == "hello.pdf"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # stored: "%PDF-" sits in the zip's first 1024 bytes
        zf.writestr("docs/hello.pdf", data)
    assert sniff_kind(buf.getvalue(), "pdfs.zip") == "zip"
    doc = _only_doc(ingest_bytes(buf.getvalue(), "pdfs.zip", cfg, ocr="never"))
    assert doc.source == "pdfs.zip!docs/hello.pdf" and "Hello PDF world" in doc.text
    broken = ingest_bytes(b"%PDF-1.4\n garbage", "broken.pdf", cfg, ocr="never")
    assert not broken.documents and len(broken.failures) == 1
    assert broken.failures[0].source == "broken.pdf" and broken.failures[0].code.startswith("E")
