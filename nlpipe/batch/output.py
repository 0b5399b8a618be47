"""The output of a batch run: the spool of canonical rows (:mod:`nlpipe.batch.rows`) turned into the file asked
for (JSON Lines, CSV or Parquet), streamed, written beside ``OUT`` and renamed into place at the end, the same
bytes for the same spool.

- **jsonl**: the spool's lines, each checked to be a row.
- **csv**: one line per row, the columns of :func:`csv_columns` (the same for every row, from the models and their
  tasks), ``\\n`` line ends, UTF-8, the csv module's minimal quoting. Cells are text: numbers as JSON writes them,
  lists and objects as JSON, empty for null. Cells that come from the inputs (``id``, ``source``,
  ``error_message``) are guarded against spreadsheet formula injection by OWASP's rule (CSV Injection, CWE-1236):
  one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``. The model's own
  cells and the JSON cells (which start with ``{`` or ``[``) are written as they are; JSON Lines and Parquet carry
  every value unchanged.
- **parquet**: typed columns (:mod:`nlpipe.batch.parquet`).

This module also re-exports the rows' and the summary's public names, so the runner, the CLI and the API import
the output side from here.

Error codes: E820 an unknown output format, E823 models that cannot share one output (two of one name; for
Parquet, a model named like a fixed column), E824 an output file that cannot be written; E821, E822, E825 from the
spool (:mod:`nlpipe.batch.rows`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from nlpipe.artifacts import fsync_dir
from nlpipe.batch.rows import (
    MODEL_KEYS,
    ROW_KEYS,
    SENTIMENT_KEYS,
    SPAN_KEYS,
    ModelInfo,
    check_row,
    compact_json,
    document_row,
    document_row_bytes,
    error_row,
    read_rows,
    read_spool,
    row_bytes,
    spool_unreadable,
)
from nlpipe.batch.summary import Summary
from nlpipe.errors import ConfigError, InputError

__all__ = [
    "FORMATS",
    "Format",
    "ModelInfo",
    "ROW_KEYS",
    "MODEL_KEYS",
    "SPAN_KEYS",
    "SENTIMENT_KEYS",
    "Summary",
    "document_row",
    "document_row_bytes",
    "error_row",
    "row_bytes",
    "read_rows",
    "read_spool",
    "check_row",
    "check_output",
    "csv_columns",
    "csv_cells",
    "batches",
    "convert",
    "part_path",
]

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet")
#: Rows per batch read from the spool (turned into Arrow columns at once), unless :data:`BATCH_BYTES` of lines
#: come first. A decoded row takes about ten times its JSON size as Python objects.
BATCH_ROWS = 1024
BATCH_BYTES = 1024 * 1024
_BUFFER = 1024 * 1024

#: The CSV columns before the models', in order.
CSV_FIXED: tuple[str, ...] = ("id", "source", "sha256", "characters", "pages", "error_code", "error_message", "meta")
#: Each model's CSV columns (``<name>.<part>``), in order, and the extra parts of tasks with spans or sentiment.
CSV_MODEL: tuple[str, ...] = ("model", "predicted", "score", "labels")
CSV_SPANS: tuple[str, ...] = ("spans",)
CSV_SENTIMENT: tuple[str, ...] = ("sentiment_label", "sentiment_score", "sentiment_confidence", "sentiment_magnitude")
#: Tasks whose predictions have spans / sentiment; a task not named in either (a plug-in) gets both, so that
#: nothing it predicts is lost.
SPAN_TASKS = frozenset({"entities", "layout"})
SENTIMENT_TASKS = frozenset({"sentiment"})
_PLAIN_TASKS = frozenset({"classify"})
#: Parquet's columns before the models' (a model may not take one of these names).
PARQUET_FIXED: tuple[str, ...] = ROW_KEYS[:-1]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def check_output(fmt: str, models: Sequence[ModelInfo]) -> None:
    """Check, before a run starts, that its rows can be written as ``fmt``: E820 for an unknown format, E823 for
    two models of one name or (Parquet, where each model is a column) a model named like a fixed column."""
    if fmt not in FORMATS:
        raise InputError("E820", f"Unknown output format {fmt!r}; use one of {', '.join(FORMATS)}.", field="format")
    names = [m.name for m in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError("E823", f"Model {twice[0]!r} is given twice; each model of a batch run needs its own name "
                          "(its predictions are keyed by it). Give it once.", field="model")  # fmt: skip
    taken = sorted(set(names) & set(PARQUET_FIXED)) if fmt == "parquet" else []
    if taken:
        raise ConfigError("E823", f"A model named {taken[0]!r} cannot be written to Parquet, where each model is a "
                          f"column beside {', '.join(PARQUET_FIXED)}; use --format jsonl or csv, or save the model "
                          "under another name.", field="model")  # fmt: skip


def _task_parts(task: str) -> tuple[str, ...]:
    """The CSV column parts of a model's task after :data:`CSV_MODEL`."""
    if task in _PLAIN_TASKS:
        return ()
    known = task in SPAN_TASKS or task in SENTIMENT_TASKS
    return (CSV_SPANS if task in SPAN_TASKS or not known else ()) + (
        CSV_SENTIMENT if task in SENTIMENT_TASKS or not known else ()
    )


