"""Batch predictions over files, folders and archives (``nlpipe batch predict``, ``POST /v1/batch``).

The input is read once, in order, as a stream of :class:`~nlpipe.batch.units.Unit` s (one per document: a file, an
archive member, a CSV/JSONL row, an mbox message, a WARC response, a ``--split-on`` item; :mod:`.sources`); units
are grouped into chunks that workers (processes, or a Dask cluster) turn into documents and predict with every
model (:mod:`.work`); the rows come back in input order and are appended to a spool with a checkpoint, so a killed
run continues where it stopped (:mod:`.runner`); the spool becomes the output file in the format asked for
(:mod:`.output`).
"""
