"""Batch jobs' library side: claims decided by the database, the start-up sweep, server-side paths."""

from __future__ import annotations

import pytest

from nlpipe.batch.job_files import JobFolder, new_folder, server_input, try_lock
from nlpipe.batch.jobs import KIND, resumable_jobs
from nlpipe.errors import ConflictError, ForbiddenError, InputError
from nlpipe.store.job_claims import claim_job, finish_claimed, new_claim, release_job, report_progress
from nlpipe.store.jobs import cancel_job, create_job, get_job
from tests.conftest import make_settings


def test_batch_jobs_one_claim_wins_and_only_its_writes_count(store):
    job = create_job(store, KIND)
    first, second = new_claim(), new_claim()
    assert first != second
    assert claim_job(store, job["id"], first, status="pending", previous=None)
    assert not claim_job(store, job["id"], second, status="pending", previous=None)  # the job is no longer pending
    assert not report_progress(store, job["id"], second, done=5, total=10, progress={})
    assert report_progress(store, job["id"], first, done=5, total=3, progress={"errors": 1})
    assert (get_job(store, job["id"])["done"], get_job(store, job["id"])["total"]) == (5, 5)
    # a dead claim is taken over by naming it; a stale name takes nothing
    assert not claim_job(store, job["id"], second, status="running", previous="host:1:dead")
    assert claim_job(store, job["id"], second, status="running", previous=first)
    assert not finish_claimed(store, job["id"], first, result={"rows": 1})
    assert release_job(store, job["id"], second)
    assert (get_job(store, job["id"])["status"]) == "pending"


def test_batch_jobs_a_cancelled_job_takes_no_more_writes(store):
    job = create_job(store, KIND)
    claim = new_claim()
    assert claim_job(store, job["id"], claim, status="pending", previous=None)
    assert cancel_job(store, job["id"])["status"] == "cancelled"
    assert not report_progress(store, job["id"], claim, done=1, total=None, progress={})
    assert not finish_claimed(store, job["id"], claim, result={"rows": 1})
    assert get_job(store, job["id"])["status"] == "cancelled"
    with pytest.raises(ConflictError) as exc:
        cancel_job(store, job["id"])
    assert exc.value.code == "E232"


def test_batch_jobs_start_up_sweep(store, settings):
    """Pending jobs and running ones whose folder nobody holds are run again; a held folder is left alone; folders
    of no job and of failed jobs are removed; a succeeded job's folder (its results) is kept."""

    def job_in(status: str) -> tuple[int, JobFolder]:
        folder = new_folder(settings.home)
        job = create_job(store, KIND, params={"folder": folder.name})
        if status != "pending":
            assert claim_job(store, job["id"], claim := new_claim(), status="pending", previous=None)
        if status in ("succeeded", "failed"):
            finish_claimed(store, job["id"], claim, error={"code": "E880"} if status == "failed" else None)
        return job["id"], folder

    pending, f1 = job_in("pending")
    dead, f2 = job_in("running")
    alive, f3 = job_in("running")
    done, f4 = job_in("succeeded")
    failed, f5 = job_in("failed")
    orphan = new_folder(settings.home)  # an upload whose request died before its job existed
    for folder in (f1, f2, f4, f5, orphan):
        folder.release()  # f3 stays locked: its process lives
    assert resumable_jobs(store, settings) == [pending, dead]
    assert f1.path.is_dir() and f2.path.is_dir() and f3.path.is_dir() and f4.path.is_dir()
    assert not f5.path.exists() and not orphan.path.exists()
    assert try_lock(f3.path) is None  # left alone
    f3.release()
    assert resumable_jobs(store, settings) == [pending, dead, alive]


def test_batch_jobs_server_paths_stay_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("x")
    (root / "in.txt").symlink_to(root / "sub" / "a.txt")
    (root / "out.txt").symlink_to(tmp_path / "secret.txt")
    settings = make_settings(tmp_path, batch_root=root)
    assert server_input(settings, "sub/a.txt") == "sub/a.txt"
    assert server_input(settings, "in.txt") == "sub/a.txt"  # read as what it resolves to
    assert server_input(settings, str(root / "sub")) == "sub" and server_input(settings, ".") == "."
    for outside in ("out.txt", "../secret.txt", str(tmp_path / "secret.txt"), "sub/../../secret.txt"):
        with pytest.raises(ForbiddenError) as exc:
            server_input(settings, outside)
        assert exc.value.code == "E871"
    with pytest.raises(InputError) as missing:
        server_input(settings, "nope.txt")
    assert missing.value.code == "E872"
    with pytest.raises(ForbiddenError) as unset:
        server_input(make_settings(tmp_path), "sub/a.txt")
    assert unset.value.code == "E870"
