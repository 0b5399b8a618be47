"""The fuzz harness itself: each kind of failure a reader could have is caught and told apart, the worker
survives it, and a failing input is saved with what happened."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import strategies as st

from tests.fuzz.harness import Outcome, Tally, Worker, explore, save_reproducer


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory):
    w = Worker(tmp_path_factory.mktemp("fuzz-probes"), time_limit=3.0)
    yield w
    w.close()


@pytest.mark.parametrize(
    ("probe", "kind", "detail"),
    [
        ("probe-uncaught", "uncaught", "KeyError"),
        ("probe-undefined-code", "uncaught", "undefined code E000"),
        ("probe-crash", "crash", "killed by signal 11"),
        ("probe-hang", "hang", "no answer within 3 s"),
        ("probe-memory", "memory", "MemoryError"),
    ],
)
def test_each_failure_is_caught_and_the_worker_recovers(worker: Worker, probe: str, kind: str, detail: str) -> None:
    outcome = worker.run(probe, b"x")
    assert (outcome.kind, outcome.failed) == (kind, True)
    assert detail in outcome.detail
    after = worker.run("text", b"plain text after a failure")
    assert (after.kind, after.detail) == ("ok", "")
    assert 0 < after.peak_kb < 1536 * 1024


def test_a_coded_error_is_not_a_failure(worker: Worker) -> None:
    outcome = worker.run("text", b"")
    assert (outcome.kind, outcome.detail, outcome.failed) == ("coded", "E177", False)


def test_explore_counts_every_input_and_saves_failures(worker: Worker, tmp_path: Path) -> None:
    tally = Tally()
    saved: list[Path] = []

    def record(data: bytes, outcome: Outcome) -> None:
        tally.add(outcome)
        if outcome.failed:
            saved.append(save_reproducer(tmp_path, "probe-uncaught", data, outcome))

    explore(worker, "probe-uncaught", st.binary(min_size=1, max_size=4), record, max_examples=5, shrink=False)
    assert (tally.tried, tally.counts["uncaught"], tally.failures) == (5, 5, 5)
    assert len(saved) == 5 and all(p.read_bytes() and p.with_suffix(".txt").exists() for p in saved)
    assert "KeyError" in saved[0].with_suffix(".txt").read_text()
