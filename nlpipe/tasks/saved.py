"""Saved models on disk, read without knowing any task: the ``models/<name>/<version>/`` layout, versions and
aliases, meta.json, and loading a version with the task that saved it.

It sits below the tasks' packages so a task can load its own models  without going
through :mod:`nlpipe.artifacts`, which finds the task of a saved format in the registry (and so imports every task).
"""

from __future__ import annotations

import io
import json
import platform
import re
import zipfile
from pathlib import Path
from typing import Any

from nlpipe.errors import ArtifactError, InputError, NotFoundError
from nlpipe.tasks.base import LoadedModel, Task
from nlpipe.types import NAME_RE
from nlpipe.version import __version__

MODEL_FILE = "model.skops"
META_FILE = "meta.json"
ALIASES_FILE = "aliases.json"
VERSION_RE = re.compile(r"\Av(\d+)\Z")  # \Z, not $: "v1\n" is not a version


def library_versions() -> dict[str, str]:
    import numpy
    import scipy
    import sklearn
    import skops

    return {
        "nlpipe": __version__,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
    }


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InputError(
            "E401",
            f"Invalid model name {name!r}: use 1-100 letters, digits, '_', '.' or '-', starting with a letter "
            "or digit.",
            field="name",
        )
    return name


def versions(models_dir: Path, name: str) -> list[str]:
    """The versions of a model that have a meta.json, oldest first."""
    root = models_dir / name
    if not root.is_dir():
        return []
    found = [
        (int(m.group(1)), p.name)
        for p in root.iterdir()
        if (m := VERSION_RE.fullmatch(p.name)) and (p / META_FILE).is_file()
    ]
    return [v for _, v in sorted(found)]


def read_aliases(models_dir: Path, name: str) -> dict[str, str]:
    path = models_dir / name / ALIASES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError("E402", f"{path} is not valid JSON ({exc}); fix or delete it.", file=str(path)) from exc
    return {str(k): str(v) for k, v in data.items()}


def resolve(models_dir: Path, name: str, version: str | None = None) -> Path:
    """Directory of ``name`` at ``version`` (a version, an alias, or None for production-else-newest)."""
    check_model_name(name)
    known = versions(models_dir, name)
    if not known:
        raise NotFoundError(
            "E403",
            f"No model named {name!r} in {models_dir}/. Train one with `nlpipe train DATASET --name {name}`, "
            "or see `nlpipe models list`.",
        )
    aliases = read_aliases(models_dir, name)
    if version is None:
        version = aliases.get("production", known[-1])
    elif version in aliases:
        version = aliases[version]
    if version not in known:
        raise NotFoundError(
            "E404",
            f"Model {name!r} has no version or alias {version!r}; versions: {', '.join(known)}"
            + (f"; aliases: {', '.join(aliases)}" if aliases else "")
            + ".",
        )
    return models_dir / name / version


def read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    try:
        return json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError("E405", f"{meta_path} is missing; the model directory is incomplete.") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError("E405", f"{meta_path} is not valid JSON ({exc}).", file=str(meta_path)) from exc


def load_model(path: Path, task: Task, meta: dict[str, Any] | None = None) -> LoadedModel:
    """Load the model in ``path`` with ``task``, the task of its saved format: with only the types it trusts."""
    meta = read_meta(path) if meta is None else meta
    saved = meta.get("versions", {}).get("scikit-learn", "")
    current = library_versions()["scikit-learn"]
    if saved.split(".")[:2] != current.split(".")[:2]:
        raise ArtifactError(
            "E407",
            f"{path} was trained with scikit-learn {saved}, but {current} is installed. Install "
            f"scikit-learn=={saved} to use it, or retrain the model with this version.",
        )
    if task.trusted_types is None:
        return LoadedModel(path=path, meta=meta, model=task.load_artifact(path, meta))
    model = load_skops(path / MODEL_FILE, list(task.trusted_types), renamed=task.renamed_types)
    return LoadedModel(path=path, meta=meta, model=model)


def load_skops(model_path: Path, trusted: list[str], renamed: dict[str, str] | Any = None) -> Any:
    """Load one skops file, refusing any type outside ``trusted`` (E408) and naming damage (E409, E410).

    ``renamed`` maps old dotted class names to today's: a file that names a class where it lived when the file was
    saved is read with today's names (:func:`renamed_schema`), then checked against ``trusted`` like any other.
    """
    import skops.io as sio

    try:
        data = _with_renamed_types(model_path, renamed) if renamed else None
        source: dict[str, Any] = {"file": model_path} if data is None else {"data": data}
        untrusted = sorted(set(sio.get_untrusted_types(**source)) - set(trusted))
        if untrusted:
            raise ArtifactError(
                "E408",
                f"{model_path} contains types nlpipe does not trust ({', '.join(untrusted[:5])}); refusing to load it.",
            )
        return sio.load(model_path, trusted=trusted) if data is None else sio.loads(data, trusted=trusted)
    except ArtifactError:
        raise
    except FileNotFoundError as exc:
        raise ArtifactError("E409", f"{model_path} is missing; the model directory is incomplete.") from exc
    except Exception as exc:  # skops raises many types for a damaged file
        raise ArtifactError("E410", f"{model_path} cannot be read ({type(exc).__name__}: {exc}).") from exc


def renamed_schema(node: Any, renamed: dict[str, str]) -> bool:
    """Rewrite, in place, every ``__module__``/``__class__`` pair of a skops schema that ``renamed`` maps to a new
    dotted name; True when any was."""
    changed = False
    if isinstance(node, dict):
        module, cls = node.get("__module__"), node.get("__class__")
        if isinstance(module, str) and isinstance(cls, str) and f"{module}.{cls}" in renamed:
            node["__module__"], node["__class__"] = renamed[f"{module}.{cls}"].rsplit(".", 1)
            changed = True
        for value in node.values():
            changed = renamed_schema(value, renamed) or changed
    elif isinstance(node, list):
        for value in node:
            changed = renamed_schema(value, renamed) or changed
    return changed


def _with_renamed_types(model_path: Path, renamed: dict[str, str]) -> bytes | None:
    """The skops file's bytes with old class names replaced (see :func:`renamed_schema`), or None when it names
    none of them (the file is then read as it is)."""
    with zipfile.ZipFile(model_path) as z:
        schema = json.loads(z.read("schema.json"))
        if not renamed_schema(schema, dict(renamed)):
            return None
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as new:
            for info in z.infolist():
                body = json.dumps(schema).encode() if info.filename == "schema.json" else z.read(info)
                new.writestr(info.filename, body)
    return out.getvalue()
