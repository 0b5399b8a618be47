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

Modules
-------
``plain`` plain text and Markdown (and the E177 every reader shares); ``markup`` HTML; ``word`` DOCX; ``mail``
e-mail; ``records`` CSV / TSV and JSON Lines rows. This ``__init__`` imports nothing: import from the modules.
"""
