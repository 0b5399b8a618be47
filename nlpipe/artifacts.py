"""Model directories: ``models/<name>/<version>/`` with ``model.skops``, ``meta.json`` and ``report/``.

Reading a version without knowing its task (versions, aliases, meta.json, skops files) is
:mod:`nlpipe.tasks.saved`; this module adds what needs the task of a saved format (:mod:`nlpipe.tasks.registry`):
saving and loading the model itself, and aliases and listings.

Versions are ``v1``, ``v2``, ... in training order. ``models/<name>/aliases.json`` maps aliases (``production``)
to versions; serving uses ``production`` when it is set and the newest version otherwise. Models are saved with
skops and loaded with an explicit list of trusted types per saved format, never with pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpipe.tasks import registry
from nlpipe.tasks.base import LoadedModel
from nlpipe.tasks.saved import (
    ALIASES_FILE,
    META_FILE,
    MODEL_FILE,
    NAME_RE,
    check_model_name,
    library_versions,
    load_model,
    load_skops,
    read_aliases,
    read_meta,
    resolve,
    versions,
)

__all__ = ["MODEL_FILE", "META_FILE", "ALIASES_FILE", "NAME_RE", "LoadedModel", "check_model_name", "versions",
           "read_aliases", "resolve", "read_meta", "load_skops", "library_versions", "dump_model", "save", "load",
           "promote", "list_models"]  # fmt: skip


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
    """Write a new version of ``name`` and return its directory: the model as its task saves it (``meta["format"]``
    names the task), meta.json and the report.

    The files are written to a temporary folder beside the final one and renamed into place, so a crash never
    leaves a half-written version that ``resolve`` would pick up.
    """
    check_model_name(name)
    root = models_dir / name
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        task = registry.for_format(str(meta.get("format")))
        if task.trusted_types is None:
            task.save_artifact(model, tmp)
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


def load(path: Path) -> LoadedModel:
    """Load the model in ``path`` with the task of its saved format (E406 for a format this nlpipe does not know),
    with only the types that task trusts."""
    meta = read_meta(path)
    return load_model(path, registry.for_format(str(meta.get("format"))), meta)


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
    out: list[dict[str, Any]] = []
    if not models_dir.is_dir():
        return out
    for root in sorted(p for p in models_dir.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name)):
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
