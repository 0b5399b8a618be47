"""`nlpipe batch predict`: every document of files, folders and archives predicted by one or more models, into one
output file (JSONL, CSV or Parquet), on local worker processes or a Dask cluster, resumable after a kill."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nlpipe.cli.common import err, settings

if TYPE_CHECKING:
    from nlpipe.batch.output import Summary
    from nlpipe.batch.runner import BatchRequest

app = typer.Typer(help="Batch predictions over files, folders and archives.", no_args_is_help=True)


def _columns(value: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip()) if value else ()


@app.command("predict")
def predict(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Files, folders or archives (zip, tar, tgz, bz2, xz, mbox, "
            "WARC, CSV, JSONL, PDF, DOCX, HTML, e-mail, text)."
        ),
    ],  # fmt: skip
    model: Annotated[
        list[str],
        typer.Option("--model", "-m", help="NAME or NAME@VERSION (or @alias); repeat for several models in one pass."),
    ],  # fmt: skip
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or parquet.")] = "jsonl",
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: the number of cores).")] = None,
    engine: Annotated[str, typer.Option(help="local (processes on this machine) or dask.")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask: the scheduler's address (tcp://host:8786), or 'local' for a LocalCluster on this machine."
        ),  # fmt: skip
    ] = None,
    ship_model: Annotated[
        bool, typer.Option(help="Dask: send the model files to the workers (when they cannot read --models-dir).")
    ] = False,
    split_on: Annotated[
        str | None, typer.Option(help="Regular expression cutting plain-text inputs into items (e.g. '\\n\\s*\\n').")
    ] = None,
    text_col: Annotated[
        str | None, typer.Option(help="CSV/JSONL: the text column(s), comma-separated and joined (default: text).")
    ] = None,
    id_col: Annotated[str | None, typer.Option(help="CSV/JSONL: the id column (default: id, else the line).")] = None,
    no_header: Annotated[bool, typer.Option(help="CSV: no header row; name columns by position (1, 2, ...).")] = False,
    ocr: Annotated[str, typer.Option(help="OCR of scanned pages and images: auto, always, never.")] = "auto",
    password: Annotated[str | None, typer.Option(help="Password of encrypted PDFs and zips.")] = None,
    top_k: Annotated[int | None, typer.Option(help="Labels listed per document (classification; default 5).")] = None,
    resume: Annotated[bool, typer.Option(help="Only continue an unfinished run (error when there is none).")] = False,
    restart: Annotated[bool, typer.Option(help="Discard an unfinished run or an existing OUT; start again.")] = False,
    into_dataset: Annotated[
        str | None,
        typer.Option(
            help="Also store the documents in this dataset with the predictions as 'model' "
            "annotations, for review in the labeling queue."
        ),  # fmt: skip
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Predict every document of INPUTS with every --model into --out, one row per document in input order.

    A document that cannot be read or predicted is an error row (code, message), never the end of the run. The
    run's state is kept next to OUT (OUT.nlpipe-batch/): run the same command again after a crash or Ctrl-C and it
    continues where it stopped; the output is the same as an uninterrupted run's.
    """
    from nlpipe.batch.runner import BatchRequest, run_batch
    from nlpipe.batch.units import SourceOptions

    options = SourceOptions(split_on=split_on, text_cols=_columns(text_col), id_col=id_col, no_header=no_header,
                            ocr=ocr, password=password)  # fmt: skip
    request = BatchRequest([str(p) for p in inputs], list(model), out, fmt=fmt, options=options, workers=workers,
                           engine=engine, scheduler=scheduler, ship_model=ship_model, top_k=top_k, resume=resume,
                           restart=restart, into_dataset=into_dataset)  # fmt: skip
    if quiet:
        summary = run_batch(request, settings())
    else:
        summary = _with_progress(request)
        for line in summary.lines():
            err.print(line, highlight=False)


def _with_progress(request: BatchRequest) -> Summary:
    """The run with a progress bar on stderr: documents, docs/s and, when the total is known cheaply, the ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from nlpipe.batch.runner import run_batch

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} docs/s"), TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("documents", total=None, rate="-")

        done_so_far = [0]

        def progress(done: int, total: int | None, summary: Summary) -> None:
            done_so_far[0] = done
            bar.update(task, completed=done, total=total, rate=f"{summary.docs_per_second:,.0f}")

        summary = run_batch(request, settings(), progress=progress)
        bar.update(task, completed=done_so_far[0], total=done_so_far[0])  # the total was an estimate (an upper bound)
        return summary


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="batch")
