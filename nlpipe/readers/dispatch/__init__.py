"""Turn files, folders and archives into documents: sniff each file's type, pick its reader, collect failures.

:func:`iter_ingest` streams :class:`~nlpipe.types.Document` items and :class:`IngestFailure` items (an
:class:`IngestSkipped`, a subclass, for files left out on purpose); :func:`ingest_path` and
:func:`ingest_bytes` collect that stream into an :class:`IngestResult`. Every problem with one file or
archive member -- a coded :class:`~nlpipe.errors.NlpipeError` or any exception a parser raises -- becomes
one failure entry naming it, and everything else is still returned.

Types (:func:`sniff_kind`) are recognised by magic bytes first -- ``%PDF``, zip (DOCX when it holds
``word/document.xml``), ``ustar``, gzip / bzip2 / xz (a tar inside is recognised), PNG / JPEG / TIFF --
then by extension: ``.txt .text .md .markdown .rst .log .html .htm .xhtml .eml .csv .tsv .jsonl .ndjson``.
Archives are read by :mod:`nlpipe.readers.archives` and their members dispatched again, up to
:data:`MAX_DEPTH` archives deep; documents from archives carry sources such as ``outer.zip!inner.tar!a.txt``,
rows of CSV / JSON Lines files ``data.csv#line=3``, files in folders ``folder/sub/a.txt``.

Codes raised or reported here (see :mod:`nlpipe.readers.text` and :mod:`nlpipe.readers.archives` for theirs):

- E175 unsupported file type (the message lists the supported ones);
- E176 empty file (0 bytes);
- E177 no text found (a PDF or image without a text layer or OCR result, a blank file);
- E178 file larger than ``max_document_bytes`` (LimitError, checked before the file is read);
- E187 archive nested more than :data:`MAX_DEPTH` archives deep (LimitError; not opened);
- E190 image skipped because OCR is off;
- E193 a PDF that cannot be read (parser error, or PDF support not installed);
- E194 an image OCR could not read (or OCR support not installed);
- E195 a path that does not exist or cannot be read;
- E196 unknown OCR mode.

Modules
-------
``sniff`` file types (:func:`~nlpipe.readers.dispatch.sniff.sniff_kind`,
:func:`~nlpipe.readers.dispatch.sniff.is_archive`); ``results`` the failure items, the collected result and one
run's state; ``formats`` one file of a known kind through its reader; ``route`` paths, folders, archives and bytes
to their readers, with the entry points :func:`~nlpipe.readers.dispatch.route.iter_ingest`,
:func:`~nlpipe.readers.dispatch.route.ingest_path` and :func:`~nlpipe.readers.dispatch.route.ingest_bytes`. This
``__init__`` imports nothing: import from the modules.
"""
