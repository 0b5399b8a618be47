"""Store at scale: `nlpipe datasets import` of a million documents and the labeling queue on that pool.

    .venv/bin/python benchmarks/store_scale.py [--docs 1000000] [--seed 0] [--formats jsonl,csv]
        [--postgres | --only-postgres] [--keep DIR] [--no-queue]

Targets (issue 11): the import of 1M documents streams (peak RSS <= 1 GB) in <= 120 s on SQLite (bulk inserts;
PostgreSQL with COPY), and the labeling queue answers in <= 1 s on a 1M-document pool after its first
computation (cached scores, refreshed incrementally).

Steps, all in a temporary folder (``--keep DIR`` uses and keeps DIR instead):

1. **Data.** ``--docs`` documents of ``benchmarks/synthetic.py``'s seeded corpus (20 labels, Zipf vocabulary,
   label keywords, 30-200 words) written as JSONL and as CSV (the same rows): one document in ten keeps its
   label, one in a hundred repeats an earlier text (deduplicated on import).
2. **Baseline.** A plain Python loop over the JSONL file, ``json.loads`` + SHA-256 of each text: the floor any
   import pays, measured in this run on this machine.
3. **Import.** ``nlpipe datasets import`` of each file into an empty store, run as a child process (the real
   CLI: reader, validation, bulk writes, seeded split) with its address space capped by ``RLIMIT_AS`` (4 GB), so
   a runaway fails with MemoryError instead of taking the machine; wall time, and the child's peak RSS
   (``getrusage`` in the child, written as it exits; ``RUSAGE_CHILDREN`` if it was killed first).
4. **Queue.** A small classifier is trained (``nlpipe.train``, 10 s budget) on a 3,000-document labeled sample
   in a separate dataset; then ``build_queue`` (what ``nlpipe label queue`` calls) on the 1M pool, in this
   process with the model loaded once (as the API holds it), for uncertainty and random: the first computation
   (fills the cache), the median of five later answers; then 1,000 documents are imported and 20 labeled, and the
   next answer (the incremental refresh) and the median of five more are timed. Last, ``GET
   /v1/datasets/big/queue?model=small`` through the app (median of five, after one that loads the model).
5. ``--postgres``: steps 3-4 again against the PostgreSQL database ``NLPIPE_DATABASE_URL`` names (its public
   schema is dropped and recreated first, so give it a throwaway database).

Prints a table with PASS/FAIL against the targets and writes ``benchmarks/results/store_scale.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMPORT_SECONDS, IMPORT_RSS_MB, QUEUE_SECONDS = 120.0, 1024.0, 1.0
MEMORY_CAP = 4 * 1024**3


def generate(work: Path, n_docs: int, seed: int = 0) -> tuple[Path, Path, dict[str, int]]:
    """Write ``n_docs`` documents of ``benchmarks/synthetic.py``'s corpus (20 labels, Zipf vocabulary, label
    keywords) as JSONL and as CSV (the same rows): one in ten keeps its label, one in a hundred repeats an earlier
    text (deduplicated on import). Returns both paths and counts."""
    import csv

    from benchmarks.synthetic import Corpus

    corpus = Corpus(labels=20, seed=seed)
    rng = np.random.default_rng([seed, 1])
    jsonl, csv_path = work / f"docs-{n_docs}-{seed}.jsonl", work / f"docs-{n_docs}-{seed}.csv"
    counts = {"documents": n_docs, "labeled": 0, "repeats": 0}
    recent: list[str] = []
    with open(jsonl, "w", encoding="utf-8") as fj, open(csv_path, "w", encoding="utf-8", newline="") as fc:
        out = csv.writer(fc)
        out.writerow(["id", "text", "label"])
        i = 0
        for texts, labels in corpus.batches(n_docs):
            labeled = rng.random(len(texts)) < 0.1
            repeat = rng.random(len(texts)) < 0.01
            lines = []
            for text, label, lab, rep in zip(texts, labels, labeled.tolist(), repeat.tolist(), strict=True):
                if rep and recent:
                    text = recent[int(rng.integers(0, len(recent)))]
                    counts["repeats"] += 1
                elif len(recent) < 1000:
                    recent.append(text)
                row: dict[str, Any] = {"id": f"d{i}", "text": text}
                if lab:
                    row["label"] = label
                    counts["labeled"] += 1
                lines.append(json.dumps(row))
                out.writerow([row["id"], text, row.get("label", "")])
                i += 1
            fj.write("\n".join(lines) + "\n")
    return jsonl, csv_path, counts


def baseline(path: Path) -> float:
    """Seconds to read the file and hash every text: json.loads + SHA-256, nothing else."""
    t = time.perf_counter()
    with open(path, "rb") as fh:
        for line in fh:
            hashlib.sha256(json.loads(line)["text"].encode("utf-8")).digest()
    return time.perf_counter() - t


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


# The child: the real CLI, then its own peak RSS (KiB) written to the file named first, also when it fails.
CHILD = """
import resource, sys
out, args = sys.argv[1], sys.argv[2:]
try:
    from nlpipe.cli.main import app
    app(args, prog_name="nlpipe")
