"""Contract fuzzing: schemathesis cases for every operation of the app's OpenAPI document, sent in process to the
real app (``api.main.create_app``) on a real SQLite store with trained models, every response checked.

:func:`contract_settings` builds the service's folder (models copied in, a dataset imported, API keys set);
:func:`load_schema` reads the app's ``/openapi.json`` through schemathesis' ASGI loader (which also starts the
app's lifespan: store opened, models preloaded); :func:`explore` runs one operation on ``examples`` generated
cases (schema-valid and schema-violating ones, and ones aimed at the stored model and dataset) and returns a
:class:`Tally` of statuses and :class:`Finding`\\s. The checks (:data:`CHECKS`): no 5xx, every status listed
*explicitly* among the operation's responses (the document's ``default`` entry does not count), the documented
content type, and the body in the documented schema. ``tests/contract/test_openapi_contract.py`` fails on any
finding; ``benchmarks/reliability.py --contract`` counts them with a larger budget.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from nlpipe.config import Settings
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.types import Record

#: A plain key (the annotator comes from X-Annotator) and a key that carries the annotator alice.
API_KEY = "contract-key"
API_KEYS = [API_KEY, "alice:alice-key"]
#: Each pass sends every case with these headers: a plain key, a key that carries an annotator, no key.
PASSES: dict[str, dict[str, str]] = {
    "plain-key": {"X-API-Key": API_KEY},
    "annotator-key": {"X-API-Key": "alice-key"},
    "no-key": {},
}
#: The dataset the service holds (documents 1..DOCUMENTS) and the models it serves.
DATASET = "news"
DOCUMENTS = 20
MODELS = ["news", "feedback-sentiment"]
FAST_EXAMPLES = 12


def examples(default: int = FAST_EXAMPLES) -> int:
    """Cases per operation and pass: ``NLPIPE_CONTRACT_EXAMPLES`` when set (benchmarks), else ``default``."""
    value = os.environ.get("NLPIPE_CONTRACT_EXAMPLES", "").strip()
    return int(value) if value else default


def contract_settings(
    tmp: Path, model_dirs: Iterable[Path], records: list[Record], database_url: str | None = None
) -> Settings:
    """The service's settings in ``tmp``: each model folder copied into its models folder (so promotes do not
    touch the originals), dataset :data:`DATASET` with the first :data:`DOCUMENTS` records, :data:`API_KEYS`;
    the store is a SQLite file in ``tmp`` unless ``database_url`` names another (an empty database)."""
    models = tmp / "models"
    models.mkdir(parents=True)
    for folder in model_dirs:
        shutil.copytree(folder, models / folder.name)
    # the Host names the in-process clients send (the app answers only allowed hosts: NLPIPE_ALLOWED_HOSTS)
    hosts = ["testserver", "localhost", "127.0.0.1"]
    values: dict[str, Any] = {"home": tmp / "home", "models_dir": models, "api_keys": API_KEYS, "allowed_hosts": hosts}
    if database_url:
        values["database_url"] = database_url
    settings = Settings(**values)
    store = open_store(settings)
    try:
        import_records(store, DATASET, records[:DOCUMENTS], create=True, seed=0)
    finally:
        store.close()
    return settings


def train_models(tmp: Path, records: list[Record], feedback: list[Record]) -> list[Path]:
    """Outside pytest (the benchmark): the suite's two small models trained in ``tmp``, their folders: 'news' (a
    classifier on ``records``) and 'feedback-sentiment' (sentiment on ``feedback``)."""
    from nlpipe.train import train

    settings = Settings(home=tmp / "home", models_dir=tmp / "models")  # type: ignore[call-arg]
    store = open_store(settings)
    try:
        import_records(store, "news", records, create=True, seed=0)
        import_records(store, "feedback", feedback, create=True, seed=0)
        train(store, settings, "news", "news", time_budget=20)
        train(store, settings, "feedback", "feedback-sentiment", task="sentiment", time_budget=20)
    finally:
        store.close()
    return [settings.models_dir / "news", settings.models_dir / "feedback-sentiment"]


def load_schema(app: Any) -> Any:
    """The app's OpenAPI document as a schemathesis schema whose cases are sent to ``app`` in process."""
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operations(schema: Any) -> list[Any]:
    """Every operation of the document (an operation schemathesis cannot read fails here, not silently)."""
    return [result.ok() for result in schema.get_all_operations()]


def stop_app() -> None:
    """End the lifespans schemathesis started (the app's store is closed)."""
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()


