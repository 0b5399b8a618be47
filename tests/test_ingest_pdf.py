"""PDF ingest: every file of pdfplumber's test corpus, word boxes, similarity to pdfplumber, coded errors."""

from __future__ import annotations

import functools
import io
import threading
from pathlib import Path

import pytest

from nlpipe.errors import InputError, LimitError
from nlpipe.readers.ocr.quality import normalise_space, text_similarity
from nlpipe.readers.pdf.reader import PAGE_SEPARATOR, pdf_page_texts, read_pdf
from nlpipe.readers.pdf.tables import pdf_tables
from nlpipe.types import Document
from tests.conftest import REQUIRE_SERVICES
from tests.pdfgen import Placed, text_pdf

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "pdfplumber_test_pdfs" / "pdfs"
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.pdf")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(not CORPUS_FILES, reason=f"pdfplumber test corpus not found at {CORPUS}")

# Files that fail on purpose, and their codes. Everything else must extract.
EXPECTED_ERRORS = {"empty.pdf": "E150", "password-example.pdf": "E154"}
# Read without word boxes, to keep the suite fast (words are checked on other files)
BIG = {
    "chelsea_pdta.pdf",
    "WARN-Report-for-7-1-2015-to-03-25-2016.pdf",
    "issue-71-duplicate-chars-2.pdf",
    "pr-136-example.pdf",
}


@functools.cache
def _read_corpus(name: str, words: bool) -> Document:
    return read_pdf((CORPUS / name).read_bytes(), source=name, ocr="never", words=words)


# ----------------------------------------------------------------------------------------------- the corpus


