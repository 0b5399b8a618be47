"""The contract section of ``benchmarks/reliability.py``: schemathesis against the app's OpenAPI document with a
larger budget than ``make test`` (``tests/contract/harness.py``), on SQLite and, given a URL, on PostgreSQL.

Per backend and pass (plain key, annotator key, no key): the operations, the cases tried, their 2xx/4xx answers,
the 5xx and the schema violations (a status the operation does not list, another content type, or a body not in
the documented shape). Every finding is printed with its request as a curl command.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from api.main import create_app
from tests.conftest import DATA, _reset_postgres, news_records
from tests.contract import harness

HEAD = ("backend", "pass", "operations", "tried", "2xx", "4xx", "5xx", "violations", "s")


def run_contract(examples: int, seed: int, database_urls: dict[str, str | None]) -> list[tuple[str, ...]]:
    """One row per backend and pass; findings printed as they come."""
    from nlpipe.label.formats import read_records

    logging.getLogger("nlpipe.api").setLevel(logging.CRITICAL)  # the 5xx are counted here, not logged
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory(prefix="nlpipe-contract-") as tmp:
        feedback = list(read_records(DATA / "feedback.csv", label_col="sentiment"))
        models = harness.train_models(Path(tmp) / "train", news_records(), feedback)
        for backend, url in database_urls.items():
            if backend != "sqlite" and not url:
                continue
            if url:
                _reset_postgres(url)
            settings = harness.contract_settings(Path(tmp) / backend, models, news_records(), url)
            schema = harness.load_schema(create_app(settings))
            try:
                ops = harness.operations(schema)
                for name, headers in harness.PASSES.items():
                    started = time.monotonic()
                    tally = harness.Tally()
                    for op in ops:
                        tally.add(
                            harness.explore(op, headers=headers, examples=examples, models=harness.MODELS, seed=seed)
                        )
                    for finding in tally.findings:
                        print(f"  {backend} {name}: {finding}")
                    rows.append(_row(backend, name, len(ops), tally, time.monotonic() - started))
            finally:
                harness.stop_app()
    return rows


def _row(backend: str, name: str, operations: int, t: harness.Tally, seconds: float) -> tuple[str, ...]:
    ok = sum(n for s, n in t.statuses.items() if 200 <= s < 300)
    refused = sum(n for s, n in t.statuses.items() if 400 <= s < 500)
    return (backend, name, str(operations), str(t.tried), str(ok), str(refused), str(t.server_errors),
            str(t.violations), f"{seconds:.0f}")  # fmt: skip


def contract_table(rows: list[tuple[str, ...]]) -> str:
    total = ("TOTAL", "", rows[0][2] if rows else "0",
             *(str(sum(int(r[i]) for r in rows)) for i in range(3, 8)),
             f"{sum(float(r[8]) for r in rows):.0f}")  # fmt: skip
    table = [HEAD, *rows, total]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEAD))]
    lines = [" | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in table]  # fmt: skip
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.insert(-1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def contract_failures(rows: list[tuple[str, ...]]) -> int:
    return sum(int(r[6]) + int(r[7]) for r in rows)


def contract_summary(rows: list[tuple[str, ...]]) -> dict[str, Any]:
    return {f"{r[0]}/{r[1]}": dict(zip(HEAD[2:], (int(x) if x.isdigit() else x for x in r[2:]), strict=True))
            for r in rows}  # fmt: skip
