"""Invoice-like PDFs with varied layouts and known field values, for the layout task's tests and benchmark.

:func:`make_invoice` draws one invoice (reportlab standard fonts, seeded) in one of the :data:`TEMPLATES`, and
returns the PDF with the four annotated fields (:data:`FIELDS`: invoice number, date, total, issuer): each
field's text as drawn, its page and the box it was drawn in (PDF points, origin top-left). The templates differ
in where things sit and how labels relate to values:

====  ==================================================================================================
A     issuer top left, big; meta block on the right, label and value side by side; "Bill to" above the
      customer; totals at the bottom right as a two-column table (values right-aligned)
B     issuer top right (right-aligned); meta on the left as one string "Label: value"; totals the same way,
      right-aligned
C     issuer centred; meta in a row of columns, labels above values; "Amount due" in large type at the bottom
D     a sidebar: labels above values down the left edge; issuer small and bold under "From"; totals table
E     "INVOICE" top left; meta as a table on the right (a row of labels, the values in the row below);
      totals the same way; issuer in the footer under "Issued by"
F     issuer top right; meta labels right-aligned against a column of values; totals on the left
====  ==================================================================================================

Each invoice also varies its page size, margins, font family and size, label wordings ("Invoice No" /
"Invoice #" / "Number", "Total" / "Amount due" / "Balance due", ...), colons, upper case, date format
(ISO, d/m/Y, m/d/Y, d.m.Y, "March 5, 2024", "5 Mar 2024"), currency format and number of line items, and
carries look-alike distractors: a due date, a PO number, a customer number, the customer's company name,
line-item amounts, subtotal and tax.

Run ``python -m tests.invoicegen OUT --per-template N`` to write ``OUT/pdf/*.pdf`` and
``OUT/annotations.jsonl`` (needs nlpipe: the field boxes are turned into character spans of the text that
nlpipe's PDF reader extracts; see ``data/invoices/README.md``).
"""

from __future__ import annotations

import argparse
import io
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from reportlab.lib.pagesizes import A4, letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

FIELDS: tuple[str, ...] = ("invoice_number", "date", "total", "issuer")
TEMPLATES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")

FONTS = [("Helvetica", "Helvetica-Bold"), ("Times-Roman", "Times-Bold"), ("Courier", "Courier-Bold")]
COMPANY = [
    "Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Blue Harbor", "Silverline", "Redwood", "Kestrel",
    "Lumen", "Brightwater", "Oakridge", "Meridian", "Pinecrest", "Tallis", "Vantage", "Westbrook", "Quayside",
    "Amberly", "Halden", "Corvid", "Marlow", "Ferncastle", "Tidewell",
]  # fmt: skip
TRADE = ["Trading", "Logistics", "Supplies", "Consulting", "Systems", "Foods", "Engineering", "Print Works",
         "Textiles", "Media", "Labs", "Hardware", "Partners", "Studio"]  # fmt: skip
SUFFIX = ["Ltd", "GmbH", "Inc.", "LLC", "S.A.", "B.V.", "plc", "AG", ""]
STREETS = ["Market Street", "Harbour Road", "Mill Lane", "King's Parade", "Station Approach", "Elm Avenue",
           "Rue des Lilas", "Hauptstrasse", "Canal Walk", "Orchard Close"]  # fmt: skip
CITIES = ["London EC1A 1BB", "Leeds LS1 4AP", "Berlin 10115", "Lyon 69002", "Utrecht 3511 AB", "Boston, MA 02110",
          "Dublin D02 X285", "Zurich 8001", "Austin, TX 78701", "Bristol BS1 5TR"]  # fmt: skip
ITEMS = ["Consulting hours", "Office chairs", "Printer paper A4", "Software licence", "Maintenance visit",
         "USB-C cables", "Design work", "Cloud hosting (monthly)", "Training session", "Delivery and handling",
         "Desk lamps", "Network switch", "Translation services", "Coffee beans 1 kg"]  # fmt: skip
