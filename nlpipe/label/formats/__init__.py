"""Labeled-data file formats: detect a file's format, read it into :class:`~nlpipe.types.Record` streams, write
records back.

:mod:`~nlpipe.label.formats.registry` holds the list of formats, detection and the read / write entry points;
one module per format reads and writes it; :mod:`~nlpipe.label.formats.common` holds what they share. The checks
of a row's fields (:mod:`nlpipe.readers.fields`) and the JSON Lines / CSV row parser (:mod:`nlpipe.readers.rows`)
sit below, in the readers, which parse such rows too. The names below are the package's public surface; callers
import them from ``nlpipe.label.formats``.
"""

from nlpipe.label.formats.common import longest_first
from nlpipe.label.formats.registry import FORMATS, detect_format, read_records, write_records
from nlpipe.readers.fields import DEFAULT_MAX_BYTES, csv_delimiter, csv_rows, first_line, parse_split
from nlpipe.readers.rows import parse_bytes
from nlpipe.readers.textfile import read_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "csv_delimiter",
    "csv_rows",
    "detect_format",
    "first_line",
    "longest_first",
    "parse_bytes",
    "parse_split",
    "read_records",
    "read_text",
    "write_records",
]
