"""API keys with names and scopes: `nlpipe keys create|list|revoke` (CliRunner, a real SQLite store), stored hashed,
and what the API makes of them (TestClient): scopes, revocation seen within seconds, anonymous predict, job
owners."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api import deps
from api.main import create_app
from nlpipe.config import get_settings
from nlpipe.keys import create_key
from nlpipe.store.db import open_store
from tests.api.test_api import assert_error
from tests.cli.test_cli import fails, ok
from tests.conftest import make_settings

TEXT = {"text": "The striker scored twice as the home team won the cup final"}


def test_keys_cli_create_list_revoke_and_errors():
    key = ok("keys", "create", "alice", "--scopes", "read,predict").stdout.strip()
    assert key.startswith("nlp_") and len(key) > 40
    listed = json.loads(ok("keys", "list", "--json").stdout)
    assert [(k["name"], k["scopes"], k["revoked_at"]) for k in listed] == [("alice", ["predict", "read"], None)]
    fails("E252", "keys", "create", "alice", "--scopes", "read")
    fails("E251", "keys", "create", "bob", "--scopes", "read,root")
    fails("E251", "keys", "create", "bob", "--scopes", " , ")
    fails("E250", "keys", "create", "bob/admin", "--scopes", "read")
    ok("keys", "revoke", "alice")
    [alice] = json.loads(ok("keys", "list", "--json").stdout)
    assert alice["revoked_at"] is not None
    fails("E253", "keys", "revoke", "carol")
    assert "alice" in ok("keys", "list").stdout
    db = (get_settings().home / "nlpipe.db").read_bytes()
    assert key.encode() not in db and key[4:].encode() not in db  # only its SHA-256 is stored


@pytest.fixture
def served(tmp_path, trained):
    """A server with stored keys (no NLPIPE_API_KEYS), and the keys by name."""
    settings = make_settings(tmp_path, models_dir=trained.models_dir)
    store = open_store(settings)
    keys = {name: create_key(store, name, scopes) for name, scopes in
            [("app", "predict"), ("other", "predict"), ("boss", "admin"), ("reader", "read")]}  # fmt: skip
    store.close()
    return settings, keys


def test_keys_scopes_and_revocation_in_a_running_app(served, monkeypatch):
    settings, keys = served
    monkeypatch.setattr(deps.KeyRing, "REFRESH", 0.0)  # re-read the store on every request
    with TestClient(create_app(settings)) as c:
        assert_error(c.post("/v1/models/news:predict", json=TEXT), 401, "E601")  # keys exist: predict is closed
        assert c.post("/v1/models/news:predict", json=TEXT, headers={"X-API-Key": keys["app"]}).status_code == 200
        err = assert_error(c.get("/v1/datasets", headers={"X-API-Key": keys["app"]}), 403, "E640")
        assert "'app'" in err["message"] and "read" in err["message"] and keys["app"] not in err["message"]
        assert c.get("/v1/datasets", headers={"X-API-Key": keys["reader"]}).status_code == 200
        store = open_store(settings)
        late = create_key(store, "late", "predict")  # made while the server runs: accepted at once
        assert c.post("/v1/models/news:predict", json=TEXT, headers={"X-API-Key": late}).status_code == 200
        from nlpipe.keys import revoke_key

        revoke_key(store, "app")
        store.close()
        assert_error(c.post("/v1/models/news:predict", json=TEXT, headers={"X-API-Key": keys["app"]}), 401, "E601")


def test_keys_anonymous_predict_setting(served):
    settings, keys = served
    with TestClient(create_app(settings.model_copy(update={"anonymous_predict": True}))) as c:
        assert c.post("/v1/models/news:predict", json=TEXT).status_code == 200
        assert c.get("/v1/models").status_code == 200
        assert_error(c.get("/v1/datasets"), 401, "E601")  # only predict is opened
        assert_error(c.post("/v1/models/news:predict", json=TEXT, headers={"X-API-Key": "bad"}), 401, "E601")


def test_keys_jobs_belong_to_the_key_that_made_them(served, tmp_path):
    settings, keys = served
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("The striker scored twice as the home team won the cup final")
    settings = settings.model_copy(update={"batch_root": root})
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/batch", json={"path": "a.txt", "models": ["news"]}, headers={"X-API-Key": keys["app"]})
        assert r.status_code == 202, r.text
        location = r.headers["location"]
        assert r.json()["job"]["owner"] == "app"
        assert c.get(location, headers={"X-API-Key": keys["app"]}).status_code == 200
        assert_error(c.get(location, headers={"X-API-Key": keys["other"]}), 403, "E641")
        assert_error(c.delete(location, headers={"X-API-Key": keys["other"]}), 403, "E641")
        assert_error(c.get(location + "/results", headers={"X-API-Key": keys["other"]}), 403, "E641")
        assert c.get(location, headers={"X-API-Key": keys["boss"]}).status_code == 200  # admin sees every job
        assert_error(c.get(location), 401, "E601")