WORDINGS: dict[str, list[str]] = {
    "invoice_number": [
        "Invoice No",
        "Invoice No.",
        "Invoice #",
        "Invoice Number",
        "Number",
        "Inv. No.",
        "Invoice Ref",
    ],  # fmt: skip
    "date": ["Date", "Invoice Date", "Issue Date", "Date of Issue", "Dated"],
    "due": ["Due Date", "Payment Due", "Due By", "Pay By"],
    "po": ["PO Number", "Order No", "Purchase Order", "Your Ref"],
    "customer_id": ["Customer ID", "Account No", "Client No"],
    "total": ["Total", "Amount Due", "Total Due", "Grand Total", "Balance Due", "Amount Payable"],
    "subtotal": ["Subtotal", "Net Amount", "Net Total"],
    "tax": ["VAT 20%", "Tax", "Sales Tax 8%", "VAT"],
    "bill_to": ["Bill To", "Billed To", "Invoice To", "Customer"],
    "from": ["From", "Issued By", "Supplier", "Seller"],
}
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%B %-d, %Y", "%-d %b %Y"]
MONEY_STYLES = ["dollar", "euro_suffix", "code_prefix", "pound", "code_suffix"]


@dataclass
class FieldBox:
    """A field as drawn: its text, 1-based page and box (x0, top, x1, bottom) in points, origin top-left."""

    text: str
    page: int
    bbox: tuple[float, float, float, float]


@dataclass
class Invoice:
    template: str
    seed: int
    pdf: bytes
    fields: dict[str, FieldBox] = field(default_factory=dict)


class _Sheet:
    """A reportlab canvas addressed from the top-left, that returns the box of what it draws."""

    def __init__(self, c: canvas.Canvas, height: float) -> None:
        self.c, self.height = c, height

    def text(self, x: float, y: float, s: str, font: str, size: float, align: str = "left") -> tuple:
        """Draw ``s`` with its baseline ``y`` points below the top; ``x`` is its left, right or centre."""
        width = stringWidth(s, font, size)
        x0 = {"left": x, "right": x - width, "centre": x - width / 2}[align]
        self.c.setFont(font, size)
        self.c.drawString(x0, self.height - y, s)
        return (x0, y - 0.8 * size, x0 + width, y + 0.25 * size)

    def prefixed(self, x: float, y: float, prefix: str, value: str, font: str, size: float, align: str = "left"):
        """Draw ``prefix + value`` as one string; return the box of ``value`` alone."""
        whole = self.text(x, y, prefix + value, font, size, align)
        start = whole[0] + stringWidth(prefix, font, size)
        return (start, whole[1], whole[2], whole[3])


