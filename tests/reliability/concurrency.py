"""Concurrency against a running server (uvicorn, ``nlpipe serve``): promoters (API clients and separate
``nlpipe models promote`` processes), uploaders (API uploads, waited for and as jobs, into one dataset, with
files shared between them), labelers (several annotators, each from two clients sending the same writes) and
predictors, all at once. Counted: requests, 5xx answers, lost writes (an alias that does not end at its last
promote, an uploaded text not stored, an annotation stored twice or missing), and the inconsistencies
:func:`~tests.reliability.harness.inspect` finds afterwards.

Used by ``tests/reliability/test_concurrency.py`` and ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.reliability.harness import World, command, inspect, process_peak_mb
from tests.reliability.scenarios import API_KEY, Tally, _copy_versions, _import_news, post, send, stored_writes

KEY = {"X-API-Key": API_KEY}


def upload(base: str, dataset: str, files: list[tuple[str, bytes]], *, wait: bool = True) -> tuple[int, Any]:
    """POST files as multipart/form-data to the upload route; (status, decoded body)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                     "Content-Type: text/plain\r\n\r\n".encode() + data + b"\r\n")  # fmt: skip
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    headers = {**KEY, "content-type": f"multipart/form-data; boundary={boundary}"}
    url = f"{base}/v1/datasets/{dataset}/documents?wait={'true' if wait else 'false'}"
    return send(urllib.request.Request(url, data=body, headers=headers), timeout=120)


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=KEY), timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


