"""Entity extraction through the command line (CliRunner): import spans, train, evaluate, predict."""

from __future__ import annotations

import json

from tests.cli.test_cli import fails, ok
from tests.conftest import DATA


def test_cli_entities_train_evaluate_predict(tmp_path):
    ok("datasets", "import", "ents", str(DATA / "entities.jsonl"))
    trained = ok("train", "ents", "--name", "ents", "--task", "entities").output
    assert "micro_f1" in trained and "PRODUCT" in trained and "Saved" in trained

    metrics = json.loads(ok("evaluate", "ents", "ents", "--json").stdout)
    assert metrics["task"] == "entities" and metrics["micro_f1"] > 0.9
    assert {"per_label", "partial", "confusion", "missed", "spurious", "baseline"} <= set(metrics)
    shown = ok("evaluate", "ents", "ents", "--out", str(tmp_path / "rep")).output
    assert "micro_f1" in shown and (tmp_path / "rep" / "report.html").is_file()

    pred = json.loads(ok("predict", "ents", "Hannah Kowalski will open the new Orion Air office in Seoul.").stdout)
    assert {(s["text"], s["label"]) for s in pred["spans"]} >= {("Hannah Kowalski", "PER"), ("Seoul", "LOC")}
    doc = tmp_path / "memo.txt"
    doc.write_text("Kestrel Bank reported a profit of $40 million for the quarter.\n")
    from_file = json.loads(ok("predict", "ents", "--file", str(doc)).stdout)
    assert from_file["source"].endswith("memo.txt") and from_file["spans"][0]["text"] == "Kestrel Bank"
    fails("E415", "predict", "ents", "some text", "--top-k", "2")


def test_cli_entities_entity_list_and_errors(tmp_path):
    listed = tmp_path / "products.csv"
    listed.write_text("Text,Type\nOrion Air,AIRLINE\n")
    ok("datasets", "import", "ents", str(DATA / "entities.jsonl"))
    ok("train", "ents", "--name", "ents", "--task", "entities", "--entity-list", str(listed))
    pred = json.loads(ok("predict", "ents", "Orion Air cancelled flights to Oslo.").stdout)
    assert {"text": "Orion Air", "label": "AIRLINE", "source": "rule"}.items() <= pred["spans"][0].items()
    meta = json.loads(ok("models", "show", "ents").stdout)
    assert meta["entity_lists"]["ruler"] == "before" and meta["entity_lists"]["entries"] == 1

    bad = tmp_path / "bad.csv"
    bad.write_text("name,kind\nx,y\n")
    fails("E373", "train", "ents", "--name", "e2", "--task", "entities", "--entity-list", str(bad))
    fails("E371", "train", "ents", "--name", "e2", "--task", "entities", "--base", "no_such_pipeline_xx")
    fails("E374", "train", "ents", "--name", "e2", "--task", "entities", "--ruler", "sideways")
