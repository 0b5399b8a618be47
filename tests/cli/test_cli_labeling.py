"""`nlpipe label queue` and the agreement table of `nlpipe datasets stats`, through CliRunner on a real store."""

from __future__ import annotations

import json

import pytest

from nlpipe.config import get_settings
from nlpipe.store import annotations as A
from nlpipe.store.datasets import load_dataset
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.types import Record
from tests.cli.test_cli import fails, ok

TEXTS = [
    "The striker scored twice as the home team won the cup final",
    "Shares slid after the bank missed its quarterly profit forecast",
    "Parliament passed the budget after a long debate among senators",
    "Astronomers found water on a planet orbiting a distant star",
]


@pytest.fixture
def ids() -> dict[str, int]:
    st = open_store(get_settings())
    import_records(st, "d", [Record(text=t, labels=[]) for t in TEXTS], create=True)
    import_records(st, "d", [Record(text="Imported business news", labels=["business"])])
    with st.session() as s:
        data = load_dataset(s, "d", labeled_only=False)
    st.close()
    return dict(zip(data.texts, data.doc_ids, strict=True))


def test_cli_label_queue_strategies(ids):
    default = json.loads(ok("label", "queue", "d", "--json").stdout)
    assert default["strategy"] == "diversity" and default["pool"] == 4
    assert {i["document_id"] for i in default["items"]} == {ids[t] for t in TEXTS}
    random = json.loads(
        ok("label", "queue", "d", "--strategy", "random", "--limit", "2", "--seed", "1", "--json").stdout
    )
    again = json.loads(
        ok("label", "queue", "d", "--strategy", "random", "--limit", "2", "--seed", "1", "--json").stdout
    )
    assert len(random["items"]) == 2 and random["items"] == again["items"]
    table = ok("label", "queue", "d", "--strategy", "random").output
    assert "4 of 4 documents waiting for a person" in table and "random" in table
    fails("E721", "label", "queue", "d", "--strategy", "uncertainty")
    fails("E720", "label", "queue", "d", "--strategy", "smart")
    fails("E203", "label", "queue", "missing")


def test_cli_label_queue_skips_the_annotators_documents(ids):
    st = open_store(get_settings())
    with st.session() as s:
        A.add_annotations(s, "d", ids[TEXTS[0]], "alice", labels=["sports"])
    st.close()
    mine = json.loads(ok("label", "queue", "d", "--annotator", "alice", "--json").stdout)
    assert ids[TEXTS[0]] not in {i["document_id"] for i in mine["items"]} and mine["pool"] == 3
    assert json.loads(ok("label", "queue", "d", "--annotator", "bob", "--json").stdout)["pool"] == 4


def test_cli_label_queue_by_model_uncertainty(ids, trained, monkeypatch):
    monkeypatch.setenv("NLPIPE_MODELS_DIR", str(trained.models_dir))
    get_settings.cache_clear()
    q = json.loads(ok("label", "queue", "d", "--model", "news", "--json").stdout)
    assert q["strategy"] == "uncertainty" and q["model"] == {"name": "news", "version": "v1"}
    scores = [i["score"] for i in q["items"]]
    assert scores == sorted(scores, reverse=True) and all(i["predicted"] for i in q["items"])
    assert "by news v1" in ok("label", "queue", "d", "--model", "news").output
    fails("E403", "label", "queue", "d", "--model", "nope")


def test_cli_datasets_stats_shows_agreement(ids):
    st = open_store(get_settings())
    with st.session() as s:
        for t, a, b in zip(TEXTS, ["x", "x", "y", "y"], ["x", "y", "y", "y"], strict=True):
            A.add_annotations(s, "d", ids[t], "alice", labels=[a])
            A.add_annotations(s, "d", ids[t], "bob", labels=[b])
    st.close()
    out = ok("datasets", "stats", "d").output
    assert "Inter-annotator agreement" in out and "Cohen's kappa" in out
    # p_o = 3/4, p_e = (2*1 + 2*3) / 16 = 1/2, kappa = 0.5
    assert "alice" in out and "bob" in out and "0.500" in out
    agr = json.loads(ok("datasets", "stats", "d", "--json").stdout)["agreement"]
    assert agr["pairs"][0]["kappa"] == pytest.approx(0.5) and agr["documents"] == 4


def test_cli_datasets_stats_shows_span_agreement(ids):
    st = open_store(get_settings())
    with st.session() as s:
        doc = ids[TEXTS[1]]  # "Shares slid after the bank missed ..."
        A.add_annotations(s, "d", doc, "alice", spans=[{"start": 22, "end": 26, "label": "ORG"}])
        A.add_annotations(s, "d", doc, "bob", spans=[{"start": 22, "end": 26, "label": "ORG"},
                                                     {"start": 0, "end": 6, "label": "MISC"}])  # fmt: skip
    st.close()
    out = ok("datasets", "stats", "d").output
    assert "Span agreement" in out and "Inter-annotator agreement" not in out
    assert "0.667" in out  # 2 * 1 / (1 + 2)
    agr = json.loads(ok("datasets", "stats", "d", "--json").stdout)["span_agreement"]
    assert agr["pairs"][0]["per_label"] == {"MISC": 0.0, "ORG": 1.0}
