"""Hypothesis strategies: the inputs of each fuzz target.

Every strategy starts from valid files -- the real PDFs of ``../shared/datasets`` and ones built by
``tests/pdfgen.py``, zips and tars of mixed members, DOCX, e-mail, HTML, CSV / JSON Lines / CoNLL / Label Studio
exports -- and damages them with :func:`mutated`: bytes flipped, cut off, inserted, deleted or repeated, and
numbers replaced by extreme ones (page counts, lengths, offsets, sizes). Generated texts come in odd encodings.
"""

from __future__ import annotations

import bz2
import csv
import functools
import gzip
import io
import json
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from email.message import EmailMessage

from hypothesis import strategies as st

from tests.conftest import SHARED

PDF_CORPUS = SHARED / "pdfplumber_test_pdfs" / "pdfs"
SEED_PDF_BYTES = 160_000  # real PDFs up to this size seed the PDF targets (a fast case each)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1", "cp1251",
             "koi8-r", "shift_jis", "gb18030", "big5", "euc-kr", "mac_roman", "utf-7", "cp437")  # fmt: skip
EXTREMES = (b"0", b"-1", b"1", b"2147483647", b"2147483648", b"4294967296", b"9223372036854775808",
            b"99999999999999999999", b"9" * 5000, b"1e308", b"-0.0", b"NaN", b"")  # fmt: skip
_NUMBER = re.compile(rb"-?\d+")
SAMPLE = "Invoice 42 — café, naïve résumé; Grüße aus Köln. 東京 Привет ☃ 😀\ttab\r\nline"

# ----------------------------------------------------------------------------------------------- mutation

# structure a parser trusts: PDF objects and cross-references, zip records, tar headers, MIME parts, DOCX parts
MARKERS = (b"/Length", b"/Count", b"/Kids", b"/Parent", b"/Size", b"/W ", b"/Index", b"/Prev", b"/First", b"/N ",
           b"/Filter", b"/DecodeParms", b"/Columns", b"/Predictor", b"/BitsPerComponent", b"/Width", b"/Height",
           b"/Font", b"/ToUnicode", b"/MediaBox", b"/Rotate", b"/Encrypt", b"xref", b"startxref", b"trailer",
           b"obj", b"stream", b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"ustar", b"\x1f\x8b",
           b"boundary=", b"Content-Transfer-Encoding", b"charset=", b"<w:", b"<?xml", b"[Content_Types]")  # fmt: skip

_ops = st.one_of(
    st.tuples(
        st.just("marker"),
        st.floats(0, 1),
        st.tuples(st.sampled_from(MARKERS), st.sampled_from(EXTREMES), st.integers(0, 3)),
    ),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 512)),
    st.tuples(st.just("repeat"), st.floats(0, 1), st.one_of(st.integers(1, 64), st.integers(1000, 4000))),
    st.tuples(st.just("number"), st.floats(0, 1), st.sampled_from(EXTREMES)),
)


def _apply(data: bytes, op: tuple[str, float, object]) -> bytes:
    name, where, arg = op
    pos = min(int(where * len(data)), max(len(data) - 1, 0))
    if name == "flip" and data:
        return data[:pos] + bytes([data[pos] ^ int(arg)]) + data[pos + 1 :]  # type: ignore[call-overload]
    if name == "truncate":
        return data[:pos]
    if name == "insert":
        return data[:pos] + bytes(arg) + data[pos:]  # type: ignore[call-overload]
    if name == "delete":
        return data[:pos] + data[pos + int(arg) :]  # type: ignore[call-overload]
    if name == "repeat":
        return data[:pos] + data[pos : pos + 64] * int(arg) + data[pos:]  # type: ignore[call-overload]
    if name == "marker":
        return _at_marker(data, where, arg)  # type: ignore[arg-type]
    if name == "number":
        numbers = list(_NUMBER.finditer(data))
        if numbers:
            m = numbers[min(int(where * len(numbers)), len(numbers) - 1)]
            return data[: m.start()] + bytes(arg) + data[m.end() :]  # type: ignore[call-overload]
    return data


