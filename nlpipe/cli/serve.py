"""`nlpipe serve`: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from nlpipe.cli.common import settings


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: NLPIPE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: NLPIPE_PORT).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    cfg = settings()
    # The app is named by import string so that nlpipe never imports the api package.
    uvicorn.run("api.main:create_app", factory=True, host=host or cfg.host, port=port or cfg.port)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
