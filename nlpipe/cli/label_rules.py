"""`nlpipe label apply`: label a dataset with a rules file (dry run by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nlpipe.cli.common import out, print_json, progress_bar, store


def _frac(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def apply(
    rules: Annotated[Path, typer.Argument(help="Rules file (.toml, .yaml or .yml).")],
    dataset: str,
    write: Annotated[bool, typer.Option("--write", help="Store the annotations (source=rule).")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="With --write: delete the dataset's earlier rule annotations first.")
    ] = False,
    sample: Annotated[int, typer.Option(help="How many labeled documents to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result and per-rule report as JSON.")] = False,
) -> None:
    """Apply keyword, phrase, regex and gazetteer rules to a dataset: shows what would change and a per-rule
    report (coverage, overlaps, conflicts, accuracy against human labels); --write stores it."""
    from nlpipe.label.rules_apply import apply_rules

    with store() as st, progress_bar() as bar:
        task = bar.add_task(f"applying {rules.name}", total=None)
        result = apply_rules(
            st,
            dataset,
            rules,
            write=write,
            replace=replace,
            sample=sample,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(result.to_dict())
        return
    _print(result.to_dict())


def _print(r: dict[str, Any]) -> None:
    rep = r["report"]
    out.print(
        f"[bold]{r['rules_file']}[/bold] on [bold]{r['dataset']}[/bold]: {r['documents']} documents "
        f"(lemmas: {r['lemmas']})"
    )
    vote = rep["vote"]
    table = Table("label", "documents", "new annotations", title="Document labels by vote")
    for lab, c in r["labels"].items():
        table.add_row(lab, str(c["documents"]), str(c["new"]))
    table.caption = (
        f"{vote['labeled']} documents labeled, {r['ties']} ties (left unlabeled), "
        f"{r['no_rule_fired']} without any rule firing; "
        f"{'multi' if vote['multi_label'] else 'single'}-label vote, min {vote['min_votes']} vote(s)"
    )
    out.print(table)
    if r["spans"]:
        table = Table("entity type", "spans", "new annotations", title="Entity spans from gazetteers")
        for typ, c in r["spans"].items():
            table.add_row(typ, str(c["spans"]), str(c["new"]))
        out.print(table)
    if r["sample"]:
        table = Table("document", "labels (rules)", "spans", "text", title="Sample")
        for item in r["sample"]:
            labels = "; ".join(f"{lab} ({', '.join(rules)})" for lab, rules in item["labels"].items())
            spans = ", ".join(f"{s['text']!r}={s['label']}" for s in item["spans"])
            doc = str(item["document_id"]) + (f" ({item['external_id']})" if item["external_id"] else "")
            table.add_row(doc, labels or "-", spans or "-", " ".join(item["text"].split()))
        out.print(table)
    table = Table(title="Per-rule report")
    table.add_column("rule", overflow="fold", max_width=22)
    table.add_column("target", overflow="fold", max_width=10)
    for name in ("cov", "ovl", "cfl", "right", "wrong", "acc"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rep["rules"]:
        table.add_row(
            row["rule"],
            row["target"],
            *(_frac(row[k]) for k in ("coverage", "overlaps", "conflicts")),
            str(row["correct"]),
            str(row["incorrect"]),
            _frac(row["accuracy"]),
        )
    table.caption = (
        "cov: share of documents a rule fires on; ovl: fires with another rule; cfl: with a rule for another "
        f"label (type); right/wrong/acc: against {rep['gold_documents']} documents with human/imported labels "
        f"({rep['gold_span_documents']} with spans). Vote: precision {_frac(vote['precision'])}, exact match "
        f"{_frac(vote['exact_match'])}"
    )
    out.print(table)
    written = r["written"]
    if written is None:
        new_labels = sum(c["new"] for c in r["labels"].values())
        new_spans = sum(c["new"] for c in r["spans"].values())
        out.print(
            f"Dry run: nothing stored. --write would add {new_labels} labels and {new_spans} spans (source=rule)."
        )
    else:
        out.print(
            f"Stored {written['labels_added']} labels and {written['spans_added']} spans (source=rule)"
            + (f"; replaced {written['replaced']} earlier rule annotations" if written["replaced"] else "")
            + "."
        )
