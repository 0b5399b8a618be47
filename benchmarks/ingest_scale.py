"""Ingest's cost per batch against the size of the dataset it writes into (issue 13, D16).

    .venv/bin/python benchmarks/ingest_scale.py [--sizes 2000,20000] [--runs 3] [--postgres URL]

For each backend (a SQLite file in a temporary folder; with ``--postgres``, also that database -- its public
schema is dropped and recreated, so give it a throwaway one) and each dataset size: the dataset is filled to the
size with ``import_records``, then ``--runs`` times an upload of 1,000 new CSV rows is ingested with
``ingest_uploads`` (what ``POST /v1/datasets/{name}/documents`` and ``nlpipe ingest`` run: batches of 200, a
transaction each), and once more the same 1,000 rows (all already present: what a re-run after a killed ingest
reads first). Prints seconds per 1,000 documents (the median of the runs) and the ratio between the largest and
the smallest dataset; a ratio near 1 means a batch's cost does not depend on the dataset's size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlpipe.config import Settings  # noqa: E402
from nlpipe.ingest import ingest_uploads  # noqa: E402
from nlpipe.store.db import Store, open_store  # noqa: E402
from nlpipe.store.importing import import_records  # noqa: E402
from nlpipe.types import Record  # noqa: E402

ROWS = 1000


def _csv(start: int, n: int) -> bytes:
    rows = "".join(
        f"ingested document {i} about the harbour and its ships,{'ab'[i % 2]}\n" for i in range(start, start + n)
    )
    return ("text,label\n" + rows).encode()


def _reset_postgres(url: str) -> None:
    from tests.conftest import _reset_postgres as reset  # the tests' throwaway-database reset

    reset(url)


def _fill(store: Store, have: int, want: int) -> None:
    if want > have:
        records = (Record(text=f"existing document {i}", labels=["a" if i % 3 else "b"]) for i in range(have, want))
        import_records(store, "bench", records, create=True)


def _timed(store: Store, settings: Settings, data: bytes) -> float:
    start = time.perf_counter()
    ingest_uploads(store, settings, "bench", [("rows.csv", data)])
    return time.perf_counter() - start


def measure(settings: Settings, sizes: list[int], runs: int) -> list[tuple[int, float, float]]:
    """(dataset size, median s per 1k new documents, s per 1k already present) per size."""
    store = open_store(settings)
    out: list[tuple[int, float, float]] = []
    have, fresh = 0, 10**9  # ingested rows are numbered from here: never among the existing documents
    try:
        for size in sizes:
            _fill(store, have, size)
            have = size
            new: list[float] = []
            for _ in range(runs):
                new.append(_timed(store, settings, _csv(fresh, ROWS)))
                fresh += ROWS
            present = _timed(store, settings, _csv(fresh - ROWS, ROWS))
            out.append((size, statistics.median(new) * 1000 / ROWS, present * 1000 / ROWS))
            have += runs * ROWS
    finally:
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000", help="dataset sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="ingests of 1,000 new rows per size (median)")
    parser.add_argument("--postgres", metavar="URL", help="also a PostgreSQL database (its schema is dropped!)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.postgres:
        backends.append(("postgresql", args.postgres))
    print(f"{'backend':<11} {'documents before':>16} {'s / 1k new':>11} {'s / 1k present':>15}")
    for name, url in backends:
        with tempfile.TemporaryDirectory() as tmp:
            if url:
                _reset_postgres(url)
            settings = Settings(home=Path(tmp) / "home", models_dir=Path(tmp) / "models", database_url=url)
            rows = measure(settings, sizes, args.runs)
        for size, new, present in rows:
            print(f"{name:<11} {size:>16,} {new:>11.3f} {present:>15.3f}")
        (_, new0, present0), (_, new1, present1) = rows[0], rows[-1]
        print(f"{name:<11} {'ratio':>16} {new1 / new0:>11.2f} {present1 / present0:>15.2f}")


if __name__ == "__main__":
    main()
