"""Crash and concurrency checks: run nlpipe commands in real processes, kill them with SIGKILL at seeded points,
and inspect what they leave in the store and the models folder.

Used by ``tests/reliability`` and by ``benchmarks/reliability.py`` (so nothing here needs pytest).

- :class:`World` is one NLPIPE_HOME, models folder and database (SQLite, or a PostgreSQL URL), as environment
  variables for the processes it starts.
- :func:`run_killed` starts a command and kills its whole process group after a given delay (it may end before);
  :func:`kill_delays` draws the delays from a seed, as fractions of an uninterrupted run's duration, so the kill
  points spread over the run on a fast machine and a slow one alike.
- :func:`inspect` lists every inconsistency: ``nlpipe doctor --json``'s problems, dataset members without a
  split, split or annotation rows of documents outside their dataset, documents whose stored original is missing,
  originals no document comes from, model versions that are listed but do not load, aliases that are not valid.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


@dataclass
class World:
    """Where the commands run: ``home`` (SQLite database, originals), ``models_dir``, and ``database_url``
    (PostgreSQL) or None (SQLite in ``home``)."""

    home: Path
    models_dir: Path
    database_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")}
        env.update(NLPIPE_HOME=str(self.home), NLPIPE_MODELS_DIR=str(self.models_dir), NLPIPE_TIME_BUDGET="20")
        if self.database_url:
            env["NLPIPE_DATABASE_URL"] = self.database_url
        env.update(self.extra)
        return env

    def settings(self) -> Any:
        from nlpipe.config import Settings

        return Settings(home=self.home, models_dir=self.models_dir, database_url=self.database_url)

    @contextmanager
    def store(self) -> Iterator[Any]:
        from nlpipe.store.db import open_store

        st = open_store(self.settings())
        try:
            yield st
        finally:
            st.close()


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nlpipe.cli.main", *args]


def _reap(proc: subprocess.Popen[Any], *, block: bool = True) -> float | None:
    """Wait for ``proc`` (``block``) or see whether it ended; its peak resident memory in MB once it has ended,
    None while it runs. (``os.wait4`` gives each process's own peak, which ``Popen.wait`` does not.)"""
    pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024


def cli(world: World, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``nlpipe args`` to the end in ``world``; the result's ``peak_mb`` attribute is its peak memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command(*args), env=world.environ(), stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        peak = _reap(proc, block=False)
        while peak is None:
            if time.monotonic() > deadline:
                proc.kill()
                _reap(proc)
                raise subprocess.TimeoutExpired(command(*args), timeout)
            time.sleep(0.02)  # polling for the end of a process that has no other way to signal it
            peak = _reap(proc, block=False)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))  # fmt: skip
    done.peak_mb = peak  # type: ignore[attr-defined]
    return done


@dataclass
class Killed:
    """What :func:`run_killed` saw: whether the kill came before the command ended, its exit status, the last value
    ``watch`` returned before the kill (state that was committed before it), and the peak memory of the process."""

    killed: bool
    returncode: int
    seconds: float
    watched: Any = None
    output: str = ""
    peak_mb: float = 0.0


def run_killed(
    args: list[str], env: dict[str, str], delay: float, *, watch: Callable[[], Any] | None = None, poll: float = 0.05
) -> Killed:
    """Start ``args`` in a process group of its own and SIGKILL the group ``delay`` seconds later, unless it ended
    first. ``watch`` (if given) is called while it runs; its last result before the kill is returned."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        watched = watch() if watch is not None else None
        deadline = started + delay
        killed = False
        while (peak := _reap(proc, block=False)) is None:
            if time.monotonic() >= deadline:
                if watch is not None:
                    watched = watch()
                os.killpg(proc.pid, signal.SIGKILL)  # the group this call started: the command and any children
                killed = True
                peak = _reap(proc)
                break
            if watch is not None:
                watched = watch()
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))  # the kill point is a time offset
        out.seek(0)
        output = out.read().decode(errors="replace")
    assert proc.returncode is not None
    return Killed(killed, proc.returncode, time.monotonic() - started, watched, output[-3000:], peak or 0.0)


def kill_delays(seed: int, n: int, duration: float) -> list[float]:
    """``n`` kill points drawn from ``seed``, spread over an uninterrupted run of ``duration`` seconds (5% to 100%
    of it; process start-up included: a kill while Python is importing is a kill point too)."""
    rng = random.Random(seed)
    return [round(duration * rng.uniform(0.05, 1.0), 3) for _ in range(n)]


def process_peak_mb(pid: int) -> float:
    """The peak resident memory of a running process (VmHWM), in MB; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# ------------------------------------------------------------------------------------------------ inspection
