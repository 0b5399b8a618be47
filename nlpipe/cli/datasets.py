"""`nlpipe datasets ...`: create, import, list, stats, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nlpipe.cli.common import err, fmt, out, print_json, progress_bar, settings, store

app = typer.Typer(help="Create datasets, import labeled text, inspect and export them.", no_args_is_help=True)


@app.command("create")
def create(
    name: str,
    description: Annotated[str | None, typer.Option(help="A line saying what the dataset holds.")] = None,
) -> None:
    """Create an empty dataset."""
    from nlpipe.store.datasets import create_dataset

    with store() as st, st.session() as s:
        create_dataset(s, name, description)
    out.print(f"Created dataset [bold]{name}[/bold].")


@app.command("import")
def import_(
    name: str,
    path: Path,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="jsonl, csv, automl, comprehend, folder, fasttext, or for entity annotations conll, spacy, "
            "labelstudio, comprehend-entities (default: detect).",
        ),
    ] = None,
    text_col: Annotated[str | None, typer.Option(help="CSV column holding the text (default: text).")] = None,
    label_col: Annotated[str | None, typer.Option(help="CSV column holding the label(s) (default: label).")] = None,
    label_sep: Annotated[
        str | None, typer.Option(help="Separator of several labels in one CSV cell, e.g. '|'.")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (default: detect).")] = None,
    create: Annotated[bool, typer.Option("--create/--no-create", help="Create the dataset if missing.")] = True,
    split: Annotated[
        str | None, typer.Option(help="Split (train, validation, test) of the records whose file names none.")
    ] = None,
    conll_docs: Annotated[
        bool, typer.Option("--conll-docs", help="conll: one document per -DOCSTART- block, not per sentence.")
    ] = False,
    documents: Annotated[
        Path | None,
        typer.Option(help="comprehend-entities: folder of the documents files the CSV names (default: its folder)."),
    ] = None,
) -> None:
    """Import labeled text into a dataset. A bad row stores nothing and names the file and line."""
    from nlpipe.label.formats import read_records
    from nlpipe.store.importing import import_records

    cfg = settings()
    records = read_records(
        path,
        format,
        text_col=text_col,
        label_col=label_col,
        label_sep=label_sep,
        encoding=encoding,
        max_bytes=cfg.max_document_bytes,
        conll_docs=conll_docs,
        documents=documents,
        split=split,
    )
    with store() as st, progress_bar() as bar:
        # The records are streamed into the store, so their number is known only at the end: the bar counts
        # records read (and shows the total once the last one is in).
        task = bar.add_task(f"importing {path.name}", total=None)
        summary = import_records(
            st,
            name,
            records,
            seed=cfg.seed,
            test_fraction=cfg.test_fraction,
            create=create,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    table = Table(title=f"Imported {path} into {name}", show_header=False)
    table.add_row("records read", str(summary.records))
    table.add_row("documents added", str(summary.added))
    table.add_row("already in dataset", str(summary.already_present))
    table.add_row("repeated in file", str(summary.duplicates_in_file))
    table.add_row("labels added", str(summary.labels_added))
    table.add_row("spans added", str(summary.spans_added))
    table.add_row("splits", ", ".join(f"{k}={v}" for k, v in sorted(summary.split_counts.items())) or "-")
    table.add_row("seeded split", str(summary.seeded_split))
    out.print(table)
    for w in summary.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List datasets with their document counts."""
    from nlpipe.store.datasets import list_datasets

    with store() as st, st.session() as s:
        rows = list_datasets(s)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "documents", "state", "created", "description")
    for r in rows:
        state = "[yellow]incomplete[/yellow]" if r["state"] == "incomplete" else r["state"]
        table.add_row(r["name"], str(r["documents"]), state, r["created_at"][:19], r["description"] or "")
    out.print(table)
    if any(r["state"] == "incomplete" for r in rows):
        err.print("[yellow]incomplete:[/yellow] an ingest into it stopped part-way (or is still running); "
                  "`nlpipe datasets stats NAME` names it, and running it again completes it")  # fmt: skip