finally:
    with open(out, "w") as fh:
        fh.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def run_import(path: Path, env: dict[str, str], dataset: str = "big") -> dict[str, Any]:
    """Run `nlpipe datasets import` in a child process: wall seconds, its peak RSS in MB, exit code."""
    rss_file = Path(env["NLPIPE_HOME"]).parent / f"rss-{os.getpid()}-{time.monotonic_ns()}"
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(rss_file), "datasets", "import", dataset, str(path)],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=_cap_memory,
    )
    seconds = time.perf_counter() - t
    try:
        peak = int(rss_file.read_text()) / 1024
        rss_file.unlink()
    except (OSError, ValueError):  # killed before it could write: fall back to the children's maximum
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
    return {"seconds": seconds, "peak_rss_mb": peak, "returncode": proc.returncode, "stdout": proc.stdout}


def train_small_model(path: Path, env: dict[str, str], n: int = 3000) -> None:
    """Train classifier 'small' on the first ``n`` labeled documents of the file (dataset 'sample')."""
    from nlpipe.store.db import open_store
    from nlpipe.store.importing import import_records
    from nlpipe.train import train
    from nlpipe.types import Record

    recs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if "label" in row:
                recs.append(Record(text=row["text"], labels=[row["label"]]))
                if len(recs) >= n:
                    break
    settings = _settings(env)
    st = open_store(settings)
    import_records(st, "sample", recs, create=True)
    train(st, settings, "sample", "small", time_budget=10)
    st.close()


def _settings(env: dict[str, str]) -> Any:
    from nlpipe.config import Settings

    # Every field given, so that no NLPIPE_* variable of this process (NLPIPE_DATABASE_URL) leaks in.
    return Settings(
        home=Path(env["NLPIPE_HOME"]),
        models_dir=Path(env["NLPIPE_MODELS_DIR"]),
        database_url=env.get("NLPIPE_DATABASE_URL"),
    )


def _median_seconds(call: Any, n: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(n):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), result