def doctor(world: World, *, fix: bool = False) -> list[dict[str, Any]]:
    """``nlpipe doctor --json`` (with ``--fix``) in ``world``, run in this process (as a separate process it would
    spend seconds importing): its list of problems."""
    from typer.testing import CliRunner

    from nlpipe.cli.main import app
    from nlpipe.config import get_settings

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("NLPIPE_")}
    env.update(world.environ())
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["doctor", "--json", *(["--fix"] if fix else [])], env=env)
    finally:
        get_settings.cache_clear()
    try:
        problems = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"nlpipe doctor printed no JSON (exit {result.exit_code}): {result.output[-2000:]}"
                             f" {result.exception!r}") from None  # fmt: skip
    assert isinstance(problems, list), problems
    return problems


#: Problems doctor reports after a kill that are states the design allows and repairs (``doctor --fix``; the
#: server's start-up for E456): a whole version folder whose row was not written yet (the folder is the truth),
#: stored originals of documents whose batch was never committed.
REPAIRABLE = {"E456", "E680"}


def inspect(world: World, *, with_doctor: bool = True, strict: bool = False) -> list[str]:
    """Every inconsistency of ``world``'s store and models folder, as readable lines (empty: consistent).

    Leftovers doctor reports as repairable (:data:`REPAIRABLE`) are allowed unless ``strict`` (after
    ``doctor --fix``); leftover originals that doctor does not report are never allowed."""
    problems: list[str] = []
    found = doctor(world) if with_doctor else []
    problems += [f"doctor: [{p['code']}] {p['message']}" for p in found if strict or p["code"] not in REPAIRABLE]
    store, leftover = store_problems(world)
    problems += store
    if leftover and (strict or not any(p["code"] == "E680" for p in found)):
        problems += [f"{line}{'' if strict else ' (not reported by nlpipe doctor)'}" for line in leftover]
    problems += model_problems(world)
    return problems


def store_problems(world: World) -> tuple[list[str], list[str]]:
    """(inconsistencies of the store, leftover originals: stored ones no document comes from, unfinished ones)."""
    from sqlalchemy import and_, exists, func, select

    from nlpipe.store.documents import original_path, originals_dir
    from nlpipe.store.schema import Annotation, Dataset, DatasetDocument, Document, Split

    problems: list[str] = []
    with world.store() as st, st.session() as s:
        member = exists().where(
            and_(DatasetDocument.dataset_id == Split.dataset_id, DatasetDocument.document_id == Split.document_id)
        )
        has_split = exists().where(
            and_(Split.dataset_id == DatasetDocument.dataset_id, Split.document_id == DatasetDocument.document_id)
        )
        annotated_member = exists().where(
            and_(
                DatasetDocument.dataset_id == Annotation.dataset_id,
                DatasetDocument.document_id == Annotation.document_id,
            )
        )
        names = dict(s.execute(select(Dataset.id, Dataset.name)).all())
        for ds_id, n in s.execute(
            select(DatasetDocument.dataset_id, func.count()).where(~has_split).group_by(DatasetDocument.dataset_id)
        ):
            problems.append(f"dataset {names.get(ds_id)!r}: {n} documents without a split")
        n = s.scalar(select(func.count()).select_from(Split).where(~member))
        if n:
            problems.append(f"{n} split rows of documents outside their dataset")
        n = s.scalar(select(func.count()).select_from(Annotation).where(~annotated_member))
        if n:
            problems.append(f"{n} annotations of documents outside their dataset")
        referenced = set(s.scalars(select(Document.original_sha256).where(Document.original_sha256.is_not(None))))
    home = world.home
    missing = [sha for sha in referenced if not original_path(home, sha).is_file()]
    if missing:
        problems.append(f"{len(missing)} documents' originals are missing, e.g. {missing[0]}")
    leftover: list[str] = []
    folder = originals_dir(home)
    if folder.is_dir():
        on_disk = {p.name for p in folder.glob("*/*") if p.is_file()}
        orphans = sorted(on_disk - referenced)
        if orphans:
            leftover.append(f"{len(orphans)} stored originals no document comes from, e.g. {orphans[0]}")
        temp = sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))
        if temp:
            leftover.append(f"{len(temp)} unfinished originals left in {folder}")
    return problems, leftover


