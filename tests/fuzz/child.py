"""The fuzz worker: ``python -m tests.fuzz.child MEMORY_BYTES WORKDIR``, started and fed by
:class:`tests.fuzz.harness.Worker`.

It limits its own address space (``RLIMIT_AS``), imports the readers, says ``ready``, then answers one JSON
line per request ``{"target": ..., "path": ...}`` with ``{"outcome", "detail", "peak_kb"}``: ``ok`` (the target
returned), ``coded`` (a coded NlpipeError; detail is the code), ``uncaught`` (any other exception; detail is the
traceback) or ``memory`` (MemoryError; the worker exits after answering, its heap may be damaged). A crash or a
hang shows up on the parent's side as a dead or silent worker. The protocol runs on a private copy of stdout:
fd 1 itself is pointed at stderr, so a library that prints cannot corrupt it.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
import warnings
from pathlib import Path


def _answer(out: int, message: dict[str, object]) -> None:
    os.write(out, (json.dumps(message) + "\n").encode())


def _peak_kb() -> int:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss`` it does not start from the parent's)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> int:
    memory, work = int(argv[0]), Path(argv[1])
    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    warnings.simplefilter("ignore")  # a library's warning is not a failure; pytest's "error" filter is not here
    import nlpipe.readers.dispatch.route  # noqa: F401
    import nlpipe.readers.pdf.reader  # noqa: F401 - imported once here, not timed with the first case
    from nlpipe.error_codes import CODES
    from nlpipe.errors import NlpipeError
    from tests.fuzz.targets import run_target

    _answer(out, {"ready": True, "peak_kb": _peak_kb()})
    for line in sys.stdin:
        request = json.loads(line)
        data = Path(request["path"]).read_bytes()
        try:
            run_target(request["target"], data, work)
        except MemoryError:
            _answer(out, {"outcome": "memory", "detail": "MemoryError", "peak_kb": _peak_kb()})
            return 3
        except NlpipeError as exc:
            if exc.code in CODES:
                _answer(out, {"outcome": "coded", "detail": exc.code, "peak_kb": _peak_kb()})
            else:
                _answer(out, {"outcome": "uncaught", "detail": f"undefined code {exc.code}: {exc}",
                              "peak_kb": _peak_kb()})  # fmt: skip
        except BaseException:  # noqa: BLE001 - every other exception is the defect this worker reports
            _answer(out, {"outcome": "uncaught", "detail": traceback.format_exc(limit=-12), "peak_kb": _peak_kb()})
        else:
            _answer(out, {"outcome": "ok", "detail": "", "peak_kb": _peak_kb()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
