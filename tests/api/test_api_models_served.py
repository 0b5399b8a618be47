"""Issue 15 part 3: models in service -- name@version in predict routes, several versions loaded at once, promote
and rollback seen by a running server without a restart (the new version loaded first), the memory-aware LRU."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.model_cache import ModelCache
from nlpipe import artifacts
from nlpipe.errors import ConflictError
from tests.api.conftest import copy_version, news_with_two_versions

KEY = {"X-API-Key": "k1"}


@pytest.fixture
def two_versions(trained, tmp_path):
    """'news' in a models folder of its own with a second version v99, production on the first."""
    first = news_with_two_versions(trained.models_dir, tmp_path / "models")
    return trained.model_copy(update={"home": tmp_path / "home", "models_dir": tmp_path / "models",
                                      "api_keys": ["k1"], "model_refresh_seconds": 0.1}), first  # fmt: skip


def version_of(c: TestClient, path: str = "/v1/models/news:predict", **body: object) -> str:
    r = c.post(path, json={"text": "Shares of the bank fell", **body})
    assert r.status_code == 200, r.text
    return r.json()["version"]


def test_name_at_version_in_predict_routes(two_versions):
    cfg, first = two_versions
    with TestClient(create_app(cfg), headers=KEY) as c:
        assert version_of(c) == first
        assert version_of(c, "/v1/models/news@v99:predict") == "v99"
        assert version_of(c, "/v1/models/news@production:predict") == first
        assert version_of(c, "/v1/models/news@v99:predict", version="v99") == "v99"
        r = c.post("/v1/models/news@v99:predict", json={"text": "x y", "version": first})
        assert r.status_code == 422 and r.json()["error"]["code"] == "E419"
        r = c.post("/v1/models/news@v99:predictFile", files={"file": ("a.txt", b"Shares fell")})
        assert r.status_code == 200 and r.json()["version"] == "v99"
        assert {v for n, v in c.app.state.models.loaded() if n == "news"} == {first, "v99"}  # both loaded
        r = c.post("/v1/models/news@v404:predict", json={"text": "Shares fell"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "E404"


def test_promote_and_rollback_are_served_without_a_restart(two_versions):
    cfg, first = two_versions
    with TestClient(create_app(cfg), headers=KEY) as c:
        assert version_of(c) == first
        artifacts.promote(cfg.models_dir, "news", "v99")  # as another process (the CLI, another replica) does
        deadline = time.monotonic() + 10
        while version_of(c) != "v99":
            assert time.monotonic() < deadline, "the promote was not served within 10 s"
            time.sleep(0.05)
        assert ("news", "v99") in c.app.state.models.loaded()
        r = c.post("/v1/models/news:rollback", json={})
        assert r.status_code == 200 and r.json()["aliases"]["production"] == first
        deadline = time.monotonic() + 10
        while version_of(c) != first:
            assert time.monotonic() < deadline, "the rollback was not served within 10 s"
            time.sleep(0.05)
        r = c.post("/v1/models/news:rollback", json={})  # undoes the first promote: v99, the newest, was served
        assert r.status_code == 200 and r.json()["aliases"]["production"] == "v99"
        r = c.post("/v1/models/news:rollback", json={})  # nothing left to undo
        assert r.status_code == 409 and r.json()["error"]["code"] == "E462"


def test_refresh_loads_the_new_version_before_serving_it(two_versions, monkeypatch):
    cfg, first = two_versions
    cache = ModelCache(cfg.models_dir)
    held = cache.get("news")  # a request in flight holds this predictor
    assert held.version == first
    artifacts.promote(cfg.models_dir, "news", "v99")
    assert cache.get("news") is held  # not noticed until the refresh: no request waits for a load
    loads = []
    real = cache._load
    monkeypatch.setattr(cache, "_load", lambda name, path: loads.append(path.name) or real(name, path))
    assert cache.refresh() == [("news", first, "v99")]
    assert loads == ["v99"] and cache.get("news").version == "v99" and held.version == first
    assert cache.refresh() == []
    (cfg.models_dir / "news" / "v99" / "meta.json").write_text("{")  # damaged after the promote
    artifacts.promote(cfg.models_dir, "news", first)
    cache2 = ModelCache(cfg.models_dir)
    cache2.get("news")
    artifacts.promote(cfg.models_dir, "news", "v99")
    assert cache2.refresh() == [] and cache2.get("news").version == first  # the old one keeps serving


def test_rollback_walks_back_through_promotes(two_versions):
    cfg, first = two_versions
    models = cfg.models_dir
    copy_version(models, first, "v100")
    artifacts.promote(models, "news", "v99")
    artifacts.promote(models, "news", "v100")
    assert artifacts.rollback(models, "news")[:2] == ("v100", "v99")
    assert artifacts.rollback(models, "news")[:2] == ("v99", first)
    assert artifacts.rollback(models, "news")[:2] == (first, "v99")  # before production existed: the newest
    with pytest.raises(ConflictError) as err:
        artifacts.rollback(models, "news")
    assert err.value.code == "E462"
    artifacts.promote(models, "news", "v100", alias="staging")
    with pytest.raises(ConflictError):
        artifacts.rollback(models, "news", alias="staging")  # staging had no version before
    kinds = [(e["kind"], e["alias"], e["from"], e["to"]) for e in artifacts.alias_history(models, "news")]
    assert kinds[0] == ("promote", "production", "v99", first)  # v99 was the newest when production was made
    assert kinds[-3:] == [("rollback", "production", "v99", first), ("rollback", "production", first, "v99"),
                          ("promote", "staging", None, "v100")]  # fmt: skip


def test_lru_drops_versions_past_the_memory_cap(two_versions, monkeypatch):
    cfg, first = two_versions
    cache = ModelCache(cfg.models_dir, max_memory=1)  # any loaded model is over 1 byte: only the last one stays
    import api.model_cache as mc

    sizes = iter([0, 50_000_000, 50_000_000, 100_000_000])
    monkeypatch.setattr(mc, "resident_bytes", lambda: next(sizes))
    cache.get("news", first)
    cache.get("news", "v99")
    assert cache.loaded() == [("news", "v99")]
    assert cache.stats()[("news", "v99")].memory_bytes == 50_000_000
