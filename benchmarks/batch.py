"""`nlpipe batch predict` against a plain Python loop: docs/s with 1 and 2 workers, Dask, overhead, peak memory.

    .venv/bin/python benchmarks/batch.py [--docs 100000] [--items 10000] [--runs 5] [--models-dir DIR] [--quick]

Issue 14, part 4. A classifier is trained on the shared AG News test set (``../shared/datasets/ag_news/test.csv``,
read in place; 20 s model search, seed 0) into a temporary models folder, or reused from ``--models-dir`` when a
model ``agnews`` is there (trained into it otherwise). In a temporary folder the inputs are generated from the
AG News texts (``title\\ndescription``, cycling): a zip of ``--docs`` documents (one member each), and a
plain-text news archive of ten items separated by blank lines, repeated to ``--items`` items and cut with
``--split-on '\\n\\s*\\n'``.

Every measurement is a fresh child process under a memory cap (``RLIMIT_AS``, ``--memory-cap-gb`` per process,
inherited by the workers), timed from start to exit, its peak RSS read from ``wait4``:

- **nlpipe**: the real CLI, ``nlpipe batch predict INPUT -m agnews -o OUT -q`` with ``--workers 1``, ``--workers 2``
  and ``--engine dask --scheduler local --workers 2`` (a ``LocalCluster`` started by the run).
- **plain loop**: a child that loads the same predictor (``nlpipe.predict.load_predictor``), reads the same texts
  (the zip's members with ``zipfile``, the archive with ``re.split``), predicts them in batches of 256 with
  ``predictor.predict`` and writes one JSON line per text; it times its own loop (after the model is loaded).

Each input has a base of the same kind with a tenth of its documents, run with the same configurations: nlpipe's
docs/s are marginal, (docs - base docs) / (wall - base wall), so the fixed costs the two runs share (interpreter,
imports, a model load in every worker, pool or cluster start) drop out; the plain loop's are docs / its loop's
seconds. Medians of ``--runs`` rounds (nlpipe's walls paired with their base's of the same round); the
configurations of a round run one after the other, so each sees the same machine load (the 1-minute load average
is recorded before each child, and the machine's idle cores during it: a 2-worker run can only scale when the
machine has two cores to give it). End-to-end seconds (fixed costs included) are printed too. The archive's 10,000
items are under a second of work beyond the fixed costs, close to a shared machine's noise: at that size the
archive's ratios are printed as ``info``; run ``--items 100000`` (or more) and they are judged like the zip's.

Checks: on the zip (and on the archive from 100,000 items), 2 workers / 1 worker >= 1.7 (on 2 cores) and 1 worker /
plain loop >= 0.9; peak RSS of the 1-worker run at ``--docs`` within 10% of that on its base (the plain loop's peaks
are printed beside it: what reading the same input costs without nlpipe), the outputs of 1 worker, 2 workers and
Dask byte-identical (``cmp``) in every round, every document a row without error, and nlpipe's labels and scores
equal to the plain loop's. Dask against the local engine is reported without a target. The table is printed and
everything is written to ``benchmarks/results/batch.json``; the exit status is 1 when a check fails or a rate cannot
be measured (n/a: the full input was not slower than its base, the machine's noise being larger than the work
between them).
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.batch_report import NAMES, NLPIPE_ARGS, report, summarise  # noqa: E402

AG_NEWS = ROOT.parent / "shared" / "datasets" / "ag_news" / "test.csv"
RESULTS = ROOT / "benchmarks" / "results"
MODEL = "agnews"
SPLIT_ON = r"\n\s*\n"
LOOP_BATCH = 256  # nlpipe.predict.PREDICT_BATCH: what `nlpipe predict` uses


def ag_news() -> list[tuple[str, str, str]]:
    """(label, title, description) of every AG News test row; the label map is classes.txt's."""
    names = ["World", "Sports", "Business", "Sci/Tech"]
    with open(AG_NEWS, newline="", encoding="utf-8") as f:
        return [(names[int(row[0]) - 1], row[1], row[2]) for row in csv.reader(f)]