class _Content:
    """Everything one invoice says, drawn from ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        r = rng
        names = r.sample(COMPANY, 2)
        self.issuer = " ".join(x for x in (names[0], r.choice(TRADE), r.choice(SUFFIX)) if x)
        self.customer = " ".join(x for x in (names[1], r.choice(TRADE), r.choice(SUFFIX)) if x)
        self.issuer_address = [f"{r.randint(1, 180)} {r.choice(STREETS)}", r.choice(CITIES)]
        self.customer_address = [f"{r.randint(1, 180)} {r.choice(STREETS)}", r.choice(CITIES)]
        self.phone = f"+44 20 {r.randint(1000, 9999)} {r.randint(1000, 9999)}"
        self.vat = f"VAT ID GB{r.randint(100000000, 999999999)}"
        n, year = r.randint(10, 99999), r.randint(2019, 2025)
        self.number = r.choice(
            [
                f"INV-{year}-{n % 10000:04d}",
                f"{n:06d}",
                f"A{n:05d}",
                f"FV/{n}/{year % 100}",
                f"{year % 100}{n:05d}",
                f"IN{n % 10000:04d}-{r.choice('ABCDEFGH')}",
            ]  # fmt: skip
        )
        self.po = r.choice([f"PO-{r.randint(10000, 99999)}", f"{r.randint(1000000, 9999999)}"])
        self.customer_id = r.choice([f"C{r.randint(10000, 99999)}", f"CUST-{r.randint(1000, 9999)}"])
        issued = date(year, 1, 1) + timedelta(days=r.randint(0, 360))
        fmt = r.choice(DATE_FORMATS)
        self.date = issued.strftime(fmt)
        self.due = (issued + timedelta(days=r.choice([14, 30, 45]))).strftime(fmt)
        money = r.choice(MONEY_STYLES)
        code = r.choice(["EUR", "USD", "GBP"])

        def fmt_money(x: float) -> str:
            us = f"{x:,.2f}"
            if money == "dollar":
                return f"${us}"
            if money == "pound":
                return f"\u00a3{us}"
            if money == "euro_suffix":
                return us.replace(",", "X").replace(".", ",").replace("X", ".") + " \u20ac"
            return f"{code} {us}" if money == "code_prefix" else f"{us} {code}"

        self.money = fmt_money
        self.items = []
        sub = 0.0
        for desc in r.sample(ITEMS, r.randint(2, 6)):
            qty, price = r.randint(1, 20), r.randint(500, 90000) / 100
            sub += qty * price
            self.items.append((desc, str(qty), fmt_money(price), fmt_money(qty * price)))
        self.tax_rate = r.choice([0.2, 0.08, 0.1])
        sub = round(sub, 2)
        self.subtotal = fmt_money(sub)
        self.tax = fmt_money(round(sub * self.tax_rate, 2))
        self.total = fmt_money(round(sub * (1 + self.tax_rate), 2))
        upper, colon = r.random() < 0.25, r.choice([":", ""])
        self.words = {}
        for key, choices in WORDINGS.items():
            w = r.choice(choices)
            self.words[key] = (w.upper() if upper else w) + colon
        self.title = r.choice(["INVOICE", "Invoice", "TAX INVOICE", "Sales Invoice"])


def make_invoice(template: str, seed: int) -> Invoice:
    """One invoice in ``template`` (see the module docstring); the same (template, seed) gives the same PDF."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose one of {TEMPLATES}")
    rng = random.Random(f"{template}-{seed}")
    content = _Content(rng)
    pagesize = rng.choice([letter, A4])
    regular, bold = rng.choice(FONTS)
    size = rng.choice([9, 9.5, 10, 10.5, 11])
    margin = rng.uniform(40, 70)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=pagesize, invariant=1)
    sheet = _Sheet(c, pagesize[1])
    style = _Style(rng, regular, bold, size, margin, pagesize[0], pagesize[1])
    boxes = _DRAW[template](sheet, content, style)
    c.showPage()
    c.save()
    texts = {"invoice_number": content.number, "date": content.date, "total": content.total,
             "issuer": content.issuer}  # fmt: skip
    fields = {k: FieldBox(texts[k], 1, tuple(round(v, 2) for v in boxes[k])) for k in FIELDS}
    return Invoice(template=template, seed=seed, pdf=buf.getvalue(), fields=fields)


@dataclass
class _Style:
    rng: random.Random
    regular: str
    bold: str
    size: float
    margin: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.width - self.margin

    def jitter(self, amount: float = 8.0) -> float:
        return self.rng.uniform(-amount, amount)


# ------------------------------------------------------------------------------------------------ blocks


def _address(s: _Sheet, st: _Style, x: float, y: float, lines: list[str], align: str = "left") -> float:
    for line in lines:
        s.text(x, y, line, st.regular, st.size * 0.9, align)
        y += st.size * 1.25
    return y


def _side_pairs(s, st, pairs, x_label, x_value, y, *, value_align="left", label_align="left", bold_last=False):
    """Label and value side by side, one pair per line; returns {key: value box} and the next baseline."""
    boxes = {}
    if label_align == "left" and value_align == "left":  # keep clear of the longest label
        x_value = max(x_value, x_label + max(stringWidth(p[1], st.bold, st.size) for p in pairs) + st.size)
    if label_align == "left" and value_align == "right":
        widest = max(stringWidth(p[1] + p[2], st.bold, st.size) for p in pairs)
        x_value = max(x_value, x_label + widest + 1.5 * st.size)
    for i, (key, label, value) in enumerate(pairs):
        font = st.bold if bold_last and i == len(pairs) - 1 else st.regular
        s.text(x_label, y, label, font, st.size, label_align)
        boxes[key] = s.text(x_value, y, value, font, st.size, value_align)
        y += st.size * 1.5
    return boxes, y


def _inline_pairs(s, st, pairs, x, y, *, align="left", bold_last=False):
    """``Label value`` as one string per line."""
    boxes = {}
    for i, (key, label, value) in enumerate(pairs):
        font = st.bold if bold_last and i == len(pairs) - 1 else st.regular
        boxes[key] = s.prefixed(x, y, label + " ", value, font, st.size, align)
        y += st.size * 1.5
    return boxes, y