@needs_corpus
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file_extracts_or_fails_with_its_code(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    if name in EXPECTED_ERRORS:
        with pytest.raises(InputError) as exc:
            read_pdf(data, source=name, ocr="never", words=False)
        assert exc.value.code == EXPECTED_ERRORS[name]
        assert name in str(exc.value)
        assert exc.value.details["file"] == name
        return
    doc = _read_corpus(name, name not in BIG)
    assert doc.meta["pages"] == len(doc.pages) > 0
    assert isinstance(doc.text, str)
    assert doc.mime == "application/pdf" and doc.source == name
    assert [p.number for p in doc.pages] == list(range(1, len(doc.pages) + 1))
    assert doc.text == PAGE_SEPARATOR.join(p.text for p in doc.pages)
    for page, offset in zip(doc.pages, doc.meta["page_offsets"], strict=True):
        assert doc.text[offset : offset + len(page.text)] == page.text
    assert doc.meta["no_text_pages"] == [p.number for p in doc.pages if not p.text.strip()]
    assert doc.meta["ocr_pages"] == []


@needs_corpus
def test_corpus_non_pdf_members_are_not_pdfs() -> None:
    """The folder's zip (a PDF inside an archive) is the dispatcher's business; read as a PDF it is E151."""
    for path in CORPUS.iterdir():
        if path.suffix != ".pdf":
            with pytest.raises(InputError) as exc:
                read_pdf(path.read_bytes(), source=path.name, ocr="never")
            assert exc.value.code == "E151"


@needs_corpus
def test_corpus_password_example_opens_with_its_password() -> None:
    data = (CORPUS / "password-example.pdf").read_bytes()
    doc = read_pdf(data, source="password-example.pdf", password="test", ocr="never")
    assert doc.meta["encrypted"] is True
    assert doc.meta["pages"] == 4 and len(doc.text) > 1000
    with pytest.raises(InputError) as exc:
        read_pdf(data, source="password-example.pdf", password="nope", ocr="never")
    assert exc.value.code == "E155"
    assert "password-example.pdf" in str(exc.value)


@needs_corpus
def test_corpus_malformed_file_extracts() -> None:
    """pdfplumber opens this one only with repair=True; PDFium repairs it on its own."""
    doc = read_pdf((CORPUS / "malformed-from-issue-932.pdf").read_bytes(), source="m.pdf", ocr="never")
    assert doc.meta["pages"] == 1
    assert normalise_space(doc.text) == "2021 3 31"


@needs_corpus
def test_corpus_undecodable_cjk_font_falls_back_to_pdfplumber() -> None:
    """PDFium cannot decode the non-embedded GBK-EUC-H font of pr-136; pdfplumber's CMaps can."""
    data = (CORPUS / "pr-136-example.pdf").read_bytes()
    fast = pdf_page_texts(data, source="pr-136-example.pdf")
    doc = _read_corpus("pr-136-example.pdf", False)
    assert doc.meta["fallback_pages"] == [1, 2, 3, 4, 5, 6]
    assert "菲达环保" in doc.pages[0].text and "菲达环保" not in fast[0]


@needs_corpus
@pytest.mark.parametrize(
    ("name", "page"),
    [
        ("issue-33-lorem-ipsum.pdf", 1),
        ("scotus-transcript-p1.pdf", 1),
        ("la-precinct-bulletin-2014-p1.pdf", 1),
        ("nics-background-checks-2015-11.pdf", 1),
        ("nics-background-checks-2015-11-rotated.pdf", 1),  # /Rotate 90: vertical text, as pdfplumber sees it
        ("senate-expenditures.pdf", 1),  # text drawn rotated on a rotated page
        ("federal-register-2020-17221.pdf", 8),  # vertical margin text
        ("pdffill-demo.pdf", 2),  # mixed font sizes on one line
        ("pr-88-example.pdf", 1),  # no-break spaces in text objects of their own, which PDFium drops
        *[("issue-848.pdf", n) for n in range(1, 9)],  # the same text mirrored and rotated eight ways
    ],
)
def test_fast_path_text_matches_pdfplumber(name: str, page: int) -> None:
    import pdfplumber

    data = (CORPUS / name).read_bytes()
    ours = pdf_page_texts(data, source=name)[page - 1]
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        theirs = pdf.pages[page - 1].extract_text()
    assert text_similarity(theirs, ours) >= 0.98


def _plumber_page(name: str, page: int) -> object:
    import pdfplumber

    pdf = pdfplumber.open(io.BytesIO((CORPUS / name).read_bytes()))
    return pdf, pdf.pages[page - 1]


@needs_corpus
@pytest.mark.parametrize(
    ("name", "page"),
    [
        ("issue-71-duplicate-chars.pdf", 1),
        ("issue-71-duplicate-chars.pdf", 2),
        ("issue-71-duplicate-chars-2.pdf", 1),
        ("issue-842-example.pdf", 1),
    ],
)
def test_fast_path_drops_glyphs_painted_twice(name: str, page: int) -> None:
    """Fake bold: every glyph painted two to four times a fraction of a point apart. pdfplumber's extract_text
    keeps each copy ('项项目目'); the fast path keeps one, as pdfplumber's own dedupe_chars() does."""
    ours = pdf_page_texts((CORPUS / name).read_bytes(), source=name)[page - 1]
    pdf, theirs = _plumber_page(name, page)
    with pdf:
        raw = theirs.extract_text()
        deduped = theirs.dedupe_chars(extra_attrs=()).extract_text()
    assert raw != deduped  # the page really has copies
    assert text_similarity(deduped, ours) >= 0.98
    assert text_similarity(raw, ours) < text_similarity(deduped, ours)


@needs_corpus
def test_fast_path_ignores_padding_spaces_painted_under_text() -> None:
    """WARN-Report pads each column with space glyphs, then paints the next column's dates over them. pdfplumber
    sorts the invisible spaces in between the digits ('0 3 / 2 5 / 2 0 16'); the fast path reads the dates as
    printed, which is pdfplumber's text once the spaces under other glyphs are left out."""
    name = "WARN-Report-for-7-1-2015-to-03-25-2016.pdf"
    ours = pdf_page_texts((CORPUS / name).read_bytes(), source=name)[0]
    pdf, theirs = _plumber_page(name, 1)
    with pdf:
        raw = theirs.extract_text()
        hidden = _spaces_under_glyphs(theirs.chars)
        visible = theirs.filter(lambda obj: id(obj) not in hidden).extract_text()
    assert "0 3 / 2 5 / 2 0 16" in raw and "03/25/2016" in ours
    assert text_similarity(visible, ours) >= 0.98 > text_similarity(raw, ours)


def _spaces_under_glyphs(chars: list[dict]) -> set[int]:
    """ids of whitespace characters whose box lies more than half under a visible character's box."""
    import numpy as np

    blank = [c for c in chars if c["text"].isspace()]
    ink = [c for c in chars if not c["text"].isspace()]
    if not blank or not ink:
        return set()
    b = np.array([[c["x0"], c["x1"], c["top"], c["bottom"]] for c in blank])
    i = np.array([[c["x0"], c["x1"], c["top"], c["bottom"]] for c in ink])
    ox = np.minimum(b[:, None, 1], i[None, :, 1]) - np.maximum(b[:, None, 0], i[None, :, 0])
    oy = np.minimum(b[:, None, 3], i[None, :, 3]) - np.maximum(b[:, None, 2], i[None, :, 2])
    under = ((ox > 0.5 * np.maximum(b[:, 1] - b[:, 0], 1e-9)[:, None]) & (oy > 0)).any(axis=1)
    return {id(c) for c, u in zip(blank, under, strict=True) if u}


@needs_corpus
@pytest.mark.parametrize(
    "name", ["issue-33-lorem-ipsum.pdf", "nics-background-checks-2015-11-rotated.pdf", "pr-138-example.pdf"]
)
def test_corpus_words_inside_page_with_sizes(name: str) -> None:
    doc = read_pdf((CORPUS / name).read_bytes(), source=name, ocr="never")
    total = 0
    for page in doc.pages:
        assert page.width and page.height
        text = normalise_space(page.text)
        for w in page.words:
            assert 0 <= w.x0 <= w.x1 <= page.width
            assert 0 <= w.y0 <= w.y1 <= page.height
            assert w.size is not None and w.size > 0
            assert w.conf is None
            assert w.text and w.text in text
        total += len(page.words)
    assert total > 50


@needs_corpus
def test_corpus_words_agree_with_pdfplumber() -> None:
    import pdfplumber

    name = "issue-33-lorem-ipsum.pdf"
    data = (CORPUS / name).read_bytes()
    ours = read_pdf(data, source=name, ocr="never").pages[0].words
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        theirs = pdf.pages[0].extract_words(extra_attrs=["size"])
    assert [w.text for w in ours] == [w["text"] for w in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a.x0 - b["x0"]) < 1 and abs(a.x1 - b["x1"]) < 1
        assert abs(a.y0 - b["top"]) < 1 and abs(a.y1 - min(b["bottom"], 792)) < 1  # ours are clipped to the page
        assert abs(a.size - b["size"]) < 0.05


# ----------------------------------------------------------------------------------------------- generated PDFs


def test_words_at_known_positions() -> None:
    data = text_pdf(
        [
            [Placed("Invoice number 12345", 72, 100), Placed("Total due", 300, 400, "Times-Bold", 18)],
            [Placed("Second page", 72, 72, "Courier", 10)],
        ]
    )
    doc = read_pdf(data, source="known.pdf")
    assert doc.text == "Invoice number 12345\nTotal due" + PAGE_SEPARATOR + "Second page"
    assert doc.meta["page_offsets"] == [0, len("Invoice number 12345\nTotal due") + len(PAGE_SEPARATOR)]
    p1, p2 = doc.pages
    assert (p1.width, p1.height) == (612.0, 792.0)
    assert [w.text for w in p1.words] == ["Invoice", "number", "12345", "Total", "due"]
    invoice, total = p1.words[0], p1.words[3]
    assert invoice.x0 == pytest.approx(72, abs=0.5)
    assert invoice.y0 < 100 < invoice.y1  # baseline inside the box
    assert invoice.y1 - invoice.y0 == pytest.approx(12, abs=0.5)
    assert invoice.size == pytest.approx(12) and total.size == pytest.approx(18)
    assert total.x0 == pytest.approx(300, abs=0.5) and total.y0 < 400 < total.y1
    assert p1.words[1].x0 > invoice.x1  # left to right
    assert p2.words[0].text == "Second" and p2.words[0].size == pytest.approx(10)
    assert not any(p.ocr for p in doc.pages)


def _canvas_pdf(draw: object, pagesize: tuple[float, float] = (300, 200)) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=pagesize, invariant=1)
    draw(c)  # type: ignore[operator]
    c.showPage()
    c.save()
    return buf.getvalue()


