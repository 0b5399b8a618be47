"""Model folders on disk (issue 13, D1/D2/D7/D9 and the model cache): files checked before anything reads them,
aliases written atomically by parallel processes and validated, bad folders listed as broken, a bounded cache."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from api.model_cache import ModelCache
from nlpipe import artifacts
from nlpipe.cli.main import app as cli_app
from nlpipe.errors import ArtifactError, InputError, NotFoundError
from nlpipe.tasks.classify.model import TextClassifier
from tests.conftest import make_settings

TEXTS = ["good match win", "great goal team", "vote election law", "senate vote bill"] * 5
LABELS = [["sports"], ["sports"], ["politics"], ["politics"]] * 5
CRF = Path("spacy") / "nlpipe_crf_ner" / "pass1.crfsuite"


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    return TextClassifier(time_budget=5).fit(TEXTS, LABELS)


def _save(models_dir: Path, model: TextClassifier, name: str = "m") -> Path:
    meta = {"task": "classify", "format": "nlpipe.classify.v1", "labels": list(model.labels_)}
    return artifacts.save(models_dir, name, model, meta)


def _code(exc_info: pytest.ExceptionInfo[Exception]) -> str:
    return str(getattr(exc_info.value, "code", ""))


# ---------------------------------------------------------------------------------------------- D1 damaged files


def _copy_entities(trained_entities, tmp_path: Path) -> Path:
    models = tmp_path / "models"
    shutil.copytree(trained_entities.models_dir / "ents", models / "ents")
    return models


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _predict_in_a_process(models: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NLPIPE_MODELS_DIR": str(models), "NLPIPE_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-m", "nlpipe.cli.main", "predict", "ents", "Greta Holm works for Acme in Oslo."],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_truncated_crf_model_is_refused_not_a_crash(trained_entities, tmp_path):
    """A crfsuite file cut to a third crashed `nlpipe predict` (SIGSEGV, exit 139): its size and checksum in
    meta.json refuse it first (E451), exit 1 with a message."""
    models = _copy_entities(trained_entities, tmp_path)
    _truncate(models / "ents" / "v1" / CRF)
    result = _predict_in_a_process(models, tmp_path)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "[E451]" in result.stderr and "pass1.crfsuite" in result.stderr


def test_truncated_crf_model_saved_without_checksums_is_refused(trained_entities, tmp_path):
    """A version saved before checksums were recorded loads with a warning; crfsuite's header is still checked
    before crfsuite reads the file (E431), so a truncated one is refused instead of crashing the process."""
    models = _copy_entities(trained_entities, tmp_path)
    meta_path = models / "ents" / "v1" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("files", None)
    meta_path.write_text(json.dumps(meta))
    _truncate(models / "ents" / "v1" / CRF)
    result = _predict_in_a_process(models, tmp_path)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "[E431]" in result.stderr and "truncated" in result.stderr


def test_changed_model_file_is_refused_with_its_checksum(tmp_path, model):
    path = _save(tmp_path, model)
    data = bytearray((path / artifacts.MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    (path / artifacts.MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert _code(exc) == "E451" and "checksum" in exc.value.message
    (path / "extra.bin").write_bytes(b"x")
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert _code(exc) == "E451"


def test_meta_records_every_model_file(tmp_path, model):
    path = _save(tmp_path, model)
    files = json.loads((path / "meta.json").read_text())["files"]
    assert set(files) == {artifacts.MODEL_FILE}
    assert files[artifacts.MODEL_FILE]["size"] == (path / artifacts.MODEL_FILE).stat().st_size
    assert len(files[artifacts.MODEL_FILE]["sha256"]) == 64


def test_server_starts_and_serves_other_models_beside_a_damaged_one(trained_entities, tmp_path, model):
    """The server exited 139 at start-up with a truncated entity model present; now it starts, refuses that
    model with its code, and serves the others."""
    models = _copy_entities(trained_entities, tmp_path)
    _truncate(models / "ents" / "v1" / CRF)
    _save(models, model, "good")
    settings = make_settings(tmp_path, models_dir=models)
    with TestClient(create_app(settings)) as client:
        assert client.app.state.models.failed["ents"]["code"] == "E451"
        r = client.post("/v1/models/ents:predict", json={"text": "Greta Holm works for Acme."})
        assert r.status_code == 500 and r.json()["error"]["code"] == "E451"
        r = client.post("/v1/models/good:predict", json={"text": "great goal team"})
        assert r.status_code == 200 and r.json()["predictions"][0]["predicted"] == ["sports"]


# ---------------------------------------------------------------------------------------------- D9 bad folders


def test_symlinked_model_file_is_refused(tmp_path, model):
    """A model.skops that is a link (to /dev/zero, or to a file outside the models folder) is never followed."""
    path = _save(tmp_path / "models", model)
    outside = tmp_path / "outside.skops"
    shutil.move(path / artifacts.MODEL_FILE, outside)
    (path / artifacts.MODEL_FILE).symlink_to(outside)
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert _code(exc) == "E450"
    (path / artifacts.MODEL_FILE).unlink()
    (path / artifacts.MODEL_FILE).symlink_to("/dev/zero")
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert _code(exc) == "E450"


def test_skops_file_that_unpacks_beyond_the_limit_is_refused(tmp_path, model):
    """A small skops file holding a large array is refused from its members' declared sizes, before loading."""
    path = _save(tmp_path, model)
    big = tmp_path / "big.skops"
    sio.dump({"weights": np.zeros(2 * 1024 * 1024)}, big, compression=zipfile.ZIP_DEFLATED)  # 16 MB unpacked
    assert big.stat().st_size < 1024 * 1024
    shutil.copy(big, path / artifacts.MODEL_FILE)
    meta = json.loads((path / "meta.json").read_text())
    meta.pop("files")  # as if saved without checksums: the zip's own sizes are what stop it
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path, max_bytes=4 * 1024 * 1024)
    assert _code(exc) == "E452" and "unpacks to" in exc.value.message
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path, max_bytes=1000)  # the file itself is larger than this
    assert _code(exc) == "E452"


