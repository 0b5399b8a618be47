"""OCR: scans made from text PDFs whose text is known, read back with Tesseract.

These run wherever Tesseract is installed. Without it they skip -- unless NLPIPE_REQUIRE_SERVICES=1 (CI), where
they fail instead.
"""

from __future__ import annotations

import os
import statistics

import pytest

from nlpipe.errors import ConfigError, InputError, LimitError
from nlpipe.readers.ocr.images import ocr_image, ocr_image_pages
from nlpipe.readers.ocr.pages import ocr_pages
from nlpipe.readers.ocr.quality import char_error_rate, levenshtein
from nlpipe.readers.ocr.tesseract import ocr_available
from nlpipe.readers.pdf.reader import read_pdf
from tests.pdfgen import PARAGRAPHS, Placed, image_pdf, paragraph_pdf, png, text_pdf

REQUIRE_SERVICES = os.environ.get("NLPIPE_REQUIRE_SERVICES") == "1"  # read before conftest clears NLPIPE_*


@pytest.fixture(autouse=True)
def _tesseract() -> None:
    if not ocr_available():
        message = "Tesseract is not installed (apt-get install tesseract-ocr)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def scan() -> tuple[bytes, bytes, str]:
    """(text PDF, the same page as a 300-dpi image-only PDF, the text drawn)."""
    # a small page (5.5 x 4.25 in) keeps Tesseract quick; still 300 dpi, the resolution the CER target is for
    text_pdf_bytes, truth = paragraph_pdf(PARAGRAPHS[:2], font="Times-Roman", size=11, pagesize=(396, 306))
    return text_pdf_bytes, image_pdf(text_pdf_bytes, dpi=300), truth


def _near(a, b, tol: float) -> bool:
    return abs((a.x0 + a.x1) / 2 - (b.x0 + b.x1) / 2) <= tol and abs((a.y0 + a.y1) / 2 - (b.y0 + b.y1) / 2) <= tol


def test_auto_ocr_recovers_a_scanned_page(scan: tuple[bytes, bytes, str]) -> None:
    original, scanned, truth = scan
    assert read_pdf(scanned, source="scan.pdf", ocr="never").text == ""  # really no text layer
    doc = read_pdf(scanned, source="scan.pdf", ocr="auto", ocr_dpi=300)
    page = doc.pages[0]
    assert page.ocr is True
    assert doc.meta["ocr_pages"] == [1] and doc.meta["no_text_pages"] == []
    assert char_error_rate(truth, page.text) <= 0.02
    # words: boxes in points, near the text layer's words of the original
    reference = read_pdf(original, source="original.pdf").pages[0]
    # the scan's page is the rendered image's size: PDFium rounds 792 pt x 300 dpi up to whole pixels
    assert page.width == pytest.approx(reference.width, abs=0.5) and page.height == pytest.approx(
        reference.height, abs=0.5
    )
    assert page.words and all(w.conf is not None and 0 <= w.conf <= 100 for w in page.words)
    assert all(0 <= w.x0 <= w.x1 <= page.width and 0 <= w.y0 <= w.y1 <= page.height for w in page.words)
    by_text: dict[str, list] = {}
    for w in reference.words:
        by_text.setdefault(w.text, []).append(w)
    distances = []
    for w in page.words:
        candidates = by_text.get(w.text)
        if candidates:
            best = min(candidates, key=lambda r: abs(r.x0 - w.x0) + abs(r.y0 - w.y0))
            distances.append(max(abs(best.x0 - w.x0), abs(best.x1 - w.x1)))
            assert _near(best, w, 4.0), (w, best)
    assert len(distances) >= 0.9 * len(page.words)
    assert statistics.median(distances) < 1.5
    # lines: paragraphs come back as lines, in order
    assert page.text.splitlines()[0].startswith("The committee met")


def test_ocr_never_leaves_the_page_empty(scan: tuple[bytes, bytes, str]) -> None:
    _, scanned, _ = scan
    doc = read_pdf(scanned, source="scan.pdf", ocr="never")
    assert doc.pages[0].text == "" and doc.pages[0].words == [] and not doc.pages[0].ocr
    assert doc.meta["no_text_pages"] == [1] and doc.meta["ocr_pages"] == []


