"""Fixtures shared by the whole suite: settings in a temporary folder, a real SQLite store, a trained model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nlpipe.config import Settings, get_settings
from nlpipe.store.db import open_store
from nlpipe.types import Record

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared" / "datasets"
# Read before the autouse fixture below clears NLPIPE_* variables. Set by `make test` via .ci/services.sh.
POSTGRES_URL = os.environ.get("NLPIPE_TEST_POSTGRES_URL")
REQUIRE_SERVICES = os.environ.get("NLPIPE_REQUIRE_SERVICES") == "1"
#: The Host headers the tests' apps answer: TestClient's "testserver" and the loopback names of `nlpipe serve`.
TEST_HOSTS = ["testserver", "localhost", "127.0.0.1"]


def make_settings(tmp: Path, **overrides: object) -> Settings:
    # "testserver" is the Host of FastAPI's TestClient (a test-only name, not a default of NLPIPE_ALLOWED_HOSTS)
    values: dict[str, object] = {"home": tmp / "home", "models_dir": tmp / "models", "time_budget": 20.0,
                                 "allowed_hosts": TEST_HOSTS}  # fmt: skip
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: Settings):
    st = open_store(settings)
    yield st
    st.close()


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def fresh_postgres() -> str:
    """The URL of the PostgreSQL server `make test` starts, its database emptied; skips the test without one (fails
    it under NLPIPE_REQUIRE_SERVICES=1, as in CI)."""
    if not POSTGRES_URL:
        message = "no PostgreSQL server: run the tests with `make test`, which starts one"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    _reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on each database backend: a SQLite file, and the PostgreSQL server `make test` starts."""
    if request.param == "postgres":
        return make_settings(tmp_path, database_url=fresh_postgres())
    return make_settings(tmp_path)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No test reads the developer's NLPIPE_* variables or .env; get_settings() starts fresh each test."""
    import os

    for key in list(os.environ):
        if key.startswith("NLPIPE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NLPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NLPIPE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("NLPIPE_TIME_BUDGET", "20")
    monkeypatch.setenv("NLPIPE_ALLOWED_HOSTS", ",".join(TEST_HOSTS))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerURL(str):
    """A running server's base URL, with its process id (``pid``)."""

    pid: int


@contextmanager
def nlpipe_serve(env: dict[str, str], *args: str) -> Iterator[ServerURL]:
    """Run `nlpipe serve` (uvicorn) with ``env`` and ``args`` on a free loopback port; yields its base URL (with
    ``.pid``) once /health answers (fails the test with the server's output if it does not start within 30 s)."""
    import tempfile

    port = free_port()
    # The server's output goes to a file: a pipe nobody reads fills after 64 KB of access log and blocks the server.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpipe.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = ServerURL(f"http://127.0.0.1:{port}")
    base.pid = proc.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=10) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        proc.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")[-2000:]
        log.close()
        pytest.fail("uvicorn did not start: " + output)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def make_zip(members: dict[str, bytes]) -> bytes:
    """A zip archive in memory with the given member names and contents."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def news_records() -> list[Record]:
    rows = [json.loads(line) for line in (DATA / "news.jsonl").read_text().splitlines() if line.strip()]
    return [Record(text=r["text"], labels=[r["label"]], external_id=r["id"]) for r in rows]


def entity_records() -> list[Record]:
    """data/entities.jsonl: 120 short invented news sentences with PER, ORG, LOC, PRODUCT, MONEY, DATE spans."""
    from nlpipe.types import Span

    rows = [json.loads(line) for line in (DATA / "entities.jsonl").read_text().splitlines() if line.strip()]
    return [Record(text=r["text"], labels=[], external_id=r["id"], spans=[Span(**s) for s in r["spans"]]) for r in rows]


@pytest.fixture(scope="session")
def trained_entities(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An entity model 'ents' trained once for the session on data/entities.jsonl (dataset 'ents')."""
    from nlpipe.store.importing import import_records
    from nlpipe.train import train

    cfg = make_settings(tmp_path_factory.mktemp("trained_entities"))
    st = open_store(cfg)
    import_records(st, "ents", entity_records(), create=True, seed=0)
    train(st, cfg, "ents", "ents", task="entities")
    st.close()
    return cfg


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A news classifier trained once for the session on data/news.jsonl (models dir inside the returned settings)."""
    from nlpipe.store.importing import import_records
    from nlpipe.train import train

    tmp = tmp_path_factory.mktemp("trained")
    cfg = make_settings(tmp)
    st = open_store(cfg)
    import_records(st, "news", news_records(), create=True, seed=0)
    train(st, cfg, "news", "news", time_budget=20)
    st.close()
    return cfg


@pytest.fixture(scope="session")
def trained_sentiment(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Sentiment models trained once for the session: 'feedback-sentiment' (negative/neutral/positive, dataset
    'feedback' from data/feedback.csv's sentiment column) and 'ratings' (scale 0..4, dataset 'ratings' from
    data/ratings.csv)."""
    from nlpipe.label.formats import read_records
    from nlpipe.store.importing import import_records
    from nlpipe.train import train

    cfg = make_settings(tmp_path_factory.mktemp("trained_sentiment"))
    st = open_store(cfg)
    import_records(st, "feedback", read_records(DATA / "feedback.csv", label_col="sentiment"), create=True, seed=0)
    import_records(st, "ratings", read_records(DATA / "ratings.csv", label_col="rating"), create=True, seed=0)
    train(st, cfg, "feedback", "feedback-sentiment", task="sentiment", time_budget=20)
    train(st, cfg, "ratings", "ratings", task="sentiment", scale=4, time_budget=20)
    st.close()
    return cfg


@pytest.fixture(scope="session")
def trained_layout(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A layout model 'invoices' trained once for the session on data/invoices/ (24 generated invoice PDFs of
    six layouts read by `ingest`, then their field spans imported from annotations.jsonl; dataset 'invoices')."""
    from nlpipe.ingest import ingest_paths
    from nlpipe.label.formats import read_records
    from nlpipe.store.importing import import_records
    from nlpipe.train import train

    cfg = make_settings(tmp_path_factory.mktemp("trained_layout"))
    st = open_store(cfg)
    ingest_paths(st, cfg, "invoices", [DATA / "invoices" / "pdf"])
    import_records(st, "invoices", read_records(DATA / "invoices" / "annotations.jsonl"))
    train(st, cfg, "invoices", "invoices", task="layout")
    st.close()
    return cfg