def csv_columns(models: Sequence[ModelInfo]) -> list[str]:
    """The CSV header: :data:`CSV_FIXED`, then per model ``<name>.model``, ``.predicted`` ("|"-joined), ``.score``
    (the top label's), ``.labels`` (JSON), and by task ``.spans`` (JSON) or ``.sentiment_label``,
    ``.sentiment_score``, ``.sentiment_confidence``, ``.sentiment_magnitude``. Suffixes have no dot, so no two
    models' columns can be the same (nor a model's and a fixed one)."""
    columns = list(CSV_FIXED)
    for m in models:
        columns += [f"{m.name}.{part}" for part in CSV_MODEL + _task_parts(m.task)]
    return columns


def _number(value: Any) -> str:
    return "" if value is None else compact_json(value)


def _guarded(value: Any) -> str:
    """A cell from the inputs, a leading ``'`` added when a spreadsheet would read it as a formula (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _model_cells(entry: dict[str, Any] | None, parts: tuple[str, ...]) -> list[str]:
    if entry is None:
        return [""] * (len(CSV_MODEL) + len(parts))
    labels = entry["labels"]
    cells = [entry["model"], "|".join(entry["predicted"]), _number(labels[0]["score"] if labels else None),
             compact_json(labels)]  # fmt: skip
    sentiment = entry["sentiment"] or {}
    for part in parts:
        if part == "spans":
            cells.append(compact_json(entry["spans"]))
        else:
            value = sentiment.get(part.removeprefix("sentiment_"))
            cells.append("" if value is None else str(value) if part == "sentiment_label" else _number(value))
    return cells


def csv_cells(row: dict[str, Any], models: Sequence[ModelInfo]) -> list[str]:
    """A row's cells under :func:`csv_columns` (``models``: the run's models, in order)."""
    error = row["error"] or {}
    cells = [
        _guarded(row["id"]),
        _guarded(row["source"]),
        row["sha256"] or "",
        _number(row["characters"]),
        _number(row["pages"]),
        error.get("code") or "",
        _guarded(error.get("message")),
        compact_json(row["meta"]),
    ]
    for m in models:
        cells += _model_cells(row["predictions"].get(m.name), _task_parts(m.task))
    return cells


def part_path(out: Path) -> Path:
    """Where ``out`` is written before it is renamed into place: a hidden file beside it (a re-run overwrites one
    left by a killed conversion)."""
    return out.with_name(f".{out.name}.part")


def _unwritable(out: Path, exc: OSError) -> InputError:
    return InputError(
        "E824",
        f"The output file {out} cannot be written: {exc.strerror or exc}. Check that its folder exists and is "
        "writable, and the free space.",
        file=str(out),
    )


@contextmanager
def _replacing(out: Path) -> Iterator[IO[bytes]]:
    """A binary file beside ``out`` that replaces it (atomically) when the block ends without an error; on an
    error, or an interrupt, the partial file is removed and ``out`` is left as it was."""
    part = part_path(out)
    if out.is_dir():
        raise InputError("E824", f"The output {out} is a folder; give a file name.", file=str(out))
    try:
        f = part.open("wb", buffering=_BUFFER)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, out)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _unwritable(out, exc) from exc
        raise


def batches(spool: Path, models: Sequence[ModelInfo]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """The spool's rows as (line, row), checked against ``models``, in batches cut at :data:`BATCH_ROWS` rows or
    :data:`BATCH_BYTES` bytes of lines, whichever comes first: the cuts depend on the spool alone."""
    names = [m.name for m in models]
    batch: list[tuple[int, dict[str, Any]]] = []
    size = 0
    for line, raw, row in read_spool(spool, names):
        batch.append((line, row))
        size += len(raw)
        if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _linked(spool: Path, out: Path) -> bool:
    """A run's own JSON Lines spool made ``out`` without copying it: a hard link, renamed over ``out`` (the spool
    was synced at its last checkpoint, and is removed with its folder afterwards). False when the file system cannot
    link (another device, no hard links): the caller copies it. E821 when the spool ends in a cut-short line."""
    try:
        with spool.open("rb") as src:
            size = src.seek(0, os.SEEK_END)
            if size:
                src.seek(size - 1)
                if src.read(1) != b"\n":
                    raise InputError("E821", f"{spool} ends in a cut-short line. The spool was damaged; run the batch "
                                     "again with --restart.", file=str(spool))  # fmt: skip
    except OSError as exc:
        raise spool_unreadable(spool, exc) from None
    if out.is_dir():
        raise InputError("E824", f"The output {out} is a folder; give a file name.", file=str(out))
    part = part_path(out)
    try:
        part.unlink(missing_ok=True)
        os.link(spool, part)
    except OSError:
        return False
    try:
        os.replace(part, out)
        fsync_dir(out.parent)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise _unwritable(out, exc) from exc
    return True


def _write_jsonl(f: IO[bytes], spool: Path, models: Sequence[ModelInfo], checked: bool) -> None:
    if checked:
        for _, raw, _ in read_spool(spool, [m.name for m in models]):
            f.write(raw)
        return
    last = b"\n"
    try:
        with spool.open("rb") as src:
            while block := src.read(_BUFFER):
                f.write(block)
                last = block[-1:]
    except OSError as exc:
        raise spool_unreadable(spool, exc) from None
    if last != b"\n":
        raise InputError("E821", f"{spool} ends in a cut-short line. The spool was damaged; run the batch again with "
                         "--restart.", file=str(spool))  # fmt: skip


def _write_csv(f: IO[bytes], spool: Path, models: Sequence[ModelInfo]) -> None:
    text = io.TextIOWrapper(f, encoding="utf-8", newline="", write_through=False)
    try:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(csv_columns(models))
        for line, _, row in read_spool(spool, [m.name for m in models]):
            try:
                writer.writerow(csv_cells(row, models))
            except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
                raise InputError("E821", f"{spool}:{line} is not a batch row: {exc!r} in its values. The spool was "
                                 "damaged or written by something else; run the batch again with --restart.",
                                 file=str(spool), line=line) from None  # fmt: skip
    finally:
        text.detach()  # flushed, and ``f`` left open for the caller (a wrapper collected later would close it)


def convert(spool: Path, out: Path, fmt: Format, models: Sequence[ModelInfo], *, checked: bool = True) -> None:
    """Turn the JSON Lines ``spool`` of a run with ``models`` into ``out`` in ``fmt`` (jsonl, csv or parquet).

    ``checked=False`` is for a run's own spool, written by :func:`~nlpipe.batch.rows.row_bytes` and cut back to whole
    rows at every checkpoint: JSON Lines output is then the spool itself, hard-linked as ``out`` (copied where the
    file system cannot link; only its last line end checked) instead of every row decoded and checked again, which
    cost as much as encoding them. CSV and Parquet decode the
    rows anyway and always check them.

    Streamed (a line, or a batch of :data:`BATCH_ROWS` rows, in memory at a time), written to :func:`part_path` and
    renamed to ``out`` at the end, so ``out`` is never a half file; the same spool gives the same bytes. Errors:
    E820/E823 (:func:`check_output`), E821 naming the spool line that is not a row, E822 a row of other models,
    E824 when ``out`` cannot be written, E825 when the spool cannot be read.
    """
    check_output(fmt, models)
    if not spool.is_file():
        raise InputError("E825", f"The spool {spool} does not exist; the batch run that writes it has not started "
                         "or was cleaned up. Run the batch again.", file=str(spool))  # fmt: skip
    if fmt == "jsonl" and not checked and _linked(spool, out):
        return
    with _replacing(out) as f:
        if fmt == "jsonl":
            _write_jsonl(f, spool, models, checked)
        elif fmt == "csv":
            _write_csv(f, spool, models)
        else:
            from nlpipe.batch import parquet

            parquet.write(f, batches(spool, models), models, spool)
