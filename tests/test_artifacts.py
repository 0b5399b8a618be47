from __future__ import annotations

import json
import zipfile

import pytest
import skops.io as sio

from nlpipe import artifacts
from nlpipe.errors import ArtifactError, InputError, NotFoundError
from nlpipe.tasks.classify.model import TextClassifier

TEXTS = ["good match win", "great goal team", "vote election law", "senate vote bill"] * 5
LABELS = [["sports"], ["sports"], ["politics"], ["politics"]] * 5


@pytest.fixture(scope="module")
def model():
    return TextClassifier(time_budget=5).fit(TEXTS, LABELS)


def _save(tmp_path, model, name="m"):
    return artifacts.save(
        tmp_path, name, model, {"task": "classify", "format": "nlpipe.classify.v1", "labels": list(model.labels_)}
    )


def test_artifacts_versions_and_aliases(tmp_path, model):
    assert _save(tmp_path, model).name == "v1"
    assert _save(tmp_path, model).name == "v2"
    assert artifacts.versions(tmp_path, "m") == ["v1", "v2"]
    assert artifacts.resolve(tmp_path, "m").name == "v2"  # newest without production
    artifacts.promote(tmp_path, "m", "v1")
    assert artifacts.resolve(tmp_path, "m").name == "v1"
    assert artifacts.resolve(tmp_path, "m", "production").name == "v1"
    assert artifacts.resolve(tmp_path, "m", "v2").name == "v2"
    rows = artifacts.list_models(tmp_path)
    assert [(r["version"], r["aliases"]) for r in rows] == [("v1", ["production"]), ("v2", [])]


def test_artifacts_load_round_trip(tmp_path, model):
    loaded = artifacts.load(_save(tmp_path, model))
    assert loaded.name == "m" and loaded.version == "v1"
    assert (loaded.model.predict_proba(TEXTS) == model.predict_proba(TEXTS)).all()


@pytest.mark.parametrize(("limit", "kind"), [(10**9, zipfile.ZIP_LZMA), (0, zipfile.ZIP_DEFLATED)])
def test_artifacts_model_files_are_compressed(tmp_path, model, monkeypatch, limit, kind):
    """Small models are LZMA-compressed, large ones (over LZMA_MAX_BYTES) deflated; both load the same model."""
    monkeypatch.setattr(artifacts, "LZMA_MAX_BYTES", limit)
    path = _save(tmp_path, model)
    with zipfile.ZipFile(path / artifacts.MODEL_FILE) as z:
        assert {i.compress_type for i in z.infolist() if i.filename.endswith(".npy")} == {kind}
    assert (artifacts.load(path).model.predict_proba(TEXTS) == model.predict_proba(TEXTS)).all()


def test_artifacts_unknown_name_and_version(tmp_path, model):
    with pytest.raises(NotFoundError) as exc:
        artifacts.resolve(tmp_path, "m")
    assert exc.value.code == "E403"
    _save(tmp_path, model)
    with pytest.raises(NotFoundError) as exc:
        artifacts.resolve(tmp_path, "m", "v3")
    assert exc.value.code == "E404" and "v1" in exc.value.message
    with pytest.raises(InputError):
        artifacts.resolve(tmp_path, "../etc")


def test_artifacts_refuse_other_sklearn_version(tmp_path, model):
    path = _save(tmp_path, model)
    meta = json.loads((path / "meta.json").read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert exc.value.code == "E407" and "0.24.2" in exc.value.message


def test_artifacts_refuse_unknown_format(tmp_path, model):
    path = _save(tmp_path, model)
    meta = json.loads((path / "meta.json").read_text())
    meta["format"] = "nlpipe.classify.v99"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert exc.value.code == "E406"


class Sneaky:
    """Not a trusted type: loading a file that holds it must fail before anything is built."""

    def __init__(self) -> None:
        self.x = 1


def _rerecord(path) -> None:
    """Record a version's files again in its meta.json after a test changed one: the file then passes the checksum
    check and reaches the loader's own checks (as a file written together with a matching meta.json would)."""
    from nlpipe.tasks.integrity import file_records

    meta = json.loads((path / "meta.json").read_text())
    meta["files"] = file_records(path)
    (path / "meta.json").write_text(json.dumps(meta))


def test_artifacts_refuse_untrusted_types(tmp_path, model):
    path = _save(tmp_path, model)
    sio.dump({"model": Sneaky()}, path / "model.skops")
    _rerecord(path)
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert exc.value.code == "E408" and "Sneaky" in exc.value.message


def test_artifacts_damaged_files(tmp_path, model):
    path = _save(tmp_path, model)
    (path / "model.skops").write_bytes(b"not a zip file")
    _rerecord(path)
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert exc.value.code == "E410"
    (path / "meta.json").write_text("{broken")
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(path)
    assert exc.value.code == "E405"


def _as_saved_before_the_move(model_file, renamed: dict[str, str]) -> None:
    """Rewrite a skops file as nlpipe wrote it before its classes moved module: the old dotted class names."""
    from nlpipe.tasks.saved import renamed_schema

    with zipfile.ZipFile(model_file) as z:
        entries = {i.filename: z.read(i) for i in z.infolist()}
    schema = json.loads(entries["schema.json"])
    assert renamed_schema(schema, {new: old for old, new in renamed.items()})
    entries["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(model_file, "w", compression=zipfile.ZIP_LZMA) as z:
        for name, body in entries.items():
            z.writestr(name, body)


def test_artifacts_load_models_saved_with_the_old_class_paths(tmp_path, model):
    """Models saved before the tasks became packages name nlpipe.tasks.classify.TextClassifier (etc.): they load."""
    from nlpipe.tasks.classify.task import TASK

    path = _save(tmp_path, model)
    _as_saved_before_the_move(path / artifacts.MODEL_FILE, dict(TASK.renamed_types))
    _rerecord(path)
    found = set(sio.get_untrusted_types(file=path / artifacts.MODEL_FILE))
    assert "nlpipe.tasks.classify.TextClassifier" in found and "nlpipe.tasks.classify.model.TextClassifier" not in found
    loaded = artifacts.load(path)
    assert type(loaded.model) is TextClassifier
    assert (loaded.model.predict_proba(TEXTS) == model.predict_proba(TEXTS)).all()


def test_artifacts_every_renamed_type_is_trusted_and_importable():
    import importlib

    from nlpipe.tasks import registry

    for name in registry.names():
        task = registry.get(name)
        for old, new in task.renamed_types.items():
            assert old != new and new in task.trusted_types, (name, new)
            module, cls = new.rsplit(".", 1)
            assert getattr(importlib.import_module(module), cls).__name__ == cls
