"""Run reader and importer targets on generated inputs in a child process under a memory and a time limit.

:class:`Worker` keeps one child (:mod:`tests.fuzz.child`) alive across cases and starts a new one after a crash,
a hang (the child is killed at the time limit) or a MemoryError. :func:`explore` feeds a target the inputs of a
hypothesis strategy and hands every :class:`Outcome` to a callback: the tests fail on the first bad one (and
hypothesis shrinks it), ``benchmarks/reliability.py`` counts them all. Inputs that fail are saved as files by
:func:`save_reproducer` so they can be replayed with :meth:`Worker.run`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 1536 * 1024 * 1024  # RLIMIT_AS of the child: 1.5 GiB of address space
TIME_LIMIT = 20.0  # seconds per case
START_LIMIT = 120.0  # seconds for the child to import the readers
FAILURES = ("uncaught", "memory", "crash", "hang")
FAST_EXAMPLES = 25


def examples(default: int = FAST_EXAMPLES) -> int:
    """Examples per target: ``NLPIPE_FUZZ_EXAMPLES`` when set (the long profile), else ``default``."""
    value = os.environ.get("NLPIPE_FUZZ_EXAMPLES", "").strip()
    return int(value) if value else default


@dataclass
class Outcome:
    """``ok``, ``coded`` (detail: the code), or a failure: ``uncaught`` (detail: the traceback), ``memory``,
    ``crash`` (detail: the exit status or signal) or ``hang`` (killed at the time limit)."""

    kind: str
    detail: str
    seconds: float
    peak_kb: int

    @property
    def failed(self) -> bool:
        return self.kind in FAILURES


class Worker:
    """One child process that runs targets; restarted whenever it dies or hangs."""

    def __init__(self, work: Path, *, memory: int = MEMORY_LIMIT, time_limit: float = TIME_LIMIT) -> None:
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.memory, self.time_limit = memory, time_limit
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self.restarts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")}
        env.update(NLPIPE_HOME=str(self.work / "home"), NLPIPE_MODELS_DIR=str(self.work / "models"),
                   OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))  # fmt: skip
        self._buf = b""
        with open(self.work / "child.log", "ab") as log:  # the child's stderr (the parent's copy closes here)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fuzz.child", str(self.memory), str(self.work)],
                cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            )  # fmt: skip
        ready = self._reply(START_LIMIT)
        if not ready or not ready.get("ready"):
            self._kill()
            raise RuntimeError(f"the fuzz worker did not start; see {self.work / 'child.log'}")
        return self.proc

    def _reply(self, limit: float) -> dict[str, object] | None:
        """The child's next JSON line; ``{}`` when its output closed (it died), None when it stayed silent for
        ``limit`` seconds."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + limit
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return {}
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return dict(json.loads(line))

    def _kill(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        status = proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        self.restarts += 1
        return status

    def run(self, target: str, data: bytes) -> Outcome:
        """Run ``target`` on ``data`` in the child and say what happened."""
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        case = self.work / "case.bin"
        case.write_bytes(data)
        assert proc.stdin is not None
        started = time.monotonic()
        try:
            proc.stdin.write((json.dumps({"target": target, "path": str(case)}) + "\n").encode())
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        reply = self._reply(self.time_limit)
        seconds = time.monotonic() - started
        if reply is None:
            self._kill()
            return Outcome("hang", f"no answer within {self.time_limit:.0f} s", seconds, 0)
        if not reply:
            return Outcome("crash", _status(self._kill()), seconds, 0)
        outcome = Outcome(str(reply["outcome"]), str(reply["detail"]), seconds, int(str(reply["peak_kb"])))
        if outcome.kind == "memory":
            self._kill()
        return outcome

    def close(self) -> None:
        if self.proc is not None:
            self._kill()
            self.restarts -= 1


def _status(status: int | None) -> str:
    if status is not None and status < 0:
        return f"killed by signal {-status}"
    return f"exited with status {status}"


def save_reproducer(folder: Path, target: str, data: bytes, outcome: Outcome) -> Path:
    """Write the failing input (and what happened) under ``folder``; returns the input's path."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{target}-{outcome.kind}-{len(list(folder.glob('*.bin')))}"
    path = folder / f"{stem}.bin"
    path.write_bytes(data)
    (folder / f"{stem}.txt").write_text(f"{target}: {outcome.kind} after {outcome.seconds:.1f} s\n{outcome.detail}\n")
    return path


@dataclass
class Tally:
    """What one target did over many inputs (the rows of ``benchmarks/reliability.py``)."""

    tried: int = 0
    ok: int = 0
    coded: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURES, 0))
    peak_kb: int = 0
    seconds: float = 0.0
    codes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.tried += 1
        self.seconds += outcome.seconds
        self.peak_kb = max(self.peak_kb, outcome.peak_kb)
        if outcome.kind == "ok":
            self.ok += 1
        elif outcome.kind == "coded":
            self.coded += 1
            self.codes[outcome.detail] = self.codes.get(outcome.detail, 0) + 1
        else:
            self.counts[outcome.kind] += 1

    @property
    def failures(self) -> int:
        return sum(self.counts.values())


def explore(
    worker: Worker,
    target: str,
    strategy: st.SearchStrategy[bytes],
    on_outcome: Callable[[bytes, Outcome], None],
    *,
    max_examples: int,
    derandomize: bool = True,
    shrink: bool = True,
) -> None:
    """Run ``target`` on ``max_examples`` inputs drawn from ``strategy``; ``on_outcome`` sees each one (raise
    there to fail: hypothesis then shrinks the input when ``shrink`` is true)."""
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if shrink else [])]

    @settings(
        max_examples=max_examples, derandomize=derandomize, deadline=None, database=None, phases=phases,
        suppress_health_check=list(HealthCheck), print_blob=False,
    )  # fmt: skip
    @given(strategy)
    def run(data: bytes) -> None:
        on_outcome(data, worker.run(target, data))

    run()
