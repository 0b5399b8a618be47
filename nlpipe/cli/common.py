"""Helpers the CLI commands share: settings, the store, consoles and progress bars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from nlpipe.config import Settings
    from nlpipe.store.db import Store

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def settings() -> Settings:
    from nlpipe.config import get_settings

    return get_settings()


@contextmanager
def store() -> Iterator[Store]:
    from nlpipe.store.db import open_store

    st = open_store(settings())
    try:
        yield st
    finally:
        st.close()


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour codes), so it can be piped."""
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A progress bar on stderr (stdout stays clean for data)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        yield bar


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
