"""What an error body may tell an anonymous client: no server paths, no Python object reprs.

Library messages name files by their absolute paths, which is right for the CLI (the local user) but tells a
remote client how the server's disks are laid out. :func:`redact` rewrites them for the API: the models folder
becomes ``models/...``, ``NLPIPE_HOME`` becomes ``NLPIPE_HOME/...`` (``NLPIPE_BATCH_ROOT`` likewise), the working
directory is dropped, any other absolute path keeps only its last part (``.../name``), and reprs such as
``<Foo object at 0x7f...>`` or ``<class 'pkg.Foo'>`` become ``<object>`` / ``<class>``. The server log keeps the
full message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from nlpipe.config import Settings

# Paths of the API itself never appear in library messages, but keep them readable if one ever does.
_API_PATHS = ("/v1/", "/ui", "/health", "/docs", "/openapi.json")
_ABSOLUTE = re.compile(r"(?<![\w.~/-])/(?:[^\s/'\"(),;<>\[\]{}]+/)+[^\s/'\"(),;<>\[\]{}]*")
_AT_ADDRESS = re.compile(r"<[^<>\n]{1,200}? at 0x[0-9A-Fa-f]+>")
_KIND_REPR = re.compile(r"<(class|module|function|built-in function|built-in method|bound method|enum) [^<>\n]{1,200}>")


def server_roots(settings: Settings | None) -> list[tuple[str, str]]:
    """(absolute prefix, what it becomes) for the models folder, NLPIPE_HOME, NLPIPE_BATCH_ROOT and the working
    directory."""
    roots: list[tuple[str, str]] = []
    named = [(settings.models_dir, "models"), (settings.home, "NLPIPE_HOME")] if settings is not None else []
    if settings is not None and settings.batch_root is not None:
        named.append((settings.batch_root, "NLPIPE_BATCH_ROOT"))
    try:
        named.append((Path.cwd(), ""))
    except OSError:  # the working directory was removed: nothing to strip
        pass
    for path, label in named:
        try:
            forms = {str(path), str(path.resolve()), os.path.realpath(path)}
        except OSError:
            forms = {str(path)}
        for form in forms:
            if os.path.isabs(form) and form != os.sep:
                roots.append((form.rstrip(os.sep), label))
    return sorted(roots, key=lambda r: len(r[0]), reverse=True)  # the most specific prefix first


def _tail(match: re.Match[str]) -> str:
    path = match.group(0)
    if path.startswith(_API_PATHS):
        return path
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return f".../{name}" if name else "..."


def redact(text: str, roots: list[tuple[str, str]]) -> str:
    """``text`` without server paths or object reprs (see the module docstring)."""
    for prefix, label in roots:
        text = text.replace(prefix + os.sep, f"{label}/" if label else "")
        text = re.sub(re.escape(prefix) + r"(?![\w.-])", label or ".", text)
    text = _ABSOLUTE.sub(_tail, text)
    text = _AT_ADDRESS.sub("<object>", text)
    return _KIND_REPR.sub(lambda m: f"<{m.group(1)}>", text)


def redact_value(value: Any, roots: list[tuple[str, str]]) -> Any:
    """``value`` (error details: strings, lists, dicts) with every string redacted."""
    if isinstance(value, str):
        return redact(value, roots)
    if isinstance(value, dict):
        return {k: redact_value(v, roots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, roots) for v in value]
    if isinstance(value, Path):
        return redact(str(value), roots)
    return value
