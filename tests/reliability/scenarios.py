"""Crash scenarios: one nlpipe command killed at seeded points, the store and models folder inspected after each
kill, then the same command run again to the end. Each returns a :class:`Tally` (every failure list should be
empty); ``tests/reliability/test_crash.py`` runs them with a few kill points and ``benchmarks/reliability.py``
with more.

What each one checks besides :func:`~tests.reliability.harness.inspect` (no inconsistency after any kill):

- ``import``: a dataset imported before is unchanged; the killed import stored all of its file or nothing; the
  re-run gives the dataset an uninterrupted import gives.
- ``ingest``: a dataset ingested before is unchanged; every document seen committed before the kill is still
  there; the re-run stores every file and leaves the dataset complete.
- ``train``: the versions and aliases made before stay and load; a killed train leaves no half-written version
  listed; the re-run saves a version that loads.
- ``promote``: an alias set before stays; the alias being promoted points at its old or its new version, never
  at nothing; the re-run sets it.
- ``labels``: annotations written through a running server (uvicorn) that is killed: every annotation the server
  acknowledged (201) is stored, once; a restarted server takes the same writes again with no 5xx.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.harness import (
    DATA,
    World,
    cli,
    command,
    dataset_fingerprint,
    dataset_state,
    doctor,
    inspect,
    kill_delays,
    process_peak_mb,
    run_killed,
)


@dataclass
class Tally:
    """Counts of one scenario: operations (commands and requests) started, kills that came before the command
    ended, and every failure (each list should stay empty)."""

    operations: int = 0
    kills: int = 0
    server_errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    rerun_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_mb: float = 0.0  # the largest peak resident memory of a command or server process

    def peak(self, mb: float | None) -> None:
        self.peak_mb = max(self.peak_mb, mb or 0.0)

    @property
    def failures(self) -> int:
        return len(self.server_errors) + len(self.lost) + len(self.inconsistent) + len(self.rerun_failed)

    def check(self, when: str, world: World) -> None:
        self.inconsistent += [f"{when}: {p}" for p in inspect(world)]

    def repaired(self, world: World) -> None:
        """``nlpipe doctor --fix``, after which nothing at all may be left (repairable leftovers included)."""
        doctor(world, fix=True)
        self.inconsistent += [f"after doctor --fix: {p}" for p in inspect(world, strict=True)]


def _rerun(tally: Tally, world: World, *args: str) -> None:
    tally.operations += 1
    proc = cli(world, *args)
    tally.peak(getattr(proc, "peak_mb", 0.0))
    if proc.returncode != 0:
        tally.rerun_failed.append(f"nlpipe {' '.join(args)} exited {proc.returncode}: {proc.stderr[-1500:]}")


def _timed(tally: Tally, world: World, *args: str) -> float:
    """Run a command uninterrupted (finished work the kills must not lose); its duration in seconds."""
    started = time.monotonic()
    _rerun(tally, world, *args)
    return time.monotonic() - started


def _records_file(path: Path, n: int, tag: str) -> Path:
    labels = ("alpha", "beta", "gamma")
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            row: dict[str, Any] = {"id": f"{tag}{i}", "text": f"{tag} record {i} " + "word " * (i % 7),
                                   "label": labels[i % 3]}  # fmt: skip
            if i % 10 == 0:
                row["split"] = "validation"
            f.write(json.dumps(row) + "\n")
    return path


def _text_folder(path: Path, n: int, tag: str) -> Path:
    path.mkdir(parents=True)
    for i in range(n):
        (path / f"{tag}-{i:05d}.txt").write_text(f"{tag} document {i}: " + "some text " * (1 + i % 5))
    return path


def crash_import(world: World, seed: int, kills: int, *, rows: int = 8000) -> Tally:
    tally, begun = Tally(), time.monotonic()
    source = _records_file(world.home.parent / "records.jsonl", rows, "r")
    duration = _timed(tally, world, "datasets", "import", "ref", str(source))
    before = dataset_fingerprint(world, "ref")
    for i, delay in enumerate(kill_delays(seed, kills, duration)):
        tally.operations += 1
        run = run_killed(command("datasets", "import", "big", str(source)), world.environ(), delay)
        tally.kills += run.killed
        tally.peak(run.peak_mb)
        tally.check(f"import killed at {delay:.2f} s (kill {i})", world)
        if dataset_fingerprint(world, "ref") != before:
            tally.lost.append(f"kill {i}: dataset 'ref' imported before changed")
        now = dataset_fingerprint(world, "big")
        if now not in ((0, []), before):
            tally.inconsistent.append(f"kill {i}: the killed import stored {now[0]} of {before[0]} records")
    _rerun(tally, world, "datasets", "import", "big", str(source))
    if dataset_fingerprint(world, "big") != before:
        tally.rerun_failed.append("the re-run import did not give the dataset an uninterrupted import gives")
    tally.check("after the re-run", world)
    tally.repaired(world)
    tally.seconds = time.monotonic() - begun
    return tally


def _texts(world: World, name: str) -> set[str]:
    return {h for h, _split, _labels in dataset_fingerprint(world, name)[1]}


def crash_ingest(world: World, seed: int, kills: int, *, files: int = 1000) -> Tally:
    from sqlalchemy import func, select

    from nlpipe.store.schema import Dataset, DatasetDocument

    tally, begun = Tally(), time.monotonic()
    done = _text_folder(world.home.parent / "done", files, "done")
    todo = _text_folder(world.home.parent / "todo", files, "todo")
    duration = _timed(tally, world, "ingest", "base", str(done))
    before = _texts(world, "base")
    with world.store() as st:

        def committed() -> int:
            with st.session() as s:
                return int(s.scalar(select(func.count()).select_from(DatasetDocument).join(Dataset)
                                    .where(Dataset.name == "docs")) or 0)  # fmt: skip

        for i, delay in enumerate(kill_delays(seed, kills, duration)):
            tally.operations += 1
            run = run_killed(command("ingest", "docs", str(todo)), world.environ(), delay, watch=committed)
            tally.kills += run.killed
            tally.peak(run.peak_mb)
            tally.check(f"ingest killed at {delay:.2f} s (kill {i})", world)
            if _texts(world, "base") != before:
                tally.lost.append(f"kill {i}: dataset 'base' ingested before changed")
            if committed() < run.watched:
                tally.lost.append(f"kill {i}: {run.watched} documents were committed before the kill, "
                                  f"{committed()} are left")  # fmt: skip
    _rerun(tally, world, "ingest", "docs", str(todo))
    if len(_texts(world, "docs")) != files or dataset_state(world, "docs") != "complete":
        tally.rerun_failed.append(f"after the re-run 'docs' holds {len(_texts(world, 'docs'))} of {files} files, "
                                  f"state {dataset_state(world, 'docs')}")  # fmt: skip
    tally.check("after the re-run", world)
    tally.repaired(world)
    tally.seconds = time.monotonic() - begun
    return tally


def _import_news(world: World) -> None:
    """data/news.jsonl imported as dataset ``news`` (in this process: set-up, not under test)."""
    from nlpipe.label.formats import read_records
    from nlpipe.store.importing import import_records

    with world.store() as st:
        import_records(st, "news", read_records(DATA / "news.jsonl"), create=True)


def _aliases(world: World, name: str) -> dict[str, str]:
    path = world.models_dir / name / "aliases.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _listed(world: World, name: str) -> list[str]:
    from nlpipe import artifacts

    return [r["version"] for r in artifacts.list_models(world.models_dir) if r["name"] == name]


def crash_train(world: World, seed: int, kills: int) -> Tally:
    from nlpipe import artifacts

    tally, begun = Tally(), time.monotonic()
    _import_news(world)
    train = ("train", "news", "--name", "news", "--time-budget", "1")
    duration = _timed(tally, world, *train)
    artifacts.promote(world.models_dir, "news", "v1")
    for i, delay in enumerate(kill_delays(seed, kills, duration)):
        tally.operations += 1
        before = _listed(world, "news")
        run = run_killed(command(*train), world.environ(), delay)
        tally.kills += run.killed
        tally.peak(run.peak_mb)
        tally.check(f"train killed at {delay:.2f} s (kill {i})", world)
        missing = set(before) - set(_listed(world, "news"))
        if missing or _aliases(world, "news").get("production") != "v1":
            tally.lost.append(
                f"kill {i}: versions {sorted(missing)} gone or production moved: {_aliases(world, 'news')}"
            )
    before = _listed(world, "news")
    _rerun(tally, world, *train)
    if len(_listed(world, "news")) != len(before) + 1:
        tally.rerun_failed.append(f"the re-run train listed {_listed(world, 'news')} after {before}")
    tally.check("after the re-run", world)
    tally.repaired(world)
    tally.seconds = time.monotonic() - begun
    return tally


def _copy_versions(world: World, trained_models: Path, copies: int) -> None:
    """``news`` v1 of a trained models folder, saved again as v2..v<copies+1> (each a whole version)."""
    from nlpipe import artifacts

    shutil.copytree(trained_models / "news" / "v1", world.models_dir / "news" / "v1")
    loaded = artifacts.load(world.models_dir / "news" / "v1")
    meta = {k: v for k, v in loaded.meta.items() if k not in ("name", "version", "files", "versions", "created_at")}
    for _ in range(copies):
        artifacts.save(world.models_dir, "news", loaded.model, meta)


def crash_promote(world: World, seed: int, kills: int, *, trained_models: Path) -> Tally:
    from nlpipe import artifacts

    tally, begun = Tally(), time.monotonic()
    _copy_versions(world, trained_models, 2)
    artifacts.promote(world.models_dir, "news", "v1", "stable")
    duration = _timed(tally, world, "models", "promote", "news", "v1")
    for i, delay in enumerate(kill_delays(seed, kills, duration)):
        target = f"v{2 + i % 2}"
        old = _aliases(world, "news").get("production")
        tally.operations += 1
        run = run_killed(command("models", "promote", "news", target), world.environ(), delay)
        tally.kills += run.killed
        tally.peak(run.peak_mb)
        tally.check(f"promote to {target} killed at {delay:.2f} s (kill {i})", world)
        now = _aliases(world, "news")
        if now.get("stable") != "v1":
            tally.lost.append(f"kill {i}: alias 'stable' set before the kill is now {now.get('stable')!r}")
        if now.get("production") not in (old, target):
            tally.inconsistent.append(f"kill {i}: production is {now.get('production')!r}, not {old} or {target}")
    _rerun(tally, world, "models", "promote", "news", "v3")
    if _aliases(world, "news").get("production") != "v3":
        tally.rerun_failed.append(f"after the re-run promote: {_aliases(world, 'news')}")
    tally.check("after the re-run", world)
    tally.repaired(world)
    tally.seconds = time.monotonic() - begun
    return tally


# ------------------------------------------------------------------------------------------- label writes
API_KEY = "crash-key"


def post(url: str, body: dict[str, Any] | None, headers: dict[str, str], timeout: float = 30) -> tuple[int, Any]:
    """A JSON request; (status, decoded body). Connection failures raise OSError."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **headers})
    return send(req, timeout)


