"""Crash tests: `kill -9` at seeded points of `datasets import`, `ingest`, `train`, `models promote` and of a server
taking annotation writes, on SQLite and PostgreSQL (tests/reliability/scenarios.py says what each checks).

The fast suite kills each command at ``NLPIPE_CRASH_KILLS`` points (default 2) drawn from ``NLPIPE_CRASH_SEED``
(default 0); the ``slow`` test kills each at 8 points of a random seed, printed for a re-run. Every failure list
must be empty; a failure names the kill point and what was found.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from nlpipe.config import Settings
from tests.conftest import nlpipe_serve
from tests.reliability import scenarios
from tests.reliability.harness import World

KILLS = int(os.environ.get("NLPIPE_CRASH_KILLS") or 2)
SEED = int(os.environ.get("NLPIPE_CRASH_SEED") or 0)


def world(settings: Settings) -> World:
    return World(home=settings.home, models_dir=settings.models_dir, database_url=settings.database_url)


def assert_clean(tally: scenarios.Tally) -> None:
    failures = tally.server_errors + tally.lost + tally.inconsistent + tally.rerun_failed
    assert not failures, "\n".join(failures)
    assert tally.operations > 0


def test_crash_import(backend_settings: Settings) -> None:
    tally = scenarios.crash_import(world(backend_settings), SEED, KILLS)
    assert_clean(tally)


def test_crash_ingest(backend_settings: Settings) -> None:
    tally = scenarios.crash_ingest(world(backend_settings), SEED + 1, KILLS)
    assert_clean(tally)


def test_crash_train(backend_settings: Settings) -> None:
    tally = scenarios.crash_train(world(backend_settings), SEED + 2, KILLS)
    assert_clean(tally)


def test_crash_promote(backend_settings: Settings, trained: Settings) -> None:
    tally = scenarios.crash_promote(world(backend_settings), SEED + 3, KILLS, trained_models=trained.models_dir)
    assert_clean(tally)


def test_crash_label_writes(backend_settings: Settings) -> None:
    tally = scenarios.crash_labels(world(backend_settings), SEED + 4, max(1, KILLS // 2), serve=nlpipe_serve)
    assert_clean(tally)
    assert tally.kills >= 1


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["import", "ingest", "train", "promote", "labels"])
def test_crash_many_kill_points(backend_settings: Settings, trained: Settings, scenario: str, tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(1 << 30)
    print(f"NLPIPE_CRASH_SEED={seed}")
    w = world(backend_settings)
    if scenario == "promote":
        tally = scenarios.crash_promote(w, seed, 8, trained_models=trained.models_dir)
    elif scenario == "labels":
        tally = scenarios.crash_labels(w, seed, 4, serve=nlpipe_serve)
    else:
        tally = getattr(scenarios, f"crash_{scenario}")(w, seed, 8)
    assert_clean(tally)
