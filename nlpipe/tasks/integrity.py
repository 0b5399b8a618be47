"""The files of a saved model version checked before anything reads them.

At save time every file of the version (all but ``meta.json``) is recorded in ``meta.json`` under ``files``: its
path inside the version folder, its size and its SHA-256. At load, before a byte reaches skops, spaCy or crfsuite
(native code that may crash the process on a damaged file), :func:`verify_files` checks that:

- no file or folder of the version is a symbolic link (E450), so nothing is read from outside the models folder
  (``model.skops -> /dev/zero``), and every file is a regular file;
- every recorded file is there with its recorded size and checksum, and no file that was not recorded sits among
  them (E451);
- no file is larger than ``NLPIPE_MAX_MODEL_BYTES`` (E452).

Versions saved before checksums were recorded (no ``files`` in meta.json) still load: the symlink and size checks
apply, each format's own structural checks apply (skops members' declared sizes, crfsuite headers), and
:func:`verify_files` returns a warning that the version is unverified (``nlpipe doctor`` lists it too).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from nlpipe.config import DEFAULT_MAX_MODEL_BYTES
from nlpipe.errors import ArtifactError

FILES_KEY = "files"
#: Files of a version folder that are not part of the model: meta.json holds the record itself.
UNRECORDED = frozenset({"meta.json"})
#: The evaluation report and later evaluations (``nlpipe evaluate`` writes ``evaluations/``): recorded files are
#: checked like the rest, but files added to these folders later are not refused. No loader reads them.
REPORT_DIRS = frozenset({"report", "evaluations"})
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def version_files(folder: Path) -> dict[str, os.stat_result]:
    """Every file under ``folder`` (but meta.json) by its POSIX path inside it, with its ``lstat``; a symbolic
    link anywhere (file or folder, the version's folder or its model's) or anything but a regular file or folder is
    refused (E450)."""
    found: dict[str, os.stat_result] = {}
    for linked in (folder, folder.parent):  # the version's folder and its model's folder
        if linked.is_symlink():
            raise ArtifactError("E450", f"{linked} is a symbolic link; model folders are never followed through "
                                "links.", file=str(linked))  # fmt: skip
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for entry in sorted(dirnames + filenames):
            path = Path(dirpath) / entry
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode):
                continue
            rel = path.relative_to(folder).as_posix()
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
                what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
                raise ArtifactError("E450", f"{path} is {what}; refusing to read it as part of a model.",
                                    file=str(path))  # fmt: skip
            if rel not in UNRECORDED:
                found[rel] = st
    return found


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """What :func:`verify_files` checks later: each file's size and SHA-256 (written to meta.json at save)."""
    return {rel: {"size": st.st_size, "sha256": sha256_of(folder / rel)} for rel, st in version_files(folder).items()}


def _check_size(path: Path, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ArtifactError(
            "E452",
            f"{path} is {size:,} bytes, more than NLPIPE_MAX_MODEL_BYTES ({max_bytes:,}); refusing to load it.",
            file=str(path),
        )


def verify_files(folder: Path, meta: dict[str, Any], max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> list[str]:
    """Check the files of the version in ``folder`` against ``meta["files"]`` (see the module docstring); returns
    warnings (a version saved without checksums), raises E450/E451/E452."""
    on_disk = version_files(folder)
    for rel, st in on_disk.items():
        _check_size(folder / rel, st.st_size, max_bytes)
    records = meta.get(FILES_KEY)
    if records is None:
        return [f"{folder} was saved without checksums (before nlpipe recorded them); its files are unverified."]
    if not isinstance(records, dict):
        raise ArtifactError("E451", f"{folder}/meta.json: 'files' is not an object of file records.",
                            file=str(folder / "meta.json"))  # fmt: skip
    for rel, record in records.items():
        path = folder / rel
        parts = PurePosixPath(rel).parts
        if not isinstance(record, dict) or not parts or ".." in parts or PurePosixPath(rel).is_absolute():
            raise ArtifactError("E451", f"{folder}/meta.json: a bad file record {str(rel)[:80]!r}.",
                                file=str(folder / "meta.json"))  # fmt: skip
        found = on_disk.get(rel)
        if found is None:
            raise ArtifactError("E451", f"{path} is missing; the model version is incomplete.", file=str(path))
        if found.st_size != record.get("size"):
            raise ArtifactError(
                "E451",
                f"{path} is {found.st_size:,} bytes but was saved with {record.get('size')!r}; the file is damaged "
                "(truncated or changed since it was saved). Restore it from a backup or retrain the model.",
                file=str(path),
            )
        if sha256_of(path) != record.get("sha256"):
            raise ArtifactError(
                "E451",
                f"{path} does not have the checksum it was saved with; the file is damaged or changed since it was "
                "saved. Restore it from a backup or retrain the model.",
                file=str(path),
            )
    extra = sorted(rel for rel in on_disk if rel not in records and PurePosixPath(rel).parts[0] not in REPORT_DIRS)
    if extra:
        raise ArtifactError(
            "E451",
            f"{folder} holds files that were not saved with the model ({', '.join(e[:80] for e in extra[:3])}"
            f"{', ...' if len(extra) > 3 else ''}); remove them.",
            file=str(folder / extra[0]),
        )
    return []