def _at_marker(data: bytes, where: float, arg: tuple[bytes, bytes, int]) -> bytes:
    """Damage the structure at one occurrence of a marker: the number after it replaced by an extreme one (0),
    the marker cut off there (1), its bytes flipped (2) or the marker repeated (3)."""
    marker, number, how = arg
    spots = [m.start() for m in re.finditer(re.escape(marker), data)]
    if not spots:
        return data
    pos = spots[min(int(where * len(spots)), len(spots) - 1)]
    end = pos + len(marker)
    if how == 0:
        m = _NUMBER.search(data, end, end + 40)
        return data[: m.start()] + number + data[m.end() :] if m else data
    if how == 1:
        return data[:end]
    if how == 2:
        return data[:pos] + bytes(b ^ 0x55 for b in marker) + data[end:]
    return data[:pos] + marker * 50 + data[pos:]


@st.composite
def _mutate(draw: st.DrawFn, seeds: st.SearchStrategy[bytes], max_ops: int) -> bytes:
    return damage(draw, draw(seeds), max_ops)


def damage(draw: st.DrawFn, data: bytes, max_ops: int = 4) -> bytes:
    """``data`` damaged by one to ``max_ops`` drawn mutations."""
    for op in draw(st.lists(_ops, min_size=1, max_size=max_ops)):
        data = _apply(data, op)
    return data


def mutated(seeds: st.SearchStrategy[bytes], *, max_ops: int = 4, intact: bool = True) -> st.SearchStrategy[bytes]:
    """Seeds damaged by one to ``max_ops`` mutations (and, with ``intact``, the seeds themselves)."""
    damaged = _mutate(seeds, max_ops)
    return st.one_of(seeds, damaged, damaged, damaged) if intact else damaged


# ----------------------------------------------------------------------------------------------- seeds


@functools.cache
def pdf_seeds() -> tuple[bytes, ...]:
    from tests.pdfgen import Placed, paragraph_pdf, text_pdf

    real = sorted(p for p in PDF_CORPUS.glob("*.pdf") if 0 < p.stat().st_size <= SEED_PDF_BYTES)
    made = [
        text_pdf([[Placed("Hello fuzz", 72, 100)], [Placed("Page two", 72, 100, size=20)]]),
        text_pdf([[Placed("Secret", 72, 100)]], user_password="pw"),
        text_pdf([[Placed("Rotated", 72, 100)]], rotate=90),
        paragraph_pdf(["The committee met on Tuesday morning to review the budget."])[0],
    ]
    return (*made, *(p.read_bytes() for p in real))


def _members() -> dict[str, bytes]:
    return {
        "a.txt": SAMPLE.encode("utf-8"),
        "dir/b.html": b"<html><head><meta charset='cp1252'></head><body><p>caf\xe9</p><script>x</script></body></html>",
        "c.csv": b'text,label\nhello,a\n"quoted, text",b\n',
        "d.jsonl": b'{"text": "one", "label": "x"}\n{"text": "two"}\n',
        "e.eml": eml_seeds()[0],
        "f.md": b"# Title\n\nSome *markdown*.\n",
        "../evil.txt": b"escape",
        ".hidden": b"hidden",
    }


@functools.cache
def zip_seeds() -> tuple[bytes, ...]:
    members = _members()
    out = []
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=method) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            zf.writestr("inner.zip", _zip({"deep.txt": b"deep text"}))
            zf.writestr("doc.docx", docx_seeds()[0])
        out.append(buf.getvalue())
    return tuple(out)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        long = tarfile.TarInfo("long/" + "n" * 150 + ".txt")
        long.size = 4
        tf.addfile(long, io.BytesIO(b"long"))
    return buf.getvalue()


@functools.cache
def tar_seeds() -> tuple[bytes, ...]:
    members = {**_members(), "inner.tar": _tar({"deep.txt": b"deep"})}
    return (_tar(members), _tar(members, "w:") + b"\0" * 512, _tar(members, "w|"))


@functools.cache
def tar_gz_seeds() -> tuple[bytes, ...]:
    plain = tar_seeds()[0]
    return (gzip.compress(plain, mtime=0), bz2.compress(plain), lzma.compress(plain))


@functools.cache
def gz_seeds() -> tuple[bytes, ...]:
    return (gzip.compress(SAMPLE.encode(), mtime=0), gzip.compress(b"a" * 20000, mtime=0))


