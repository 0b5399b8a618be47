"""Jobs: asynchronous uploads (``?wait=false``) polled through ``GET /v1/jobs/{id}``, and the job store helpers."""

from __future__ import annotations

import fcntl
import threading
import time
import types

import pytest
from fastapi.testclient import TestClient

import nlpipe.store.jobs as jobs_module
from api.main import create_app
from nlpipe.errors import ConflictError, InputError, NotFoundError
from nlpipe.store.db import open_store
from nlpipe.store.jobs import create_job, finish_job, get_job, run_job, update_job
from nlpipe.store.staging import LOCK_NAME
from tests.api.test_api import assert_error
from tests.conftest import make_settings, make_zip

KEY = {"X-API-Key": "k1"}
ASYNC = "/v1/datasets/up/documents?wait=false"
ARCHIVE = {"a/one.txt": b"The match ended in a draw.", "a/empty.txt": b"", "../up.txt": b"x"}


@pytest.fixture
def app_settings(tmp_path):
    return make_settings(tmp_path, api_keys=["k1"])


@pytest.fixture
def client(app_settings):
    with TestClient(create_app(app_settings), headers=KEY) as c:
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
    # an archive's members are counted as they are read: the total is unknown until the job ends
    assert job["total"] is None and job["done"] == 0 and job["result"] is None and job["error"] is None
    assert job["params"] == {"dataset": "up", "files": ["news.zip", "two.html"], "ocr": None, "password_given": False}

    done = _poll(client, r.headers["location"])
    assert done["status"] == "succeeded", done
    # 3 members (stored, failed, skipped) + two.html
    assert done["id"] == job["id"] and done["total"] == 4 and done["done"] == 4 and done["error"] is None
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
    import nlpipe.upload_jobs as upload_jobs

    monkeypatch.setattr(jobs_module, "PROGRESS_INTERVAL", 0.0)
    real = upload_jobs.ingest_uploads
    seen: list[tuple[str, int, int]] = []

    def spying(store, settings, dataset, uploads, **kwargs):
        def watched():
            for item in uploads:
                job = get_job(store, 1)
                seen.append((job["status"], job["done"], job["total"]))
                yield item

        return real(store, settings, dataset, watched(), **kwargs)

    monkeypatch.setattr(upload_jobs, "ingest_uploads", spying)
    files = [("files", (f"{i}.txt", f"document number {i}".encode())) for i in range(3)]
    r = client.post("/v1/datasets/up/documents", params={"wait": "false"}, files=files, headers=KEY)
    assert r.status_code == 202
    job = _poll(client, r.headers["location"])
    assert seen == [("running", 0, 3), ("running", 1, 3), ("running", 2, 3)]
    assert (job["status"], job["done"], job["total"], job["result"]["added"]) == ("succeeded", 3, 3, 3)


def _record_progress(monkeypatch) -> list[tuple[int, int | None]]:
    """Every progress write of run_job, as the job then stands: (done, total)."""
    monkeypatch.setattr(jobs_module, "PROGRESS_INTERVAL", 0.0)
    states: list[tuple[int, int | None]] = []
    real_update = jobs_module.update_job

    def update(*args, **kwargs):
        job = real_update(*args, **kwargs)
        if "done" in kwargs:
            states.append((job["done"], job["total"]))
        return job

    monkeypatch.setattr(jobs_module, "update_job", update)
    return states


MEMBERS = {f"m/{i}.txt": f"Archive member number {i}.".encode() for i in range(7)}
MEMBERS["m/broken.docx"] = b"PK\x03\x04no"  # a zip header and nothing more: E180


def test_api_jobs_archive_counts_its_members(client, monkeypatch):
    states = _record_progress(monkeypatch)
    r = client.post(ASYNC, files=[("files", ("m.zip", make_zip(MEMBERS)))], headers=KEY)
    assert r.status_code == 202 and r.json()["job"]["total"] is None
    job = _poll(client, r.headers["location"])
    assert (job["status"], job["done"], job["total"]) == ("succeeded", 8, 8), job
    assert job["result"]["documents"] == 7 and [f["code"] for f in job["result"]["failures"]] == ["E180"]
    # the job grows by members while the archive is read, and gets its total when it is over
    assert states == [(i, None) for i in range(1, 9)] + [(8, 8)]


