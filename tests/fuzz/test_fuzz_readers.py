"""Property: every reader and importer, given any bytes, and the model loaders, given a model folder with a damaged
file, return a result or raise a coded NlpipeError -- never another exception, a crash, a hang or unbounded memory.

Each input runs in a child process (``tests/fuzz/child.py``) limited to 1.5 GiB of address space and 20 s; one
child serves all targets and is restarted after a failure. The fast profile (``FAST_EXAMPLES`` deterministic
inputs per target) runs with ``make test``; ``NLPIPE_FUZZ_EXAMPLES=N`` sets the number for the slow profile
(``-m slow``, random inputs) and ``benchmarks/reliability.py`` runs the same harness with more. A failing input is
saved under the test's tmp dir (``reproducers/``) with its traceback or signal; the test names the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.harness import Outcome, Worker, examples, explore, save_reproducer
from tests.fuzz.strategies import STRATEGIES

TARGETS = sorted(STRATEGIES)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = Worker(tmp_path_factory.mktemp("fuzz-worker"))
    yield w
    w.close()


def _check(worker: Worker, target: str, tmp_path: Path, *, max_examples: int, derandomize: bool) -> None:
    def fail_on_bad(data: bytes, outcome: Outcome) -> None:
        if outcome.failed:
            path = save_reproducer(tmp_path / "reproducers", target, data, outcome)
            pytest.fail(f"{target}: {outcome.kind} on the input saved as {path}:\n{outcome.detail}", pytrace=False)

    explore(worker, target, STRATEGIES[target], fail_on_bad, max_examples=max_examples, derandomize=derandomize)


@pytest.mark.parametrize("target", TARGETS)
def test_reader_gives_a_result_or_a_coded_error(worker: Worker, target: str, tmp_path: Path) -> None:
    _check(worker, target, tmp_path, max_examples=examples(), derandomize=True)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_reader_gives_a_result_or_a_coded_error_long(worker: Worker, target: str, tmp_path: Path) -> None:
    _check(worker, target, tmp_path, max_examples=examples(300), derandomize=False)
