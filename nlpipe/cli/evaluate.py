"""`nlpipe evaluate`: metrics, baseline and report of a saved model on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nlpipe.cli.common import err, out, print_json, settings, store
from nlpipe.cli.tables import metrics_table, ordinal_table, per_label_table


def evaluate(
    model: str,
    dataset: str,
    split: Annotated[str, typer.Option(help="train, validation, test or all.")] = "test",
    version: Annotated[str | None, typer.Option(help="Version or alias (default: production, else newest).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for metrics.json and report.html.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics JSON on stdout.")] = False,
) -> None:
    """Evaluate a model on a dataset split: metrics, baseline, report."""
    from nlpipe.evaluate import evaluate_model

    with store() as st:
        result = evaluate_model(st, settings(), model, dataset, version=version, split=split, out=out_dir)
    if as_json:
        print_json(result.metrics)
        return
    out.print(metrics_table(result.metrics, f"{result.model} {result.version} on {dataset} ({split})"))
    if "ordinal" in result.metrics:
        out.print(ordinal_table(result.metrics["ordinal"]))
    if "per_label" in result.metrics:
        out.print(per_label_table(result.metrics))
    if result.skipped:
        err.print(f"[yellow]warning:[/yellow] {result.skipped} documents have labels the model does not know; skipped.")
    out.print(f"Report: {result.report}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
