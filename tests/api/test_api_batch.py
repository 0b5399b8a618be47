"""Batch jobs over HTTP: ``POST /v1/batch`` -> a worker process -> ``GET /v1/jobs/{id}`` and ``/results``, cancelled
by ``DELETE``, resumed by a restarted server (a real one, killed with SIGKILL mid-job)."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.limits import FORM_SLACK
from api.main import create_app
from nlpipe.batch.job_files import batch_dir, folder_path, try_lock
from nlpipe.batch.runner import BatchRequest, run_batch, state_dir
from nlpipe.batch.units import SourceOptions
from nlpipe.store.db import open_store
from nlpipe.store.jobs import create_job, get_job
from nlpipe.store.schema import Job
from tests.api.test_api import assert_error
from tests.conftest import make_settings, make_zip, news_records, nlpipe_serve

KEY = {"X-API-Key": "k1"}
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
TEXTS = [r.text for r in news_records()]
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def app_settings(tmp_path, trained, root):
    return make_settings(tmp_path, api_keys=["k1"], models_dir=trained.models_dir, batch_root=root, max_batch_jobs=3)


@pytest.fixture
def client(app_settings):
    with TestClient(create_app(app_settings), headers=KEY) as c:
        yield c


def _poll(client: TestClient, location: str, done=lambda job: job["status"] in FINISHED, timeout: float = 120.0):
    """The job once ``done(job)`` holds (generous: a loaded machine starts worker processes slowly)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(location).json()["job"]
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job never got there: {job}"
        time.sleep(0.05)


def _reference(settings, folder: Path, inputs: list[str], fmt: str, monkeypatch, **kwargs) -> bytes:
    """What `nlpipe batch predict INPUTS --model news` writes, run from ``folder`` (ids start with the names)."""
    out = folder.parent / f"reference-{folder.name}.{fmt}"
    monkeypatch.chdir(folder)
    run_batch(BatchRequest(inputs, ["news"], out, fmt=fmt, workers=1, **kwargs), settings)
    return out.read_bytes()


def _jobs(settings) -> list[tuple[int, str]]:
    store = open_store(settings)
    try:
        with store.session() as s:
            return [(row.id, row.status) for row in s.query(Job).order_by(Job.id)]
    finally:
        store.close()


def _folders(settings) -> list[str]:
    base = batch_dir(settings.home)
    return sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) if base.is_dir() else []


def _jsonl(path: Path, n: int, words: int = 1) -> None:
    """``n`` JSON Lines documents, each ``words`` news texts long (longer texts take longer to predict)."""
    with path.open("w") as f:
        for i in range(n):
            text = " ".join(TEXTS[(i + k) % len(TEXTS)] for k in range(words))
            f.write(json.dumps({"id": f"doc-{i}", "text": f"{text} ({i})"}) + "\n")


ZIP = {f"news/{i:03d}.txt": text.encode() for i, text in enumerate(TEXTS[:150])}
ZIP["news/empty.txt"] = b""  # an error row (E176)


# ------------------------------------------------------------------------------------------- TestClient


def test_api_batch_upload_of_a_zip_gives_what_the_cli_writes(client, app_settings, tmp_path, monkeypatch):
    data = make_zip(ZIP)
    locations = {}
    for fmt in MEDIA:
        r = client.post("/v1/batch", files=[("file", ("news.zip", data))], data={"models": "news", "format": fmt},
                        headers=KEY)  # fmt: skip
        assert r.status_code == 202, r.text
        job = r.json()["job"]
        assert r.headers["location"] == f"/v1/jobs/{job['id']}"
        assert (job["kind"], job["status"], job["done"], job["result"]) == ("batch", "pending", 0, None)
        assert job["params"]["inputs"] == ["news.zip"] and job["params"]["models"] == ["news@v1"]
        locations[fmt] = r.headers["location"]
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "news.zip").write_bytes(data)
    for fmt, location in locations.items():
        job = _poll(client, location)
        assert job["status"] == "succeeded", job
        assert (job["done"], job["total"]) == (len(ZIP), len(ZIP))
        result = job["result"]
        assert (result["rows"], result["ok"], result["errors"], result["format"]) == (151, 150, {"E176": 1}, fmt)
        assert job["progress"]["rows"] == 151 and job["progress"]["errors"] == 1
        r = client.get(location + "/results", headers=KEY)
        assert r.status_code == 200 and r.headers["content-type"] == MEDIA[fmt]
        assert r.headers["content-disposition"] == f'attachment; filename="job-{job["id"]}.{fmt}"'
        assert r.content == _reference(app_settings, upload, ["news.zip"], fmt, monkeypatch)
        assert result["bytes"] == len(r.content)
        folder = folder_path(app_settings.home, job["params"]["folder"])
        assert not (folder / "input").exists()  # the upload is removed, the results kept
    lines = client.get(locations["jsonl"] + "/results", headers=KEY).text.splitlines()
    assert json.loads(lines[0])["id"] == "news.zip!news/000.txt"
    assert json.loads(lines[-1])["error"]["code"] == "E176"


