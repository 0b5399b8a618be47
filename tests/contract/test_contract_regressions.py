"""The defects the contract fuzzer (test_openapi_contract.py) found, each kept fixed with its exact input, on
SQLite and on the PostgreSQL server `make test` starts."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.config import Settings
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.types import Record
from tests.api.test_api import assert_error

PLAIN = {"X-API-Key": "plain", "X-Annotator": "bob"}


@pytest.fixture
def client(backend_settings: Settings, caplog: pytest.LogCaptureFixture) -> Iterator[TestClient]:
    """The app on each backend with dataset 'd' (documents 1 and 2); fails the test on any logged error."""
    settings = backend_settings.model_copy(update={"api_keys": ["plain"]})
    st = open_store(settings)
    import_records(st, "d", [Record(text=t, labels=[]) for t in ("One text here", "Another text")], create=True)
    st.close()
    caplog.set_level(logging.ERROR, logger="nlpipe.api")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# PostgreSQL's id columns are 32-bit: an id between 2^31 and 2^63-1 passed the API's range check and failed
# the query (500 E699, "integer out of range"); found by schemathesis as GET /v1/jobs/374919059233133.
@pytest.mark.parametrize("big", [2**31, 374919059233133, 2**63 - 1])
def test_ids_beyond_the_databases_id_columns_are_a_404(client: TestClient, big: int) -> None:
    assert_error(client.get(f"/v1/jobs/{big}", headers=PLAIN), 404, "E230")
    assert_error(client.get(f"/v1/datasets/d/documents/{big}", headers=PLAIN), 404, "E240")
    r = client.post(f"/v1/datasets/d/documents/{big}/annotations", json={"labels": ["x"]}, headers=PLAIN)
    assert_error(r, 404, "E240")
    review = {"decision": "reject", "label": "x", "source": "rule"}
    assert_error(client.post(f"/v1/datasets/d/documents/{big}/reviews", json=review, headers=PLAIN), 404, "E240")
    assert_error(client.delete(f"/v1/datasets/d/annotations/{big}", headers=PLAIN), 404, "E244")
    assert_error(client.delete(f"/v1/datasets/d/reviews/{big}", headers=PLAIN), 404, "E247")


# A label with a lone surrogate (a valid JSON escape) failed to encode on SQLite (500 UnicodeEncodeError); one
# with NUL failed on PostgreSQL (500 "text fields cannot contain NUL"). Both are now E243, as are other
# control characters.
BAD_LABELS = ["a\\ud800", "\\udfff", "a\\u0000b", "\\u0000", "tab\\tbed", "line\\nbreak"]


def _doc_id(client: TestClient) -> int:
    items = client.get("/v1/datasets/d/queue", params={"strategy": "random"}, headers=PLAIN).json()["items"]
    return int(items[0]["document_id"])


@pytest.mark.parametrize("label", BAD_LABELS)
def test_labels_with_control_characters_or_lone_surrogates_are_e243(client: TestClient, label: str) -> None:
    doc = _doc_id(client)
    headers = {**PLAIN, "Content-Type": "application/json"}
    url = f"/v1/datasets/d/documents/{doc}"
    bodies = {
        "annotations": f'{{"labels": ["{label}"]}}',
        "annotations ": f'{{"spans": [{{"start": 0, "end": 3, "label": "{label}"}}]}}',
        "reviews": f'{{"decision": "reject", "label": "{label}", "source": "rule"}}',
    }
    for route, body in bodies.items():
        r = client.post(f"{url}/{route.strip()}", content=body.encode(), headers=headers)
        assert "control characters" in assert_error(r, 422, "E243")["message"]
    assert client.get(url, headers=PLAIN).json()["annotations"] == []  # nothing stored
    assert client.post(f"{url}/annotations", json={"labels": ["ünïcode ok"]}, headers=PLAIN).status_code == 201


# A JSON Lines upload whose text, label or id holds a lone surrogate escape (valid JSON syntax, no UTF-8 form)
# failed when stored (500 UnicodeEncodeError); it is now the file's invalid JSON (E102, file and line named) and
# a surrogate pair still reads as the one character it encodes.
@pytest.mark.parametrize(
    "line", ['{"text": "bad \\ud800 text"}', '{"text": "ok", "label": "\\udc00"}', '{"text": "ok", "id": "\\ud800"}']
)
def test_json_lines_with_a_lone_surrogate_are_the_files_invalid_json(client: TestClient, line: str) -> None:
    upload = {"files": ("rows.jsonl", f'{{"text": "fine"}}\n{line}\n'.encode())}
    r = client.post("/v1/datasets/d/documents", files=upload, headers=PLAIN)
    assert r.status_code == 200, r.text
    [failure] = r.json()["failures"]
    assert failure["code"] == "E102" and "line 2" in failure["message"] and "surrogate" in failure["message"]
    pair = {"files": ("pair.jsonl", b'{"text": "smile \\ud83d\\ude00", "label": "x"}\n')}
    assert client.post("/v1/datasets/d/documents", files=pair, headers=PLAIN).json()["added"] == 1


# PostgreSQL's text type cannot hold NUL: an upload of `hello\x00 there` failed there with 500 E699 ("text fields
# cannot contain NUL") and was stored on SQLite. Now the file is a failure (E211) on both, and the run goes on.
def test_a_document_with_a_nul_character_is_that_files_failure(client: TestClient) -> None:
    files = [("files", ("nul.txt", b"hello\x00 there")), ("files", ("fine.txt", b"a text that is fine"))]
    r = client.post("/v1/datasets/d/documents", files=files, headers=PLAIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == 1 and [(f["source"], f["code"]) for f in body["failures"]] == [("nul.txt", "E211")]
    assert "NUL" in body["failures"][0]["message"]


def test_an_imported_record_with_a_nul_character_is_e211_naming_its_line(backend_settings: Settings, tmp_path) -> None:
    from nlpipe.errors import InputError
    from nlpipe.label.formats import read_records

    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "bad\\u0000text", "label": "a"}\n', encoding="utf-8")
    st = open_store(backend_settings)
    with pytest.raises(InputError) as caught:
        import_records(st, "n", read_records(path), create=True)
    assert caught.value.code == "E211" and "line 2" in str(caught.value)
    st.close()
