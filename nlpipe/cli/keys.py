"""`nlpipe keys ...`: API keys with names and scopes (create, list, revoke)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from nlpipe.cli.common import err, out, print_json, store

app = typer.Typer(help="API keys of the HTTP API: create one with scopes, list them, revoke one.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[
        str, typer.Argument(help="The key's name: the annotator it writes as, and what logs and jobs show.")
    ],
    scopes: Annotated[
        str, typer.Option("--scopes", help="Comma-separated: predict, read, label, ingest, train, admin.")
    ] = "predict",
) -> None:
    """Make a key; it is printed once (on stdout) and only its SHA-256 is stored. Running servers accept it within
    seconds."""
    from nlpipe.keys import create_key, parse_scopes

    with store() as st:
        key = create_key(st, name, scopes)
    typer.echo(key)
    err.print(f"key {name!r} created with scopes {', '.join(parse_scopes(scopes))}: send it as X-API-Key. It is "
              "shown only now; store it safely.")  # fmt: skip


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The stored keys (names, scopes, when made and revoked; never the keys)."""
    from nlpipe.keys import list_keys

    with store() as st:
        keys = list_keys(st)
    rows: list[dict[str, Any]] = [
        {"name": k.name, "scopes": list(k.scopes), "created_at": k.created_at.isoformat(),
         "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
        for k in keys
    ]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    table = Table("name", "scopes", "created", "status")
    for k in keys:
        status = f"revoked {k.revoked_at.isoformat()[:19]}" if k.revoked_at else "active"
        table.add_row(k.name, ",".join(k.scopes), k.created_at.isoformat()[:19], status)
    out.print(table)


@app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: servers refuse it within seconds. Its name stays taken (logs and jobs refer to it)."""
    from nlpipe.keys import revoke_key

    with store() as st:
        info = revoke_key(st, name)
    err.print(f"key {info.name!r} revoked")