def _row_pairs(s, st, pairs, xs, y, *, align="left", label_scale=0.8):
    """A row of labels and, below each, its value (a table of one row); columns move apart to not overlap."""
    boxes = {}
    widths = [max(stringWidth(lab, st.regular, st.size * label_scale), stringWidth(v, st.bold, st.size))
              for _, lab, v in pairs]  # fmt: skip
    xs = list(xs)
    if align == "left":
        for i in range(1, len(xs)):
            xs[i] = max(xs[i], xs[i - 1] + widths[i - 1] + st.size)
        overflow = xs[-1] + widths[-1] - st.right
        xs = [x - max(overflow, 0) for x in xs]
    else:
        for i in range(len(xs) - 2, -1, -1):
            xs[i] = min(xs[i], xs[i + 1] - widths[i + 1] - st.size)
    for (key, label, value), x in zip(pairs, xs, strict=True):
        s.text(x, y, label, st.regular, st.size * label_scale, align)
        boxes[key] = s.text(x, y + st.size * 1.4, value, st.bold, st.size, align)
    return boxes, y + st.size * 3.0


def _stacked_pairs(s, st, pairs, x, y):
    """Each label above its value, down one column."""
    boxes = {}
    for key, label, value in pairs:
        s.text(x, y, label, st.regular, st.size * 0.8)
        boxes[key] = s.text(x, y + st.size * 1.3, value, st.regular, st.size)
        y += st.size * 3.2
    return boxes, y


def _items(s, st, content, x0, x1, y) -> float:
    """The line-items table between x0 and x1; returns the baseline after it."""
    cols = [x0, x0 + (x1 - x0) * 0.5, x0 + (x1 - x0) * 0.73, x1]
    aligns = ["left", "right", "right", "right"]
    heads = ["Description", "Qty", "Unit price", "Amount"]
    for h, x, align in zip(heads, cols, aligns, strict=True):
        s.text(x, y, h, st.bold, st.size, align)
    y += st.size * 1.8
    for row in content.items:
        for v, x, align in zip(row, cols, aligns, strict=True):
            s.text(x, y, v, st.regular, st.size, align)
        y += st.size * 1.5
    return y + st.size


def _meta(content, keys):
    names = {"invoice_number": content.number, "date": content.date, "due": content.due, "po": content.po,
             "customer_id": content.customer_id}  # fmt: skip
    return [(k, content.words[k], names[k]) for k in keys]


def _totals(content, total_last=True):
    return [("subtotal", content.words["subtotal"], content.subtotal), ("tax", content.words["tax"], content.tax),
            ("total", content.words["total"], content.total)]  # fmt: skip


def _footer(s, st, text_lines):
    y = st.height - st.margin
    for line in reversed(text_lines):
        s.text(st.margin, y, line, st.regular, st.size * 0.8)
        y -= st.size * 1.1


# --------------------------------------------------------------------------------------------- templates


def _template_a(s: _Sheet, c: _Content, st: _Style) -> dict:
    r, m = st.rng, st.margin
    y = m + 20 + st.jitter(6)
    big = st.size * r.uniform(1.6, 2.1)
    boxes = {"issuer": s.text(m, y, c.issuer, st.bold, big)}
    s.text(st.right, y, c.title, st.bold, big * 0.9, "right")
    _address(s, st, m, y + big * 0.9, c.issuer_address + [c.phone])
    x_label = st.width * r.uniform(0.52, 0.6)
    meta, y2 = _side_pairs(s, st, _meta(c, r.sample(["invoice_number", "date", "due", "po"], 4)),
                           x_label, x_label + r.uniform(85, 105), y + big * 1.6)  # fmt: skip
    boxes.update(meta)
    s.text(m, y + big * 1.6 + st.size * 4.5, c.words["bill_to"], st.bold, st.size)
    yb = _address(s, st, m, y + big * 1.6 + st.size * 6, [c.customer] + c.customer_address)
    y = _items(s, st, c, m, st.right, max(y2, yb) + st.size * 2 + st.jitter(5))
    totals, _ = _side_pairs(s, st, _totals(c), st.width * 0.6, st.right, y + st.size, value_align="right",
                            bold_last=True)  # fmt: skip
    boxes["total"] = totals["total"]
    _footer(s, st, ["Thank you for your business.", c.vat])
    return boxes


