"""Contract fuzzing: every operation of the app's OpenAPI document on generated requests (schemathesis), against
the real app on a real store (SQLite, and the PostgreSQL server `make test` starts) with trained models.

Each operation gets ``NLPIPE_CONTRACT_EXAMPLES`` (default 12) deterministic cases per pass: schema-valid ones,
schema-violating ones and ones aimed at the stored model and dataset (``tests/contract/harness.py``), sent with a
plain API key, with a key that carries an annotator, and with no key. Every response must be no 5xx, a status
the operation lists, the documented content type and a body in the documented schema. A failure lists every
finding with its request as a curl command; ``benchmarks/reliability.py --contract`` runs the same with more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from api.main import create_app
from nlpipe.config import Settings
from tests.conftest import fresh_postgres, news_records
from tests.contract import harness

EXAMPLES = harness.examples()  # read at import: the suite's autouse fixture clears NLPIPE_* variables


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def contract(
    request: pytest.FixtureRequest, trained: Settings, trained_sentiment: Settings, tmp_path_factory: Any
) -> Iterator[tuple[FastAPI, list[Any]]]:
    """The app's document as a schemathesis schema, its operations, and the app running on a store of the
    parametrized backend with the news classifier and the feedback-sentiment model."""
    database_url = fresh_postgres() if request.param == "postgres" else None
    models = [trained.models_dir / "news", trained_sentiment.models_dir / "feedback-sentiment"]
    settings = harness.contract_settings(tmp_path_factory.mktemp("contract"), models, news_records(), database_url)
    app = create_app(settings)
    schema = harness.load_schema(app)
    try:
        yield app, harness.operations(schema)
    finally:
        harness.stop_app()


def test_the_document_has_every_route(contract: tuple[FastAPI, list[Any]]) -> None:
    """Schemathesis reads every operation of the document (none dropped as unreadable), and the document has
    every route of the service (the labeling page's /ui files are left out of it)."""
    app, ops = contract
    documented = {f"{method.upper()} {path}" for path, item in app.openapi()["paths"].items() for method in item}
    assert {op.label for op in ops} == documented
    assert len(documented) == 27


@pytest.mark.parametrize("auth", list(harness.PASSES))
def test_every_operation_keeps_the_contract(contract: tuple[FastAPI, list[Any]], auth: str, tmp_path: Path) -> None:
    _, ops = contract
    total = harness.Tally()
    for op in ops:
        tally = harness.explore(op, headers=harness.PASSES[auth], examples=EXAMPLES, models=harness.MODELS)
        assert tally.tried, f"{op.label}: no case was generated"
        total.add(tally)
    report = "\n".join(str(f) for f in total.findings[:20])
    assert not total.findings, f"{len(total.findings)} contract failure(s) in {total.tried} cases:\n{report}"
    assert total.server_errors == 0
    # the cases reached real work, not only refusals
    assert any(200 <= status < 300 for status in total.statuses)
