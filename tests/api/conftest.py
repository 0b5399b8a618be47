"""Fixtures the API tests share."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe import artifacts


@pytest.fixture
def client_for(trained, tmp_path):
    """``make(settings=None, **overrides)``: a started TestClient over ``settings`` (default: the trained 'news'
    model) with a home of the test's own, the key ``k1`` configured and sent, and ``overrides`` applied."""
    opened: list[TestClient] = []

    def make(settings=None, **overrides: object) -> TestClient:
        base = settings or trained
        cfg = base.model_copy(update={"home": tmp_path / "home", "api_keys": ["k1"], **overrides})
        client = TestClient(create_app(cfg), headers={"X-API-Key": "k1"})
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def copy_version(models: Path, source: str, target: str) -> None:
    """Another version of 'news': a copy of ``source`` with its meta.json saying ``target`` (meta.json records the
    other files' checksums, so the copy loads like a saved version)."""
    shutil.copytree(models / "news" / source, models / "news" / target)
    meta = json.loads((models / "news" / target / "meta.json").read_text())
    (models / "news" / target / "meta.json").write_text(json.dumps({**meta, "version": target}))


def news_with_two_versions(trained_models: Path, models: Path) -> str:
    """The trained 'news' model copied into ``models`` (without its aliases or their history, which other tests
    change), a second version v99 beside it, and production on the first, whose name is returned."""
    ignore = shutil.ignore_patterns("aliases.json", "alias_history.jsonl")
    shutil.copytree(trained_models / "news", models / "news", ignore=ignore)
    [first] = artifacts.versions(models, "news")
    copy_version(models, first, "v99")
    artifacts.promote(models, "news", first)
    return first