def _plumber_text(data: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return pdf.pages[0].extract_text()


@pytest.mark.parametrize("size", [8, 10])
def test_space_in_a_text_object_of_its_own_breaks_the_word(size: int) -> None:
    """PDFium drops a text object holding only a (no-break) space: its glyph has no ink, so no width. The gap it
    leaves is under pdfplumber's 3 pt tolerance, yet pdfplumber breaks the word at the space glyph; so does
    the fast path, which finds the dropped object between the two words."""

    def draw(c: object) -> None:
        x = 20.0
        for i, word in enumerate(["Defense", "Advanced", "Research"]):
            for text in ([" "] if i else []) + [word]:
                t = c.beginText(x, 150)  # type: ignore[attr-defined]
                t.setFont("Helvetica", size)
                t.textOut(text)
                c.drawText(t)  # type: ignore[attr-defined]
                x += c.stringWidth(text, "Helvetica", size)  # type: ignore[attr-defined]

    data = _canvas_pdf(draw)
    assert _plumber_text(data) == "Defense Advanced Research"
    assert pdf_page_texts(data, source="nbsp.pdf") == ["Defense Advanced Research"]
    assert [w.text for w in read_pdf(data, source="nbsp.pdf").pages[0].words] == ["Defense", "Advanced", "Research"]


def test_text_painted_twice_is_read_once() -> None:
    """A page drawn twice, the copy 0.25 pt off (too many objects apart for PDFium's own check): one copy."""
    lines = [f"Line {i} of the quarterly report" for i in range(8)]

    def draw(c: object) -> None:
        for dx in (0.0, 0.25):
            for i, line in enumerate(lines):
                c.setFont("Helvetica", 11)  # type: ignore[attr-defined]
                c.drawString(40 + dx, 180 - 20 * i + dx, line)  # type: ignore[attr-defined]

    data = _canvas_pdf(draw)
    assert "LLiinnee" in _plumber_text(data).replace(" ", "")  # pdfplumber keeps both copies
    assert pdf_page_texts(data, source="bold.pdf") == ["\n".join(lines)]
    words = read_pdf(data, source="bold.pdf").pages[0].words
    assert [w.text for w in words] == " ".join(lines).split()
    assert words[0].x0 == pytest.approx(40, abs=0.5)


@pytest.mark.parametrize("matrix", [(-1, 0, 0, 1), (1, 0, 0, -1), (-1, 0, 0, -1)])
def test_mirrored_text_reads_like_pdfplumber(matrix: tuple[int, int, int, int]) -> None:
    """Text mirrored left to right, top to bottom, or both (rotated 180 degrees), several runs per line."""

    def draw(c: object) -> None:
        for i, line in enumerate(["Mirror image of the notice", "second line of the same notice"]):
            for j, word in enumerate(line.split()):
                c.saveState()  # type: ignore[attr-defined]
                c.transform(*matrix, 150 + matrix[0] * 30 * j, 120 - 30 * i)  # type: ignore[attr-defined]
                c.setFont("Helvetica", 12)  # type: ignore[attr-defined]
                c.drawString(0, 0, word)  # type: ignore[attr-defined]
                c.restoreState()  # type: ignore[attr-defined]

    data = _canvas_pdf(draw)
    assert text_similarity(_plumber_text(data), pdf_page_texts(data, source="mirror.pdf")[0]) >= 0.98


def test_words_false_gives_text_only_and_same_text() -> None:
    data = text_pdf([[Placed("alpha beta", 72, 100)], [Placed("gamma", 72, 100)]])
    full = read_pdf(data, source="a.pdf")
    fast = read_pdf(data, source="a.pdf", words=False)
    assert fast.text == full.text
    assert all(not p.words for p in fast.pages)
    assert pdf_page_texts(data, source="a.pdf") == [p.text for p in full.pages]


def test_rotated_page_reads_like_pdfplumber() -> None:
    data = text_pdf([[Placed("Rotated page text", 72, 100)]], rotate=90)
    page = read_pdf(data, source="rot.pdf").pages[0]
    assert (page.width, page.height) == (612.0, 792.0)
    assert page.text == "Rotated\npage\ntext"  # vertical on the displayed page, one word per line
    assert [w.text for w in page.words] == ["Rotated", "page", "text"]
    assert all(0 <= w.x0 <= w.x1 <= page.width and 0 <= w.y0 <= w.y1 <= page.height for w in page.words)


def test_encrypted_pdf_needs_its_password() -> None:
    data = text_pdf([[Placed("Confidential figures", 72, 100)]], user_password="s3cret")
    with pytest.raises(InputError) as exc:
        read_pdf(data, source="locked.pdf")
    assert exc.value.code == "E154"
    assert "locked.pdf" in str(exc.value) and "--password" in str(exc.value)
    with pytest.raises(InputError) as exc:
        read_pdf(data, source="locked.pdf", password="guess")
    assert exc.value.code == "E155" and "locked.pdf" in str(exc.value)
    doc = read_pdf(data, source="locked.pdf", password="s3cret")
    assert doc.text == "Confidential figures" and doc.meta["encrypted"] is True
    with pytest.raises(InputError) as exc:
        pdf_page_texts(data, source="locked.pdf")
    assert exc.value.code == "E154"


def test_plain_pdf_is_not_marked_encrypted() -> None:
    doc = read_pdf(text_pdf([[Placed("open", 72, 100)]]), source="open.pdf")
    assert doc.meta["encrypted"] is False
    assert doc.meta["info"]["producer"].startswith("ReportLab")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "E150"),
        (b"hello, this is plain text and not a PDF at all\n", "E151"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "E151"),
    ],
)
def test_empty_and_non_pdf_files(data: bytes, code: str) -> None:
    for fn in (read_pdf, pdf_page_texts):
        with pytest.raises(InputError) as exc:
            fn(data, source="upload.bin")
        assert exc.value.code == code
        assert str(exc.value).startswith(f"[{code}] upload.bin: ")


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9])
def test_truncated_pdf(keep: float) -> None:
    data = text_pdf([[Placed(f"line {i}", 72, 50 + 20 * i) for i in range(30)]] * 3)
    cut = data[: int(len(data) * keep)]
    with pytest.raises(InputError) as exc:
        read_pdf(cut, source="cut.pdf")
    assert exc.value.code == "E152"
    assert "cut.pdf" in str(exc.value) and "truncated" in str(exc.value)


