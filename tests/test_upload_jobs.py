"""Upload jobs called directly, without the API: stage files for a job, run it, and its failures."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

import nlpipe.upload_jobs as upload_jobs
from nlpipe.errors import ConfigError, InputError
from nlpipe.store.jobs import get_job
from nlpipe.store.schema import Job
from nlpipe.store.stats import dataset_stats
from nlpipe.upload_jobs import stage_upload_job
from tests.conftest import make_zip


def _uploads() -> list[tuple[str, io.BytesIO]]:
    return [("one.txt", io.BytesIO(b"The first document.")), ("two.html", io.BytesIO(b"<p>Second <b>one</b></p>"))]


def test_upload_jobs_stage_then_run(store, settings):
    staged = stage_upload_job(store, settings, "up", _uploads(), ocr="never")
    job = staged.job
    assert (job["kind"], job["status"], job["done"], job["total"]) == ("ingest", "pending", 0, 2)
    assert job["params"] == {"dataset": "up", "files": ["one.txt", "two.html"], "ocr": "never", "password_given": False}
    folder = settings.home / "uploads" / f"job-{job['id']}"
    assert staged.staging.path == folder
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "00000", "00001"]
    assert (folder / "00000").read_bytes() == b"The first document."
    staged.run()
    done = get_job(store, job["id"])
    assert (done["status"], done["done"], done["total"]) == ("succeeded", 2, 2)
    assert (done["result"]["dataset"], done["result"]["documents"], done["result"]["added"]) == ("up", 2, 2)
    assert not folder.exists()
    with store.session() as s:
        assert dataset_stats(s, "up")["documents"] == 2


def test_upload_jobs_archive_total_is_unknown_until_the_end(store, settings):
    archive = make_zip({"a/1.txt": b"Member one.", "a/2.txt": b"Member two."})
    staged = stage_upload_job(store, settings, "up", [("a.zip", io.BytesIO(archive))], password="secret")
    assert staged.job["total"] is None and staged.job["params"]["password_given"] is True
    staged.run()
    done = get_job(store, staged.job["id"])
    assert (done["status"], done["done"], done["total"], done["result"]["added"]) == ("succeeded", 2, 2, 2)


def test_upload_jobs_checks_come_before_the_job(store, settings):
    with pytest.raises(InputError) as bad_name:
        stage_upload_job(store, settings, "bad name", _uploads())
    with pytest.raises(InputError) as bad_ocr:
        stage_upload_job(store, settings, "up", _uploads(), ocr="sometimes")
    assert (bad_name.value.code, bad_ocr.value.code) == ("E201", "E196")
    with store.session() as s:
        assert s.scalars(select(Job)).all() == []
    assert not (settings.home / "uploads").exists()


def test_upload_jobs_staging_failure_fails_the_job(store, settings, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(upload_jobs.shutil, "copyfileobj", full)
    with pytest.raises(ConfigError) as err:
        stage_upload_job(store, settings, "up", _uploads())
    assert err.value.code == "E620" and "No space left on device" in err.value.message
    job = get_job(store, 1)
    assert (job["status"], job["error"]["code"]) == ("failed", "E620")
    assert list((settings.home / "uploads").iterdir()) == []


def test_upload_jobs_run_records_the_error(store, settings, monkeypatch):
    def broken(*args, **kwargs):
        raise InputError("E196", "unknown OCR mode 'x'", field="ocr")

    monkeypatch.setattr(upload_jobs, "ingest_uploads", broken)
    staged = stage_upload_job(store, settings, "up", _uploads())
    staged.run()  # never raises: the error is the job's
    job = get_job(store, staged.job["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "E196"
    assert not staged.staging.path.exists()