@functools.cache
def docx_seeds() -> tuple[bytes, ...]:
    import docx

    document = docx.Document()
    document.add_heading("Quarterly report", 1)
    document.add_paragraph("Sales grew by four percent. " + SAMPLE)
    table = document.add_table(rows=3, cols=3)
    table.cell(0, 0).text, table.cell(1, 1).text = "cell a", "cell b"
    table.cell(0, 1).merge(table.cell(0, 2)).text = "across"
    table.cell(1, 0).merge(table.cell(2, 0)).text = "down"
    document.sections[0].header.paragraphs[0].text = "Header text"
    buf = io.BytesIO()
    document.save(buf)
    return (buf.getvalue(),)


@functools.cache
def eml_seeds() -> tuple[bytes, ...]:
    plain = EmailMessage()
    plain["Subject"], plain["From"], plain["To"] = "Invoice 42 — café", "a@example.com", "b@example.com"
    plain.set_content(SAMPLE)
    multi = EmailMessage()
    multi["Subject"] = "=?iso-8859-1?q?caf=E9?="
    multi.set_content("Plain body", charset="iso-8859-1")
    multi.add_alternative("<p>HTML <b>body</b> caf\u00e9</p>", subtype="html")
    multi.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf", filename="a.pdf")
    multi.add_attachment(SAMPLE.encode("utf-16"), maintype="text", subtype="plain", filename="u16.txt")
    huge = b"Subject: " + b"=?utf-8?q?caf=C3=A9?= " * 20_000 + b"\nContent-Type: text/plain; " + b"a=b; " * 20_000
    return (bytes(plain), bytes(multi), huge + b"\n\nbody\n")


@st.composite
def docx_xml_mutated(draw: st.DrawFn) -> bytes:
    """The seed DOCX with its ``word/document.xml`` mutated (the zip's deflated bytes hide the XML from byte
    mutations), extreme ``w:val`` attributes included (``gridSpan``, ``vMerge``)."""
    seed = zipfile.ZipFile(io.BytesIO(docx_seeds()[0]))
    members = {name: seed.read(name) for name in seed.namelist()}
    xml = members["word/document.xml"]
    xml = re.sub(rb"(<w:tcPr>)", rb'\1<w:gridSpan w:val="2"/>', xml, count=1)
    members["word/document.xml"] = draw(_mutate(st.just(xml), 4))
    return _zip(members)


HTML_SEEDS = (
    b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>T</title><style>p{}</style></head>'
    b"<body><h1>Title</h1><p>Para &amp; <b>bold</b> &eacute; &#233; &#x1F600;</p><ul><li>one<li>two</ul>"
    b"<table><tr><td>a<td>b</table><pre>  keep\n  this</pre><br/></body></html>",
    b"<html><head><meta http-equiv='Content-Type' content='text/html; charset=shift_jis'></head>"
    b"<body>\x93\xfa\x96\x7b</body></html>",
    b"<p>unclosed <div><span>deep",
)

CHARSETS = ("utf-8", "cp1252", "shift_jis", "utf-7", "utf-16", "idna", "punycode", "rot13", "hex", "base64",
            "zlib", "bz2", "uu", "quopri", "undefined", "unicode_escape", "mbcs", "x-bogus", "")  # fmt: skip


@st.composite
def declared_charsets(draw: st.DrawFn) -> bytes:
    """HTML that declares a charset -- a text encoding, a bytes-to-bytes codec, or none Python knows."""
    charset = draw(st.sampled_from(CHARSETS)).encode()
    body = draw(encoded_text())
    return b'<html><head><meta charset="' + charset + b'"></head><body><p>' + body + b"</p></body></html>"


# ----------------------------------------------------------------------------------------------- texts

_texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=200),
    st.sampled_from([SAMPLE, "", " \n\t ", "\x00\x01\x02", "\ufeff" + SAMPLE, "\u2028\u2029\x85"]),
)


@st.composite
def encoded_text(draw: st.DrawFn) -> bytes:
    """A text encoded in an odd encoding (unencodable characters replaced), sometimes with a stray BOM."""
    text = draw(_texts)
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + data


def text_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(encoded_text(), mutated(encoded_text(), intact=False), st.binary(max_size=2048))