def test_damaged_pdf() -> None:
    data = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
    with pytest.raises(InputError) as exc:
        read_pdf(data, source="broken.pdf")
    assert exc.value.code == "E153" and "broken.pdf" in str(exc.value)


def test_pdf_without_pages() -> None:
    """PDFium refuses a PDF without pages; pdfplumber reads it and finds none."""
    body = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    xref = len(body)
    data = (
        body
        + b"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
        + b"trailer<</Size 3/Root 1 0 R>>\nstartxref\n"
        + str(xref).encode()
        + b"\n%%EOF\n"
    )
    with pytest.raises(InputError) as exc:
        read_pdf(data, source="nopages.pdf")
    assert exc.value.code == "E158" and "nopages.pdf" in str(exc.value)


def test_too_many_pages() -> None:
    data = text_pdf([[Placed(f"page {i}", 72, 100)] for i in range(5)])
    with pytest.raises(LimitError) as exc:
        read_pdf(data, source="long.pdf", max_pages=3)
    assert exc.value.code == "E157"
    assert "long.pdf" in str(exc.value) and "NLPIPE_MAX_PAGES" in str(exc.value)
    with pytest.raises(LimitError):
        pdf_page_texts(data, source="long.pdf", max_pages=4)
    assert len(read_pdf(data, source="long.pdf", max_pages=5).pages) == 5