def train_model(models_dir: Path, home: Path, rows: list[tuple[str, str, str]]) -> str:
    """Train ``agnews`` into ``models_dir`` unless it is there; returns what was done."""
    if (models_dir / MODEL).is_dir():
        return f"reused {models_dir / MODEL}"
    sys.path.insert(0, str(ROOT))
    from nlpipe.config import Settings
    from nlpipe.store.db import open_store
    from nlpipe.store.importing import import_records
    from nlpipe.train import train
    from nlpipe.types import Record

    settings = Settings(home=home, models_dir=models_dir)
    store = open_store(settings)
    try:
        import_records(store, MODEL, (Record(text=f"{t} {d}", labels=[lab]) for lab, t, d in rows), create=True)
        result = train(store, settings, MODEL, MODEL, time_budget=20, seed=0)
    finally:
        store.close()
    return f"trained {result.name}@{result.version} ({result.best}, macro F1 {result.metrics['macro_f1']:.3f})"


def make_zip(path: Path, n: int, rows: list[tuple[str, str, str]]) -> Path:
    """A zip of ``n`` short documents (deflated), the AG News texts cycling, 1,000 per folder."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            _, title, description = rows[i % len(rows)]
            zf.writestr(f"news/{i // 1000:03d}/{i:06d}.txt", f"{title}\n{description}\n")
    return path


def make_archive(path: Path, items: int, rows: list[tuple[str, str, str]]) -> Path:
    """A plain-text news archive: ten items (title line, text) separated by blank lines -- one of them holding
    spaces, one a run of blank lines, Windows line ends in one -- repeated to ``items`` items."""
    separators = ["\n\n", "\n \t\n", "\n\n\n\n", "\r\n\r\n", "\n\n", "\n\n", "\n  \n", "\n\n", "\n\n", "\n\n"]
    block = [f"{t}\n{d}" for _, t, d in rows[:10]]
    with path.open("w", encoding="utf-8", newline="") as f:
        for i in range(items):
            f.write(block[i % 10] + separators[i % 10])
    return path


@dataclass
class Run:
    """One child: its wall seconds, peak RSS (KB), the 1-minute load average before it, the machine's idle cores
    during it (all processes', from /proc/stat), and how it ended."""

    seconds: float
    peak_kb: int
    load: float
    idle: float
    ok: bool
    detail: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine so far (idle includes iowait)."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return values[3] + values[4], sum(values)


def run_child(cmd: list[str], env: dict[str, str], cap: int, log: Path, timeout: float) -> Run:
    """Run ``cmd`` in a fresh child limited to ``cap`` bytes of address space; stdout and stderr go to ``log``
    (``.out`` / ``.err``). The child's own peak RSS comes from ``wait4``."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    load, before = os.getloadavg()[0], cpu_times()
    out, err = log.with_suffix(".out"), log.with_suffix(".err")
    with out.open("wb") as fo, err.open("wb") as fe:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fo, stderr=fe, preexec_fn=limit)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    after = cpu_times()
    idle = (after[0] - before[0]) / max(1, after[1] - before[1]) * (os.cpu_count() or 1)
    ok = proc.returncode == 0
    detail = "" if ok else f"exit {proc.returncode}: " + " | ".join(err.read_text(errors="replace").splitlines()[-3:])
    return Run(seconds, usage.ru_maxrss, load, idle, ok, detail)


def plain_loop_main() -> None:
    """The plain-loop child (``python -c "from benchmarks.batch import plain_loop_main; plain_loop_main()" INPUT
    OUT MODELS_DIR [SPLIT_ON]``): prints {"docs", "load_seconds", "loop_seconds"} as JSON."""
    started = time.perf_counter()
    path, out, models_dir = sys.argv[1:4]
    split_on = sys.argv[4] if len(sys.argv) > 4 else None
    sys.path.insert(0, str(ROOT))
    from nlpipe.predict import load_predictor

    predictor = load_predictor(Path(models_dir), MODEL)
    loaded = time.perf_counter()
    n, items = 0, plain_texts(path, split_on)
    with open(out, "w", encoding="utf-8") as f:
        while batch := list(itertools.islice(items, LOOP_BATCH)):
            ids, texts = zip(*batch, strict=True)
            n += _write_predictions(f, ids, predictor.predict(list(texts), top_k=5))
    done = time.perf_counter()
    print(json.dumps({"docs": n, "load_seconds": loaded - started, "loop_seconds": done - loaded}))


def plain_texts(path: str, split_on: str | None) -> Iterator[tuple[str, str]]:
    """(id, text): a zip's members in order, or a text file's items cut by ``split_on`` (stripped, empty dropped)."""
    if split_on is None:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, zf.read(info).decode("utf-8")
        return
    text = Path(path).read_text(encoding="utf-8").replace("\r\n", "\n")
    items = (item.strip() for item in re.split(split_on, text))
    for n, item in enumerate((item for item in items if item), 1):
        yield f"{path}#item-{n}", item


def _write_predictions(f: IO[str], ids: tuple[str, ...], predictions: list[Any]) -> int:
    for doc_id, prediction in zip(ids, predictions, strict=True):
        f.write(json.dumps({"id": doc_id, **prediction.to_dict()}, ensure_ascii=False) + "\n")
    return len(ids)


@dataclass
class Bench:
    """Where things are and how children are run."""

    tmp: Path
    models_dir: Path
    env: dict[str, str]
    cap: int
    timeout: float
    nlpipe: str
    runs: dict[str, dict[str, list[Run]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def record(self, group: str, config: str, run: Run) -> Run:
        self.runs.setdefault(group, {}).setdefault(config, []).append(run)
        if not run.ok:
            self.problems.append(f"{group} / {NAMES.get(config, config)}: {run.detail}")
        return run

    def nlpipe_run(self, group: str, config: str, source: Path, out: Path, split: bool) -> Run:
        cmd = [self.nlpipe, "batch", "predict", str(source), "-m", MODEL, "-o", str(out), "-q", *NLPIPE_ARGS[config]]
        if split:
            cmd += ["--split-on", SPLIT_ON]
        out.unlink(missing_ok=True)
        return self.record(group, config, run_child(cmd, self.env, self.cap, out.with_suffix(".log"), self.timeout))

    def plain_run(self, group: str, source: Path, out: Path, split: bool) -> Run:
        code = "from benchmarks.batch import plain_loop_main; plain_loop_main()"
        cmd = [sys.executable, "-c", code, str(source), str(out), str(self.models_dir)] + ([SPLIT_ON] if split else [])
        log = out.with_suffix(".log")
        run = run_child(cmd, self.env, self.cap, log, self.timeout)
        if run.ok:
            run.extra = json.loads(log.with_suffix(".out").read_text())
        return self.record(group, "plain", run)


@dataclass(frozen=True)
class Input:
    """An input of ``docs`` documents and its base: the same kind with a tenth of them, whose run has the same
    fixed costs (interpreter, imports, model loads in every worker, pool or cluster start)."""

    label: str
    source: Path
    docs: int
    base: Path
    base_docs: int
    split: bool


def check_output(bench: Bench, group: str, config: str, out: Path, reference: Path | None) -> Path | None:
    """The first 1-worker output of ``group`` is the reference; every other nlpipe output of it must be the same
    bytes (then it is removed). Returns the reference."""
    if not out.exists():
        return reference
    if reference is None:
        return out
    if not filecmp.cmp(reference, out, shallow=False):
        bench.problems.append(f"{group}: the output of {NAMES[config]} differs from the 1-worker output ({out})")
        return reference
    out.unlink()
    return reference


def compare_with_plain(reference: Path, plain: Path) -> tuple[int, int, int]:
    """(rows, error rows, rows whose labels and scores differ from the plain loop's) of nlpipe's output."""
    rows = errors = differ = 0
    with reference.open(encoding="utf-8") as a, plain.open(encoding="utf-8") as b:
        for line in a:
            row = json.loads(line)
            rows += 1
            errors += row["error"] is not None
            other = json.loads(b.readline() or "{}")
            mine = row["predictions"].get(MODEL) or {}
            differ += (mine.get("predicted"), mine.get("labels")) != (other.get("predicted"), other.get("labels"))
    return rows, errors, differ


def measure(bench: Bench, inputs: dict[str, Input], rounds: int) -> dict[str, dict[str, int]]:
    """``rounds`` rounds of every configuration on every input and its base; returns per input the rows, error
    rows and rows unlike the plain loop's of nlpipe's output."""
    references: dict[str, Path | None] = dict.fromkeys(inputs)
    outs = bench.tmp / "out"
    outs.mkdir(exist_ok=True)
    for r in range(rounds):
        for group, inp in inputs.items():
            bench.plain_run(group, inp.source, outs / f"{group}-plain.jsonl", inp.split)
            bench.plain_run(f"{group}-base", inp.base, outs / f"{group}-base-plain.jsonl", inp.split)
            for config in NLPIPE_ARGS:
                out = outs / f"{group}-{config}-{r}.jsonl"
                bench.nlpipe_run(group, config, inp.source, out, inp.split)
                references[group] = check_output(bench, group, config, out, references[group])
                bench.nlpipe_run(f"{group}-base", config, inp.base, outs / f"{group}-base-{config}.jsonl", inp.split)
            print(f"round {r + 1}/{rounds}: {inp.label} done (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    checks = {}
    for group in inputs:
        reference, plain = references[group], outs / f"{group}-plain.jsonl"
        rows, errors, differ = compare_with_plain(reference, plain) if reference and plain.exists() else (0, 0, 0)
        checks[group] = {"rows": rows, "errors": errors, "differ": differ}
    return checks


def make_inputs(tmp: Path, docs: int, items: int, rows: list[tuple[str, str, str]]) -> dict[str, Input]:
    """The zip and the news archive, each with its base (a tenth of the documents)."""
    small_docs, small_items = max(1, docs // 10), max(1, items // 10)
    return {
        "zip": Input(f"zip of {docs:,} docs", make_zip(tmp / "news.zip", docs, rows), docs,
                     make_zip(tmp / "news-base.zip", small_docs, rows), small_docs, False),
        "archive": Input(f"archive of {items:,} items", make_archive(tmp / "archive.txt", items, rows), items,
                         make_archive(tmp / "archive-base.txt", small_items, rows), small_items, True),
    }  # fmt: skip


def child_env(home: Path, models_dir: Path) -> dict[str, str]:
    """The children's environment: this one without NLPIPE_* settings, plus the run's folders (batch's own archive
    member limit, NLPIPE_MAX_BATCH_ARCHIVE_MEMBERS, admits the zip as it is)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")}
    env.update(NLPIPE_HOME=str(home), NLPIPE_MODELS_DIR=str(models_dir), PYTHONPATH=str(ROOT))
    return env


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the zip (default 100,000)")
    parser.add_argument("--items", type=int, default=10_000, help="items of the news archive (default 10,000)")
    parser.add_argument("--runs", type=int, default=5, help="rounds; medians are reported (default 5)")
    parser.add_argument("--quick", action="store_true", help="10,000 documents and one round")
    parser.add_argument("--models-dir", type=Path, help="reuse the model 'agnews' here (trained into it if missing)")
    parser.add_argument("--memory-cap-gb", type=float, default=4.0, help="address space per process (default 4)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one child may take (default 1800)")
    args = parser.parse_args(argv)
    if args.quick:
        args.docs, args.runs = min(args.docs, 10_000), 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cap = int(args.memory_cap_gb * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))  # this process too (it trains the model)
    nlpipe = Path(sys.executable).parent / "nlpipe"
    if not nlpipe.exists():
        sys.exit(f"{nlpipe} not found: run this with the project's interpreter (.venv/bin/python) after make install")
    started = time.monotonic()
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime: {uptime_before}; {os.cpu_count()} cores", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="nlpipe-batch-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        rows = ag_news()
        models_dir = args.models_dir or tmp / "models"
        print(train_model(models_dir, tmp / "home", rows), file=sys.stderr)
        inputs = make_inputs(tmp, args.docs, args.items, rows)
        bench = Bench(tmp, models_dir, child_env(tmp / "home", models_dir), cap, args.timeout, str(nlpipe))
        checks = measure(bench, inputs, args.runs)
    summary = summarise(bench, inputs)
    text, checks_rows = report(summary, checks, inputs, bench.problems)
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    loads = [r.load for group in bench.runs.values() for runs in group.values() for r in runs]
    print(text)
    print(f"\nload (1-min) before the children: {min(loads):.2f}-{max(loads):.2f}; uptime before: {uptime_before}; "
          f"after: {uptime_after}; {time.monotonic() - started:.0f} s in all")  # fmt: skip
    for problem in bench.problems:
        print(f"  problem: {problem}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "cores": os.cpu_count(), "uptime_before": uptime_before, "uptime_after": uptime_after,
              "summary": summary, "checks": checks_rows, "problems": bench.problems,
              "runs": {g: {c: [asdict(r) for r in runs] for c, runs in group.items()}
                       for g, group in bench.runs.items()}}  # fmt: skip
    (RESULTS / "batch.json").write_text(json.dumps(result, indent=2) + "\n")
    return 1 if any(v in ("FAIL", "n/a") for *_, v in checks_rows) else 0


if __name__ == "__main__":
    sys.exit(main())
