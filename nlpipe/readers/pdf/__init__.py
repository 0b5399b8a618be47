"""Read PDFs into :class:`~nlpipe.types.Document`: text per page, words with boxes, OCR where there is no text.

Which tool does what
--------------------
**pypdfium2 (PDFium): the text layer, fast** (:func:`pdf_page_texts`, and the text and words of
:func:`read_pdf`). PDFium's text page gives each character's code and its loose box (font advance, descent
and ascent; ``FPDFText_GetLooseCharBox``); the character matrix is asked for where the orientation is not obvious
from the neighbours and for the first character of each run that looks plain (the rest of the run follows it),
the font size once per page and box height. These per-character calls run in a C loop, the small extension
``nlpipe.readers.pdf._pdfium_calls`` built at install (``setup.py``); where it could not be built (no C compiler),
the same calls go through ctypes, with the same results, a few times slower (see ``bindings.BatchedCall``).
PDFium's own reading order and spacing are *not* used: the characters are laid out in NumPy the way
pdfplumber's ``page.extract_text()`` lays them out (several pages at once, see ``fastpath._BATCH_PAGES``):

* pdfminer's coordinates: origin at the top-left of the media box as displayed (``/Rotate`` applied), and
  ``top = bottom - font size`` (pdfminer's box; PDFium's ends at the font's ascent instead; text mirrored top
  to bottom hangs ``font size`` below PDFium's top);
* per page, characters form runs of equal uprightness (pdfminer's definition); in each run, lines are chained
  3 pt clusters of ``top`` and characters are sorted by ``x0`` (vertical text: clusters of ``x0``, sorted by
  ``top``);
* a word ends at a whitespace character, a gap of more than 3 pt, a step back, or a jump of more than 3 pt
  across the line; PDFium's generated spaces and line breaks are dropped (pdfminer has none);
* consecutive words whose tops fall in one page-wide 3 pt cluster share a text line; words are joined by a
  space, lines by a newline; ligatures U+FB00-FB06 are expanded.

Where PDFium sees other characters than pdfminer, the fast path corrects for it:

* a text object holding only a space or no-break space has no width (its glyph has no ink) and PDFium drops
  it; where such an object sits in a gap narrower than 3 pt between two words, the space is put back, as
  pdfplumber breaks the word there (``objects.restore_dropped_spaces``; the page's objects are looked at only
  where PDFium generated a space in such a gap between two text objects);
* mirrored text (matrix ``a < 0`` or ``d < 0`` as displayed) is put back in content-stream order, which PDFium
  changes by sorting a line's text objects by x and pdfplumber keeps for ties (``objects.stream_order``);
* glyphs painted two or more times at (nearly) one spot -- fake bold, shadows -- are kept once, by
  pdfplumber's ``dedupe_chars()`` rule (``chars._dedupe``; pages are checked with one sort).

On pdfplumber's own test corpus the fast path gives pdfplumber's ``extract_text()`` (normalised similarity >=
0.98) on 221 of 246 pages at about 30 times its speed, 24 without the C loop (``benchmarks/ingest.py``, which
checks the other 25): on 19 of them pdfplumber's text is the odd one out -- it keeps every copy of fake-bold
glyphs ("项项目目"), and it sorts space glyphs painted under a column of dates in between the digits ("0 3 / 2
5"; PDFium folds a run of spaces into one) -- and the fast path matches pdfplumber's text without them; 6 pages
use a non-embedded CJK font (``GBK-EUC-H`` without ``/ToUnicode``) that PDFium cannot decode and pdfminer's CMaps
can: :func:`read_pdf` reads those with pdfplumber.

**Words** (``words=True``) come from the same characters and rules, as pdfplumber's
``extract_words(extra_attrs=["size"])`` makes them: a word also ends where the font size changes, and carries
the size of its first character (``Word.size``, points). Boxes (``x0, y0=top, x1, y1=bottom``) are in PDF
points in the coordinates above, clipped to the page. They agree with pdfplumber's words (same text, IoU >=
0.5) wherever both see the same characters, and cost a fraction of pdfplumber's time.

**pdfplumber: the fallback, and tables.** A file PDFium cannot open is read by pdfplumber if pdfminer can
(every page then in ``meta["fallback_pages"]``; no OCR, which renders with PDFium). A page PDFium cannot
load, or whose text it could not decode -- more text objects with empty bounds (glyphs PDFium failed to load)
than characters, e.g. the CJK fonts above -- is read by pdfplumber instead, unless pdfplumber finds no more
text. :func:`pdf_tables` extracts tables with pdfplumber; PDFium has no notion of tables.
:func:`pdf_page_texts` is the fast path alone and never falls back.

**Tesseract: pages without a usable text layer** (:mod:`nlpipe.readers.ocr`). ``ocr="auto"`` OCRs a page with
fewer than ``MIN_TEXT_CHARS`` printable characters whose images cover at least ``MIN_IMAGE_COVER`` of it (a
scan; a blank or vector-only page is left alone), or whose characters are mostly undecodable (more than
``MAX_GARBAGE_SHARE`` U+FFFD, private-use or control characters). ``"always"`` OCRs every page, ``"never"``
none; pages left without text are listed in ``meta["no_text_pages"]``. An OCR'd page replaces the text-layer
page (``Page.ocr``); its words have boxes in the same coordinates.

Document text is the pages' texts joined with ``PAGE_SEPARATOR`` (``"\\n\\f\\n"``: a form feed on a line of its
own marks each page break); ``meta["page_offsets"]`` says where each page starts in it.

PDFium is not thread-safe: every call into it here holds ``PDFIUM_LOCK`` (OCR workers are processes).

Errors (all name the file, and the page where there is one): E150 empty file, E151 not a PDF, E152 truncated
(no ``%%EOF``), E153 damaged (neither PDFium nor pdfplumber can open it), E154 encrypted and no password,
E155 wrong password, E156 unsupported encryption, E157 more pages than ``max_pages``
(:class:`~nlpipe.errors.LimitError`), E158 no pages, E159 a page neither PDFium nor pdfplumber can read, E160
an invalid option; OCR errors E161-E166 are listed in :mod:`nlpipe.readers.ocr`.

Modules
-------
``errors`` the coded errors and page-count limits; ``geometry`` page space to display space; ``bindings`` PDFium
(the lock, opening a document, the per-character calls through the C loop or ctypes); ``objects`` what the
page's objects add (dropped spaces, stream order of mirrored text, undecodable text objects, image cover);
``chars`` the character sheet (orientation, pdfminer's boxes, de-duplication); ``layout`` lines and words;
``fastpath`` pages in batches; ``fallback`` pdfplumber; ``reader`` :func:`read_pdf`, :func:`pdf_page_texts` and
the OCR decision; ``tables`` :func:`pdf_tables`. Each module imports only the ones before it in this list (and
``reader`` imports :mod:`nlpipe.readers.ocr.pages`, which imports ``bindings``); ``docs/pdf-reader.md`` says why the
fast path exists and how its three call paths relate.

This ``__init__`` imports nothing: importing any module of the package runs it, and OCR imports ``bindings``,
so re-exporting the reader here would close the loop reader -> ocr -> bindings -> (this file) -> reader.
Import from the modules: ``from nlpipe.readers.pdf.reader import read_pdf, pdf_page_texts, PAGE_SEPARATOR``,
``from nlpipe.readers.pdf.tables import pdf_tables``.
"""