def _template_b(s: _Sheet, c: _Content, st: _Style) -> dict:
    r, m = st.rng, st.margin
    y = m + 22 + st.jitter(6)
    big = st.size * r.uniform(1.5, 2.0)
    s.text(m, y, c.title, st.bold, big * 1.1)
    boxes = {"issuer": s.text(st.right, y, c.issuer, st.bold, big * 0.8, "right")}
    _address(s, st, st.right, y + big, c.issuer_address + [c.vat], "right")
    keys = ["invoice_number", "date", "customer_id", "due"]
    r.shuffle(keys)
    meta, y2 = _inline_pairs(s, st, _meta(c, keys), m, y + big * 1.3 + st.size * 3)
    boxes.update(meta)
    _inline_pairs(s, st, [("bill", c.words["bill_to"], c.customer)], m, y2 + st.size)
    _address(s, st, m, y2 + st.size * 2.5, c.customer_address)
    y = _items(s, st, c, m, st.right, y2 + st.size * 7 + st.jitter(5))
    totals, _ = _inline_pairs(s, st, _totals(c), st.right, y + st.size, align="right", bold_last=r.random() < 0.5)
    boxes["total"] = totals["total"]
    _footer(s, st, [f"Questions? Call {c.phone}", "Payment by bank transfer within 30 days."])
    return boxes


def _template_c(s: _Sheet, c: _Content, st: _Style) -> dict:
    r, m = st.rng, st.margin
    y = m + 24 + st.jitter(6)
    big = st.size * r.uniform(1.7, 2.2)
    boxes = {"issuer": s.text(st.width / 2, y, c.issuer, st.bold, big, "centre")}
    s.text(st.width / 2, y + big, " \u00b7 ".join(c.issuer_address), st.regular, st.size * 0.85, "centre")
    s.text(m, y + big * 2.2, c.title, st.bold, st.size * 1.4)
    keys = ["invoice_number", "date", "due", "customer_id"]
    xs = [m + i * (st.right - m) / 4 for i in range(4)]
    meta, y = _row_pairs(s, st, _meta(c, keys), xs, y + big * 2.2 + st.size * 2.5)
    boxes.update(meta)
    s.text(m, y + st.size, c.words["bill_to"], st.regular, st.size * 0.8)
    y = _address(s, st, m, y + st.size * 2.4, [c.customer] + c.customer_address)
    y = _items(s, st, c, m, st.right, y + st.size * 2)
    _side_pairs(s, st, _totals(c)[:2], st.width * 0.62, st.right, y, value_align="right")
    y += st.size * 4.5
    s.text(m, y, c.words["total"], st.bold, st.size * 1.4)
    boxes["total"] = s.text(st.right, y, c.total, st.bold, st.size * 1.4, "right")
    _footer(s, st, [c.vat, c.phone])
    return boxes


def _template_d(s: _Sheet, c: _Content, st: _Style) -> dict:
    m = st.margin
    y = m + 20 + st.jitter(5)
    s.text(m, y, c.words["from"], st.regular, st.size * 0.8)
    boxes = {"issuer": s.text(m, y + st.size * 1.3, c.issuer, st.bold, st.size * 1.1)}
    _address(s, st, m, y + st.size * 2.6, c.issuer_address)
    s.text(st.right, y + st.size, c.title, st.bold, st.size * 2.2, "right")
    meta, _ = _stacked_pairs(s, st, _meta(c, ["invoice_number", "date", "due", "customer_id", "po"]), m,
                             y + st.size * 7)  # fmt: skip
    boxes.update(meta)
    x_main = m + st.width * 0.25
    s.text(x_main, y + st.size * 7, c.words["bill_to"], st.bold, st.size)
    yb = _address(s, st, x_main, y + st.size * 8.5, [c.customer] + c.customer_address)
    y = _items(s, st, c, x_main, st.right, yb + st.size * 2)
    totals, _ = _side_pairs(s, st, _totals(c), x_main + (st.right - x_main) * 0.45, st.right, y + st.size,
                            value_align="right", bold_last=True)  # fmt: skip
    boxes["total"] = totals["total"]
    _footer(s, st, [c.vat + "  |  " + c.phone])
    return boxes