@pytest.mark.parametrize(
    "kwargs", [{"ocr": "sometimes"}, {"ocr_dpi": 10}, {"ocr_dpi": 5000}, {"ocr_workers": -1}, {"max_pages": 0}]
)
def test_invalid_options(kwargs: dict) -> None:
    with pytest.raises(InputError) as exc:
        read_pdf(text_pdf([[Placed("x", 72, 100)]]), source="opt.pdf", **kwargs)
    assert exc.value.code == "E160" and "opt.pdf" in str(exc.value)


def test_blank_page_without_images_is_not_ocrd() -> None:
    """No text and no images: nothing to OCR even in auto mode (so no Tesseract needed)."""
    data = text_pdf([[Placed("first", 72, 100)], []])
    doc = read_pdf(data, source="blank.pdf", ocr="auto")
    assert doc.meta["ocr_pages"] == [] and doc.meta["no_text_pages"] == [2]
    assert doc.pages[1].text == "" and doc.pages[1].words == []


def test_pdf_tables() -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    buf = io.BytesIO()
    table = Table([["name", "qty"], ["apples", "3"], ["pears", "5"]])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, (0, 0, 0))]))
    SimpleDocTemplate(buf, pagesize=letter).build([table])
    tables = pdf_tables(buf.getvalue(), source="table.pdf")
    assert tables == {1: [[["name", "qty"], ["apples", "3"], ["pears", "5"]]]}
    with pytest.raises(InputError) as exc:
        pdf_tables(b"", source="table.pdf")
    assert exc.value.code == "E150"


