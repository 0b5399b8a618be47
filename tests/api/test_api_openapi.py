"""The OpenAPI document describes what the service answers (D17): every error response in the one shape, name
patterns and limits, the text/texts rule; and ``:predict`` is routed by method (405 with the right Allow)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.types import NAME_RE
from tests.api.test_api import assert_error
from tests.conftest import make_settings

ERROR_REF = "#/components/schemas/ErrorOut"


@pytest.fixture
def client(tmp_path, trained):
    settings = make_settings(tmp_path, api_keys=["alice:ka", "plain"], models_dir=trained.models_dir)
    with TestClient(create_app(settings), headers={"X-API-Key": "plain"}) as c:
        yield c


@pytest.fixture
def doc(client) -> dict:
    return client.get("/openapi.json").json()


def operations(doc: dict):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_every_operation_declares_its_errors_in_the_one_shape(doc):
    assert doc["components"]["schemas"]["ErrorOut"]["required"] == ["error"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, method, op in operations(doc):
        responses = op["responses"]
        errors = {s: r for s, r in responses.items() if s == "default" or int(s) >= 400}
        assert {"500", "default"} <= set(errors), (method, path)
        for status, r in errors.items():
            assert r["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (method, path, status)
        if "{" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in op:
            assert {"413", "422"} <= set(responses), (method, path)
        if op.get("security") or method in ("delete",) or path.endswith(("/annotations", "/reviews")):
            assert "401" in responses, (method, path)


def test_write_and_labeling_operations_document_401_and_403(doc):
    paths = doc["paths"]
    assert "401" in paths["/v1/models/{name}:promote"]["post"]["responses"]
    assert "401" in paths["/v1/datasets/{name}/documents"]["post"]["responses"]
    assert "401" in paths["/v1/datasets/{name}/queue"]["get"]["responses"]
    assert "403" in paths["/v1/datasets/{name}/annotations/{annotation_id}"]["delete"]["responses"]
    assert "403" in paths["/v1/models/{name}:predict"]["post"]["responses"]  # a key without the predict scope


#: The scope every operation needs ("owner": any valid key, which must have made the job or be an admin key;
#: None: public). A route missing here -- a new one -- fails the walk below until its scope is declared and listed.
SCOPES = {
    ("get", "/health"): None,
    ("get", "/v1/models"): "predict",
    ("get", "/v1/models/{name}"): "predict",
    ("post", "/v1/models/{name}:predict"): "predict",
    ("post", "/v1/models/{name}:predictFile"): "predict",
    ("post", "/v1/sentiment:predict"): "predict",
    ("post", "/v1/batch"): "predict",
    ("post", "/v1/models/{name}:promote"): "admin",
    ("post", "/v1/models/{name}:rollback"): "admin",
    ("get", "/health/live"): None,
    ("get", "/health/ready"): None,
    ("get", "/metrics"): "read",
    ("get", "/v1/datasets"): "read",
    ("get", "/v1/datasets/{name}"): "read",
    ("get", "/v1/datasets/{name}/queue"): "read",
    ("get", "/v1/datasets/{name}/labels"): "read",
    ("get", "/v1/datasets/{name}/progress"): "read",
    ("get", "/v1/datasets/{name}/documents/{document_id}"): "read",
    ("post", "/v1/datasets/{name}/documents"): "ingest",
    ("get", "/v1/labeling/annotator"): "label",
    ("post", "/v1/datasets/{name}/documents/{document_id}/annotations"): "label",
    ("delete", "/v1/datasets/{name}/annotations/{annotation_id}"): "label",
    ("post", "/v1/datasets/{name}/documents/{document_id}/reviews"): "label",
    ("delete", "/v1/datasets/{name}/reviews/{review_id}"): "label",
    ("get", "/v1/jobs/{job_id}"): "owner",
    ("get", "/v1/jobs/{job_id}/results"): "owner",
    ("delete", "/v1/jobs/{job_id}"): "owner",
}


def test_every_route_declares_the_scope_it_needs(doc):
    """Every operation of the OpenAPI document is listed in SCOPES with the scope its security entry declares (the
    X-API-Key scheme with one scope; an empty list for the job routes, which check ownership), or none for the
    public ones: a new route without a declared scope fails here."""
    found = {}
    for path, method, op in operations(doc):
        security = op.get("security")
        if not security:
            found[(method, path)] = None
            continue
        [requirement] = security
        [scopes] = requirement.values()
        assert len(scopes) <= 1, (method, path, scopes)
        found[(method, path)] = scopes[0] if scopes else "owner"
    assert found == SCOPES


def test_routes_left_out_of_the_openapi_document_are_the_page_and_docs_files(client, doc):
    """The walk above sees documented routes only: the undocumented ones are the labeling page's files and the API
    docs pages (whose scripts are served from the installed package, not a CDN), public."""
    from fastapi.routing import APIRoute

    def paths(routes, prefix=""):  # included routers are wrappers here (original_router): walk into them
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                yield from paths(inner.routes, prefix + getattr(inner, "prefix", ""))
            elif isinstance(r, APIRoute):
                yield r.path if r.path.startswith(prefix) else prefix + r.path

    served = {re.sub(r"{(\w+):\w+}", r"{\1}", path) for path in paths(client.app.routes)}  # {name:model}
    pages = {"/ui", "/ui/app.js", "/ui/style.css", "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert served - set(doc["paths"]) == pages
    for path in pages:
        assert client.get(path, headers={"X-API-Key": ""}).status_code == 200, path
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):  # what the two pages load
        r = client.get(f"/docs-assets/{asset}", headers={"X-API-Key": ""})
        assert r.status_code == 200 and len(r.content) > 100_000, asset
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn." not in html and "googleapis" not in html and "/docs-assets/" in html, page


def test_every_scoped_route_refuses_a_key_without_its_scope(tmp_path, trained):
    """With one key per scope stored, each route answers 403 E640 to every key that lacks its scope (and
    nothing else than 401/403 to a request without a key), before it reads its body or its path."""
    from nlpipe.keys import SCOPES as ALL
    from nlpipe.keys import create_key
    from nlpipe.store.db import open_store

    settings = make_settings(tmp_path, models_dir=trained.models_dir)
    store = open_store(settings)
    keys = {scope: create_key(store, f"only-{scope}", scope) for scope in ALL}
    store.close()
    with TestClient(create_app(settings)) as c:
        for (method, path), scope in SCOPES.items():
            if scope in (None, "owner"):
                continue
            url = re.sub(r"{\w+}", "1", path).replace("/1:", "/news:")
            assert_error(c.request(method.upper(), url, headers={"X-API-Key": ""}), 401, "E601")
            for other, key in keys.items():
                r = c.request(method.upper(), url, headers={"X-API-Key": key, "X-Annotator": "bob"})
                if other == scope:
                    assert r.status_code not in (401, 403) or "E640" not in r.text, (method, url, other)
                else:
                    assert_error(r, 403, "E640")


def test_name_parameters_carry_the_name_pattern_and_length(doc):
    names = [
        (path, p["schema"])
        for path, _, op in operations(doc)
        for p in op.get("parameters", [])
        if p["in"] == "path" and p["name"] == "name"
    ]
    assert len(names) >= 10
    for path, schema in names:
        core = schema["pattern"].removeprefix("^").removesuffix("$")  # JSON Schema's $ is the end of the text
        if path.endswith((":predict", ":predictFile")):  # NAME, or NAME@VERSION / NAME@ALIAS
            assert schema["maxLength"] == 201 and schema["minLength"] == 1, path
            for candidate in ("news@v3", "news@production", "a.b@c", "news@", "@v1", "a@b@c", "a@b/c"):
                name, _, version = candidate.partition("@")
                ok = bool(NAME_RE.match(name)) and (not _ or bool(NAME_RE.match(version)))
                assert bool(re.fullmatch(core, candidate)) == ok, (path, candidate)
        else:
            assert schema["maxLength"] == 100 and schema["minLength"] == 1, path
        for candidate in ("news", "a.b-c_1", "abc\n", "-x", "a/b", "a" * 101):
            assert bool(re.fullmatch(core, candidate)) == bool(NAME_RE.match(candidate)), (path, candidate)


def test_the_text_texts_rule_is_in_the_schema(doc):
    for model in ("PredictRequest", "LexiconRequest"):
        one_of = doc["components"]["schemas"][model]["oneOf"]
        assert sorted(tuple(branch["required"]) for branch in one_of) == [("text",), ("texts",)], model


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_predict_routes_answer_other_methods_with_405_naming_post(client, method):
    for action in ("predict", "predictFile", "promote"):
        r = client.request(method, f"/v1/models/news:{action}")
        if method == "HEAD":  # answered as the GET, without the body
            assert r.status_code == 405 and r.content == b"", (method, action)
        else:
            assert_error(r, 405, "E604")
        assert r.headers["allow"] == "POST", (method, action)
    assert client.get("/v1/models/news").status_code == 200  # the model-detail route still answers


def test_head_is_answered_on_every_get_route_as_the_get_without_a_body(client, doc):
    """HEAD /health (load balancers, uptime checks) was 405: FastAPI routes only declared methods."""
    for path in ("/health", "/v1/models", "/v1/models/news", "/v1/datasets", "/ui"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-length"] == got.headers["content-length"], path
        assert head.headers["content-type"] == got.headers["content-type"], path


def test_answers_to_hostile_path_values_are_documented(client, doc):
    """A small contract check: every operation, with path values that name nothing or are out of range,
    answers with a status its OpenAPI entry lists explicitly, in the error shape."""
    values = {"name": ["nope", "a" * 101], "default": [str(2**63), "0", "nope"]}
    headers = {"X-API-Key": "plain", "X-Annotator": "bob"}
    for path, method, op in operations(doc):
        params = re.findall(r"{(\w+)}", path)
        if not params:
            continue
        for i in range(2):
            url = path
            for p in params:
                options = values.get(p, values["default"])
                url = url.replace("{" + p + "}", options[i % len(options)])
            r = client.request(method.upper(), url, headers=headers, json={} if "requestBody" in op else None)
            assert str(r.status_code) in op["responses"], (method, url, r.status_code, r.text)
            if r.status_code >= 400:
                assert set(r.json()) == {"error"} and set(r.json()["error"]) == {
                    "code",
                    "message",
                    "details",
                    "request_id",
                }
