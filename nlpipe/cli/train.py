"""`nlpipe train`: train a model on a dataset, evaluate it on the test split, save a version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nlpipe.cli.common import err, fmt, out, progress_bar, settings, store
from nlpipe.cli.tables import metrics_table, ordinal_table, per_label_table


def train(
    dataset: str,
    name: Annotated[str, typer.Option("--name", "-n", help="Model name (folder under the models dir).")],
    task: Annotated[
        str, typer.Option(help="What to train: classify, sentiment, entities or layout (fields from PDF word boxes).")
    ] = "classify",
    multi_label: Annotated[
        bool | None,
        typer.Option("--multi-label/--single-label", help="Default: multi-label if any document has several labels."),
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option(help="Seconds the model search may spend (default: NLPIPE_TIME_BUDGET).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: NLPIPE_SEED).")] = None,
    scale: Annotated[
        int | None, typer.Option(help="Sentiment: an ordinal score 0..N (N from 1 to 10) instead of categories.")
    ] = None,
    base: Annotated[
        str | None, typer.Option(help="Entities: an installed spaCy pipeline to start from (default: blank).")
    ] = None,
    entity_list: Annotated[
        list[Path] | None,
        typer.Option("--entity-list", help="Entities: a Text,Type CSV entity list (gazetteer); repeatable."),
    ] = None,
    ruler: Annotated[
        str | None,
        typer.Option(help="Entities: run the entity lists before the model (lists win), after it, or none."),
    ] = None,
) -> None:
    """Train a model on a dataset's train split and evaluate it on its test split."""
    from nlpipe.train import train as do_train

    with store() as st, progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = do_train(
            st,
            settings(),
            dataset,
            name,
            task=task,
            multi_label=multi_label,
            time_budget=time_budget,
            seed=seed,
            progress=progress,
            **{
                k: v
                for k, v in {"scale": scale, "base": base, "entity_lists": entity_list, "ruler": ruler}.items()
                if v or (k == "scale" and v is not None)
            },  # fmt: skip
        )
    for c in result.checks:
        err.print(f"[yellow]warning {c.code}:[/yellow] {c.message}")
    if result.search:
        search = Table("candidate", "validation score", "seconds", title="Model search")
        for row in result.search:
            mark = " *" if row["name"] == result.best else ""
            search.add_row(row["name"] + mark, fmt(row.get("score")), fmt(row.get("seconds"), 2))
        out.print(search)
    if result.metrics:
        out.print(metrics_table(result.metrics, f"{result.name} {result.version} on the test split"))
        if "ordinal" in result.metrics:
            out.print(ordinal_table(result.metrics["ordinal"]))
        if "per_label" in result.metrics:
            out.print(per_label_table(result.metrics))
        out.print(f"Report: {result.path / 'report' / 'report.html'}")
    else:
        err.print("[yellow]warning:[/yellow] the dataset has no test split documents; no evaluation was made.")
    out.print(f"Saved [bold]{result.name}[/bold] {result.version} to {result.path} ({result.seconds:.1f} s)")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
