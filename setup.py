"""The one build step pyproject.toml cannot declare without experimental keys: nlpipe's small C extensions.

``nlpipe/readers/pdf/_pdfium_calls.c`` runs PDFium's per-character calls in a C loop for the PDF reader. It is
optional: where it cannot be compiled (no C compiler or Python headers), installing still succeeds and the reader
makes the same calls through ctypes -- same results, slower. ``nlpipe/tasks/_ngrams.c`` counts and scores the
classifier's word and character n-grams at prediction in one loop per batch; without it the NumPy paths of
``nlpipe/tasks/features.py`` give the same counts, slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("nlpipe.readers.pdf._pdfium_calls", ["nlpipe/readers/pdf/_pdfium_calls.c"], optional=True),
        Extension("nlpipe.tasks._ngrams", ["nlpipe/tasks/_ngrams.c"], optional=True),
    ]
)