_cells = st.one_of(st.text(max_size=30), st.sampled_from(["", "a|b", "train", "TEST", "x" * 300, '"', "\n"]))
_header = st.lists(st.sampled_from(["text", "label", "labels", "split", "id", "TEXT", "extra", ""]), min_size=1,
                   max_size=5)  # fmt: skip


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(_header)
    rows = draw(st.lists(st.lists(_cells, min_size=0, max_size=len(header) + 1), max_size=8))
    delimiter = draw(st.sampled_from([",", "\t", ";"]))
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(draw(st.sampled_from(("utf-8", "utf-16", "cp1252"))), errors="replace")


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
_row_objects = st.fixed_dictionaries(
    {},
    optional={"text": st.one_of(st.text(max_size=40), _json_values), "label": _json_values,
              "labels": st.one_of(st.lists(st.text(max_size=8), max_size=3), _json_values),
              "split": st.one_of(st.sampled_from(["train", "dev", "test", "x"]), _json_values),
              "id": _json_values, "spans": _json_values},
)  # fmt: skip


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.one_of(_row_objects, _json_values), max_size=6))
    body = "\n".join(json.dumps(line) for line in lines)
    return body.encode()


def deep_jsonl() -> bytes:
    """A JSON Lines row nested deeper than any parser's recursion limit (issue 13, D13)."""
    return ('{"text": "x", "label": ' + "[" * 100_000 + "]" * 100_000 + "}\n").encode()


def rows_csv_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(csv_files(), mutated(csv_files(), intact=False))


def rows_jsonl_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(jsonl_files(), mutated(jsonl_files(), intact=False))


@st.composite
def automl_files(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(st.tuples(st.sampled_from(["TRAIN", "VALIDATE", "TEST", "UNASSIGNED", "x", ""]),
                                   _cells, _cells), max_size=6))  # fmt: skip
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


@st.composite
def comprehend_files(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(st.lists(_cells, min_size=1, max_size=3), max_size=6))
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


@st.composite
def fasttext_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(st.lists(st.sampled_from(["__label__a", "__label__", "__label__b c", "x"]),
                                             max_size=3), st.text(max_size=30)), max_size=6))  # fmt: skip
    return "\n".join(" ".join([*labels, text]) for labels, text in lines).encode()


_tags = st.sampled_from(["O", "B-PER", "I-PER", "I-LOC", "E-ORG", "S-MISC", "B-", "X-Y", "I-", ""])


@st.composite
def conll_files(draw: st.DrawFn) -> bytes:
    lines = ["-DOCSTART- -X- -X- O", ""] if draw(st.booleans()) else []
    for token, tag in draw(st.lists(st.tuples(st.text(max_size=8), _tags), max_size=12)):
        lines.append(f"{token} NNP I-NP {tag}" if draw(st.booleans()) else f"{token}\t{tag}")
        if draw(st.integers(0, 4)) == 0:
            lines.append("")
    return "\n".join(lines).encode("utf-8", errors="replace")


@functools.cache
def docbin_seeds() -> tuple[bytes, ...]:
    from spacy.tokens import Doc, DocBin, Span
    from spacy.vocab import Vocab

    vocab = Vocab()
    doc = Doc(vocab, words=["Alice", "met", "Bob", "in", "Paris", "."])
    doc.ents = [Span(doc, 0, 1, "PER"), Span(doc, 4, 5, "LOC")]
    doc.cats = {"news": 1.0, "sport": 0.0}
    doc.user_data["nlpipe_split"] = "train"
    db = DocBin(store_user_data=True)
    db.add(doc)
    bomb = zlib.compress(b"\0" * 5_000_000, 9)  # inflates 1,000-fold
    return (db.to_bytes(), bomb)


