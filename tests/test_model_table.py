"""The models folder and the store's ``models`` table (issue 13, D8): the folder is the truth, the table is
reconciled with it (at server start-up and by `nlpipe doctor`), unfinished saves are swept, and a stale row never
makes `train` crash."""

from __future__ import annotations

import fcntl
import os
import shutil
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.main import create_app
from nlpipe import artifacts
from nlpipe.cli.main import app as cli_app
from nlpipe.store.schema import ModelRecord
from nlpipe.tasks.classify.model import TextClassifier
from nlpipe.train import reconcile_models, save_version

TEXTS = ["good match win", "great goal team", "vote election law", "senate vote bill"] * 5
LABELS = [["sports"], ["sports"], ["politics"], ["politics"]] * 5
META = {"task": "classify", "format": "nlpipe.classify.v1", "labels": ["politics", "sports"], "metrics": None}


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    return TextClassifier(time_budget=5).fit(TEXTS, LABELS)


def _rows(store) -> list[tuple[str, str]]:
    with store.session() as s:
        return sorted((r[0], r[1]) for r in s.execute(select(ModelRecord.name, ModelRecord.version)))


def _save_version(store, settings, model):
    return save_version(store, settings, "m", model, dict(META), report_dir=None, dataset_id=None)


def test_train_after_a_version_folder_was_deleted_does_not_crash(store, settings, model):
    """A row whose folder is gone made the next save crash with an IntegrityError (after saving): the new version
    takes a number no row names."""
    shutil.rmtree(_save_version(store, settings, model))
    path = _save_version(store, settings, model)
    assert path.name == "v2" and artifacts.versions(settings.models_dir, "m") == ["v2"]
    assert _rows(store) == [("m", "v1"), ("m", "v2")]


def test_reconcile_adds_rows_for_folders_and_prunes_rows_without_one(store, settings, model):
    artifacts.save(settings.models_dir, "m", model, dict(META))  # as if train was killed after the rename
    shutil.rmtree(_save_version(store, settings, model))  # v2: a row, no folder
    found = reconcile_models(store, settings)
    assert [(p["code"], p["version"], p["fixed"]) for p in found] == [("E456", "v1", False), ("E457", "v2", False)]
    assert _rows(store) == [("m", "v2")]
    found = reconcile_models(store, settings, fix=True, prune=False)  # what the server does at start-up
    assert [(p["code"], p["fixed"]) for p in found] == [("E456", True), ("E457", False)]
    assert _rows(store) == [("m", "v1"), ("m", "v2")]
    found = reconcile_models(store, settings, fix=True)
    assert [(p["code"], p["fixed"]) for p in found] == [("E457", True)]
    assert _rows(store) == [("m", "v1")] and reconcile_models(store, settings) == []
    with store.session() as s:
        assert s.scalars(select(ModelRecord.task)).one() == "classify"


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_temporary_folders_are_swept_but_not_one_being_written(settings, model):
    """A save killed before its rename left .tmp-* folders forever; old ones are swept, never one a save holds."""
    root = settings.models_dir / "m"
    artifacts.save(settings.models_dir, "m", model, dict(META))
    old, busy, fresh = root / ".tmp-old", root / ".tmp-busy", root / ".tmp-fresh"
    for folder in (old, busy, fresh):
        folder.mkdir()
        (folder / "model.skops").write_bytes(b"partial")
    (root / ".aliases-x.tmp").write_text("{")
    for path in (old, busy, root / ".aliases-x.tmp"):
        _age(path, 3 * 3600)
    held = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # what save() holds while it writes
        removed = artifacts.sweep_temp(settings.models_dir, older_than=3600)
    finally:
        os.close(held)
    assert sorted(p.name for p in removed) == [".aliases-x.tmp", ".tmp-old"]
    assert busy.is_dir() and fresh.is_dir() and not old.exists()
    assert artifacts.versions(settings.models_dir, "m") == ["v1"]


def test_server_start_up_records_folders_missing_from_the_table(store, settings, model):
    artifacts.save(settings.models_dir, "m", model, dict(META))
    assert _rows(store) == []
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/models").json()[0]["version"] == "v1"
    assert _rows(store) == [("m", "v1")]


def test_cli_doctor_reports_and_fixes(store, settings, model):
    runner = CliRunner()
    artifacts.save(settings.models_dir, "m", model, dict(META))
    stale = settings.models_dir / "m" / ".tmp-left"
    stale.mkdir()
    _age(stale, 3 * 3600)
    result = runner.invoke(cli_app, ["doctor"])
    assert result.exit_code == 1 and "E456" in result.output and "E458" in result.output, result.output
    result = runner.invoke(cli_app, ["doctor", "--fix", "--json"])
    assert result.exit_code == 0, result.output
    assert not stale.exists() and _rows(store) == [("m", "v1")]
    result = runner.invoke(cli_app, ["doctor"])
    assert result.exit_code == 0 and "no problems" in result.output
    model_file = settings.models_dir / "m" / "v1" / artifacts.MODEL_FILE
    model_file.write_bytes(model_file.read_bytes()[:100])
    result = runner.invoke(cli_app, ["doctor", "--fix"])
    assert result.exit_code == 1 and "E451" in result.output and "Traceback" not in result.output
