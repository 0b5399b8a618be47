"""Reliability of the readers and importers under damaged and hostile input: the fuzz harness of ``tests/fuzz``
with more examples.

    .venv/bin/python benchmarks/reliability.py [--examples 200] [--target pdf --target zip ...] [--seed 0]
    .venv/bin/python benchmarks/reliability.py --contract [--contract-examples 200] [--postgres URL]

Each target (a reader or a label import format, see ``tests/fuzz/targets.py``) gets ``--examples`` inputs from
its hypothesis strategy (``tests/fuzz/strategies.py``: real and generated files, mutated), each run in a child
process limited to 1.5 GiB of address space and 20 s. The table counts per target: inputs tried, results, coded
errors (``NlpipeError``), uncaught exceptions, MemoryErrors, crashes (the child died), hangs (killed at the time
limit), the child's peak resident memory and the time spent. Every failure count should be zero: the exit status
is 1 otherwise, and each failing input is saved under ``benchmarks/results/reliability/`` with what happened.
The default number of examples is ``NLPIPE_FUZZ_EXAMPLES`` or 200.

``--contract`` adds the service's contract (``benchmarks/reliability_contract.py``): schemathesis cases for every
operation of the OpenAPI document, ``--contract-examples`` per operation and pass (``NLPIPE_CONTRACT_EXAMPLES`` or
200), on SQLite and, with ``--postgres URL`` (or ``NLPIPE_TEST_POSTGRES_URL``), PostgreSQL: cases tried, 2xx,
4xx, 5xx and schema violations, both failure counts zero. ``--contract-only`` skips the readers.

A second table (``--crash``, or ``--only-crash``) is the crash and concurrency section (``tests/reliability``):
``kill -9`` at ``--kills`` seeded points of each of ``datasets import``, ``ingest``, ``train``, ``models
promote`` and a server taking annotation writes, then a re-run; and promoters, uploaders, labelers and
predictors at once against a running server. It runs on SQLite, and on PostgreSQL too when
``NLPIPE_TEST_POSTGRES_URL`` names a server (``eval "$(bash .ci/services.sh start)"``; its database is emptied).
Per scenario and database: operations tried, kills, 5xx, lost writes, inconsistencies found after the kills
(``nlpipe doctor`` and the store's own checks), re-runs that failed, the peak memory of a command or server
process, and the time spent. Every failure count should be zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reliability_contract import (  # noqa: E402
    contract_failures,
    contract_summary,
    contract_table,
    run_contract,
)
from tests.fuzz.harness import FAILURES, Outcome, Tally, Worker, explore, save_reproducer  # noqa: E402
from tests.fuzz.strategies import STRATEGIES  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def run(targets: list[str], examples: int, seed: int, out: Path) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory(prefix="nlpipe-fuzz-") as tmp:
        for target in targets:
            worker = Worker(Path(tmp) / target)  # a fresh child per target: its peak memory is this target's
            tally = tallies[target] = Tally()

            def record(data: bytes, outcome: Outcome, target: str = target, tally: Tally = tally) -> None:
                tally.add(outcome)
                if outcome.failed:
                    path = save_reproducer(out, target, data, outcome)
                    print(f"  {target}: {outcome.kind} -> {path}\n    {outcome.detail.strip().splitlines()[-1:]}")

            started = time.monotonic()
            try:
                explore(worker, target, STRATEGIES[target], record, max_examples=examples,
                        derandomize=seed == 0, shrink=False)  # fmt: skip
            finally:
                worker.close()
            print(f"{target}: {tally.tried} inputs in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return tallies


def table(tallies: dict[str, Tally]) -> str:
    head = ("target", "tried", "results", "coded", *FAILURES, "peak MB", "s")
    rows = [head]
    for name, t in tallies.items():
        rows.append((name, str(t.tried), str(t.ok), str(t.coded), *(str(t.counts[k]) for k in FAILURES),
                     f"{t.peak_kb / 1024:.0f}", f"{t.seconds:.0f}"))  # fmt: skip
    total = Tally()
    for t in tallies.values():
        total.tried += t.tried
        total.ok += t.ok
        total.coded += t.coded
        total.seconds += t.seconds
        total.peak_kb = max(total.peak_kb, t.peak_kb)
        for k in FAILURES:
            total.counts[k] += t.counts[k]
    rows.append(("TOTAL", str(total.tried), str(total.ok), str(total.coded), *(str(total.counts[k]) for k in FAILURES),
                 f"{total.peak_kb / 1024:.0f}", f"{total.seconds:.0f}"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]  # fmt: skip
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.insert(-1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


CRASH_HEAD = ("scenario", "database", "operations", "kills", "5xx", "lost writes", "inconsistent", "re-run failed",
              "peak MB", "s")  # fmt: skip


def _trained_news(tmp: Path) -> Path:
    """A news classifier (data/news.jsonl) for the promote and concurrency scenarios: its models folder."""
    from nlpipe.label.formats import read_records
    from nlpipe.store.db import open_store
    from nlpipe.store.importing import import_records
    from nlpipe.train import train
    from tests.reliability.harness import DATA, World

    world = World(home=tmp / "home", models_dir=tmp / "models")
    cfg = world.settings()
    st = open_store(cfg)
    try:
        import_records(st, "news", read_records(DATA / "news.jsonl"), create=True)
        train(st, cfg, "news", "news", time_budget=5)
    finally:
        st.close()
    return world.models_dir


def run_crash_section(results: Path, *, seed: int, kills: int) -> int:
    """The crash and concurrency table (see the module docstring); returns the number of failures."""
    from tests.conftest import POSTGRES_URL, _reset_postgres, nlpipe_serve
    from tests.reliability import scenarios
    from tests.reliability.concurrency import run_concurrency
    from tests.reliability.harness import World

    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    if POSTGRES_URL:
        databases.append(("postgres", POSTGRES_URL))
    rows: list[tuple[str, ...]] = [CRASH_HEAD]
    summary: dict[str, dict[str, object]] = {}
    failures = 0
    with tempfile.TemporaryDirectory(prefix="nlpipe-crash-") as tmp_dir:
        tmp = Path(tmp_dir)
        trained = _trained_news(tmp / "trained")
        runs: dict[str, object] = {
            "import": lambda w, i: scenarios.crash_import(w, seed + i, kills),
            "ingest": lambda w, i: scenarios.crash_ingest(w, seed + i, kills),
            "train": lambda w, i: scenarios.crash_train(w, seed + i, kills),
            "promote": lambda w, i: scenarios.crash_promote(w, seed + i, kills, trained_models=trained),
            "label writes": lambda w, i: scenarios.crash_labels(w, seed + i, max(1, kills // 2), serve=nlpipe_serve),
            "concurrency": lambda w, i: run_concurrency(
                w, serve=nlpipe_serve, trained_models=trained, rounds=4, clients=4
            ),  # fmt: skip
        }
        for db, url in databases:
            for i, (name, scenario) in enumerate(runs.items()):
                if url:
                    _reset_postgres(url)
                folder = tmp / f"{db}-{i}"
                world = World(home=folder / "home", models_dir=folder / "models", database_url=url)
                (folder / "home").mkdir(parents=True)
                t = scenario(world, i)  # type: ignore[operator]
                failures += t.failures
                counts = (t.operations, t.kills, len(t.server_errors), len(t.lost), len(t.inconsistent),
                          len(t.rerun_failed))  # fmt: skip
                rows.append((name, db, *map(str, counts), f"{t.peak_mb:.0f}", f"{t.seconds:.0f}"))
                summary[f"{name} ({db})"] = {"operations": t.operations, "kills": t.kills, "5xx": t.server_errors,
                                             "lost": t.lost, "inconsistent": t.inconsistent,
                                             "rerun_failed": t.rerun_failed, "peak_mb": round(t.peak_mb),
                                             "seconds": round(t.seconds, 1)}  # fmt: skip
                print(f"{name} ({db}): {t.operations} operations, {t.failures} failures in {t.seconds:.0f} s",
                      file=sys.stderr)  # fmt: skip
    widths = [max(len(r[c]) for r in rows) for c in range(len(CRASH_HEAD))]
    lines = [" | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]  # fmt: skip
    lines.insert(1, "-+-".join("-" * w for w in widths))
    print("\n".join(lines))
    for name, entry in summary.items():
        for kind in ("5xx", "lost", "inconsistent", "rerun_failed"):
            for line in entry[kind]:  # type: ignore[attr-defined]
                print(f"  {name}: {kind}: {line}")
    results.mkdir(parents=True, exist_ok=True)
    (results / "reliability_crash.json").write_text(json.dumps(summary, indent=2))
    print(f"\ncrash and concurrency: {failures} failure(s); seed {seed}, {kills} kill points per command")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=int(os.environ.get("NLPIPE_FUZZ_EXAMPLES") or 200))
    parser.add_argument("--target", action="append", choices=sorted(STRATEGIES), help="default: every target")
    parser.add_argument("--seed", type=int, default=0, help="0: the fixed (derandomized) inputs; else random ones")
    parser.add_argument("--contract", action="store_true", help="also fuzz the service's OpenAPI contract")
    parser.add_argument("--contract-only", action="store_true", help="only the contract, not the readers")
    parser.add_argument("--contract-examples", type=int, default=int(os.environ.get("NLPIPE_CONTRACT_EXAMPLES") or 200))
    parser.add_argument("--postgres", default=os.environ.get("NLPIPE_TEST_POSTGRES_URL"), help="a throwaway database")
    parser.add_argument("--crash", action="store_true", help="also the crash and concurrency section")
    parser.add_argument("--only-crash", action="store_true", help="only the crash and concurrency section")
    parser.add_argument("--kills", type=int, default=6, help="kill points per command (crash section)")
    args = parser.parse_args(argv)
    crash_failures = 0
    if args.crash or args.only_crash:
        crash_failures = run_crash_section(RESULTS, seed=args.seed, kills=args.kills)
        if args.only_crash:
            return 1 if crash_failures else 0
    out = RESULTS / "reliability"
    failures = 0
    summary: dict[str, object] = {}
    if not args.contract_only:
        tallies = run(args.target or list(STRATEGIES), args.examples, args.seed, out)
        print(table(tallies))
        failures += sum(t.failures for t in tallies.values())
        summary = {
            name: {"tried": t.tried, "results": t.ok, "coded": t.coded, **t.counts, "peak_kb": t.peak_kb,
                   "seconds": round(t.seconds, 1), "codes": t.codes}
            for name, t in tallies.items()
        }  # fmt: skip
    if args.contract or args.contract_only:
        rows = run_contract(args.contract_examples, args.seed, {"sqlite": None, "postgres": args.postgres})
        print("\nContract (schemathesis, every operation of the OpenAPI document):")
        print(contract_table(rows))
        failures += contract_failures(rows)
        summary["contract"] = contract_summary(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reliability.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{failures} failure(s)" + (f"; inputs saved in {out}" if failures else ""))
    return 1 if failures or crash_failures else 0


if __name__ == "__main__":
    sys.exit(main())