class Run:
    """Shared counts of one concurrent run (threads add to them under a lock)."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.lock = threading.Lock()

    def answer(self, what: str, status: int, body: Any) -> None:
        with self.lock:
            self.tally.operations += 1
            if status >= 500:
                self.tally.server_errors.append(f"{what}: {status} {str(body)[:300]}")


def run_concurrency(
    world: World, *, serve: Callable[[dict[str, str]], Any], trained_models: Path, rounds: int = 2, clients: int = 3
) -> Tally:
    tally, begun = Tally(), time.monotonic()
    world.extra["NLPIPE_API_KEYS"] = API_KEY
    _copy_versions(world, trained_models, 2)
    _import_news(world)
    with world.store() as st, st.session() as s:
        from sqlalchemy import select

        from nlpipe.store.schema import DatasetDocument

        docs = sorted(s.scalars(select(DatasetDocument.document_id)))[: 4 * rounds]
    run = Run(tally)
    with serve(world.environ()) as base:
        expected_aliases: dict[str, str] = {}
        uploaded: set[str] = set()
        writes: set[tuple[int, str, str]] = set()
        jobs: list[int] = []
        workers: list[Callable[[], None]] = []
        for c in range(clients):
            workers.append(lambda c=c: _api_promoter(base, run, c, rounds, expected_aliases))
            workers.append(lambda c=c: _uploader(base, run, c, rounds, uploaded, jobs))
            workers.append(lambda c=c: _predictor(base, run, rounds * 4))
            for twin in range(2):  # two clients of one annotator send the same writes
                workers.append(lambda c=c, twin=twin: _labeler(base, run, f"annotator {c}", docs, twin, writes))
        for p in range(2):
            workers.append(lambda p=p: _cli_promoter(world, run, p, rounds, expected_aliases))
        with ThreadPoolExecutor(len(workers)) as pool:
            for f in [pool.submit(w) for w in workers]:
                f.result()
        _check_jobs(base, run, jobs)
        tally.peak(process_peak_mb(base.pid))
    aliases_path = world.models_dir / "news" / "aliases.json"
    aliases = json.loads(aliases_path.read_text())
    for alias, version in sorted(expected_aliases.items()):
        if aliases.get(alias) != version:
            tally.lost.append(f"alias {alias!r} is {aliases.get(alias)!r} after its last promote to {version}")
    from tests.reliability.harness import dataset_fingerprint

    stored_texts = {h for h, _, _ in dataset_fingerprint(world, "uploads")[1]}
    import hashlib

    missing = {t for t in uploaded if hashlib.sha256(t.encode()).hexdigest()[:16] not in stored_texts}
    if missing or len(stored_texts) != len(uploaded):
        tally.lost.append(f"{len(missing)} uploaded texts not stored; {len(stored_texts)} stored of {len(uploaded)}")
    stored = stored_writes(world)
    if stored != sorted(writes):
        tally.lost.append(f"{len(stored)} annotations stored ({len(set(stored))} distinct) for {len(writes)} written")
    tally.inconsistent += inspect(world)
    tally.seconds = time.monotonic() - begun
    return tally


def _api_promoter(base: str, run: Run, c: int, rounds: int, expected: dict[str, str]) -> None:
    for r in range(rounds * 2):
        version = f"v{1 + (c + r) % 3}"
        for alias in (f"api-{c}", "production"):
            status, body = post(f"{base}/v1/models/news:promote", {"version": version, "alias": alias}, KEY)
            run.answer("promote", status, body)
        expected[f"api-{c}"] = version


def _cli_promoter(world: World, run: Run, p: int, rounds: int, expected: dict[str, str]) -> None:
    for r in range(rounds):
        version = f"v{1 + (p + r) % 3}"
        proc = subprocess.run(command("models", "promote", "news", version, "--alias", f"cli-{p}"),
                              env=world.environ(), capture_output=True, text=True, timeout=120)  # fmt: skip
        with run.lock:
            run.tally.operations += 1
            if proc.returncode != 0:
                run.tally.server_errors.append(f"nlpipe models promote exited {proc.returncode}: {proc.stderr[-300:]}")
        expected[f"cli-{p}"] = version


def _uploader(base: str, run: Run, c: int, rounds: int, uploaded: set[str], jobs: list[int]) -> None:
    for r in range(rounds):
        own = [f"upload from client {c} round {r} file {i}" for i in range(3)]
        shared = [f"a text every uploader sends, number {r}"]  # the same document from every client at once
        files = [(f"c{c}-r{r}-{i}.txt", t.encode()) for i, t in enumerate(own + shared)]
        status, body = upload(base, "uploads", files, wait=r % 2 == 0)
        run.answer("upload", status, body)
        if status in (200, 202):
            with run.lock:
                uploaded.update(own + shared)
                if status == 202:
                    jobs.append(body["job"]["id"])


def _check_jobs(base: str, run: Run, jobs: list[int]) -> None:
    """Every upload job ends, and succeeds."""
    for job_id in jobs:
        deadline = time.monotonic() + 120
        while True:
            status, body = get(f"{base}/v1/jobs/{job_id}")
            run.answer("job", status, body)
            job = body.get("job") if isinstance(body, dict) else None
            if job is None or job["status"] not in ("pending", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # polling a job's state, as a client does
        if job is None or job["status"] != "succeeded":
            run.tally.server_errors.append(f"upload job {job_id}: {status} {str(body)[:300]}")


def _predictor(base: str, run: Run, n: int) -> None:
    for i in range(n):
        version = (None, "production", "v2")[i % 3]
        body: dict[str, Any] = {"texts": [f"Shares fell after the company missed its forecast {i}"]}
        if version:
            body["version"] = version
        status, answer = post(f"{base}/v1/models/news:predict", body, KEY)
        run.answer("predict", status, answer)


def _labeler(
    base: str, run: Run, annotator: str, docs: list[int], twin: int, writes: set[tuple[int, str, str]]
) -> None:
    for d in docs:
        label = f"label-{d % 4}"
        status, body = post(f"{base}/v1/datasets/news/documents/{d}/annotations", {"labels": [label]},
                            {**KEY, "X-Annotator": annotator})  # fmt: skip
        run.answer("annotate", status, body)
        if status == 201:
            with run.lock:
                writes.add((d, annotator, label))
