"""`nlpipe label queue`: the documents to label next, by uncertainty, at random or by diversity."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from nlpipe.cli.common import fmt, out, print_json, progress_bar, settings, store


def queue(
    dataset: str,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Classification model whose uncertainty orders the queue.")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Model version or alias (default: production, else newest).")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(help="uncertainty, random or diversity (default: uncertainty with --model, else diversity)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many documents to list.")] = 20,
    annotator: Annotated[
        str | None, typer.Option(help="Skip documents this annotator has labeled (default: skip any human-labeled).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random strategy (default: NLPIPE_SEED).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the dataset's documents that still need a person, in the order to label them."""
    from nlpipe.label.queue import build_queue

    cfg = settings()
    predictor = None
    if model is not None:
        from nlpipe.predict import load_predictor

        predictor = load_predictor(cfg.models_dir, model, version, max_bytes=cfg.max_model_bytes)
    with store() as st, progress_bar() as bar:
        task = None

        def scored(done: int, total: int) -> None:  # only when the queue's cache is being filled
            nonlocal task
            if task is None:
                task = bar.add_task("scoring the pool", total=total)
            bar.update(task, completed=done, total=total)

        result = build_queue(
            st,
            dataset,
            strategy=strategy,
            predictor=predictor,
            limit=limit,
            annotator=annotator,
            seed=cfg.seed if seed is None else seed,
            progress=scored,
        )
    if as_json:
        print_json(result)
        return
    by = f" by {result['model']['name']} {result['model']['version']}" if result["model"] else ""
    table = Table("rank", "document", "score", "predicted", "text", title=f"{dataset}: {result['strategy']}{by}")
    for item in result["items"]:
        preview = " ".join(item["preview"].split())
        table.add_row(
            str(item["rank"]),
            str(item["document_id"]) + (f" ({item['external_id']})" if item["external_id"] else ""),
            fmt(item["score"], 3),
            ", ".join(item["predicted"]) or "-",
            preview[:80] + ("..." if len(preview) > 80 else ""),
        )
    table.caption = f"{len(result['items'])} of {result['pool']} documents waiting for a person"
    out.print(table)
