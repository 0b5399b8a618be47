"""Model directories: ``models/<name>/<version>/`` with ``model.skops``, ``meta.json`` and ``report/``.

Versions are ``v1``, ``v2``, ... in training order. ``models/<name>/aliases.json`` maps aliases (``production``)
to versions; serving uses ``production`` when it is set and the newest version otherwise. Models are saved with
skops and loaded with an explicit list of trusted types per saved format, never with pickle.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpipe.errors import ArtifactError, InputError, NotFoundError

MODEL_FILE = "model.skops"
META_FILE = "meta.json"
ALIASES_FILE = "aliases.json"
VERSION_RE = re.compile(r"^v(\d+)$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Saved formats this nlpipe can load, each owned by the module that defines its model. A change in what a saved
# model means gets a new format name. A format module either lists the types its skops file may hold
# (``TRUSTED_TYPES``; the model is saved as ``model.skops``), or writes and reads its own files with
# ``model.save_artifact(folder)`` and ``load_artifact(folder, meta)`` (which must never unpickle).
FORMAT_MODULES: dict[str, str] = {
    "nlpipe.classify.v1": "nlpipe.tasks.classify.model",
    "nlpipe.sentiment.v1": "nlpipe.tasks.sentiment.predictor",
    "nlpipe.entities.v1": "nlpipe.tasks.entities.task",
    "nlpipe.layout.v1": "nlpipe.tasks.layout.task",
}
FORMATS = tuple(FORMAT_MODULES)


def library_versions() -> dict[str, str]:
    import numpy
    import scipy
    import sklearn
    import skops

    import nlpipe

    return {
        "nlpipe": nlpipe.__version__,
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
    }


def check_model_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
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
        if (m := VERSION_RE.match(p.name)) and (p / META_FILE).is_file()
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


#: Model files up to this size (uncompressed) are LZMA-compressed; larger ones are deflated (level 1). LZMA
#: shrinks a small classifier's vocabulary, document frequencies and float16 weights to a third, but compresses a
#: few MB/s: 35 s for 42 MB of hashed weights, against 0.6 s deflated.
LZMA_MAX_BYTES = 8_000_000


def dump_model(model: Any, path: Path) -> None:
    """Write ``model`` as a compressed skops file (LZMA when small, else deflate; :data:`LZMA_MAX_BYTES`)."""
    import skops.io as sio

    sio.dump(model, path)
    if path.stat().st_size <= LZMA_MAX_BYTES:
        sio.dump(model, path, compression=zipfile.ZIP_LZMA)
    else:
        sio.dump(model, path, compression=zipfile.ZIP_DEFLATED, compresslevel=1)


def save(models_dir: Path, name: str, model: Any, meta: dict[str, Any], report_dir: Path | None = None) -> Path:
    """Write a new version of ``name`` and return its directory.

    The files are written to a temporary folder beside the final one and renamed into place, so a crash never
    leaves a half-written version that ``resolve`` would pick up.
    """
    check_model_name(name)
    root = models_dir / name
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        if hasattr(model, "save_artifact"):
            model.save_artifact(tmp)
        else:
            dump_model(model, tmp / MODEL_FILE)
        if report_dir is not None and report_dir.exists():
            shutil.copytree(report_dir, tmp / "report")
        while True:  # another process may take the same number: retry with the next one
            known = versions(models_dir, name)
            version = f"v{int(known[-1][1:]) + 1 if known else 1}"
            full = {
                "name": name,
                "version": version,
                **meta,
                "versions": library_versions(),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            (tmp / META_FILE).write_text(json.dumps(full, indent=2, sort_keys=True))
            try:
                os.rename(tmp, root / version)
                return root / version
            except OSError:
                if not (root / version).exists():
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    try:
        return json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError("E405", f"{meta_path} is missing; the model directory is incomplete.") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError("E405", f"{meta_path} is not valid JSON ({exc}).", file=str(meta_path)) from exc


def _format_module(fmt: str) -> Any:
    if fmt not in FORMAT_MODULES:
        raise ArtifactError(
            "E406",
            f"Saved format {fmt!r} is not one this nlpipe can load ({', '.join(FORMATS)}); "
            "it was written by a newer nlpipe. Upgrade nlpipe or retrain the model.",
        )
    return importlib.import_module(FORMAT_MODULES[fmt])


@dataclass
class LoadedModel:
    path: Path
    meta: dict[str, Any]
    model: Any

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def version(self) -> str:
        return str(self.meta["version"])


def load(path: Path) -> LoadedModel:
    """Load the model in ``path`` with only the types its saved format trusts."""
    meta = read_meta(path)
    module = _format_module(str(meta.get("format")))
    saved = meta.get("versions", {}).get("scikit-learn", "")
    current = library_versions()["scikit-learn"]
    if saved.split(".")[:2] != current.split(".")[:2]:
        raise ArtifactError(
            "E407",
            f"{path} was trained with scikit-learn {saved}, but {current} is installed. Install "
            f"scikit-learn=={saved} to use it, or retrain the model with this version.",
        )
    if hasattr(module, "load_artifact"):
        return LoadedModel(path=path, meta=meta, model=module.load_artifact(path, meta))
    return LoadedModel(path=path, meta=meta, model=load_skops(path / MODEL_FILE, list(module.TRUSTED_TYPES)))


def load_skops(model_path: Path, trusted: list[str]) -> Any:
    """Load one skops file, refusing any type outside ``trusted`` (E408) and naming damage (E409, E410)."""
    import skops.io as sio

    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=model_path)) - set(trusted))
        if untrusted:
            raise ArtifactError(
                "E408",
                f"{model_path} contains types nlpipe does not trust ({', '.join(untrusted[:5])}); refusing to load it.",
            )
        return sio.load(model_path, trusted=trusted)
    except ArtifactError:
        raise
    except FileNotFoundError as exc:
        raise ArtifactError("E409", f"{model_path} is missing; the model directory is incomplete.") from exc
    except Exception as exc:  # skops raises many types for a damaged file
        raise ArtifactError("E410", f"{model_path} cannot be read ({type(exc).__name__}: {exc}).") from exc


def promote(models_dir: Path, name: str, version: str, alias: str = "production") -> dict[str, str]:
    path = resolve(models_dir, name, version)
    aliases = read_aliases(models_dir, name)
    aliases[alias] = path.name
    target = models_dir / name / ALIASES_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(aliases, indent=2, sort_keys=True))
    os.replace(tmp, target)
    return aliases


def list_models(models_dir: Path) -> list[dict[str, Any]]:
    out = []
    if not models_dir.is_dir():
        return out
    for root in sorted(p for p in models_dir.iterdir() if p.is_dir() and NAME_RE.match(p.name)):
        known = versions(models_dir, root.name)
        if not known:
            continue
        aliases = read_aliases(models_dir, root.name)
        for v in known:
            meta = read_meta(root / v)
            out.append(
                {
                    "name": root.name,
                    "version": v,
                    "task": meta.get("task"),
                    "aliases": sorted(a for a, av in aliases.items() if av == v),
                    "labels": len(meta.get("labels", [])),
                    "accuracy": (meta.get("metrics") or {}).get("accuracy"),
                    "macro_f1": (meta.get("metrics") or {}).get("macro_f1"),
                    "created_at": meta.get("created_at"),
                }
            )
    return out
