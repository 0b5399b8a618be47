"""`nlpipe` command line: parse, call one library function, print.

Every ``NlpipeError`` is printed as ``error: [CODE] message`` on stderr with exit code 1, never a traceback.
Heavy libraries are imported inside the commands that need them, so ``nlpipe --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from nlpipe.errors import NlpipeError

if TYPE_CHECKING:
    # typer bundles its own copy of click (typer._click): its groups are invoked with that Context, which is
    # what TyperGroup.invoke declares; the ``click`` package's Context is another class.
    from typer._click import Context


class ErrorTranslatingGroup(TyperGroup):
    """Top-level group: turns NlpipeError from any sub-command into a message and exit code 1."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except NlpipeError as exc:
            typer.echo(f"error: {exc}", err=True)
            ctx.exit(1)


app = typer.Typer(
    cls=ErrorTranslatingGroup,
    help="nlpipe: label text, train classifiers, evaluate them and serve predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from nlpipe.cli import batch, datasets, doctor, evaluate, ingest, keys, label, models, predict, serve, train

    app.add_typer(datasets.app, name="datasets")
    app.add_typer(models.app, name="models")
    app.add_typer(keys.app, name="keys")
    label.register()
    app.add_typer(label.app, name="label")
    app.command("ingest")(ingest.ingest)
    for command in (train, evaluate, predict, batch, serve, doctor):
        command.register(app)


_register()


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
