"""Saved models on disk, read without knowing any task: the ``models/<name>/<version>/`` layout, versions and
aliases, meta.json, and loading a version with the task that saved it.

It sits below the tasks' packages so a task can load its own models  without going
through :mod:`nlpipe.artifacts`, which finds the task of a saved format in the registry (and so imports every task).
"""

from __future__ import annotations

import io
import json
import logging
import platform
import re
import zipfile
from pathlib import Path
from typing import Any

from nlpipe.config import DEFAULT_MAX_MODEL_BYTES
from nlpipe.errors import ArtifactError, InputError, NotFoundError
from nlpipe.tasks.base import LoadedModel, Task
from nlpipe.tasks.integrity import verify_files
from nlpipe.types import NAME_RE
from nlpipe.version import __version__

MODEL_FILE = "model.skops"
META_FILE = "meta.json"
ALIASES_FILE = "aliases.json"
VERSION_RE = re.compile(r"\Av(\d+)\Z")  # \Z, not $: "v1\n" is not a version
#: Alias names: a letter first, then letters, digits, '_', '.' or '-'; at most 64 characters; never a version name.
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
#: meta.json and aliases.json are small: larger ones are refused before they are read.
MAX_JSON_BYTES = 16 * 1024 * 1024
#: How many versions or aliases an error message lists at most.
LISTED = 5

log = logging.getLogger("nlpipe.models")


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


def check_alias_name(alias: str) -> str:
    """An alias name as :data:`ALIAS_RE` allows, and not a version name (``v2`` would hide version v2): E453."""
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias) or VERSION_RE.fullmatch(alias):
        raise InputError(
            "E453",
            f"Invalid alias {shown(alias)}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter, and "
            "not a version name such as v2.",
            field="alias",
        )
    return alias


def shown(value: object, limit: int = 40) -> str:
    """``repr`` of a value a user gave, cut to ``limit`` characters, for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def listed(items: list[str]) -> str:
    """At most :data:`LISTED` items for a message, the newest (last) ones, with how many more there are."""
    if len(items) <= LISTED:
        return ", ".join(items)
    return f"{', '.join(items[-LISTED:])} (and {len(items) - LISTED} more)"


def _small_json(path: Path, code: str, what: str) -> Any:
    """A small JSON file that is a regular file (never a link): ``code`` names what is wrong with it."""
    if path.is_symlink():
        raise ArtifactError("E450", f"{path} is a symbolic link; model files are never followed through links.",
                            file=str(path))  # fmt: skip
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ArtifactError(code, f"{path} is missing; the model directory is incomplete.", file=str(path)) from exc
    if size > MAX_JSON_BYTES:
        raise ArtifactError(code, f"{path} is {size:,} bytes; {what} is never that large.", file=str(path))
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, a number over 4,300 digits, deep nesting
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ArtifactError(code, f"{path} is not valid JSON ({why}); fix or delete it.", file=str(path)) from exc


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


def read_aliases(models_dir: Path, name: str, *, valid_only: bool = True) -> dict[str, str]:
    """The aliases of a model: E402 when aliases.json is not a JSON object of names to versions. Entries whose
    name is not a valid alias (:func:`check_alias_name`, e.g. written by hand) are left out unless
    ``valid_only`` is False (``nlpipe doctor`` lists them)."""
    path = models_dir / name / ALIASES_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    data = _small_json(path, "E402", "an aliases file")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ArtifactError("E402", f"{path} is not a JSON object of alias names to versions; fix or delete it.",
                            file=str(path))  # fmt: skip
    if not valid_only:
        return dict(data)
    return {k: v for k, v in data.items() if ALIAS_RE.fullmatch(k) and not VERSION_RE.fullmatch(k)}


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
    asked = version
    if version is None:
        version = aliases.get("production", known[-1])
    elif not VERSION_RE.fullmatch(version) and version in aliases:  # a version name is never an alias
        version = aliases[version]
    if version not in known:
        target = "" if asked is None or asked == version else f" (an alias of {shown(version)})"
        raise NotFoundError(
            "E404",
            f"Model {name!r} has no version or alias {shown(asked or 'production')}{target}; versions: "
            f"{listed(known)}" + (f"; aliases: {listed(sorted(aliases))}" if aliases else "") + ".",
        )
    return models_dir / name / version


def read_meta(path: Path) -> dict[str, Any]:
    """A version's meta.json: E405 when it is missing, too large, not JSON or not a JSON object."""
    meta_path = path / META_FILE
    meta = _small_json(meta_path, "E405", "a model's meta.json")
    if not isinstance(meta, dict):
        raise ArtifactError("E405", f"{meta_path} is not a JSON object.", file=str(meta_path))
    return meta


def load_model(
    path: Path, task: Task, meta: dict[str, Any] | None = None, *, max_bytes: int = DEFAULT_MAX_MODEL_BYTES
) -> LoadedModel:
    """Load the model in ``path`` with ``task``, the task of its saved format: with only the types it trusts, after
    its files are checked (:func:`nlpipe.tasks.integrity.verify_files`: no links, sizes, checksums)."""
    meta = read_meta(path) if meta is None else meta
    for warning in verify_files(path, meta, max_bytes):
        log.warning("%s", warning)
    saved = str((meta.get("versions") or {}).get("scikit-learn", ""))
    current = library_versions()["scikit-learn"]
    if saved.split(".")[:2] != current.split(".")[:2]:
        raise ArtifactError(
            "E407",
            f"{path} was trained with scikit-learn {saved}, but {current} is installed. Install "
            f"scikit-learn=={saved} to use it, or retrain the model with this version.",
        )
    if task.trusted_types is None:
        return LoadedModel(path=path, meta=meta, model=task.load_artifact(path, meta))
    model = load_skops(path / MODEL_FILE, list(task.trusted_types), renamed=task.renamed_types, max_bytes=max_bytes)
    return LoadedModel(path=path, meta=meta, model=model)


def check_skops_sizes(model_path: Path, max_bytes: int) -> None:
    """Refuse a skops file (a zip) whose members declare more than ``max_bytes`` unpacked, all together (E452):
    zipfile never unpacks a member beyond its declared size, so this bounds what loading it can allocate."""
    with zipfile.ZipFile(model_path) as z:
        total = sum(info.file_size for info in z.infolist())
    if total > max_bytes:
        raise ArtifactError(
            "E452",
            f"{model_path} unpacks to {total:,} bytes, more than NLPIPE_MAX_MODEL_BYTES ({max_bytes:,}); refusing "
            "to load it.",
            file=str(model_path),
        )


def load_skops(
    model_path: Path,
    trusted: list[str],
    renamed: dict[str, str] | Any = None,
    *,
    max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
) -> Any:
    """Load one skops file, refusing any type outside ``trusted`` (E408), a link or a file that unpacks to more than
    ``max_bytes`` (E450, E452), and naming damage (E409, E410).

    ``renamed`` maps old dotted class names to today's: a file that names a class where it lived when the file was
    saved is read with today's names (:func:`renamed_schema`), then checked against ``trusted`` like any other.
    """
    import skops.io as sio

    if model_path.is_symlink():
        raise ArtifactError("E450", f"{model_path} is a symbolic link; model files are never followed through links.",
                            file=str(model_path))  # fmt: skip
    try:
        check_skops_sizes(model_path, max_bytes)
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
