"""OCR with Tesseract (through pytesseract): PDF pages without a usable text layer, and image files.

PDF pages are rendered with PDFium in grayscale at ``dpi`` and read by ``tesseract`` (``image_to_data``: words,
boxes and confidences). Several pages run in parallel worker processes (``workers``; 0 means one per CPU core);
each worker receives the PDF's bytes once and renders its own pages. Tesseract runs single-threaded
(``OMP_THREAD_LIMIT=1`` unless the environment sets it): its OpenMP threads only fight each other and the pool
for cores. One page, or one worker, runs in-process.

A page's text is rebuilt from Tesseract's layout: words of a line joined by spaces, lines by newlines, an empty
line between paragraphs. Words carry boxes in PDF points, origin top-left of the page's media box as
displayed, like text-layer words (pixel boxes are scaled by 72/dpi and shifted by the crop box's offset);
``Word.size`` is the box height, ``Word.conf`` Tesseract's confidence (0-100). Images use their own resolution
(``dpi`` when the file has none) to turn pixels into points.

Pages are rendered at most ``MAX_PIXELS`` pixels (the resolution is lowered for larger pages).

Errors (all name the file; page errors the page too): E161 Tesseract is not installed (a
:class:`~nlpipe.errors.ConfigError`: the server lacks a system package, the file is fine), E162 an OCR language
is not installed, E163 Tesseract failed on a page, E164 not a readable image, E165 an image too large to read
(:class:`~nlpipe.errors.LimitError`), E166 an OCR worker process died, E167 an image file with more frames
than the page cap (:class:`~nlpipe.errors.LimitError`).

Modules
-------
``tesseract`` availability, languages, one image through Tesseract and its error codes; ``pool`` the worker
processes; ``pages`` :func:`~nlpipe.readers.ocr.pages.ocr_pages` (PDF pages); ``images``
:func:`~nlpipe.readers.ocr.images.ocr_image` and :func:`~nlpipe.readers.ocr.images.ocr_image_pages` (image files);
``quality`` edit distance, character error rate and text similarity. This ``__init__`` imports nothing: import
from the modules.
"""
