"""Error bodies tell an anonymous client what went wrong, not how the server is laid out (D15): no absolute
paths, no Python object reprs, no exception class names; the server log keeps the details."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.errors import ArtifactError
from tests.api.test_api import assert_error
from tests.conftest import make_settings


def leaks(body: str, *roots: object) -> list[str]:
    found = [str(r) for r in roots if str(r) in body]
    found += [s for s in (" at 0x", "<class ", "Traceback", "ZeroDivisionError") if s in body]
    return found


def test_unknown_model_and_version_name_no_server_path(tmp_path, trained):
    settings = make_settings(tmp_path, models_dir=trained.models_dir)
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/models/nope:predict", json={"text": "x"})
        err = assert_error(r, 404, "E403")
        assert leaks(r.text, trained.models_dir, tmp_path) == []
        assert "in models/" in err["message"]
        assert_error(c.get("/v1/models/news", params={"version": "v9"}), 404, "E404")


def test_a_damaged_model_is_reported_relative_to_the_models_folder(tmp_path, trained_entities, caplog):
    """Errors about model files (E451 here: a file recorded in meta.json is missing; E431, the E40x family) name them
    as models/<name>/<version>/..., the log has the full path."""
    models = tmp_path / "models"
    shutil.copytree(trained_entities.models_dir, models)
    good = models / "ents" / "v1"
    shutil.copytree(good, models / "ents" / "v2")  # v2 (the newest) is loaded at start; v1 is damaged
    (good / "spacy" / "nlpipe_crf_ner" / "features.json").unlink()
    settings = make_settings(tmp_path, models_dir=models)
    caplog.set_level(logging.ERROR, logger="nlpipe.api")
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/models/ents:predict", json={"text": "Acme hired Maria", "version": "v1"})
    err = assert_error(r, 500, "E451")
    assert leaks(r.text, tmp_path) == [], r.text
    assert "models/ents/v1" in err["message"] and "features.json" in err["message"]
    assert str(models) in caplog.text  # the operator still sees where


@pytest.fixture
def app_with_failing_routes(tmp_path):
    settings = make_settings(tmp_path)
    app = create_app(settings)
    secret = settings.home / "secret" / "file.bin"

    def artifact() -> None:
        raise ArtifactError("E431", f"{secret} holds <spacy.lang.en.English object at 0x7f3a2b1c> of <class 'x.Y'>.")

    def crash() -> None:
        raise ZeroDivisionError(f"{secret} at /srv/private/data.db")

    app.add_api_route("/test/artifact", artifact)
    app.add_api_route("/test/crash", crash)
    return app, settings


def test_object_reprs_and_paths_are_redacted_from_library_errors(app_with_failing_routes):
    app, settings = app_with_failing_routes
    with TestClient(app) as c:
        r = c.get("/test/artifact")
    err = assert_error(r, 500, "E431")
    assert leaks(r.text, settings.home.parent) == [], r.text
    assert err["message"] == "NLPIPE_HOME/secret/file.bin holds <object> of <class>."


def test_an_unexpected_error_gives_a_request_id_and_logs_the_traceback(app_with_failing_routes, caplog):
    app, settings = app_with_failing_routes
    caplog.set_level(logging.ERROR, logger="nlpipe.api")
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/test/crash")
    err = assert_error(r, 500, "E699")
    assert leaks(r.text, settings.home.parent, "/srv/private") == [], r.text
    request_id = err["details"]["request_id"]
    assert request_id in err["message"] and r.headers["X-Request-ID"] == request_id
    [record] = [rec for rec in caplog.records if request_id in rec.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    assert json.loads(r.text)["error"]["details"] == {"request_id": request_id}