def _template_e(s: _Sheet, c: _Content, st: _Style) -> dict:
    r, m = st.rng, st.margin
    y = m + 26 + st.jitter(6)
    s.text(m, y, c.title, st.bold, st.size * 2.4)
    x0 = st.width * r.uniform(0.45, 0.5)
    xs = [x0 + i * (st.right - x0) / 3 for i in range(3)]
    meta, y = _row_pairs(s, st, _meta(c, r.sample(["invoice_number", "date", "po"], 3)), xs, y + st.size * 3,
                         label_scale=0.85)  # fmt: skip
    boxes = dict(meta)
    s.text(m, y + st.size, c.words["bill_to"], st.bold, st.size)
    y = _address(s, st, m, y + st.size * 2.5, [c.customer] + c.customer_address + [c.customer_id])
    y = _items(s, st, c, m, st.right, y + st.size * 2)
    x0 = m + (st.right - m) * 0.3
    xs = [x0 + i * (st.right - x0) / 3 for i in range(1, 4)]
    totals, _ = _row_pairs(s, st, _totals(c), xs, y + st.size, align="right")
    boxes["total"] = totals["total"]
    yf = st.height - st.margin - st.size * 4
    s.text(m, yf, c.words["from"], st.regular, st.size * 0.8)
    boxes["issuer"] = s.text(m, yf + st.size * 1.3, c.issuer, st.bold, st.size)
    s.text(m, yf + st.size * 2.6, " \u00b7 ".join(c.issuer_address + [c.phone]), st.regular, st.size * 0.8)
    return boxes


def _template_f(s: _Sheet, c: _Content, st: _Style) -> dict:
    r, m = st.rng, st.margin
    y = m + 22 + st.jitter(6)
    big = st.size * r.uniform(1.4, 1.9)
    boxes = {"issuer": s.text(st.right, y, c.issuer, st.bold, big, "right")}
    _address(s, st, st.right, y + big, c.issuer_address + [c.phone, c.vat], "right")
    s.text(m, y, c.title, st.regular, st.size * 1.6)
    x_value = st.width * r.uniform(0.3, 0.36)
    meta, y2 = _side_pairs(s, st, _meta(c, ["invoice_number", "po", "date", "due"]), x_value - 8, x_value,
                           y + st.size * 4, label_align="right")  # fmt: skip
    boxes.update(meta)
    _inline_pairs(s, st, [("bill", c.words["bill_to"], c.customer)], m, y2 + st.size * 2)
    _address(s, st, m, y2 + st.size * 3.5, c.customer_address)
    y = _items(s, st, c, m, st.right, y2 + st.size * 8)
    totals, _ = _side_pairs(s, st, _totals(c), m, m + st.width * 0.3, y + st.size, value_align="right",
                            bold_last=r.random() < 0.5)  # fmt: skip
    boxes["total"] = totals["total"]
    _footer(s, st, ["Thank you!"])
    return boxes


_DRAW = {"A": _template_a, "B": _template_b, "C": _template_c, "D": _template_d, "E": _template_e,
         "F": _template_f}  # fmt: skip


# ------------------------------------------------------------------------------------------- annotation


def annotate(invoice: Invoice, name: str) -> dict:
    """Read the invoice's PDF with nlpipe and return an import line ``{"id", "text", "spans"}`` for it.

    The spans are where nlpipe's text holds each field (:func:`nlpipe.tasks.layout.words.spans_from_boxes`);
    a field whose words do not read back as the drawn text raises ``AssertionError``.
    """
    from nlpipe.config import Settings
    from nlpipe.ingest import documents_for_prediction
    from nlpipe.tasks.layout.words import spans_from_boxes

    [doc], _ = documents_for_prediction(invoice.pdf, Settings(), name=name)
    boxes = [(label, f.page, f.bbox) for label, f in invoice.fields.items()]
    spans = spans_from_boxes(doc, boxes)
    for sp in spans:
        assert doc.text[sp.start : sp.end] == invoice.fields[sp.label].text, (name, sp, invoice.fields[sp.label])
    assert len(spans) == len(invoice.fields), (name, spans)
    return {"id": name, "text": doc.text, "spans": [{"start": sp.start, "end": sp.end, "label": sp.label}
                                                    for sp in spans]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-template", type=int, default=4)
    args = parser.parse_args()
    (args.out / "pdf").mkdir(parents=True, exist_ok=True)
    lines = []
    for template in TEMPLATES:
        for seed in range(args.per_template):
            inv = make_invoice(template, seed)
            name = f"invoice-{template}{seed:02d}.pdf"
            (args.out / "pdf" / name).write_bytes(inv.pdf)
            line = annotate(inv, name)
            line["template"] = template
            lines.append(json.dumps(line, ensure_ascii=False))
    (args.out / "annotations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} invoices to {args.out}")


if __name__ == "__main__":
    main()
