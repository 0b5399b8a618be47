"""Concurrency against a running uvicorn on SQLite (WAL) and PostgreSQL: parallel promoters (API clients and
processes), uploaders, labelers and predictors at once; no 5xx, no lost write, nothing inconsistent afterwards
(tests/reliability/concurrency.py says what is counted)."""

from __future__ import annotations

import pytest

from nlpipe.config import Settings
from tests.conftest import nlpipe_serve
from tests.reliability.concurrency import run_concurrency
from tests.reliability.harness import World


def _world(settings: Settings) -> World:
    return World(home=settings.home, models_dir=settings.models_dir, database_url=settings.database_url)


def _assert_clean(tally) -> None:
    failures = tally.server_errors + tally.lost + tally.inconsistent
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


def test_concurrent_promoters_uploaders_labelers_predictors(backend_settings: Settings, trained: Settings) -> None:
    tally = run_concurrency(_world(backend_settings), serve=nlpipe_serve, trained_models=trained.models_dir)
    _assert_clean(tally)
    assert tally.operations > 100


@pytest.mark.slow
def test_concurrency_longer(backend_settings: Settings, trained: Settings) -> None:
    tally = run_concurrency(_world(backend_settings), serve=nlpipe_serve, trained_models=trained.models_dir,
                            rounds=10, clients=6)  # fmt: skip
    _assert_clean(tally)
