"""Batch rows as Parquet: typed columns, written a batch of rows at a time, byte-identical for the same rows.

Columns: ``id`` string (not null), ``source`` string, ``sha256`` string, ``characters`` int64, ``pages`` int32,
``meta`` string (the JSON object), ``error`` struct<code: string, message: string> (null for documents), then one
struct column per model, named by the model, holding the row's entry for it (null in error rows)::

    struct<model: string, task: string, predicted: list<string>,
           labels: list<struct<label: string, score: double>>,
           spans: list<struct<start: int64, end: int64, label: string, source: string, score: double,
                              text: string, page: int32, bbox: fixed_size_list<double>[4]>>,
           sentiment: struct<kind: string, label: string, score: double, confidence: double, magnitude: double,
                             scale: int32, aggregated: bool,
                             sentences: list<struct<start: int64, end: int64, label: string, score: double,
                                                    confidence: double, magnitude: double>>>>

Every model has every field (spans empty and sentiment null for a classifier), as in the JSON rows. What makes two
writes of the same rows byte-identical: this fixed schema, one row group per :data:`GROUP_BATCHES` batches of rows
(the batches are cut by the spool alone, :func:`nlpipe.batch.output.batches`), fixed writer options
(:data:`WRITER_OPTIONS`: zstd level 3, dictionaries, statistics, format 2.6, no page index), and no wall-clock time
anywhere in the file (Parquet keeps none; ``created_by`` names the pyarrow version, so files match for the same
pyarrow).

pyarrow is imported with this module, which :mod:`nlpipe.batch.output` loads only for Parquet output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from nlpipe.batch.rows import ROW_KEYS, ModelInfo, compact_json
from nlpipe.errors import InputError

__all__ = ["WRITER_OPTIONS", "FIXED_COLUMNS", "schema", "write"]

#: The top-level columns before the models' (a model may not take one of these names: E823).
FIXED_COLUMNS: tuple[str, ...] = ROW_KEYS[:-1]
#: Batches of rows (:func:`nlpipe.batch.output.batches`) in one row group.
GROUP_BATCHES = 8
#: The Parquet writer's options, fixed so that the same rows give the same bytes.
WRITER_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "write_page_index": False,
    "store_schema": True,
}

_SENTENCE = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("score", pa.float64()),
                       ("confidence", pa.float64()), ("magnitude", pa.float64())])  # fmt: skip
_SENTIMENT = pa.struct([
    ("kind", pa.string()), ("label", pa.string()), ("score", pa.float64()), ("confidence", pa.float64()),
    ("magnitude", pa.float64()), ("scale", pa.int32()), ("aggregated", pa.bool_()),
    ("sentences", pa.list_(_SENTENCE)),
])  # fmt: skip
_SPAN = pa.struct([
    ("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("source", pa.string()),
    ("score", pa.float64()), ("text", pa.string()), ("page", pa.int32()), ("bbox", pa.list_(pa.float64(), 4)),
])  # fmt: skip
_MODEL = pa.struct([
    ("model", pa.string()), ("task", pa.string()), ("predicted", pa.list_(pa.string())),
    ("labels", pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))),
    ("spans", pa.list_(_SPAN)), ("sentiment", _SENTIMENT),
])  # fmt: skip


def schema(models: Sequence[ModelInfo]) -> pa.Schema:
    """The file's schema: the fixed columns, then one struct column per model, in the run's model order."""
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("characters", pa.int64()),
        pa.field("pages", pa.int32()),
        pa.field("meta", pa.string()),
        pa.field("error", pa.struct([("code", pa.string()), ("message", pa.string())])),
    ]
    return pa.schema(fields + [pa.field(m.name, _MODEL) for m in models])


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its meta as JSON and its models' entries as top-level fields (the columns of :func:`schema`)."""
    record = {key: row[key] for key in FIXED_COLUMNS}
    record["meta"] = compact_json(row["meta"])
    record.update(row["predictions"])
    return record


def _table(rows: Sequence[tuple[int, dict[str, Any]]], target: pa.Schema, spool: object) -> pa.Table:
    """The rows (with their spool lines) as a table; E821 naming the first line whose values do not fit the
    schema (a number where a string belongs, ...)."""
    try:
        return pa.Table.from_pylist([_record(row) for _, row in rows], schema=target)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        for line, row in rows:  # the failing row, for the message
            try:
                pa.Table.from_pylist([_record(row)], schema=target)
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise InputError(
                    "E821",
                    f"{spool}:{line} is not a batch row: a value does not fit its Parquet column ({exc}). The spool "
                    "was damaged or written by something else; run the batch again with --restart.",
                    file=str(spool),
                    line=line,
                ) from None
        raise


def write(
    f: IO[bytes], batches: Iterable[Sequence[tuple[int, dict[str, Any]]]], models: Sequence[ModelInfo], spool: object
) -> None:
    """Write the rows of ``batches`` (each a list of (spool line, row)) to ``f`` as Parquet, one row group per
    :data:`GROUP_BATCHES` batches (an empty spool gives a file with the schema and no rows). Each batch becomes
    Arrow columns as it comes, so the rows of one batch, not of a row group, are Python objects at a time."""
    target = schema(models)
    with pq.ParquetWriter(f, target, **WRITER_OPTIONS) as writer:
        group: list[pa.Table] = []
        for rows in batches:
            group.append(_table(rows, target, spool))
            del rows  # before the next batch is read
            if len(group) == GROUP_BATCHES:
                _write_group(writer, group)
                group = []
        if group:
            _write_group(writer, group)


def _write_group(writer: pq.ParquetWriter, tables: list[pa.Table]) -> None:
    table = pa.concat_tables(tables)
    writer.write_table(table, row_group_size=max(table.num_rows, 1))