@st.composite
def labelstudio_files(draw: st.DrawFn) -> bytes:
    text = draw(st.text(max_size=30))
    start = draw(st.integers(-2, 40))
    end = draw(st.integers(-2, 40))
    result = draw(st.lists(st.one_of(
        st.just({"type": "choices", "value": {"choices": ["a"]}}),
        st.just({"type": "labels", "value": {"start": start, "end": end, "labels": ["PER"], "text": text[start:end]}}),
        st.just({"type": "labels", "value": {"start": start, "end": end, "labels": ["PER"]}}),
        st.builds(lambda v: {"type": "choices", "value": v}, _json_values),
        st.sampled_from([{"type": "rating", "value": {}}, {"type": "odd"}, {}, [], None]),
    ), max_size=4))  # fmt: skip
    task: dict[str, object] = {"id": draw(_json_values), "data": {"text": text},
                               "annotations": [{"result": result, "was_cancelled": draw(st.booleans())}]}  # fmt: skip
    tasks = draw(st.lists(st.one_of(st.just(task), _json_values), min_size=1, max_size=3))
    depth = draw(st.sampled_from([0, 0, 0, 500, 100_000]))  # nested deeper than the parsers' recursion limit
    return (
        (json.dumps(tasks)[:-1] + ", " + "[" * depth + "]" * depth + "]").encode()
        if depth
        else json.dumps(tasks).encode()
    )


@st.composite
def comprehend_entity_files(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from([["File", "Line", "Begin Offset", "End Offset", "Type"],
                                   ["File", "Begin Offset", "End Offset", "Type"], ["File", "Type"]]))  # fmt: skip
    values = st.one_of(st.sampled_from(["doc1.txt", "missing.txt", "../secret.txt", "/etc/hostname", "0", "1", "5",
                                        "-1", "PER", "99999999999999999999", ""]), st.text(max_size=6))  # fmt: skip
    rows = draw(st.lists(st.lists(values, min_size=len(header) - 1, max_size=len(header) + 1), max_size=5))
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows([header, *rows])
    return buf.getvalue().encode()


def _damaged(strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(strategy, mutated(strategy, intact=False))


# ----------------------------------------------------------------------------------------------- per target


def _seeds(make: Callable[[], tuple[bytes, ...]]) -> st.SearchStrategy[bytes]:
    return st.sampled_from(make())


STRATEGIES: dict[str, st.SearchStrategy[bytes]] = {
    "pdf": st.deferred(lambda: mutated(_seeds(pdf_seeds))),
    "pdf-texts": st.deferred(lambda: mutated(_seeds(pdf_seeds))),
    "html": st.one_of(mutated(st.sampled_from(HTML_SEEDS)), declared_charsets(), text_inputs()),
    "docx": st.deferred(lambda: st.one_of(mutated(_seeds(docx_seeds)), docx_xml_mutated())),
    "eml": st.deferred(lambda: mutated(_seeds(eml_seeds))),
    "text": text_inputs(),
    "rows-csv": rows_csv_inputs(),
    "rows-jsonl": rows_jsonl_inputs(),
    "zip": st.deferred(lambda: mutated(_seeds(zip_seeds))),
    "tar": st.deferred(lambda: mutated(_seeds(tar_seeds))),
    "tar.gz": st.deferred(lambda: mutated(_seeds(tar_gz_seeds))),
    "gz": st.deferred(lambda: mutated(_seeds(gz_seeds))),
    "import-jsonl": rows_jsonl_inputs(),
    "import-csv": rows_csv_inputs(),
    "import-automl": _damaged(automl_files()),
    "import-comprehend": _damaged(comprehend_files()),
    "import-fasttext": _damaged(fasttext_files()),
    "import-conll": _damaged(conll_files()),
    "import-spacy": st.deferred(lambda: mutated(_seeds(docbin_seeds))),
    "import-labelstudio": _damaged(labelstudio_files()),
    "import-comprehend-entities": _damaged(comprehend_entity_files()),
    "import-detect-csv": st.one_of(rows_csv_inputs(), automl_files(), comprehend_entity_files()),
    "import-detect-txt": st.one_of(fasttext_files(), conll_files(), text_inputs()),
    "import-detect-json": st.one_of(rows_jsonl_inputs(), labelstudio_files()),
    "model-folder": st.deferred(lambda: _model_folders()),
    "crfsuite": st.deferred(lambda: _crfsuite_files()),
}


def _model_folders() -> st.SearchStrategy[bytes]:
    from tests.fuzz.models import damaged_model_folders  # it builds on mutated(), defined here

    return damaged_model_folders()


def _crfsuite_files() -> st.SearchStrategy[bytes]:
    from tests.fuzz.models import damaged_crfsuite_files

    return damaged_crfsuite_files()
