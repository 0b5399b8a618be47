"""Small PDFs built on the fly for the ingest tests and ``benchmarks/ingest.py``.

* :func:`text_pdf` -- text at known positions (reportlab standard fonts), optionally encrypted or rotated;
* :func:`paragraph_pdf` -- wrapped paragraphs on one page, with the exact text drawn (the OCR ground truth);
* :func:`ocr_corpus` -- pages of ordinary English in several fonts and sizes, with each page's text;
* :func:`image_pdf` -- render a PDF with PDFium and wrap the images as an image-only PDF (a "scan");
* :func:`png` -- one page rendered as a PNG that records its resolution.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

PARAGRAPHS = [
    "The committee met on Tuesday morning to review the budget for the coming year. Most members agreed that "
    "the library should stay open on Saturdays, although the cost of heating the old building keeps rising.",
    "Customers who ordered before the end of March will receive their parcels within ten working days. We are "
    "sorry for the delay and thank you for your patience while the new warehouse opens.",
    "Rain is expected across the northern valleys tonight, with clearer skies reaching the coast by Friday. "
    "Farmers should bring the harvest in early, as temperatures may fall below freezing on Sunday.",
    "The museum's summer exhibition brings together paintings, letters and photographs from three families "
    "who lived in the harbour town for more than a century. Admission is free for children under twelve.",
    "Please check that the serial number printed on the back of the device matches the number on your "
    "receipt. If it does not, return both to the shop where you bought them and ask for a replacement.",
    "After a slow start the home side took control of the match, scoring twice in the second half. The coach "
    "praised the young goalkeeper, who made several fine saves in the closing minutes.",
    "Our quarterly report shows that sales grew by four percent, mostly thanks to strong demand in the south. "
    "Costs were higher than planned because fuel prices rose sharply in the spring.",
    "The recipe needs two cups of flour, a pinch of salt, three eggs and a little warm milk. Mix everything "
    "slowly, let the dough rest for an hour, then bake it until the crust turns golden brown.",
    "Visitors to the national park are asked to keep to the marked paths, to take their rubbish home and to "
    "keep dogs on a lead near the lakes, where rare birds nest between April and July.",
    "The new timetable starts on the first of June. Trains to the city will leave every fifteen minutes during "
    "the day, and the last service will depart shortly after midnight on weekdays.",
]


@dataclass
class Placed:
    """A string drawn at ``x`` (left) with its baseline ``baseline`` points below the top of the page."""

    text: str
    x: float
    baseline: float
    font: str = "Helvetica"
    size: float = 12.0


def text_pdf(
    pages: list[list[Placed]],
    *,
    pagesize: tuple[float, float] = letter,
    user_password: str | None = None,
    rotate: int = 0,
) -> bytes:
    """A PDF with the given strings per page; ``user_password`` encrypts it (RC4 128), ``rotate`` sets /Rotate."""
    buf = io.BytesIO()
    encrypt = None
    if user_password is not None:
        from reportlab.lib.pdfencrypt import StandardEncryption

        encrypt = StandardEncryption(user_password, ownerPassword=user_password + "-owner", strength=128)
    c = canvas.Canvas(buf, pagesize=pagesize, encrypt=encrypt, invariant=1)
    # reportlab swaps the media box of a page rotated by 90 or 270 degrees, so it displays at ``pagesize``
    top = pagesize[0] if rotate % 180 else pagesize[1]
    for items in pages:
        if rotate:
            c.setPageRotation(rotate)
        for item in items:
            c.setFont(item.font, item.size)
            c.drawString(item.x, top - item.baseline, item.text)
        c.showPage()
    c.save()
    return buf.getvalue()


def paragraph_pdf(
    paragraphs: list[str], *, font: str = "Helvetica", size: float = 12.0, pagesize: tuple[float, float] = letter
) -> tuple[bytes, str]:
    """One page of wrapped paragraphs (72 pt margins); returns the PDF and the text as drawn, line by line."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=pagesize, invariant=1)
    width, height = pagesize
    leading = size * 1.35
    y = height - 72 - size
    lines_out: list[str] = []
    c.setFont(font, size)
    for para in paragraphs:
        for line in simpleSplit(para, font, size, width - 144):
            if y < 72:
                break
            c.drawString(72, y, line)
            lines_out.append(line)
            y -= leading
        y -= leading * 0.6
    c.showPage()
    c.save()
    return buf.getvalue(), "\n".join(lines_out)


def image_pdf(pdf: bytes, *, dpi: int = 300) -> bytes:
    """Render every page at ``dpi`` (grayscale) and save the images as an image-only PDF of the same page size."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        images = []
        for i in range(len(doc)):
            page = doc[i]
            images.append(page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L"))
            page.close()
    finally:
        doc.close()
    out = io.BytesIO()
    images[0].save(out, format="PDF", resolution=float(dpi), save_all=True, append_images=images[1:])
    return out.getvalue()


def png(pdf: bytes, *, dpi: int = 300, page: int = 0) -> bytes:
    """One page rendered as a PNG that records its resolution."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        handle = doc[page]
        image = handle.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        handle.close()
    finally:
        doc.close()
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()


OCR_STYLES = [
    ("Helvetica", 12),
    ("Times-Roman", 12),
    ("Courier", 11),
    ("Helvetica-Bold", 11),
    ("Times-Italic", 13),
    ("Helvetica-Oblique", 10),
    ("Times-Bold", 14),
    ("Courier-Bold", 10),
    ("Times-Roman", 10),
    ("Helvetica", 14),
]


def ocr_corpus(pages: int = 10, *, pagesize: tuple[float, float] = letter) -> tuple[bytes, list[str]]:
    """A text PDF of ``pages`` pages, three paragraphs each, fonts and sizes from ``OCR_STYLES``; and each
    page's text as drawn (the ground truth for OCR)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=pagesize, invariant=1)
    width, height = pagesize
    truths = []
    for n in range(pages):
        font, size = OCR_STYLES[n % len(OCR_STYLES)]
        leading = size * 1.35
        y = height - 72 - size
        lines: list[str] = []
        c.setFont(font, size)
        for k in range(3):
            for line in simpleSplit(PARAGRAPHS[(3 * n + k) % len(PARAGRAPHS)], font, size, width - 144):
                c.drawString(72, y, line)
                lines.append(line)
                y -= leading
            y -= leading * 0.6
        c.showPage()
        truths.append("\n".join(lines))
    c.save()
    return buf.getvalue(), truths
