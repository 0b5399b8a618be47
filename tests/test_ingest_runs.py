"""Ingest runs: refused uploads leave no originals (D14), a batch's cost does not grow with the dataset (D16),
and a killed ingest marks its dataset incomplete until the same ingest runs again."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from typer.testing import CliRunner

from api.main import create_app
from nlpipe.cli.main import app
from nlpipe.config import Settings
from nlpipe.ingest import BATCH, ingest_paths, ingest_uploads
from nlpipe.store.datasets import list_datasets
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.store.runs import IngestWriter
from nlpipe.store.schema import IngestRun
from nlpipe.store.stats import dataset_stats
from nlpipe.types import Record
from tests.conftest import ROOT, make_settings, make_zip

MB = 1024 * 1024


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (none when it does not exist), lock files aside."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock") if folder.exists() else []


def _csv(start: int, n: int) -> bytes:
    rows = "".join(f"document number {i} about the harbour,{'ab'[i % 2]}\n" for i in range(start, start + n))
    return ("text,label\n" + rows).encode()


# ------------------------------------------------------------------------------ D14: refused uploads leave nothing


def _bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.txt", bytes(3 * MB))  # under the size limit, but a ratio of ~1000:1
    return buf.getvalue()


def _encrypted_zip() -> bytes:
    """A zip whose only member has the 'encrypted' flag set (read without a password: E183)."""
    data = bytearray(make_zip({"secret.txt": b"Confidential text."}))
    cd = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, cd + 8, struct.unpack_from("<H", data, cd + 8)[0] | 1)
    struct.pack_into("<H", data, 6, struct.unpack_from("<H", data, 6)[0] | 1)  # the local header's flag too
    return bytes(data)


def _refused() -> list[tuple[str, bytes]]:
    return [
        ("big.txt", b"word " * MB),  # 5 MB: over the 4 MB document limit below (E178)
        ("blob.bin", bytes(range(256)) * 400),  # an unknown binary type (E175)
        ("bomb.zip", _bomb()),  # E184
        ("locked.zip", _encrypted_zip()),  # E183
        ("empty.txt", b""),  # E176
    ]


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, max_document_bytes=4 * MB)


def test_refused_uploads_keep_no_original(small_settings):
    store = open_store(small_settings)
    originals = small_settings.home / "originals"
    summary = ingest_uploads(store, small_settings, "up", _refused())
    assert sorted(f.code for f in summary.failures) == ["E175", "E176", "E178", "E183", "E184"]
    assert summary.documents == 0 and _files(originals) == []
    kept = ingest_uploads(store, small_settings, "up", [*_refused(), ("good.txt", b"A document to keep.")])
    assert kept.documents == 1 and len(_files(originals)) == 1
    store.close()


def test_refused_uploads_through_the_api_keep_no_original_nor_staged_file(small_settings):
    settings = small_settings.model_copy(update={"api_keys": ["k"]})
    with TestClient(create_app(settings)) as client:
        files = [("files", (name, data)) for name, data in _refused()]
        now = client.post("/v1/datasets/up/documents", files=files, headers={"X-API-Key": "k"})
        assert now.status_code == 200 and now.json()["documents"] == 0
        later = client.post("/v1/datasets/up/documents?wait=false", files=files, headers={"X-API-Key": "k"})
        assert later.status_code == 202
        job = client.get(later.headers["Location"], headers={"X-API-Key": "k"}).json()["job"]
        assert job["status"] == "succeeded" and len(job["result"]["failures"]) == 5
    assert _files(settings.home / "originals") == []
    assert _files(settings.home / "uploads") == []


def test_a_failed_ingest_deletes_the_originals_it_saved(store, settings, monkeypatch):
    keep = ingest_uploads(store, settings, "up", [("first.txt", b"Stored before the failure.")])
    assert keep.documents == 1
    calls = 0
    write = IngestWriter.write

    def failing(self, records):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("database went away")
        write(self, records)

    monkeypatch.setattr(IngestWriter, "write", failing)
    uploads = [("a.csv", _csv(0, BATCH)), ("b.txt", b"Read after the first batch.")]
    with pytest.raises(RuntimeError):
        ingest_uploads(store, settings, "up", uploads)
    # a.csv's documents were stored by the first batch, so its original stays; b.txt's batch failed: gone
    assert len(_files(settings.home / "originals")) == 2
    with store.session() as s:
        assert dataset_stats(s, "up")["state"] == "incomplete"
        assert [r.status for r in s.scalars(select(IngestRun).order_by(IngestRun.id))] == ["succeeded", "failed"]


# ------------------------------------------------------------------ D16: a batch's cost does not grow with the data


def _statements(store, pattern: str):
    found: list[str] = []
    regex = re.compile(pattern, re.IGNORECASE | re.DOTALL)

    def seen(_conn, _cursor, statement, *_args) -> None:
        if regex.search(statement):
            found.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    return found, lambda: event.remove(store.engine, "before_cursor_execute", seen)


def _lookups_per_ingest(store, settings, start: int, n: int) -> tuple[int, int]:
    """(split look-ups, membership look-ups) of ingesting ``n`` rows numbered from ``start``."""
    splits, stop_splits = _statements(store, r"^\s*SELECT\b.*\bFROM splits\b")
    members, stop_members = _statements(store, r"^\s*SELECT\b.*\bFROM dataset_documents\b.*document_id IN")
    try:
        ingest_uploads(store, settings, "big", [("rows.csv", _csv(start, n))])
    finally:
        stop_splits()
        stop_members()
    return len(splits), len(members)


def test_ingest_batches_do_not_reload_the_dataset(backend_settings):
    store = open_store(backend_settings)
    records = (Record(text=f"seed document {i}", labels=["a"]) for i in range(2_000))
    import_records(store, "big", records, create=True)
    small = _lookups_per_ingest(store, backend_settings, 0, 5 * BATCH)
    import_records(store, "big", (Record(text=f"seed document {i}", labels=["a"]) for i in range(2_000, 20_000)))
    large = _lookups_per_ingest(store, backend_settings, 10_000, 5 * BATCH)
    assert small == large == (0, 0)  # new documents: nothing to look up, whatever the dataset's size
    # documents already stored are looked up, one query per batch for the batch's own documents: the same count
    again_small = _lookups_per_ingest(store, backend_settings, 0, 5 * BATCH)
    again_large = _lookups_per_ingest(store, backend_settings, 10_000, 5 * BATCH)
    assert again_small == again_large == (5, 5)
    with store.session() as s:
        assert dataset_stats(s, "big")["documents"] == 20_000 + 2 * 5 * BATCH
    store.close()


# --------------------------------------------------------------- a killed ingest: incomplete, and a re-run completes

KILLER = """
import os, signal, sys
from nlpipe.store.runs import IngestWriter
write, after = IngestWriter.write, int(sys.argv[1])
def write_then_die(self, records):
    write(self, records)
    if self.summary.records >= after:
        os.kill(os.getpid(), signal.SIGKILL)
