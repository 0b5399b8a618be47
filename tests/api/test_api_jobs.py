"""Jobs: asynchronous uploads (``?wait=false``) polled through ``GET /v1/jobs/{id}``, and the job store helpers."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

import nlpipe.store.jobs as jobs_module
from api.main import create_app
from nlpipe.errors import ConflictError, InputError, NotFoundError
from nlpipe.store.jobs import create_job, finish_job, get_job, run_job, update_job
from tests.api.test_api import assert_error
from tests.conftest import make_settings, make_zip

KEY = {"X-API-Key": "k1"}
ARCHIVE = {"a/one.txt": b"The match ended in a draw.", "a/empty.txt": b"", "../up.txt": b"x"}


@pytest.fixture
def app_settings(tmp_path):
    return make_settings(tmp_path, api_keys=["k1"])


@pytest.fixture
def client(app_settings):
    with TestClient(create_app(app_settings)) as c:
        yield c


def _files() -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", ("news.zip", make_zip(ARCHIVE))), ("files", ("two.html", b"<p>Second <b>document</b></p>"))]


def _poll(client: TestClient, location: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(location)
        assert r.status_code == 200, r.text
        job = r.json()["job"]
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------- API


def test_api_jobs_async_upload_of_a_zip(client, app_settings):
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers=KEY)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["kind"] == "ingest" and job["status"] == "pending"
    assert job["total"] == 2 and job["done"] == 0 and job["result"] is None and job["error"] is None
    assert job["params"] == {"dataset": "up", "files": ["news.zip", "two.html"], "ocr": None, "password_given": False}

    done = _poll(client, r.headers["location"])
    assert done["status"] == "succeeded", done
    assert done["id"] == job["id"] and done["total"] == 2 and done["done"] == 2 and done["error"] is None
    result = done["result"]
    assert result["dataset"] == "up" and result["added"] == 2 and result["documents"] == 2
    assert [(f["source"], f["code"]) for f in result["failures"]] == [("news.zip!a/empty.txt", "E176")]
    assert [f["code"] for f in result["skipped"]] == ["E188"]
    assert result["files"] == {"news.zip": {"documents": 1, "failures": 1}, "two.html": {"documents": 1, "failures": 0}}
    assert client.get("/v1/datasets/up").json()["documents"] == 2
    # the staged copies are gone once the job is over
    assert list((app_settings.home / "uploads").iterdir()) == []

    # the job's result is what the synchronous upload answers
    sync = client.post("/v1/datasets/up2/documents", files=_files(), headers=KEY)
    assert sync.status_code == 200
    assert {**sync.json(), "dataset": "up", "added": 2, "already_present": 0} == result


def test_api_jobs_progress_counts_while_running(client, monkeypatch):
    """While the job runs it is `running` and `done` counts the uploaded files already read."""
    import api.routes.datasets as routes

    monkeypatch.setattr(jobs_module, "PROGRESS_INTERVAL", 0.0)
    real = routes.ingest_uploads
    seen: list[tuple[str, int, int]] = []

    def spying(store, settings, dataset, uploads, **kwargs):
        def watched():
            for item in uploads:
                job = get_job(store, 1)
                seen.append((job["status"], job["done"], job["total"]))
                yield item

        return real(store, settings, dataset, watched(), **kwargs)

    monkeypatch.setattr(routes, "ingest_uploads", spying)
    files = [("files", (f"{i}.txt", f"document number {i}".encode())) for i in range(3)]
    r = client.post("/v1/datasets/up/documents", params={"wait": "false"}, files=files, headers=KEY)
    assert r.status_code == 202
    job = _poll(client, r.headers["location"])
    assert seen == [("running", 0, 3), ("running", 1, 3), ("running", 2, 3)]
    assert (job["status"], job["done"], job["total"], job["result"]["added"]) == ("succeeded", 3, 3, 3)


def test_api_jobs_failed_job_has_the_error_shape(client, monkeypatch):
    import api.routes.datasets as routes

    def broken(*args, **kwargs):
        raise InputError("E196", "unknown OCR mode 'x'", field="ocr")

    monkeypatch.setattr(routes, "ingest_uploads", broken)
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers=KEY)
    job = _poll(client, r.headers["location"])
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"] == {"code": "E196", "message": "unknown OCR mode 'x'", "details": {"field": "ocr"}}

    def crash(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(routes, "ingest_uploads", crash)
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers=KEY)
    job = _poll(client, r.headers["location"])
    assert job["status"] == "failed" and job["error"]["code"] == "E234"
    assert set(job["error"]) == {"code", "message", "details"} and "ZeroDivisionError" in job["error"]["message"]
    assert "boom" not in job["error"]["message"]  # internals stay in the server log


def test_api_jobs_unknown_job_is_a_coded_404(client):
    error = assert_error(client.get("/v1/jobs/999"), 404, "E230")
    assert "999" in error["message"] and error["details"] == {"job": 999}
    assert_error(client.get("/v1/jobs/not-a-number"), 422, "E606")


def test_api_jobs_async_upload_needs_the_api_key(client):
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files())
    assert_error(r, 401, "E601")
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers={"X-API-Key": "wrong"})
    assert_error(r, 401, "E601")
    assert_error(client.get("/v1/jobs/1"), 404, "E230")  # nothing was started


def test_api_jobs_async_upload_checks_the_request_first(client, app_settings):
    assert_error(client.post("/v1/datasets/bad name/documents?wait=false", files=_files(), headers=KEY), 422, "E201")
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), data={"ocr": "sometimes"}, headers=KEY)
    assert_error(r, 422, "E196")
    assert_error(client.post("/v1/datasets/up/documents?wait=maybe", files=_files(), headers=KEY), 422, "E606")
    assert_error(client.get("/v1/jobs/1"), 404, "E230")
    assert not (app_settings.home / "uploads").exists() or not list((app_settings.home / "uploads").iterdir())


def test_api_jobs_upload_that_cannot_be_stored_is_a_coded_500(client, monkeypatch):
    import api.routes.datasets as routes

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(routes.tempfile, "mkdtemp", full)
    error = assert_error(client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers=KEY), 500, "E620")
    assert "No space left on device" in error["message"] and "wait=true" in error["message"]
    assert_error(client.get("/v1/jobs/1"), 404, "E230")  # no job was created


def test_api_jobs_synchronous_upload_stays_the_default(client):
    r = client.post("/v1/datasets/up/documents", files=_files(), headers=KEY)
    assert r.status_code == 200 and "job" not in r.json() and r.json()["added"] == 2
    assert "location" not in r.headers


# ----------------------------------------------------------------------------------------------- store helpers


def test_jobs_store_lifecycle(store):
    job = create_job(store, "ingest", params={"dataset": "d"}, total=4)
    assert (job["status"], job["done"], job["total"], job["params"]) == ("pending", 0, 4, {"dataset": "d"})
    assert job["created_at"] and job["updated_at"]
    job = update_job(store, job["id"], status="running", done=3)
    assert (job["status"], job["done"]) == ("running", 3)
    assert get_job(store, job["id"]) == job
    job = finish_job(store, job["id"], result={"added": 4})
    assert (job["status"], job["done"], job["result"], job["error"]) == ("succeeded", 4, {"added": 4}, None)
    with pytest.raises(ConflictError) as exc:
        update_job(store, job["id"], done=1)
    assert exc.value.code == "E232"
    with pytest.raises(ConflictError):
        finish_job(store, job["id"], result={})

    other = create_job(store, "batch")
    failed = finish_job(store, other["id"], error=NotFoundError("E203", "No dataset named 'x'.", field="name"))
    assert failed["status"] == "failed" and failed["total"] is None
    assert failed["error"] == {"code": "E203", "message": "No dataset named 'x'.", "details": {"field": "name"}}


def test_jobs_store_errors(store):
    with pytest.raises(NotFoundError) as exc:
        get_job(store, 12345)
    assert exc.value.code == "E230"
    job = create_job(store, "ingest", total=2)
    for kwargs, code in [
        ({"status": "paused"}, "E231"),
        ({"status": "succeeded"}, "E231"),
        ({"done": -1}, "E233"),
        ({"done": 3}, "E233"),
        ({"total": 1, "done": 2}, "E233"),
    ]:
        with pytest.raises(InputError) as exc:
            update_job(store, job["id"], **kwargs)
        assert exc.value.code == code, kwargs
    with pytest.raises(NotFoundError):
        update_job(store, 999, done=1)
    with pytest.raises(InputError):
        create_job(store, "ingest", total=-1)


def test_jobs_run_job_records_progress_result_and_errors(store, monkeypatch):
    monkeypatch.setattr(jobs_module, "PROGRESS_INTERVAL", 0.0)
    job = create_job(store, "count", total=3)
    states = []

    def work(progress):
        for i in range(1, 6):  # outgrows its total: the total follows
            progress(i)
            states.append((get_job(store, job["id"])["done"], get_job(store, job["id"])["total"]))
        return {"counted": 5}

    finished = run_job(store, job["id"], work)
    assert states == [(1, 3), (2, 3), (3, 3), (4, 4), (5, 5)]
    assert (finished["status"], finished["done"], finished["result"]) == ("succeeded", 5, {"counted": 5})

    # throttled: only the last of many quick calls is written, and it is always written
    monkeypatch.setattr(jobs_module, "PROGRESS_INTERVAL", 3600.0)
    job = create_job(store, "count")
    writes = []
    real_update = jobs_module.update_job
    monkeypatch.setattr(jobs_module, "update_job", lambda *a, **k: writes.append(k) or real_update(*a, **k))
    finished = run_job(store, job["id"], lambda progress: [progress(i, 100) for i in range(101)] and {})
    assert writes == [{"status": "running"}, {"done": 0, "total": 100}, {"done": 100, "total": 100}]
    assert finished["done"] == 100 and finished["status"] == "succeeded"

    # nothing raised, whatever the work raises
    job = create_job(store, "count")
    assert run_job(store, job["id"], lambda progress: 1 / 0)["error"]["code"] == "E234"
    assert run_job(store, job["id"], lambda progress: {})["status"] == "failed"  # finished jobs stay finished