def test_api_batch_server_path_inside_the_root(client, app_settings, root, monkeypatch):
    (root / "feeds").mkdir()
    rows = ["key,title,body"] + [f"k{i},Item {i},{text.replace(',', ' ')}" for i, text in enumerate(TEXTS[:40])]
    (root / "feeds" / "items.csv").write_text("\n".join(rows) + "\n")
    body = {"path": "feeds/items.csv", "models": ["news"], "format": "csv", "text_cols": ["title", "body"],
            "id_col": "key", "top_k": 2}  # fmt: skip
    r = client.post("/v1/batch", json=body, headers=KEY)
    assert r.status_code == 202, r.text
    assert r.json()["job"]["params"]["inputs"] == ["feeds/items.csv"]
    job = _poll(client, r.headers["location"])
    assert job["status"] == "succeeded" and job["result"]["rows"] == 40, job
    got = client.get(r.headers["location"] + "/results", headers=KEY).content
    options = SourceOptions(text_cols=("title", "body"), id_col="key")
    assert got == _reference(app_settings, root, ["feeds/items.csv"], "csv", monkeypatch, options=options, top_k=2)
    assert got.splitlines()[1].startswith(b"k0,feeds/items.csv,")


def test_api_batch_server_paths_outside_the_root_are_refused(client, app_settings, root, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("The striker scored twice.")
    (root / "link.txt").symlink_to(outside)
    (root / "up").symlink_to(tmp_path)
    for path in ("../outside.txt", str(outside), "link.txt", "up/outside.txt", "up"):
        r = client.post("/v1/batch", json={"path": path, "models": ["news"]}, headers=KEY)
        error = assert_error(r, 403, "E871")
        assert str(tmp_path) not in r.text and error["details"] == {"field": "path"}
    assert_error(client.post("/v1/batch", json={"path": "missing.txt", "models": ["news"]}, headers=KEY), 422, "E872")
    assert _jobs(app_settings) == [] and _folders(app_settings) == []


def test_api_batch_server_paths_need_a_root(tmp_path, trained):
    settings = make_settings(tmp_path, api_keys=["k1"], models_dir=trained.models_dir)
    with TestClient(create_app(settings), headers=KEY) as c:
        assert_error(c.post("/v1/batch", json={"path": "x.txt", "models": ["news"]}, headers=KEY), 403, "E870")
    assert _jobs(settings) == [] and _folders(settings) == []


def test_api_batch_upload_over_the_limit_is_413(tmp_path, trained):
    settings = make_settings(tmp_path, api_keys=["k1"], models_dir=trained.models_dir, max_batch_upload_bytes=10_000)
    with TestClient(create_app(settings), headers=KEY) as c:
        for size in (10_001, 10_000 + FORM_SLACK + 1):  # counted by the route; refused by its declared length
            files = [("file", ("big.txt", b"word " * (size // 5) + b"x" * (size % 5)))]
            error = assert_error(c.post("/v1/batch", files=files, data={"models": "news"}, headers=KEY), 413, "E873")
            assert "NLPIPE_MAX_BATCH_UPLOAD_BYTES" in error["message"] and error["details"]["max_bytes"] >= 10_000
        ok = c.post("/v1/batch", files=[("file", ("ok.txt", b"x" * 10_000))], data={"models": "news"}, headers=KEY)
        assert ok.status_code == 202, ok.text
    assert len(_jobs(settings)) == 1 and len(_folders(settings)) == 1  # the refused uploads' folders are gone


def test_api_batch_unknown_model_is_404_before_any_job(client, app_settings, root):
    (root / "a.txt").write_text("The striker scored twice.")
    files = [("file", ("a.txt", b"The striker scored twice."))]
    assert_error(client.post("/v1/batch", files=files, data={"models": "nope"}, headers=KEY), 404, "E403")
    assert_error(client.post("/v1/batch", files=files, data={"models": "news,news@v9"}, headers=KEY), 404, "E404")
    assert_error(client.post("/v1/batch", json={"path": "a.txt", "models": ["nope"]}, headers=KEY), 404, "E403")
    assert _jobs(app_settings) == [] and _folders(app_settings) == []
    assert_error(client.get("/v1/jobs/1"), 404, "E230")


def test_api_batch_write_endpoints_need_the_key(client, app_settings, root):
    (root / "a.txt").write_text("The striker scored twice.")
    none = {"X-API-Key": ""}  # the client sends KEY by default: this request goes without a key
    assert_error(client.post("/v1/batch", json={"path": "a.txt", "models": ["news"]}, headers=none), 401, "E601")
    bad = {"X-API-Key": "nope"}
    assert_error(client.post("/v1/batch", json={"path": "a.txt", "models": ["news"]}, headers=bad), 401, "E601")
    r = client.post("/v1/batch", json={"path": "a.txt", "models": ["news"]}, headers=KEY)
    assert r.status_code == 202
    assert_error(client.delete(r.headers["location"], headers=none), 401, "E601")
    assert_error(client.get(r.headers["location"] + "/results", headers=none), 401, "E601")


def test_api_batch_bad_requests_name_what_is_wrong(client, app_settings, root):
    (root / "a.txt").write_text("The striker scored twice.")
    files = [("file", ("a.txt", b"The striker scored twice."))]
    post = client.post
    assert_error(post("/v1/batch", json={"models": ["news"]}, headers=KEY), 422, "E874")
    assert_error(post("/v1/batch", files=files, data={"models": "news", "path": "a.txt"}, headers=KEY), 422, "E874")
    assert_error(post("/v1/batch", json={"path": "a.txt", "models": ["news"], "format": "xml"}, headers=KEY), 422,
                 "E606")  # fmt: skip
    assert_error(post("/v1/batch", json={"path": "a.txt", "models": []}, headers=KEY), 422, "E606")
    assert_error(post("/v1/batch", json={"path": "a.txt", "models": ["news"], "split_on": "("}, headers=KEY), 422,
                 "E801")  # fmt: skip
    assert_error(post("/v1/batch", content=b"[1]", headers={**KEY, "content-type": "application/json"}), 422, "E876")
    assert_error(post("/v1/batch", content=b"path=a.txt", headers={**KEY, "content-type": "text/plain"}), 422, "E876")
    twice = [("file", ("a.txt", b"one")), ("file", ("dir/a.txt", b"two"))]
    assert_error(post("/v1/batch", files=twice, data={"models": "news"}, headers=KEY), 422, "E875")
    assert _jobs(app_settings) == [] and _folders(app_settings) == []


def test_api_batch_delete_cancels_a_running_job(client, app_settings, root):
    _jsonl(root / "big.jsonl", 20_000)
    r = client.post("/v1/batch", json={"path": "big.jsonl", "models": ["news"]}, headers=KEY)
    location = r.headers["location"]
    running = _poll(client, location, lambda job: job["done"] > 0 or job["status"] in FINISHED)
    assert running["status"] == "running" and running["total"] == 20_000, running
    assert running["progress"]["docs_per_second"] > 0
    assert_error(client.get(location + "/results", headers=KEY), 409, "E877")

    r = client.delete(location, headers=KEY)
    assert r.status_code == 200 and r.json()["job"]["status"] == "cancelled"
    folder = folder_path(app_settings.home, running["params"]["folder"])
    deadline = time.monotonic() + 60
    while folder.exists() or client.app.state.batch.pids():  # the worker stops after its chunk and cleans up
        assert time.monotonic() < deadline, "the worker did not stop"
        time.sleep(0.05)
    job = client.get(location).json()["job"]
    assert job["status"] == "cancelled" and job["done"] < 20_000 and job["result"] is None
    assert_error(client.get(location + "/results", headers=KEY), 409, "E877")
    assert_error(client.delete(location, headers=KEY), 409, "E232")
    assert_error(client.delete("/v1/jobs/999", headers=KEY), 404, "E230")


def test_api_batch_a_stopping_server_gives_its_jobs_back(app_settings, root, monkeypatch):
    """The server stops mid-job: its worker stops after its chunk and the job is pending again, with its
    checkpoint; the next server continues it, to the results of an uninterrupted run."""
    _jsonl(root / "big.jsonl", 20_000)
    with TestClient(create_app(app_settings), headers=KEY) as c:
        r = c.post("/v1/batch", json={"path": "big.jsonl", "models": ["news"]}, headers=KEY)
        location = r.headers["location"]
        running = _poll(c, location, lambda job: job["done"] > 0 or job["status"] in FINISHED)
        assert running["status"] == "running", running
    store = open_store(app_settings)
    try:
        stopped = get_job(store, running["id"])
    finally:
        store.close()
    assert stopped["status"] == "pending" and 0 < stopped["done"] < 20_000, stopped
    folder = folder_path(app_settings.home, running["params"]["folder"])
    assert json.loads((state_dir(folder / "results.jsonl") / "state.json").read_text())["units"] > 0
    with TestClient(create_app(app_settings), headers=KEY) as c:
        job = _poll(c, location)
        assert job["status"] == "succeeded" and job["result"]["rows"] == 20_000, job
        got = c.get(location + "/results", headers=KEY).content
    assert got == _reference(app_settings, root, ["big.jsonl"], "jsonl", monkeypatch)


def test_api_batch_other_jobs_have_no_results_and_are_not_cancelled(client):
    job = create_job(client.app.state.store, "ingest")
    assert_error(client.get(f"/v1/jobs/{job['id']}/results", headers=KEY), 404, "E879")
    assert_error(client.delete(f"/v1/jobs/{job['id']}", headers=KEY), 409, "E878")


# ------------------------------------------------------------------------------------------- a real server


def _server_env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")}
    env.update(NLPIPE_HOME=str(settings.home), NLPIPE_MODELS_DIR=str(settings.models_dir), NLPIPE_API_KEYS="k1",
               NLPIPE_BATCH_ROOT=str(settings.batch_root), NLPIPE_ALLOWED_HOSTS="localhost,127.0.0.1")  # fmt: skip
    return env


def _get_job(base: str, job_id: int) -> dict:
    with urllib.request.urlopen(urllib.request.Request(f"{base}/v1/jobs/{job_id}", headers=KEY), timeout=30) as r:
        return json.loads(r.read())["job"]


def _poll_server(base: str, job_id: int, done, timeout: float = 120.0) -> tuple[dict, list[int]]:
    """The job once ``done(job)`` holds, and the ``done`` counts seen on the way while it ran."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        job = _get_job(base, job_id)
        if job["status"] == "running":
            seen.append(job["done"])
        if done(job):
            return job, seen
        assert time.monotonic() < deadline, f"job never got there: {job}"
        time.sleep(0.05)


def test_api_batch_job_survives_a_killed_server(tmp_path, trained, root, monkeypatch):
    """SIGKILL the server and the job's worker mid-job (a machine restart); a new server on the same home and
    database continues the job from its checkpoint, and its results are those of an uninterrupted run."""
    settings = make_settings(tmp_path, models_dir=trained.models_dir, batch_root=root)
    _jsonl(root / "big.jsonl", 20_000, words=8)  # ~20 MB: seconds of work, however fast the machine
    body = json.dumps({"path": "big.jsonl", "models": ["news"]}).encode()
    with nlpipe_serve(_server_env(settings)) as base:
        request = urllib.request.Request(f"{base}/v1/batch", body, {**KEY, "content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.status == 202
            job_id = json.loads(r.read())["job"]["id"]
        job, _ = _poll_server(base, job_id, lambda job: job["done"] >= 1000 or job["status"] in FINISHED)
        assert job["status"] == "running", job
        store = open_store(settings)
        with store.session() as s:
            claim = s.get(Job, job_id).claim
        worker = int(claim.split(":")[1])
        os.kill(base.pid, signal.SIGKILL)
        os.kill(worker, signal.SIGKILL)
        folder = folder_path(settings.home, job["params"]["folder"])
        deadline = time.monotonic() + 30
        while (lock := try_lock(folder)) is None:  # the kernel drops the worker's lock when it is gone
            assert time.monotonic() < deadline
            time.sleep(0.05)
        lock.close()
    with store.session() as s:
        row = s.get(Job, job_id)
        assert (row.status, row.claim) == ("running", claim) and row.done < 20_000
        killed_at = row.done
    store.close()
    checkpoint = json.loads((state_dir(folder / "results.jsonl") / "state.json").read_text())
    assert 1000 <= checkpoint["summary"]["rows"] < 20_000 and checkpoint["units"] > 0  # units: ranges of rows

    with nlpipe_serve(_server_env(settings)) as base:
        job, seen = _poll_server(base, job_id, lambda job: job["status"] in FINISHED)
        assert job["status"] == "succeeded" and job["result"]["rows"] == 20_000, job
        assert seen == sorted(seen) and min(seen, default=killed_at) >= killed_at, seen  # continued, not restarted
        request = urllib.request.Request(f"{base}/v1/jobs/{job_id}/results", headers=KEY)
        with urllib.request.urlopen(request, timeout=60) as r:
            got = r.read()
    assert got == _reference(settings, root, ["big.jsonl"], "jsonl", monkeypatch)
