"""Fixtures the API tests share."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app


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
