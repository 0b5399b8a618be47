"""`nlpipe label ...`: rules (`label apply`) and the active-learning queue (`label queue`)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Label datasets: keyword/phrase rules and the active-learning queue.", no_args_is_help=True)


def register() -> None:
    """Add the label sub-commands (each lives in its own module)."""
    from nlpipe.cli import label_queue, label_rules

    app.command("queue")(label_queue.queue)
    app.command("apply")(label_rules.apply)