def send(req: urllib.request.Request, timeout: float = 30) -> tuple[int, Any]:
    """Send ``req``; (status, decoded JSON body, or its text when it is not JSON). Connection failures raise."""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


Write = tuple[int, str, str]  # (document id, annotator, label)


def _labelers(base: str, writes: list[Write], clients: int, tally: Tally) -> set[Write]:
    """Post ``writes`` from ``clients`` threads (each its own share, in order) until done or the server is gone;
    the writes the server acknowledged with 201."""
    acked: set[Write] = set()
    lock = threading.Lock()

    def client(share: list[Write]) -> None:
        for doc, annotator, label in share:
            try:
                status, body = post(f"{base}/v1/datasets/news/documents/{doc}/annotations", {"labels": [label]},
                                    {"X-API-Key": API_KEY, "X-Annotator": annotator})  # fmt: skip
            except (OSError, http.client.HTTPException):  # IncompleteRead: killed while it answered
                return  # the server was killed
            with lock:
                tally.operations += 1
                if status >= 500:
                    tally.server_errors.append(f"annotation write: {status} {str(body)[:300]}")
                elif status == 201:
                    acked.add((doc, annotator, label))

    threads = [threading.Thread(target=client, args=(writes[c::clients],)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked


def stored_writes(world: World) -> list[Write]:
    """Every human annotation of dataset ``news`` as a write (repeats kept: a write stored twice shows twice)."""
    from sqlalchemy import select

    from nlpipe.store.schema import Annotation

    with world.store() as st, st.session() as s:
        rows = s.execute(select(Annotation.document_id, Annotation.author, Annotation.label)
                         .where(Annotation.source == "human")).all()  # fmt: skip
    return sorted((int(d), str(a), str(lab)) for d, a, lab in rows)


def crash_labels(world: World, seed: int, kills: int, *, serve: Callable[[dict[str, str]], Any]) -> Tally:
    """``serve(env)`` is a context manager running ``nlpipe serve`` (tests/conftest.py's ``nlpipe_serve``)."""
    import os
    import random
    import signal

    tally, begun = Tally(), time.monotonic()
    world.extra["NLPIPE_API_KEYS"] = API_KEY
    _import_news(world)
    with world.store() as st, st.session() as s:
        from sqlalchemy import select

        from nlpipe.store.schema import DatasetDocument

        docs = sorted(s.scalars(select(DatasetDocument.document_id)))[:40]
    annotators = [f"annotator {a}" for a in range(4)]
    writes = [(d, a, f"label-{(d + i) % 5}") for d in docs for i, a in enumerate(annotators)]
    rng = random.Random(seed)
    acked: set[Write] = set()
    for i in range(kills):
        with serve(world.environ()) as base:
            killer = threading.Timer(rng.uniform(0.2, 2.5), os.kill, (base.pid, signal.SIGKILL))
            killer.start()
            acked |= _labelers(base, writes, 4, tally)
            killer.join()
            tally.kills += 1
        stored = stored_writes(world)
        if len(stored) != len(set(stored)):
            tally.inconsistent.append(f"kill {i}: {len(stored) - len(set(stored))} annotations stored twice")
        missing = acked - set(stored)
        if missing:
            tally.lost.append(f"kill {i}: {len(missing)} acknowledged annotations lost, e.g. {sorted(missing)[0]}")
        tally.check(f"server killed (kill {i})", world)
    with serve(world.environ()) as base:  # the re-run: every write again, each stored once
        if _labelers(base, writes, 4, tally) != set(writes):
            tally.rerun_failed.append("a restarted server did not take every annotation write")
        tally.peak(process_peak_mb(base.pid))
    stored = stored_writes(world)
    if stored != sorted(writes):
        tally.rerun_failed.append(f"{len(stored)} annotations stored for {len(writes)} distinct writes")
    tally.check("after the re-run", world)
    tally.repaired(world)
    tally.seconds = time.monotonic() - begun
    return tally