def time_queue(env: dict[str, str], dataset: str = "big") -> dict[str, Any]:
    """The queue on the big pool: the first computation (fills the cache), the median of five later answers,
    then after 1,000 documents are added and 20 labeled: the refresh (incremental) and five answers more. For
    uncertainty (model 'small') and random through ``build_queue`` (the CLI's call), and for uncertainty through
    ``GET /v1/datasets/{name}/queue`` (the API, the app holding the model as it does when serving)."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from nlpipe.label.queue import build_queue
    from nlpipe.predict import load_predictor
    from nlpipe.store import annotations as A
    from nlpipe.store.db import open_store
    from nlpipe.store.importing import import_records
    from nlpipe.types import Record

    settings = _settings(env)
    st = open_store(settings)
    predictor = load_predictor(settings.models_dir, "small")
    out: dict[str, Any] = {}
    added = 0
    for strategy, model in (("uncertainty", predictor), ("random", None)):

        def ask(model: Any = model, strategy: str = strategy) -> dict[str, Any]:
            return build_queue(st, dataset, strategy=strategy, predictor=model, limit=50, seed=0)

        t = time.perf_counter()
        first = ask()
        first_s = time.perf_counter() - t
        later, _ = _median_seconds(ask)
        # Documents come in and people label some: the next answer refreshes the cache incrementally.
        texts = [f"a document added later, number {added + i}, about nothing in particular" for i in range(1000)]
        added += len(texts)
        import_records(st, dataset, [Record(text=x, labels=[]) for x in texts])
        with st.session() as s:
            for item in first["items"][:20]:
                A.add_annotations(s, dataset, item["document_id"], "bench", labels=["label0000"])
        t = time.perf_counter()
        refreshed = ask()
        refresh_s = time.perf_counter() - t
        after, result = _median_seconds(ask)
        taken = {i["document_id"] for i in first["items"][:20]}
        assert not taken & {i["document_id"] for i in result["items"]}, "labeled documents still queued"
        assert refreshed["pool"] == first["pool"] + 1000 - 20, (refreshed["pool"], first["pool"])
        out[strategy] = {"first": first_s, "later": later, "refresh": refresh_s, "after": after,
                         "pool": result["pool"], "items": len(result["items"])}  # fmt: skip
        print(f"  queue {strategy}: first {first_s:.2f} s, later {later:.3f} s, refresh {refresh_s:.3f} s, "
              f"after {after:.3f} s, pool {result['pool']:,}", flush=True)  # fmt: skip
    st.close()
    with TestClient(create_app(settings)) as client:
        url, params = f"/v1/datasets/{dataset}/queue", {"model": "small", "limit": 50}

        def get() -> dict[str, Any]:
            r = client.get(url, params=params)
            assert r.status_code == 200, r.text
            return r.json()

        t = time.perf_counter()
        get()  # the app loads the model (the cache is already filled)
        first_s = time.perf_counter() - t
        later, result = _median_seconds(get)
    out["api uncertainty"] = {"first": first_s, "later": later, "pool": result["pool"]}
    print(f"  API queue: first {first_s:.2f} s (model load), later {later:.3f} s", flush=True)
    return out


def _reset_postgres(url: str) -> None:
    from tests.conftest import _reset_postgres as reset  # the tests' throwaway-database reset

    reset(url)


def backend_run(name: str, files: dict[str, Path], work: Path, url: str | None, queue: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {}
    env: dict[str, str] = {}
    for fmt, path in files.items():  # each file into an empty store
        home = work / f"home-{name}-{fmt}"
        shutil.rmtree(home, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")}
        env.update({"NLPIPE_HOME": str(home), "NLPIPE_MODELS_DIR": str(home / "models"), "PYTHONPATH": str(ROOT)})
        if url:
            _reset_postgres(url)
            env["NLPIPE_DATABASE_URL"] = url
        print(f"[{name}] import {path.name} ...", flush=True)
        imp = run_import(path, env)
        print(f"  import {fmt}: {imp['seconds']:.1f} s, peak RSS {imp['peak_rss_mb']:.0f} MB, exit {imp['returncode']}",
              flush=True)  # fmt: skip
        result[f"import {fmt}"] = {k: v for k, v in imp.items() if k != "stdout"}
        if imp["returncode"]:
            return result
    if not queue:
        return result
    # The queue on the store of the last import.
    print(f"[{name}] training the small model ...", flush=True)
    train_small_model(next(iter(files.values())), env)
    print(f"[{name}] queue ...", flush=True)
    result["queue"] = time_queue(env)
    return result


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--postgres", action="store_true", help="also run against NLPIPE_DATABASE_URL (PostgreSQL)")
    ap.add_argument("--only-postgres", action="store_true", help="run against PostgreSQL only")
    ap.add_argument("--formats", default="jsonl,csv", help="files to import, each into an empty store")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (the files are reused if present)")
    ap.add_argument("--no-queue", action="store_true", help="measure the import only")
    args = ap.parse_args()
    url = os.environ.get("NLPIPE_DATABASE_URL")
    if (args.postgres or args.only_postgres) and not (url and url.startswith("postgresql")):
        ap.error("--postgres needs NLPIPE_DATABASE_URL=postgresql+psycopg://... (a throwaway database)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="nlpipe-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        jsonl, csv_path = work / f"docs-{args.docs}-{args.seed}.jsonl", work / f"docs-{args.docs}-{args.seed}.csv"
        if not (jsonl.exists() and csv_path.exists()):
            t = time.perf_counter()
            jsonl, csv_path, counts = generate(work, args.docs, args.seed)
            print(f"generated {jsonl} ({jsonl.stat().st_size / 1e6:.0f} MB) and {csv_path.name}, {counts}, "
                  f"in {time.perf_counter() - t:.0f} s", flush=True)  # fmt: skip
        files = {fmt: {"jsonl": jsonl, "csv": csv_path}[fmt] for fmt in args.formats.split(",")}
        base = baseline(jsonl)
        print(f"baseline (json.loads + sha256): {base:.1f} s", flush=True)
        runs = {}
        if not args.only_postgres:
            runs["sqlite"] = backend_run("sqlite", files, work, None, queue=not args.no_queue)
        if args.postgres or args.only_postgres:
            runs["postgresql"] = backend_run("postgresql", files, work, url, queue=not args.no_queue)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report(args.docs, base, runs)


def report(n_docs: int, base: float, runs: dict[str, Any]) -> None:
    rows = [("step", "backend", "value", "target", "verdict")]
    rows.append(("read + hash JSONL (baseline)", "-", f"{base:.1f} s", "-", "-"))
    for name, r in runs.items():
        for key, imp in r.items():
            if not key.startswith("import"):
                continue
            ok = imp["returncode"] == 0
            rows.append((f"{key} wall time", name, f"{imp['seconds']:.1f} s", f"<= {IMPORT_SECONDS:.0f} s",
                         verdict(ok and imp["seconds"] <= IMPORT_SECONDS)))  # fmt: skip
            rows.append((f"{key} peak RSS", name, f"{imp['peak_rss_mb']:.0f} MB", f"<= {IMPORT_RSS_MB:.0f} MB",
                         verdict(ok and imp["peak_rss_mb"] <= IMPORT_RSS_MB)))  # fmt: skip
        for strategy, q in (r.get("queue") or {}).items():
            first = "first (model load)" if strategy.startswith("api") else "first computation"
            rows.append((f"queue {strategy}, {first}", name, f"{q['first']:.2f} s", "-", "-"))
            for step, label in (("later", "later answers (median of 5)"), ("refresh", "after +1,000 docs / 20 "
                                "labeled: refresh"), ("after", "after the refresh (median of 5)")):  # fmt: skip
                if step in q:
                    rows.append((f"queue {strategy}, {label}", name, f"{q[step]:.3f} s", f"<= {QUEUE_SECONDS:.0f} s",
                                 verdict(q[step] <= QUEUE_SECONDS)))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    print(f"\nStore at scale: {n_docs:,} documents")
    for i, row in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("| " + " | ".join("-" * w for w in widths) + " |")
    out = ROOT / "benchmarks" / "results" / "store_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"documents": n_docs, "baseline_seconds": base, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
