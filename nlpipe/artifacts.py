"""Model directories: ``models/<name>/<version>/`` with ``model.skops``, ``meta.json`` and ``report/``.

Reading a version without knowing its task (versions, aliases, meta.json, skops files) is
:mod:`nlpipe.tasks.saved`; this module adds what needs the task of a saved format (:mod:`nlpipe.tasks.registry`):
saving and loading the model itself, and aliases and listings.

Versions are ``v1``, ``v2``, ... in training order. ``models/<name>/aliases.json`` maps aliases (``production``)
to versions; serving uses ``production`` when it is set and the newest version otherwise. Models are saved with
skops and loaded with an explicit list of trusted types per saved format, never with pickle.

The models folder is the source of truth: a version exists when its folder ``v<N>/`` holds its meta.json. A
version is written to a ``.tmp-*`` folder and renamed into place whole, with the size and checksum of each of its
files in meta.json (checked at every load, :mod:`nlpipe.tasks.integrity`). The store's ``models`` table is an
index of the folders, reconciled with them (:func:`nlpipe.train.reconcile_models`). ``aliases.json`` is only
written under a lock on ``models/<name>/.aliases.lock``, through a temporary file of its own that is synced and
renamed over it, so parallel promotes never lose one another's update.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpipe.config import DEFAULT_MAX_MODEL_BYTES
from nlpipe.errors import ArtifactError, ConflictError, NlpipeError
from nlpipe.tasks import registry
from nlpipe.tasks.base import LoadedModel
from nlpipe.tasks.integrity import FILES_KEY, file_records, verify_files
from nlpipe.tasks.saved import (
    ALIASES_FILE,
    META_FILE,
    MODEL_FILE,
    NAME_RE,
    VERSION_RE,
    check_alias_name,
    check_model_name,
    library_versions,
    load_model,
    load_skops,
    read_aliases,
    read_meta,
    resolve,
    versions,
)

__all__ = ["MODEL_FILE", "META_FILE", "ALIASES_FILE", "HISTORY_FILE", "NAME_RE", "LoadedModel", "check_model_name",
           "versions", "read_aliases", "resolve", "read_meta", "load_skops", "library_versions", "dump_model", "save",
           "load", "promote", "rollback", "alias_history", "list_models", "check_alias_name", "sweep_temp",
           "TEMP_PREFIX"]  # fmt: skip

#: Prefix of a version folder being written (renamed to ``v<N>`` when complete).
TEMP_PREFIX = ".tmp-"
LOCK_FILE = ".aliases.lock"
ALIASES_TEMP_PREFIX = ".aliases-"
#: How long a promote waits for another one's lock on the aliases before giving up (E459).
LOCK_TIMEOUT = 30.0


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


def _number(version: str) -> int:
    m = VERSION_RE.fullmatch(version)
    return int(m.group(1)) if m else 0


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in the folder ``path`` durable (fsync the folder itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(folder: Path) -> None:
    """fsync every file and folder under ``folder`` (a version is durable before it is renamed into place)."""
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            fd = os.open(Path(dirpath) / f, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def save(
    models_dir: Path,
    name: str,
    model: Any,
    meta: dict[str, Any],
    report_dir: Path | None = None,
    *,
    taken: Collection[str] = (),
) -> Path:
    """Write a new version of ``name`` and return its directory: the model as its task saves it (``meta["format"]``
    names the task), meta.json (with each file's size and SHA-256) and the report.

    The files are written to a temporary folder beside the final one (locked while it is written, so
    :func:`sweep_temp` never removes it) and renamed into place, so a crash never leaves a half-written version
    that ``resolve`` would pick up. The version number is above every version on disk and every one in ``taken``
    (versions the store's ``models`` table still names).
    """
    check_model_name(name)
    root = models_dir / name
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=root))
    in_use = os.open(tmp, os.O_RDONLY)
    fcntl.flock(in_use, fcntl.LOCK_EX)
    try:
        task = registry.for_format(str(meta.get("format")))
        if task.trusted_types is None:
            task.save_artifact(model, tmp)
        else:
            dump_model(model, tmp / MODEL_FILE)
        if report_dir is not None and report_dir.exists():
            shutil.copytree(report_dir, tmp / "report")
        files = file_records(tmp)
        _sync_tree(tmp)
        while True:  # another process may take the same number: retry with the next one
            number = max([_number(v) for v in [*versions(models_dir, name), *taken]], default=0) + 1
            version = f"v{number}"
            full = {
                "name": name,
                "version": version,
                **meta,
                FILES_KEY: files,
                "versions": library_versions(),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            _write_synced(tmp / META_FILE, json.dumps(full, indent=2, sort_keys=True))
            try:
                os.rename(tmp, root / version)
            except OSError:
                if not (root / version).exists():
                    raise
                continue
            fsync_dir(root)
            return root / version
    finally:
        os.close(in_use)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def load(path: Path, *, max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> LoadedModel:
    """Load the model in ``path`` with the task of its saved format (E406 for a format this nlpipe does not know),
    with only the types that task trusts, after checking its files (no links, sizes up to ``max_bytes``, the
    checksums of meta.json: E450-E452)."""
    meta = read_meta(path)
    return load_model(path, registry.for_format(str(meta.get("format"))), meta, max_bytes=max_bytes)


@contextmanager
def _aliases_lock(root: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive lock on ``root/.aliases.lock`` (``flock``: held by this process until released, across
    processes, and released by the system when a process dies); E459 after ``timeout`` seconds of waiting."""
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ConflictError(
                        "E459",
                        f"The aliases of model {root.name!r} are being changed by another process that holds "
                        f"{root / LOCK_FILE} for more than {timeout:g} s; try again.",
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_aliases(root: Path, aliases: dict[str, str]) -> None:
    """Replace ``root/aliases.json`` atomically: a temporary file of this writer's own, synced, renamed over it."""
    fd, tmp_name = tempfile.mkstemp(prefix=ALIASES_TEMP_PREFIX, suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(aliases, indent=2, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, root / ALIASES_FILE)
        fsync_dir(root)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def promote(models_dir: Path, name: str, version: str, alias: str = "production") -> dict[str, str]:
    """Point ``alias`` at ``version`` (a version or an alias of one) and return the model's aliases. Promotes of
    one model are serialised across processes; the aliases file is never half-written and no update is lost. The
    change is appended to the model's alias history (:data:`HISTORY_FILE`), which :func:`rollback` reads."""
    check_alias_name(alias)
    path = resolve(models_dir, name, version)
    root = models_dir / name
    with _aliases_lock(root):
        aliases = read_aliases(models_dir, name, valid_only=False)
        previous = aliases.get(alias)
        if previous is None and alias == "production":  # what was served before: the newest version
            previous = versions(models_dir, name)[-1]
        aliases[alias] = path.name
        write_aliases(root, aliases)
        _record(root, "promote", alias, previous, path.name)
    return read_aliases(models_dir, name)


#: One JSON object per alias change (promote, rollback), oldest first, beside aliases.json.
HISTORY_FILE = "alias_history.jsonl"


def _record(root: Path, kind: str, alias: str, before: str | None, after: str) -> None:
    entry = {"kind": kind, "alias": alias, "from": before, "to": after, "at": datetime.now(UTC).isoformat()}
    with open(root / HISTORY_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def alias_history(models_dir: Path, name: str) -> list[dict[str, Any]]:
    """The model's alias changes, oldest first (lines that are not an entry, e.g. a torn last line, left out)."""
    path = models_dir / name / HISTORY_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("alias"), str)
            and entry.get("kind") in ("promote", "rollback")
        ):
            out.append(entry)
    return out


def rollback(models_dir: Path, name: str, alias: str = "production") -> tuple[str, str, dict[str, str]]:
    """Point ``alias`` back at the version it had before its latest promote not already rolled back (so rolling
    back twice undoes two promotes; before ``production`` existed, the newest version was served, and is its
    version before). Returns (version it pointed at, version it points at now, the aliases). E462
    when there is no promote to undo or the alias had no version before it; E404 when that version is gone."""
    check_alias_name(alias)
    root = models_dir / name
    resolve(models_dir, name, None)  # E401/E403: the model exists
    with _aliases_lock(root):
        undone: list[dict[str, Any]] = []
        for entry in alias_history(models_dir, name):
            if entry["alias"] != alias:
                continue
            if entry["kind"] == "promote":
                undone.append(entry)
            elif undone:
                undone.pop()
        if not undone or not undone[-1].get("from"):
            raise ConflictError("E462", f"Model {name!r}: no promote of {alias!r} to roll back (its history has "
                                f"no earlier version); promote the version you want with `nlpipe models promote "
                                f"{name} VERSION`.", field="alias")  # fmt: skip
        target = str(undone[-1]["from"])
        resolve(models_dir, name, target)  # E404 when that version was deleted meanwhile
        aliases = read_aliases(models_dir, name, valid_only=False)
        current = aliases.get(alias, "")
        aliases[alias] = target
        write_aliases(root, aliases)
        _record(root, "rollback", alias, current, target)
    return current, target, read_aliases(models_dir, name)


def sweep_temp(models_dir: Path, older_than: float) -> list[Path]:
    """Remove what a killed ``save`` or ``promote`` left: ``.tmp-*`` folders and ``.aliases-*.tmp`` files older than
    ``older_than`` seconds that no process is writing (a saver holds a lock on its folder). Returns what it removed."""
    removed: list[Path] = []
    if not models_dir.is_dir():
        return removed
    for path in stale_temp(models_dir, older_than):
        if path.is_dir():
            fd = os.open(path, os.O_RDONLY)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a save is writing it
                shutil.rmtree(path, ignore_errors=True)
            finally:
                os.close(fd)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def stale_temp(models_dir: Path, older_than: float) -> list[Path]:
    """The unfinished temporary folders and files of the models folder older than ``older_than`` seconds."""
    found: list[Path] = []
    now = time.time()
    for root in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        for path in sorted(root.iterdir()):
            temp = (path.name.startswith(TEMP_PREFIX) and path.is_dir() and not path.is_symlink()) or (
                path.name.startswith(ALIASES_TEMP_PREFIX) and path.name.endswith(".tmp")
            )
            if temp and now - path.lstat().st_mtime > older_than:
                found.append(path)
    return found


def list_models(models_dir: Path) -> list[dict[str, Any]]:
    """Every version of every model, with its headline; a version that cannot be read (or a model whose aliases
    cannot) is listed with ``error`` ({code, message}) instead of failing the listing."""
    out: list[dict[str, Any]] = []
    if not models_dir.is_dir():
        return out
    for root in sorted(p for p in models_dir.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name)):
        known = versions(models_dir, root.name)
        aliases: dict[str, str] = {}
        aliases_error = None
        try:
            aliases = read_aliases(models_dir, root.name)
        except NlpipeError as exc:
            aliases_error = {"code": exc.code, "message": exc.message}
        for v in known:
            out.append(_summary(root / v, aliases, aliases_error))
    return out


def _summary(path: Path, aliases: dict[str, str], error: dict[str, str] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"name": path.parent.name, "version": path.name, "task": None,
                           "aliases": sorted(a for a, av in aliases.items() if av == path.name), "labels": 0,
                           "accuracy": None, "macro_f1": None, "created_at": None, "error": error}  # fmt: skip
    try:
        if path.is_symlink() or path.parent.is_symlink():
            raise ArtifactError("E450", f"{path} is reached through a symbolic link; it is never followed.")
        meta = read_meta(path)
    except NlpipeError as exc:
        row["error"] = {"code": exc.code, "message": exc.message}
        return row
    metrics: dict[str, Any] = meta["metrics"] if isinstance(meta.get("metrics"), dict) else {}
    labels = meta.get("labels")
    row.update(
        task=_text(meta.get("task")),
        labels=len(labels) if isinstance(labels, list) else 0,
        accuracy=_number_or_none(metrics.get("accuracy")),
        macro_f1=_number_or_none(metrics.get("macro_f1")),
        created_at=_text(meta.get("created_at")),
    )
    return row


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_models(models_dir: Path, *, max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> list[dict[str, Any]]:
    """Every problem of the models folder's files, without loading a model: per version, meta.json and the files
    against their records (E405, E450-E452; E460 a version saved without checksums, which loads with a warning);
    per model, aliases.json (E402) and aliases that are not valid names or point at no version (E453, E404).
    Each problem is ``{code, name, version, path, message}``."""
    problems: list[dict[str, Any]] = []
    if not models_dir.is_dir():
        return problems

    def add(code: str, name: str, version: str | None, path: Path, message: str) -> None:
        problems.append({"code": code, "name": name, "version": version, "path": str(path), "message": message})

    for root in sorted(p for p in models_dir.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name)):
        known = versions(models_dir, root.name)
        for v in known:
            try:
                for warning in verify_files(root / v, read_meta(root / v), max_bytes):
                    add("E460", root.name, v, root / v, warning)
            except NlpipeError as exc:
                add(exc.code, root.name, v, root / v, exc.message)
        try:
            aliases = read_aliases(models_dir, root.name, valid_only=False)
        except NlpipeError as exc:
            add(exc.code, root.name, None, root / ALIASES_FILE, exc.message)
            continue
        for alias, target in sorted(aliases.items()):
            try:
                check_alias_name(alias)
            except NlpipeError as exc:
                add(exc.code, root.name, None, root / ALIASES_FILE, exc.message + " It is ignored; remove it.")
                continue
            if target not in known:
                add("E404", root.name, None, root / ALIASES_FILE,
                    f"Alias {alias!r} points at {target[:40]!r}, which is not a version of {root.name!r}.")  # fmt: skip
    return problems