def test_auto_does_not_ocr_a_text_pdf(scan: tuple[bytes, bytes, str]) -> None:
    original, _, _ = scan
    doc = read_pdf(original, source="text.pdf", ocr="auto")
    assert doc.meta["ocr_pages"] == [] and not doc.pages[0].ocr


def test_ocr_always_on_a_text_pdf(scan: tuple[bytes, bytes, str]) -> None:
    original, _, truth = scan
    doc = read_pdf(original, source="text.pdf", ocr="always", ocr_dpi=300)
    assert doc.meta["ocr_pages"] == [1] and doc.pages[0].ocr
    assert char_error_rate(truth, doc.text) <= 0.02


def test_pages_run_in_worker_processes() -> None:
    pages = [[Placed("Quarterly revenue grew by four percent", 72, 120, "Helvetica", 14)], []]
    pages[1] = [Placed("The warehouse opens in June", 72, 300, "Times-Roman", 16)]
    scanned = image_pdf(text_pdf(pages), dpi=200)
    out = ocr_pages(scanned, [2, 1], source="two.pdf", password=None, lang="eng", dpi=200, workers=2)
    assert [p.number for p in out] == [2, 1] and all(p.ocr for p in out)
    assert char_error_rate("The warehouse opens in June", out[0].text) <= 0.05
    assert char_error_rate("Quarterly revenue grew by four percent", out[1].text) <= 0.05
    first = out[0].words[0]
    assert first.text == "The" and abs(first.x0 - 72) < 3 and first.y0 < 300 < first.y1 + 2


def test_encrypted_scan_is_ocrd_with_its_password() -> None:
    scanned = image_pdf(text_pdf([[Placed("Private and confidential", 72, 120, "Helvetica", 16)]]), dpi=200)
    # re-encrypt the scan: wrap the image in a reportlab PDF with a password
    import io

    import pypdfium2 as pdfium
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    doc = pdfium.PdfDocument(scanned)
    page = doc[0]
    image = page.render(scale=200 / 72, grayscale=True).to_pil()
    page.close()
    doc.close()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(612, 792), encrypt=StandardEncryption("pw", strength=128))
    c.drawImage(ImageReader(image), 0, 0, width=612, height=792)
    c.showPage()
    c.save()
    out = read_pdf(buf.getvalue(), source="locked-scan.pdf", password="pw", ocr_dpi=200, ocr_workers=1)
    assert out.meta["ocr_pages"] == [1] and out.meta["encrypted"] is True
    assert char_error_rate("Private and confidential", out.text) <= 0.05


def test_unknown_language_names_it_and_the_installed_ones(scan: tuple[bytes, bytes, str]) -> None:
    _, scanned, _ = scan
    with pytest.raises(InputError) as exc:
        read_pdf(scanned, source="scan.pdf", ocr_lang="xyz")
    assert exc.value.code == "E162"
    message = str(exc.value)
    assert "scan.pdf" in message and "xyz" in message and "eng" in message
    with pytest.raises(InputError) as exc:
        read_pdf(scanned, source="scan.pdf", ocr_lang="eng+qqq")
    assert exc.value.code == "E162" and "qqq" in str(exc.value)