def model_problems(world: World) -> list[str]:
    """Versions that are listed but broken or do not load; aliases that do not resolve."""
    from nlpipe import artifacts
    from nlpipe.errors import NlpipeError

    problems: list[str] = []
    models_dir = world.models_dir
    for row in artifacts.list_models(models_dir):
        where = f"model {row['name']} {row['version']}"
        if row["error"]:
            problems.append(f"{where}: listed as broken: [{row['error']['code']}] {row['error']['message']}")
            continue
        try:
            artifacts.load(models_dir / row["name"] / row["version"])
        except NlpipeError as exc:
            problems.append(f"{where}: does not load: [{exc.code}] {exc.message}")
    for root in sorted(p for p in models_dir.iterdir() if p.is_dir()) if models_dir.is_dir() else []:
        aliases = root / artifacts.ALIASES_FILE
        if aliases.exists():
            try:
                data = json.loads(aliases.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                problems.append(f"{aliases}: not valid JSON ({exc})")
                continue
            if not isinstance(data, dict):
                problems.append(f"{aliases}: not an object")
                continue
            for alias, target in data.items():
                if not (root / str(target) / artifacts.META_FILE).is_file():
                    problems.append(f"{aliases}: alias {alias!r} points at {target!r}, which is no version")
    return problems


def leftovers(world: World) -> list[Path]:
    """Temporary files of killed saves and promotes (swept by ``doctor --fix`` once stale; never listed)."""
    from nlpipe import artifacts

    return artifacts.stale_temp(world.models_dir, -1.0) if world.models_dir.is_dir() else []


def dataset_fingerprint(world: World, name: str) -> tuple[int, list[tuple[str, str, tuple[str, ...]]]]:
    """A dataset's content: (document count, sorted (text hash, split, labels))."""
    import hashlib

    from nlpipe.errors import NotFoundError
    from nlpipe.store.datasets import load_dataset

    with world.store() as st, st.session() as s:
        try:
            data = load_dataset(s, name, labeled_only=False)
        except NotFoundError:
            return 0, []
    rows = sorted(
        (hashlib.sha256(t.encode()).hexdigest()[:16], sp, tuple(labs))
        for t, sp, labs in zip(data.texts, data.splits, data.labels, strict=True)
    )
    return len(rows), rows


def dataset_state(world: World, name: str) -> str | None:
    from nlpipe.store.datasets import list_datasets

    with world.store() as st, st.session() as s:
        return next((r["state"] for r in list_datasets(s) if r["name"] == name), None)


def member_count(world: World, name: str) -> int:
    """Documents of dataset ``name`` committed now (0 when it does not exist yet)."""
    from sqlalchemy import func, select

    from nlpipe.store.schema import Dataset, DatasetDocument

    with world.store() as st, st.session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(DatasetDocument)
            .join(Dataset, Dataset.id == DatasetDocument.dataset_id)
            .where(Dataset.name == name)
        )
    return int(count or 0)
