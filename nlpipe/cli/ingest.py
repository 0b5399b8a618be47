"""`nlpipe ingest`: files, folders and archives -> documents of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nlpipe.cli.common import err, out, print_json, progress_bar, settings, store


def ingest(
    dataset: str,
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or archives (.zip, .tar, .tar.gz).")],
    ocr: Annotated[
        str | None, typer.Option(help="OCR of PDF pages without a text layer: auto, always or never.")
    ] = None,
    ocr_lang: Annotated[str | None, typer.Option(help="Tesseract language(s), e.g. eng+deu.")] = None,
    ocr_dpi: Annotated[int | None, typer.Option(help="Resolution pages are rendered at for OCR.")] = None,
    password: Annotated[str | None, typer.Option(help="Password of encrypted PDFs or zip members.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Read documents (text, HTML, DOCX, e-mail, CSV/JSONL, PDF with OCR, archives) into a dataset.

    A file that cannot be read is listed with its error code; everything else is stored.
    """
    from nlpipe.ingest import ingest_paths

    cfg = settings()
    updates: dict[str, Any] = {k: v for k, v in (("ocr_lang", ocr_lang), ("ocr_dpi", ocr_dpi)) if v is not None}
    if updates:
        cfg = cfg.model_copy(update=updates)
    with store() as st, progress_bar() as bar:
        task = bar.add_task("reading", total=None)

        def progress(source: str, _done: int, _total: int | None) -> None:  # counts files over all paths
            bar.update(task, advance=1, description=f"reading {Path(source).name[:40]}")

        summary = ingest_paths(st, cfg, dataset, paths, password=password, ocr=ocr, progress=progress)
    if as_json:
        print_json(summary.to_dict())
    else:
        table = Table(title=f"Ingested into {dataset}", show_header=False)
        for key in ("documents", "added", "already_present", "pages", "ocr_pages"):
            table.add_row(key.replace("_", " "), str(getattr(summary, key)))
        table.add_row("failed files", str(len(summary.failures)))
        table.add_row("skipped files", str(len(summary.skipped)))
        out.print(table)
        if summary.failures or summary.skipped:
            problems = Table(title="Not stored")
            problems.add_column("file", overflow="fold")  # the whole name, over several lines if need be
            problems.add_column("code")
            problems.add_column("message")
            for f in summary.failures + summary.skipped:
                message = f.message.removeprefix(f"{f.source}: ")  # the file is in its own column
                problems.add_row(_shown(f.source, paths), f.code, message)
            err.print(problems)
    if summary.failures and not summary.documents:
        raise typer.Exit(1)


def _shown(source: str, paths: list[Path]) -> str:
    """A failure's source relative to the folder given on the command line that holds it (as given otherwise)."""
    for path in paths:
        if path.is_dir():
            prefix = path.as_posix().rstrip("/") + "/"
            if source.startswith(prefix):
                return source[len(prefix) :]
    return source