def test_api_jobs_plain_files_total_is_known_up_front(client, monkeypatch):
    states = _record_progress(monkeypatch)
    files = [("files", (f"{i}.txt", f"Plain file number {i}.".encode())) for i in range(4)]
    r = client.post("/v1/datasets/up/documents?wait=false", files=files, headers=KEY)
    assert r.status_code == 202 and r.json()["job"]["total"] == 4
    job = _poll(client, r.headers["location"])
    assert (job["status"], job["done"], job["total"], job["result"]["added"]) == ("succeeded", 4, 4, 4)
    changes = [state for i, state in enumerate(states) if i == 0 or state != states[i - 1]]
    assert changes == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_api_jobs_failed_job_has_the_error_shape(client, monkeypatch):
    import nlpipe.upload_jobs as upload_jobs

    def broken(*args, **kwargs):
        raise InputError("E196", "unknown OCR mode 'x'", field="ocr")

    monkeypatch.setattr(upload_jobs, "ingest_uploads", broken)
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers=KEY)
    job = _poll(client, r.headers["location"])
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"] == {"code": "E196", "message": "unknown OCR mode 'x'", "details": {"field": "ocr"}}

    def crash(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(upload_jobs, "ingest_uploads", crash)
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
    r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers={"X-API-Key": ""})
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


def test_api_jobs_upload_that_cannot_be_stored_is_a_coded_500(client, app_settings, monkeypatch):
    import nlpipe.upload_jobs as upload_jobs

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:  # the job's folder cannot be created
        m.setattr(upload_jobs, "create_staging", full)
        r = client.post("/v1/datasets/up/documents?wait=false", files=_files(), headers=KEY)
    error = assert_error(r, 500, "E620")
    assert "No space left on device" in error["message"] and "wait=true" in error["message"]
    with monkeypatch.context() as m:  # the disk fills up while the files are copied
        m.setattr(upload_jobs.shutil, "copyfileobj", full)
        error = assert_error(client.post(ASYNC, files=_files(), headers=KEY), 500, "E620")
    # the jobs created for them are failed with the same error, and nothing is left on disk
    for job_id in (1, 2):
        job = client.get(f"/v1/jobs/{job_id}").json()["job"]
        assert (job["status"], job["error"]["code"]) == ("failed", "E620"), job
    assert list((app_settings.home / "uploads").iterdir()) == []
    assert_error(client.get("/v1/jobs/3"), 404, "E230")


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

    # the same on a machine booted seconds ago (time.monotonic() counts from boot): the first call is still
    # written, whatever the clock reads
    for clock in (0.0, 5.0, 10.0**7):
        monkeypatch.setattr(jobs_module, "time", types.SimpleNamespace(monotonic=lambda clock=clock: clock))
        job = create_job(store, "count")
        writes.clear()
        run_job(store, job["id"], lambda progress: [progress(i, 100) for i in range(101)] and {})
        assert writes == [{"status": "running"}, {"done": 0, "total": 100}, {"done": 100, "total": 100}], clock
    monkeypatch.setattr(jobs_module, "time", time)

    # nothing raised, whatever the work raises
    job = create_job(store, "count")
    assert run_job(store, job["id"], lambda progress: 1 / 0)["error"]["code"] == "E234"
    assert run_job(store, job["id"], lambda progress: {})["status"] == "failed"  # finished jobs stay finished


# ----------------------------------------------------------------------------------------------- restart sweep


def _locked(folder):
    """Hold the lock of a job's folder the way a live server does: its own open file, flock'ed."""
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / LOCK_NAME, "ab")  # noqa: SIM115 - closed by the test
    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fh


