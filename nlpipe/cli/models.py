"""`nlpipe models ...`: list, show, promote."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from nlpipe.cli.common import fmt, out, print_json, settings

app = typer.Typer(help="List trained models, show one, promote a version to production.", no_args_is_help=True)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every model version in the models folder, with its headline scores; a version that cannot be read is listed
    with its error code (see `nlpipe doctor`)."""
    from nlpipe.artifacts import list_models

    rows = list_models(settings().models_dir)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "version", "task", "aliases", "labels", "accuracy", "macro F1", "created", "problem")
    for r in rows:
        problem = f"[red]{r['error']['code']}[/red] {r['error']['message'][:80]}" if r.get("error") else ""
        table.add_row(
            r["name"],
            r["version"],
            r["task"] or "-",
            ",".join(r["aliases"]),
            str(r["labels"]),
            fmt(r["accuracy"]),
            fmt(r["macro_f1"]),
            (r["created_at"] or "")[:19],
            problem,
        )
    out.print(table)


@app.command("show")
def show(
    name: str,
    version: Annotated[str | None, typer.Argument(help="Version or alias (default: production, else newest).")] = None,
) -> None:
    """Print a model version's meta.json."""
    from nlpipe.artifacts import read_meta, resolve

    path = resolve(settings().models_dir, name, version)
    meta = read_meta(path)
    meta["path"] = str(path)
    print_json(meta)


@app.command("promote")
def promote(
    name: str,
    version: str,
    alias: Annotated[
        str, typer.Option(help="Alias to point at the version: a letter, then letters, digits, '_', '.', '-'.")
    ] = "production",
) -> None:
    """Point an alias (default: production) at a version; serving uses production."""
    from nlpipe.artifacts import promote as do_promote

    aliases = do_promote(settings().models_dir, name, version, alias)
    out.print(f"{name}: {alias} -> {aliases[alias]}")


@app.command("rollback")
def rollback(
    name: str,
    alias: Annotated[str, typer.Option(help="The alias to move back.")] = "production",
) -> None:
    """Point an alias (default: production) back at the version it had before its latest promote; run again to
    undo the promote before that. Running servers serve it within NLPIPE_MODEL_REFRESH_SECONDS."""
    from nlpipe.artifacts import rollback as do_rollback

    before, after, _ = do_rollback(settings().models_dir, name, alias)
    out.print(f"{name}: {alias} -> {after} (was {before})")