def test_concurrent_reads_are_safe() -> None:
    """PDFium is not thread-safe; the module serialises its calls."""
    data = text_pdf([[Placed(f"thread safe line {i}", 72, 50 + 14 * i) for i in range(40)]] * 4)
    expected = read_pdf(data, source="t.pdf").text
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(read_pdf(data, source="t.pdf").text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [expected] * 20


# ----------------------------------------------------------------------------------------------- fallbacks


def test_page_pdfium_cannot_load_is_read_with_pdfplumber(monkeypatch: pytest.MonkeyPatch) -> None:
    import nlpipe.readers.pdf.fastpath as pdf_module  # loads the pages

    data = text_pdf([[Placed("first page", 72, 100)], [Placed("second page", 72, 100)]])
    real = pdf_module.pdfium_c.FPDF_LoadPage
    monkeypatch.setattr(pdf_module.pdfium_c, "FPDF_LoadPage", lambda doc, i: None if i == 1 else real(doc, i))
    doc = read_pdf(data, source="flaky.pdf")
    assert doc.meta["fallback_pages"] == [2]
    assert [p.text for p in doc.pages] == ["first page", "second page"]
    assert [w.text for w in doc.pages[1].words] == ["second", "page"]
    assert doc.pages[1].words[0].x0 == pytest.approx(72, abs=0.5)


def test_file_pdfium_cannot_open_is_read_with_pdfplumber(monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdfium2

    import nlpipe.readers.pdf.bindings as pdf_module  # opens the document

    def refuse(*args: object, **kwargs: object) -> None:
        raise pypdfium2.PdfiumError("Failed to load document (PDFium: Data format error).", err_code=3)

    data = text_pdf([[Placed("rescued by pdfminer", 72, 100)]])
    monkeypatch.setattr(pdf_module.pdfium, "PdfDocument", refuse)
    doc = read_pdf(data, source="odd.pdf")
    assert doc.text == "rescued by pdfminer"
    assert doc.meta["fallback_pages"] == [1] and doc.meta["ocr_pages"] == []
    with pytest.raises(InputError) as exc:  # the fast path has no fallback
        pdf_page_texts(data, source="odd.pdf")
    assert exc.value.code == "E153"


def test_batches_give_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages are laid out in batches; the batch size must not change anything."""
    import nlpipe.readers.pdf.fastpath as pdf_module

    pages = [
        [Placed(f"page {i} line {j}", 72 + 5 * j, 80 + 30 * j, size=10 + i % 3) for j in range(4)] for i in range(7)
    ]
    pages[3] = []
    data = text_pdf(pages, rotate=0)
    expected = read_pdf(data, source="b.pdf")
    monkeypatch.setattr(pdf_module, "_BATCH_PAGES", 2)
    batched = read_pdf(data, source="b.pdf")
    assert batched.text == expected.text
    assert [p.words for p in batched.pages] == [p.words for p in expected.pages]
    assert expected.pages[3].text == "" and expected.pages[4].text.startswith("page 4 line 0")


# The per-character calls into PDFium: the C loop and ctypes make the same calls
NATIVE_FILES = [
    "issue-848.pdf",  # mirrored text: object numbers and stream order
    "pr-88-example.pdf",  # spaces PDFium dropped, put back from the page's objects
    "issue-71-duplicate-chars-2.pdf",  # fake bold, deduplicated
    "nics-background-checks-2015-11-rotated.pdf",  # a rotated page
    "issue-982-example.pdf",  # mixed fonts and sizes
]


def _native_module():  # type: ignore[no-untyped-def]
    import nlpipe.readers.pdf.bindings as pdf_module

    if pdf_module._native is None:
        message = "nlpipe.readers.pdf._pdfium_calls is not built (no C compiler at install?): `make install` builds it"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return pdf_module


@needs_corpus
@pytest.mark.parametrize("name", NATIVE_FILES)
def test_c_loop_and_ctypes_read_the_same(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf_module = _native_module()
    data = (CORPUS / name).read_bytes()
    native_texts = pdf_page_texts(data, source=name)
    native = read_pdf(data, source=name, ocr="never", words=True)
    monkeypatch.setattr(pdf_module, "_native", None)
    assert not pdf_module.use_native()
    assert pdf_page_texts(data, source=name) == native_texts
    plain = read_pdf(data, source=name, ocr="never", words=True)
    assert [p.text for p in plain.pages] == [p.text for p in native.pages]
    assert [p.words for p in plain.pages] == [p.words for p in native.pages]
    assert any(p.words for p in native.pages)


def test_c_loop_refuses_arrays_that_do_not_match() -> None:
    pdf_module = _native_module()
    import numpy as np

    calls = pdf_module._native
    address = pdf_module.loose_box.address
    handles, index = np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64)
    with pytest.raises(ValueError, match="one length"):
        calls.fill(address, handles, np.zeros(2, dtype=np.int64), np.zeros((3, 4), np.float32), 16)
    with pytest.raises(ValueError, match="too small"):
        calls.fill(address, handles, index, np.zeros((2, 4), np.float32), 16)
    with pytest.raises(ValueError, match="too small"):
        calls.doubles(pdf_module.font_size.address, handles, index, np.zeros(2, np.float64))
    with pytest.raises(ValueError, match="too small"):
        calls.pointers(pdf_module.text_object.address, handles, index, np.zeros(2, np.uint64))
    with pytest.raises(TypeError):  # the output must be writable
        calls.doubles(pdf_module.font_size.address, handles, index, bytes(24))
    assert calls.fill(address, handles[:0], index[:0], np.zeros((0, 4), np.float32), 16) is None


@pytest.mark.parametrize(
    ("chars", "garbage", "cover", "ocr"),
    [
        (0, 0, 1.0, True),  # a scan
        (5, 0, 0.9, True),  # a scan with a page number in the text layer
        (5, 0, 0.0, False),  # a nearly blank page, no images
        (500, 0, 1.0, False),  # a scan with an OCR text layer already
        (500, 400, None, True),  # text layer of undecodable glyphs
    ],
)
def test_auto_ocr_rule(chars: int, garbage: int, cover: float | None, ocr: bool) -> None:
    from nlpipe.readers.pdf.fastpath import PageResult
    from nlpipe.readers.pdf.reader import needs_ocr

    page = PageResult(1, "", [], 612.0, 792.0, chars, garbage, False, cover, True)
    assert needs_ocr(page) is ocr