@app.command("stats")
def stats(name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Documents, labels per split, and annotation sources of a dataset."""
    from nlpipe.store.stats import dataset_stats

    with store() as st, st.session() as s:
        data = dataset_stats(s, name)
    if as_json:
        print_json(data)
        return
    out.print(
        f"[bold]{name}[/bold]: {data['documents']} documents ({data['labeled']} labeled, "
        f"{data['unlabeled']} unlabeled), {'multi' if data['multi_label'] else 'single'}-label, "
        f"mean {data['mean_chars']} characters"
    )
    for run in data["incomplete_runs"]:
        what = "failed" if run["status"] == "failed" else "did not finish (stopped, or still running)"
        inputs = ", ".join(run["inputs"][:5]) + (
            f" and {len(run['inputs']) - 5} more" if len(run["inputs"]) > 5 else ""
        )
        err.print(
            f"[yellow]incomplete:[/yellow] {run['kind']} run {run['id']} started {run['started_at'][:19]} {what} "
            f"after {run['documents']} documents ({inputs}); run the same {run['kind']} again to complete it"
        )
    splits = list(data["splits"])
    table = Table("label", *splits, "total")
    for lab, counts in data["labels"].items():
        table.add_row(lab, *(str(counts.get(sp, 0)) for sp in splits), str(counts["total"]))
    table.add_row("[bold]documents[/bold]", *(str(data["splits"][sp]) for sp in splits), str(data["documents"]))
    out.print(table)
    if data["annotations_by_source"]:
        out.print("annotations by source: " + ", ".join(f"{k}={v}" for k, v in data["annotations_by_source"].items()))
    if data.get("agreement"):
        out.print(agreement_table(data["agreement"]))
    if data.get("span_agreement"):
        out.print(span_agreement_table(data["span_agreement"]))


def agreement_table(agr: dict) -> Table:
    """Cohen's kappa per pair of annotators (per-label kappas for multi-label data)."""
    table = Table("annotator A", "annotator B", "documents", "same labels", "Cohen's kappa")
    table.title = f"Inter-annotator agreement ({agr['mode']}, {agr['documents']} documents with several annotators)"
    for p in agr["pairs"]:
        table.add_row(p["a"], p["b"], str(p["documents"]), fmt(p["observed"], 3), fmt(p["kappa"], 3))
        for lab, k in (p.get("per_label") or {}).items():
            table.add_row("", f"  {lab}", "", "", fmt(k, 3))
    table.caption = f"mean kappa {fmt(agr['mean_kappa'], 3)}; - where kappa is undefined (one label throughout)"
    return table


def span_agreement_table(agr: dict) -> Table:
    """Pairwise span F1 per pair of annotators, and per entity type."""
    table = Table("annotator A", "annotator B", "documents", "spans A", "spans B", "same spans", "F1")
    table.title = f"Span agreement (exact match, {agr['documents']} documents with spans from several annotators)"
    for p in agr["pairs"]:
        table.add_row(p["a"], p["b"], str(p["documents"]), str(p["spans_a"]), str(p["spans_b"]), str(p["matched"]),
                      fmt(p["f1"], 3))  # fmt: skip
        for lab, f in p["per_label"].items():
            table.add_row("", f"  {lab}", "", "", "", "", fmt(f, 3))
    table.caption = f"mean F1 {fmt(agr['mean_f1'], 3)}; each pair on the documents where both marked spans"
    return table


@app.command("export")
def export(
    name: str,
    out_path: Annotated[Path, typer.Argument(metavar="OUT")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="jsonl, csv, automl, comprehend, fasttext, folder, conll, spacy, labelstudio or "
            "comprehend-entities (default: from OUT).",
        ),
    ] = None,
    conll_scheme: Annotated[str, typer.Option(help="conll: tag scheme, iob2 or iob1.")] = "iob2",
) -> None:
    """Export a dataset's documents with labels, entity spans and splits."""
    from nlpipe.label.formats import write_records
    from nlpipe.store.datasets import export_records

    with store() as st, st.session() as s:
        n = write_records(export_records(s, name), out_path, format, conll_scheme=conll_scheme)
    out.print(f"Exported {n} documents from {name} to {out_path}.")