IngestWriter.write = write_then_die
sys.argv = ["nlpipe", *sys.argv[2:]]
from nlpipe.cli.main import main
main()
"""


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")}
    env.update(NLPIPE_HOME=str(settings.home), NLPIPE_MODELS_DIR=str(settings.models_dir), PYTHONPATH=str(ROOT))
    if settings.database_url:
        env["NLPIPE_DATABASE_URL"] = settings.database_url
    return env


def _cli(*args: str) -> tuple[str, str]:
    """(stdout, stderr) of an nlpipe command run in this process (NLPIPE_HOME is the test's settings.home)."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_a_killed_ingest_marks_the_dataset_incomplete_until_run_again(settings, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_bytes(_csv(0, 5 * BATCH))
    other = tmp_path / "other.txt"
    other.write_text("An unrelated document.")
    killed = subprocess.run([sys.executable, "-c", KILLER, str(2 * BATCH), "ingest", "docs", str(rows)],
                            env=_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    stats = json.loads(_cli("datasets", "stats", "docs", "--json")[0])
    assert (stats["state"], stats["documents"]) == ("incomplete", 2 * BATCH)
    [run] = stats["incomplete_runs"]
    assert (run["kind"], run["status"], run["documents"], run["inputs"]) == (
        "ingest",
        "running",
        2 * BATCH,
        [str(rows)],
    )
    assert sum(stats["splits"].values()) == 2 * BATCH  # each stored batch came with its splits
    listed = json.loads(_cli("datasets", "list", "--json")[0])
    assert [(d["name"], d["state"], d["incomplete_runs"]) for d in listed] == [("docs", "incomplete", 1)]
    shown = _cli("datasets", "stats", "docs")[1]
    assert "incomplete" in shown and "run the same ingest again" in shown
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/datasets/docs").json()["state"] == "incomplete"
        assert client.get("/v1/datasets").json()[0]["state"] == "incomplete"

    unrelated = json.loads(_cli("ingest", "docs", str(other), "--json")[0])
    assert unrelated["added"] == 1
    assert json.loads(_cli("datasets", "stats", "docs", "--json")[0])["state"] == "incomplete"

    again = json.loads(_cli("ingest", "docs", str(rows), "--json")[0])
    assert (again["added"], again["already_present"]) == (3 * BATCH, 2 * BATCH)
    stats = json.loads(_cli("datasets", "stats", "docs", "--json")[0])
    assert (stats["state"], stats["documents"], stats["incomplete_runs"]) == ("complete", 5 * BATCH + 1, [])
    assert sum(stats["splits"].values()) == 5 * BATCH + 1
    store = open_store(settings)
    with store.session() as s:
        runs = [(r.status, r.superseded_by) for r in s.scalars(select(IngestRun).order_by(IngestRun.id))]
        assert runs == [("superseded", 3), ("succeeded", None), ("succeeded", None)]
        assert list_datasets(s)[0]["state"] == "complete"
    store.close()


def test_ingest_paths_of_a_folder_is_one_run(store, settings, tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(3):
        (tmp_path / "in" / f"{i}.txt").write_text(f"Document {i} of the folder.")
    summary = ingest_paths(store, settings, "f", [tmp_path / "in"])
    assert summary.added == 3
    with store.session() as s:
        [run] = s.scalars(select(IngestRun)).all()
        assert (run.kind, run.status, run.documents) == ("ingest", "succeeded", 3)
        assert run.inputs == [{"input": str((tmp_path / "in").resolve()), "name": str(tmp_path / "in")}]