def status_explicitly_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """The status is one the operation lists itself: the document's catch-all ``default`` response is not
    counted (schemathesis' own status check accepts anything once ``default`` is there)."""
    documented = {str(s) for s in case.operation.definition.raw.get("responses", {}) if str(s) != "default"}
    if str(response.status_code) not in documented:
        raise AssertionError(f"Undocumented status {response.status_code}; documented: {', '.join(sorted(documented))}")
    return None


CHECKS = [not_a_server_error, status_explicitly_documented, content_type_conformance, response_schema_conformance]
SERVER_ERROR = "ST101"


@dataclass
class Finding:
    operation: str
    code: str  # schemathesis' failure code (ST101: a 5xx; ST901: a status not documented)
    title: str
    status: int
    request: str  # the case as a curl command
    message: str

    @property
    def server_error(self) -> bool:
        return self.code == SERVER_ERROR or self.status >= 500

    def __str__(self) -> str:
        return f"{self.operation}: {self.title} ({self.code}, HTTP {self.status})\n  {self.request}\n  {self.message}"


@dataclass
class Tally:
    """What the cases of one run got: statuses, responses that broke the contract otherwise than by being a 5xx
    (``violations``: status, content type or body shape), and each failed check."""

    tried: int = 0
    violations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def add(self, other: Tally) -> None:
        self.tried += other.tried
        self.violations += other.violations
        self.statuses.update(other.statuses)
        self.findings.extend(other.findings)


def aimed(op: Any, models: list[str]) -> list[dict[str, Any]]:
    """Fixed parts of schema-valid cases that name what the service holds, so the cases reach real work (a
    stored model's predictions and promotes, the dataset's documents, queue and annotations) and not only
    404s and 422s: ``as_strategy`` keywords, one set per model (the other parameters still generated)."""
    params = {p.name for p in op.path_parameters}
    query = {p.name for p in op.query}
    headers = {p.name for p in op.headers}
    variants: list[dict[str, Any]] = []
    for model in models:
        kwargs: dict[str, Any] = {}
        if op.path.startswith("/v1/models/") and "name" in params:
            kwargs["path_parameters"] = {"name": model}
            if op.path.endswith(":promote"):
                kwargs["body"] = {"version": "v1", "alias": "production"}
        elif "name" in params:
            kwargs["path_parameters"] = {"name": DATASET} | {p: 1 for p in params & ID_PARAMETERS}
        if "model" in query:
            kwargs["query"] = {"model": model}
        if "X-Annotator" in headers:
            kwargs["headers"] = {"X-Annotator": "bob"}
        if kwargs:
            variants.append(kwargs)
    return variants


ID_PARAMETERS = {"document_id", "annotation_id", "review_id"}


def strategy(op: Any, models: list[str]) -> Any:
    """Schema-valid and schema-violating cases of ``op``, and schema-valid ones aimed at the stored things."""
    raw = op.definition.raw
    parts = [op.as_strategy(GenerationMode.POSITIVE)]
    if raw.get("parameters") or raw.get("requestBody"):
        parts.append(op.as_strategy(GenerationMode.NEGATIVE))
    parts += [op.as_strategy(GenerationMode.POSITIVE, **kwargs) for kwargs in aimed(op, models)]
    return st.one_of(parts)


def explore(op: Any, *, headers: dict[str, str], examples: int, models: list[str], seed: int = 0) -> Tally:
    """Send ``examples`` cases of ``op`` with ``headers``; every response checked with :data:`CHECKS`.

    ``seed`` 0 gives the same cases on every run (hypothesis derandomized); another seed gives random ones.
    """
    tally = Tally()

    @hypothesis.settings(
        max_examples=examples,
        derandomize=seed == 0,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # every case is counted; a failing one is reported, not shrunk
        print_blob=False,
    )
    @hypothesis.given(case=strategy(op, models))
    def run(case: Any) -> None:
        tally.tried += 1
        try:
            response = case.call(headers=dict(headers))  # call() adds its own headers to the dict it is given
        except Exception as exc:  # noqa: BLE001 - the app raised past its handlers: a 500 the server logs
            tally.statuses[500] += 1
            request = case.as_curl_command(headers=headers)
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            tally.findings.append(Finding(op.label, SERVER_ERROR, "Server error (raised)", 500, request, message))
            return
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=dict(headers))
        except FailureGroup as group:
            request = case.as_curl_command(headers=headers)
            found = [
                Finding(op.label, failure.code, failure.title, response.status_code, request, failure.message)
                for failure in group.exceptions
            ]
            tally.findings += found
            tally.violations += any(not f.server_error for f in found)

    if seed:
        run = hypothesis.seed(seed)(run)
    run()
    return tally