def test_missing_tesseract(scan: tuple[bytes, bytes, str], monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import pytesseract

    _, scanned, _ = scan
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no-such-tesseract"))
    assert ocr_available() is False
    # a server without Tesseract is misconfigured; the file is fine: ConfigError, not InputError
    with pytest.raises(ConfigError) as exc:
        read_pdf(scanned, source="scan.pdf", ocr="auto")
    assert not isinstance(exc.value, InputError)
    assert exc.value.code == "E161"
    assert "scan.pdf" in str(exc.value)
    assert "apt-get install tesseract-ocr" in str(exc.value) and "--ocr never" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        ocr_image(png(text_pdf([[Placed("x", 72, 100)]]), dpi=100), source="photo.png")
    assert exc.value.code == "E161" and "photo.png" in str(exc.value)
    # the API answers 500 (a server problem) with the usual error shape, not 422 (a bad upload)
    from api.errors import status_of

    assert status_of(exc.value) == 500
    # without OCR the same file still reads (empty page recorded)
    assert read_pdf(scanned, source="scan.pdf", ocr="never").meta["no_text_pages"] == [1]


def test_tesseract_vanishing_mid_run_is_a_config_error(
    scan: tuple[bytes, bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tesseract found by the start-up check but gone when a page runs: still E161, still ConfigError."""
    import pytesseract

    _, scanned, _ = scan

    def gone(*args: object, **kwargs: object) -> None:
        raise pytesseract.TesseractNotFoundError()

    monkeypatch.setattr(pytesseract, "image_to_data", gone)
    with pytest.raises(ConfigError) as exc:
        read_pdf(scanned, source="scan.pdf", ocr="auto", ocr_dpi=100, ocr_workers=1)
    assert exc.value.code == "E161" and exc.value.details == {"file": "scan.pdf", "page": 1}


# ----------------------------------------------------------------------------------------------- multi-page TIFF

TIFF_LINES = ["Invoice for the harbour office", "Second page lists the cargo", "Third page has the signatures"]


def _tiff(lines: list[str], *, dpi: int = 200, sizes: list[tuple[int, int]] | None = None) -> bytes:
    """A multi-page TIFF, one frame per line of text (rendered from a small PDF page), recording its dpi."""
    import io

    from PIL import Image

    frames = []
    for line in lines:
        data = png(text_pdf([[Placed(line, 36, 60, "Helvetica", 14)]], pagesize=(396, 144)), dpi=dpi)
        frames.append(Image.open(io.BytesIO(data)).convert("L"))
    for i, size in enumerate(sizes or []):
        frames[i] = frames[i].resize(size)
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:], dpi=(dpi, dpi))
    return out.getvalue()


@pytest.fixture(scope="module")
def tiff3() -> bytes:
    return _tiff(TIFF_LINES)


def test_multi_page_tiff_reads_every_frame(tiff3: bytes) -> None:
    pages = ocr_image_pages(tiff3, source="fax.tiff", workers=1)
    assert [p.number for p in pages] == [1, 2, 3] and all(p.ocr for p in pages)
    for truth, page in zip(TIFF_LINES, pages, strict=True):
        assert char_error_rate(truth, page.text) <= 0.05, page.text
        assert page.width == pytest.approx(396, abs=0.5) and page.height == pytest.approx(144, abs=0.5)
        assert page.words and page.words[0].x0 == pytest.approx(36, abs=3)
    # the one-frame reader still reads one frame, the one asked for
    assert char_error_rate(TIFF_LINES[1], ocr_image(tiff3, source="fax.tiff", frame=1, number=2).text) <= 0.05


def test_multi_page_tiff_in_worker_processes(tiff3: bytes) -> None:
    pages = ocr_image_pages(tiff3, source="fax.tiff", workers=2)
    assert [p.number for p in pages] == [1, 2, 3]
    assert [char_error_rate(t, p.text) <= 0.05 for t, p in zip(TIFF_LINES, pages, strict=True)] == [True] * 3


def test_multi_page_tiff_page_cap(tiff3: bytes) -> None:
    with pytest.raises(LimitError) as exc:
        ocr_image_pages(tiff3, source="fax.tiff", max_pages=2)
    assert exc.value.code == "E167"
    assert "fax.tiff" in str(exc.value) and "3 frames" in str(exc.value) and "NLPIPE_MAX_PAGES" in str(exc.value)
    assert len(ocr_image_pages(tiff3, source="fax.tiff", max_pages=3, workers=1)) == 3


def test_multi_page_tiff_checks_every_frame_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pixel cap applies to each frame: a small first frame must not let a huge later one through."""
    import nlpipe.readers.ocr.images as ocr_module

    data = _tiff(["small first page", "huge second page"], dpi=100, sizes=[(200, 100), (2000, 1000)])
    monkeypatch.setattr(ocr_module, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(LimitError) as exc:
        ocr_image_pages(data, source="odd.tiff", workers=1)
    assert exc.value.code == "E165" and exc.value.details == {"file": "odd.tiff", "page": 2}


def test_multi_page_tiff_through_the_dispatcher(tiff3: bytes, tmp_path) -> None:
    from nlpipe.readers.dispatch.route import ingest_bytes
    from nlpipe.readers.pdf.reader import PAGE_SEPARATOR
    from tests.conftest import make_settings

    result = ingest_bytes(tiff3, "scans/fax.tif", make_settings(tmp_path, ocr_workers=1))
    assert not result.failures
    [doc] = result.documents
    assert doc.mime == "image/tiff" and doc.source == "scans/fax.tif"
    assert len(doc.pages) == 3 and doc.meta["pages"] == 3 and doc.meta["ocr_pages"] == [1, 2, 3]
    assert doc.text == PAGE_SEPARATOR.join(p.text for p in doc.pages)
    assert [doc.text[o : o + len(p.text)] for o, p in zip(doc.meta["page_offsets"], doc.pages, strict=True)] == [
        p.text for p in doc.pages
    ]
    # over the page cap: one coded failure naming the file, nothing read
    capped = ingest_bytes(tiff3, "fax.tif", make_settings(tmp_path, ocr_workers=1, max_pages=2))
    assert not capped.documents and [(f.source, f.code) for f in capped.failures] == [("fax.tif", "E167")]


def test_ocr_image_png() -> None:
    data = png(text_pdf([[Placed("Delivery address: 12 Harbour Road", 72, 150, "Helvetica", 14)]]), dpi=300)
    page = ocr_image(data, source="photo.png", lang="eng")
    assert page.ocr and page.number == 1
    assert page.width == pytest.approx(612, abs=0.5) and page.height == pytest.approx(792, abs=0.5)  # PNG at 300 dpi
    assert char_error_rate("Delivery address: 12 Harbour Road", page.text) <= 0.05
    first = page.words[0]
    assert first.text == "Delivery" and abs(first.x0 - 72) < 3 and first.y0 < 150 < first.y1 + 2


def test_ocr_image_errors() -> None:
    with pytest.raises(InputError) as exc:
        ocr_image(b"", source="empty.png")
    assert exc.value.code == "E164" and "empty.png" in str(exc.value)
    with pytest.raises(InputError) as exc:
        ocr_image(b"this is not an image", source="fake.png")
    assert exc.value.code == "E164" and "fake.png" in str(exc.value)


def test_ocr_image_too_large() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")  # 100 Mpx, a few kB compressed
    with pytest.raises(LimitError) as exc:
        ocr_image(buf.getvalue(), source="huge.png")
    assert exc.value.code == "E165" and "huge.png" in str(exc.value)


def test_char_error_rate() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0
    assert char_error_rate("a  b\nc", "a b c") == 0.0
    assert char_error_rate("abcd", "abed") == 0.25


def test_ocr_pages_errors(scan: tuple[bytes, bytes, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract

    _, scanned, _ = scan
    with pytest.raises(InputError) as exc:
        ocr_pages(scanned, [2], source="scan.pdf", password=None, lang="eng", dpi=300, workers=1)
    assert exc.value.code == "E160" and "page 2" in str(exc.value)

    def broken(*args: object, **kwargs: object) -> None:
        raise pytesseract.TesseractError(1, "Error during processing.")

    monkeypatch.setattr(pytesseract, "image_to_data", broken)
    with pytest.raises(InputError) as exc:
        read_pdf(scanned, source="scan.pdf", ocr="auto", ocr_dpi=100)
    assert exc.value.code == "E163"
    assert str(exc.value).startswith("[E163] scan.pdf, page 1: Tesseract failed")
    assert exc.value.details == {"file": "scan.pdf", "page": 1}
