"""`nlpipe doctor`: check the models folder and the models table, and repair what can be repaired."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from nlpipe.cli.common import out, print_json, settings, store


def doctor(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Add table rows for model folders that have none, delete rows whose folder is gone, remove "
            "unfinished saves older than NLPIPE_STALE_TEMP_MINUTES and stored originals no document comes from. "
            "Damaged model files are only reported.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every model version's files (links, sizes, checksums), every aliases file, the models table
    against the models folder (the folder is the truth), and the stored originals against the documents (E680:
    left by a killed ingest). Exits 1 when a problem is left unfixed."""
    from nlpipe.artifacts import check_models
    from nlpipe.store.documents import reconcile_originals
    from nlpipe.train import reconcile_models

    cfg = settings()
    with store() as st:
        problems: list[dict[str, Any]] = [
            {**p, "fixed": False} for p in check_models(cfg.models_dir, max_bytes=cfg.max_model_bytes)
        ]
        problems += reconcile_models(st, cfg, fix=fix)
        with st.session() as s:
            problems += reconcile_originals(s, cfg.home, fix=fix)
    if as_json:
        print_json(problems)
    elif not problems:
        out.print(f"{cfg.models_dir}: no problems found.")
    else:
        table = Table("code", "model", "version", "problem", "fixed")
        for p in problems:
            table.add_row(p["code"], p["name"], p["version"] or "-", p["message"], "yes" if p["fixed"] else "no")
        out.print(table)
    left = [p for p in problems if not p["fixed"] and p["code"] != "E460"]  # E460: unverified, loads with a warning
    if left:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