@pytest.mark.parametrize(
    ("file", "content", "code"),
    [("v1/meta.json", "[1, 2]", "E405"), ("v1/meta.json", "{broken", "E405"), ("aliases.json", "[]", "E402")],
)
def test_one_bad_folder_is_listed_as_broken_not_a_500(tmp_path, model, file, content, code):
    models = tmp_path / "models"
    _save(models, model, "bad")
    _save(models, model, "good")
    (models / "bad" / file).write_text(content)
    rows = {r["name"]: r for r in artifacts.list_models(models)}
    assert rows["bad"]["error"]["code"] == code and rows["good"]["error"] is None
    with TestClient(create_app(make_settings(tmp_path, models_dir=models))) as client:
        r = client.get("/v1/models")
        assert r.status_code == 200, r.text
        listed = {m["name"]: m for m in r.json()}
        assert listed["bad"]["error"]["code"] == code and listed["good"]["error"] is None
        assert client.post("/v1/models/good:predict", json={"text": "great goal"}).status_code == 200
    result = CliRunner().invoke(cli_app, ["models", "list"], env={"NLPIPE_MODELS_DIR": str(models)})
    assert result.exit_code == 0 and result.exception is None, result.output
    assert code in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------------------------------------- D2 parallel promotes


def _promoter(models_dir: str, worker: int, count: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    for i in range(count):
        artifacts.promote(Path(models_dir), "m", "v1" if i % 2 else "v2", f"w{worker}-{i}")


def test_parallel_promotes_from_several_processes_lose_nothing(tmp_path, model):
    """Five processes promoting at once shared one temporary file (aliases.tmp): failures, lost updates, invalid
    JSON. Every update is kept and the file stays valid."""
    _save(tmp_path, model)
    _save(tmp_path, model)
    ctx = multiprocessing.get_context("fork")  # the children only promote: no state of this process is touched
    start = ctx.Event()
    workers, count = 5, 20
    procs = [ctx.Process(target=_promoter, args=(str(tmp_path), w, count, start)) for w in range(workers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * workers
    aliases = json.loads((tmp_path / "m" / "aliases.json").read_text())
    assert aliases == {f"w{w}-{i}": "v1" if i % 2 else "v2" for w in range(workers) for i in range(count)}
    assert not list((tmp_path / "m").glob(".aliases-*.tmp"))


# ---------------------------------------------------------------------------------------------- D7 alias names


@pytest.mark.parametrize("alias", ["", "\x00", "a\x07b", "prod\n", "../..", "a/b", "x" * 100_000, "v2", "v10", "-x"])
def test_invalid_alias_names_are_refused(tmp_path, model, alias):
    _save(tmp_path, model)
    with pytest.raises(InputError) as exc:
        artifacts.promote(tmp_path, "m", "v1", alias)
    assert _code(exc) == "E453" and len(exc.value.message) < 400
    assert not (tmp_path / "m" / "aliases.json").exists()


def test_api_promote_refuses_a_bad_alias(tmp_path, model):
    models = tmp_path / "models"
    _save(models, model)
    settings = make_settings(tmp_path, models_dir=models, api_keys=["k"])
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/models/m:promote", json={"version": "v1", "alias": "v2"}, headers={"X-API-Key": "k"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "E453"
        r = client.post("/v1/models/m:promote", json={"version": "v1", "alias": "staging"}, headers={"X-API-Key": "k"})
        assert r.status_code == 200 and r.json()["aliases"] == {"staging": "v1"}


def test_a_version_name_always_means_that_version(tmp_path, model):
    """An alias named v2 pointing at v1 (written by hand) no longer makes "v2" serve v1."""
    _save(tmp_path, model)
    _save(tmp_path, model)
    (tmp_path / "m" / "aliases.json").write_text(json.dumps({"v2": "v1", "production": "v1"}))
    assert artifacts.resolve(tmp_path, "m", "v2").name == "v2"
    assert artifacts.resolve(tmp_path, "m").name == "v1"


def test_not_found_messages_are_bounded(tmp_path, model):
    _save(tmp_path, model)
    aliases = {f"alias{i:05d}" + "x" * 50: "v1" for i in range(2000)}
    (tmp_path / "m" / "aliases.json").write_text(json.dumps(aliases))
    with pytest.raises(NotFoundError) as exc:
        artifacts.resolve(tmp_path, "m", "y" * 100_000)
    assert _code(exc) == "E404" and len(exc.value.message) < 1000 and "1995 more" in exc.value.message


# ---------------------------------------------------------------------------------------------- the model cache


def test_model_cache_is_bounded(tmp_path, model):
    """Any ?version= loaded that version for good; at most max_loaded stay loaded, the least recently used go."""
    for _ in range(4):
        _save(tmp_path, model)
    cache = ModelCache(tmp_path, max_loaded=2)
    for v in ("v1", "v2", "v1", "v3", "v4"):
        cache.get("m", v)
    assert cache.loaded() == [("m", "v3"), ("m", "v4")]
    assert len(cache) == 2


def test_running_server_survives_a_damaged_entity_model(trained_entities, tmp_path, model):
    """Against `nlpipe serve` (uvicorn): the server exited 139 at start-up with a truncated CRF file present, and a
    predict request killed it. It now starts, answers that model with E451 and keeps serving."""
    import urllib.error
    import urllib.request

    from tests.conftest import nlpipe_serve

    models = _copy_entities(trained_entities, tmp_path)
    _truncate(models / "ents" / "v1" / CRF)
    _save(models, model, "good")
    env = {**os.environ, "NLPIPE_MODELS_DIR": str(models), "NLPIPE_HOME": str(tmp_path / "home")}

    def post(url: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    with nlpipe_serve(env) as base:
        for _ in range(2):
            status, body = post(base + "/v1/models/ents:predict", {"text": "Greta Holm works for Acme."})
            assert status == 500 and body["error"]["code"] == "E451"
        status, body = post(base + "/v1/models/good:predict", {"text": "great goal team"})
        assert status == 200 and body["predictions"][0]["predicted"] == ["sports"]
        with urllib.request.urlopen(base + "/health", timeout=60) as r:
            assert r.status == 200


def test_a_version_folder_reached_through_a_link_is_refused_and_listed_as_broken(tmp_path, model):
    outside = _save(tmp_path / "elsewhere", model)
    (tmp_path / "models" / "m").mkdir(parents=True)
    (tmp_path / "models" / "m" / "v1").symlink_to(outside)
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(artifacts.resolve(tmp_path / "models", "m"))
    assert _code(exc) == "E450"
    [row] = artifacts.list_models(tmp_path / "models")
    assert row["error"]["code"] == "E450"
