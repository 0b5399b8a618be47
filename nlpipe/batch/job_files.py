"""The files of batch jobs: a folder per job under ``NLPIPE_HOME/batch``, its lock, and server-side inputs.

A job's folder ``NLPIPE_HOME/batch/<32 hex digits>`` holds ``input/`` (the uploaded files, under their own
names), the results ``results.<format>`` (with the runner's checkpoint ``results.<format>.nlpipe-batch/`` beside
them while the job runs), ``summary.json`` (the run's summary as of its last chunk) and ``.lock``. The folder is
made before the job exists (the upload is streamed into it before the request is checked), so its name is
random, and the job's ``params["folder"]`` names it.

Whoever works on a folder -- the request that streams an upload into it, the worker process that runs its job --
holds an exclusive :func:`fcntl.flock` on its ``.lock``; the kernel drops it when that process dies, however it
dies. So a folder whose lock nobody holds has nobody working on it: a ``running`` job there belongs to a dead
process and may be taken over (:mod:`nlpipe.batch.jobs`). As in :mod:`nlpipe.store.staging`, folders are made and
locked under a shared lock on ``NLPIPE_HOME/batch/.sweep.lock``, and the start-up sweep looks for unlocked ones
under an exclusive one, so it never finds a new folder before its lock is taken. The locks are as reliable as
the file system's flock: fine on local disks, not to be trusted on every network share.

Server-side inputs (:func:`server_input`) are paths under ``NLPIPE_BATCH_ROOT``, resolved with their symlinks and
refused when they end outside it (E870 no root set, E871 outside, E872 no such path, E882 no root folder).
"""

from __future__ import annotations

import fcntl
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nlpipe.config import Settings
from nlpipe.errors import ConfigError, ForbiddenError, InputError
from nlpipe.store.staging import open_lock
from nlpipe.store.staging import try_lock as staging_try_lock

__all__ = [
    "INPUT_DIR",
    "JobFolder",
    "batch_dir",
    "folder_path",
    "new_folder",
    "results_path",
    "server_input",
    "sweep_lock",
    "try_lock",
]

BATCH_DIR = "batch"
INPUT_DIR = "input"
LOCK_NAME = ".lock"
SWEEP_LOCK_NAME = ".sweep.lock"
SUMMARY_NAME = "summary.json"
FOLDER_NAME = re.compile(r"[0-9a-f]{32}")


def batch_dir(home: Path) -> Path:
    """Where the job folders live: ``NLPIPE_HOME/batch``."""
    return Path(home) / BATCH_DIR


def folder_path(home: Path, name: str) -> Path:
    """The folder called ``name`` (as a job's params name it); a name that is not one of ours names none."""
    if not FOLDER_NAME.fullmatch(name):
        raise ConfigError("E883", f"Batch job folder name {name!r} is not one nlpipe makes (32 hex digits); the job "
                          "record was changed by hand. Start the job again.", field="folder")  # fmt: skip
    return batch_dir(home) / name


def results_path(folder: Path, fmt: str) -> Path:
    """The job's output file in ``folder``: ``results.jsonl``, ``results.csv`` or ``results.parquet``."""
    return folder / f"results.{fmt}"


@contextmanager
def sweep_lock(home: Path, operation: int) -> Iterator[None]:
    """The lock that orders making folders (``LOCK_SH``) before sweeping them (``LOCK_EX``)."""
    base = batch_dir(home)
    base.mkdir(parents=True, exist_ok=True)
    with open_lock(base / SWEEP_LOCK_NAME) as fh:
        fcntl.flock(fh, operation)  # released when the file is closed
        yield


def try_lock(folder: Path) -> IO[bytes] | None:
    """``folder``'s lock file, locked by this process; None when another open file holds it or the folder is
    gone."""
    try:
        return staging_try_lock(folder)  # the upload jobs' folder lock: the same file name, the same protocol
    except FileNotFoundError:
        return None


@dataclass
class JobFolder:
    """A job's folder, locked by this process while ``lock`` is open."""

    name: str
    path: Path
    lock: IO[bytes] | None = field(default=None, repr=False)

    @property
    def inputs(self) -> Path:
        return self.path / INPUT_DIR

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY_NAME

    def release(self) -> None:
        """Let go of the lock (the folder stays)."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def remove_work(self) -> None:
        """Delete what a finished job no longer needs (the uploaded inputs, the saved summary): its results stay."""
        shutil.rmtree(self.inputs, ignore_errors=True)
        self.summary.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the folder, then release its lock (in this order: a sweep never sees it half-removed)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()


def new_folder(home: Path) -> JobFolder:
    """A new, empty, locked job folder (with its ``input/``); OSError when it cannot be made."""
    with sweep_lock(home, fcntl.LOCK_SH):
        name = secrets.token_hex(16)
        path = batch_dir(home) / name
        path.mkdir(mode=0o700)
        try:
            lock = try_lock(path)
            if lock is None:  # a fresh random name nobody else knows: cannot happen
                raise FileExistsError(f"{path} is locked by another process")
            (path / INPUT_DIR).mkdir()
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
    return JobFolder(name, path, lock)


def server_input(settings: Settings, path: str) -> str:
    """``path`` (relative to ``NLPIPE_BATCH_ROOT``, or absolute) checked to name a file or folder inside the root
    once resolved, symlinks included; returns it relative to the root (``.`` for the root itself), the form the
    worker reads it in (from the root, so document ids are relative to it).

    E870 when NLPIPE_BATCH_ROOT is not set, E871 when the path resolves outside it, E872 when there is no such
    file or folder (or it cannot be reached), E882 when the root itself cannot be reached.
    """
    if settings.batch_root is None:
        raise ForbiddenError("E870", "Server-side paths are disabled on this server: NLPIPE_BATCH_ROOT is not set. "
                             "Upload the file instead, or ask the operator to set NLPIPE_BATCH_ROOT.",
                             field="path")  # fmt: skip
    try:
        root = settings.batch_root.resolve(strict=True)
    except OSError as exc:
        raise ConfigError("E882", f"NLPIPE_BATCH_ROOT {settings.batch_root} cannot be reached ({exc.strerror or exc});"
                          " set it to an existing folder.", field="NLPIPE_BATCH_ROOT") from None  # fmt: skip
    try:
        real = (root / path).resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a symlink loop"
        raise InputError("E872", f"{path!r} cannot be read under NLPIPE_BATCH_ROOT ({why}); give a path relative to "
                         "the root that names an existing file or folder.", field="path") from None  # fmt: skip
    if not real.is_relative_to(root):
        raise ForbiddenError("E871", f"{path!r} is outside NLPIPE_BATCH_ROOT once resolved (through '..' or a "
                             "symlink); only files and folders inside the root may be read.", field="path")  # fmt: skip
    return real.relative_to(root).as_posix() if real != root else "."