def test_api_jobs_restart_fails_orphaned_jobs_and_removes_their_files(app_settings):
    uploads = app_settings.home / "uploads"
    store = open_store(app_settings)
    dead = create_job(store, "ingest", total=2)  # its server died: folder left, nobody holds its lock
    update_job(store, dead["id"], status="running", done=1)
    (uploads / f"job-{dead['id']}").mkdir(parents=True)
    (uploads / f"job-{dead['id']}" / "00000").write_bytes(b"staged upload")
    (uploads / f"job-{dead['id']}" / LOCK_NAME).touch()
    never_started = create_job(store, "ingest")  # died before locking, or before the job ran at all
    (uploads / f"job-{never_started['id']}").mkdir()
    alive = update_job(store, create_job(store, "ingest", total=3)["id"], status="running", done=2)
    lock = _locked(uploads / f"job-{alive['id']}")  # another worker's job, running
    elsewhere = update_job(store, create_job(store, "ingest")["id"], status="running")  # another host's job
    finished = finish_job(store, create_job(store, "ingest")["id"], result={"added": 1})
    (uploads / f"job-{finished['id']}").mkdir()  # its server died while removing the folder
    (uploads / "job-999").mkdir()  # no such job
    (uploads / "job-x1y2_z3a").mkdir()  # an older version's name (tempfile.mkdtemp)
    old_locked = _locked(uploads / "job-k9m8_n7p")
    (uploads / "job-file").write_bytes(b"not a folder")
    store.close()
    try:
        with TestClient(create_app(app_settings), headers=KEY) as c:
            for job_id in (dead["id"], never_started["id"]):
                job = c.get(f"/v1/jobs/{job_id}").json()["job"]
                assert job["status"] == "failed" and job["result"] is None, job
                assert job["error"]["code"] == "E235" and "upload the files again" in job["error"]["message"]
                assert job["error"]["details"] == {"job": job_id}
            assert c.get(f"/v1/jobs/{dead['id']}").json()["job"]["done"] == 1  # as far as it got
            assert c.get(f"/v1/jobs/{alive['id']}").json()["job"] == alive
            assert c.get(f"/v1/jobs/{elsewhere['id']}").json()["job"] == elsewhere
            assert c.get(f"/v1/jobs/{finished['id']}").json()["job"] == finished
            left = sorted(p.name for p in uploads.iterdir())
            assert left == sorted([f"job-{alive['id']}", "job-k9m8_n7p", "job-file"])

        # once the other worker is gone too, the next start cleans up after it
        lock.close()
        old_locked.close()
        with TestClient(create_app(app_settings), headers=KEY) as c:
            job = c.get(f"/v1/jobs/{alive['id']}").json()["job"]
            assert (job["status"], job["error"]["code"], job["done"], job["total"]) == ("failed", "E235", 2, 3)
            assert [p.name for p in uploads.iterdir()] == ["job-file"]
    finally:
        lock.close()
        old_locked.close()


def test_api_jobs_restart_of_one_worker_leaves_the_running_jobs_of_another(app_settings, monkeypatch):
    """Two workers share NLPIPE_HOME and the database: one starting while the other runs a job leaves it be."""
    import nlpipe.upload_jobs as upload_jobs

    real = upload_jobs.ingest_uploads
    started, release = threading.Event(), threading.Event()

    def slow(*args, **kwargs):
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(upload_jobs, "ingest_uploads", slow)
    answers = []
    with TestClient(create_app(app_settings), headers=KEY) as first:
        # TestClient returns once the background task is over: post from a thread
        post = threading.Thread(target=lambda: answers.append(first.post(ASYNC, files=_files(), headers=KEY)))
        post.start()
        try:
            assert started.wait(30)
            folder = app_settings.home / "uploads" / "job-1"
            assert folder.is_dir() and (folder / "00000").read_bytes() == make_zip(ARCHIVE)
            with TestClient(create_app(app_settings), headers=KEY) as second:
                job = second.get("/v1/jobs/1").json()["job"]
                assert job["status"] == "running", job
            assert folder.is_dir()
        finally:
            release.set()
            post.join(30)
        assert answers[0].status_code == 202
        job = _poll(first, "/v1/jobs/1")
        assert (job["status"], job["done"], job["total"]) == ("succeeded", 4, 4), job
        assert list((app_settings.home / "uploads").iterdir()) == []
