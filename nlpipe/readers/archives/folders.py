"""Folders on disk, file by file: links, devices and hidden entries are skipped, never followed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from nlpipe.readers.archives.guards import (
    FolderFile,
    Problem,
    is_hidden,
    skip,
)
from nlpipe.readers.textfile import fail

__all__ = ["iter_folder"]


def iter_folder(root: Path, *, source: str) -> Iterator[FolderFile | Problem]:
    """Regular files below ``root``, sorted, files of a folder before its sub-folders.

    Symlinks (to files or folders) are not followed and come back as skipped E189, like devices and FIFOs;
    hidden files and folders (``.git``, ``.DS_Store``, ``__MACOSX``) as skipped E191 (a hidden folder once,
    without descending). A folder that cannot be listed is an E195 problem.
    """
    stack: list[tuple[str, str]] = [(os.fspath(root), source)]
    while stack:
        folder, fsrc = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            yield Problem(
                fsrc,
                fail("E195", f"cannot list the folder ({exc.strerror or exc}); check its permissions", file=fsrc),
            )
            continue
        subfolders: list[tuple[str, str]] = []
        for entry in entries:
            esrc = f"{fsrc}/{entry.name}"
            try:
                if is_hidden(entry.name):
                    yield skip(esrc, "E191", "a hidden or system file")
                elif entry.is_symlink():
                    yield skip(esrc, "E189", "a symbolic link (links inside a folder are not followed)")
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append((entry.path, esrc))
                elif entry.is_file(follow_symlinks=False):
                    yield FolderFile(esrc, Path(entry.path))
                else:
                    yield skip(esrc, "E189", "not a regular file (device, FIFO or socket)")
            except OSError as exc:
                yield Problem(esrc, fail("E195", f"cannot read it ({exc.strerror or exc}); check its permissions",
                                         file=esrc))  # fmt: skip
        stack.extend(reversed(subfolders))
