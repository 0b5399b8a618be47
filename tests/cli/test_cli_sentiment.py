"""Sentiment through the command line (CliRunner): train both shapes, evaluate, predict with sentences, and the
lexicon with no model at all."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli import fails, ok, run
from tests.conftest import DATA

MIXED = "The courier was rude and the box was crushed. Support fixed it fast, thank you!"


@pytest.fixture
def with_trained(monkeypatch, trained_sentiment):
    """Point the CLI at the session's trained sentiment models and their store."""
    monkeypatch.setenv("NLPIPE_HOME", str(trained_sentiment.home))
    monkeypatch.setenv("NLPIPE_MODELS_DIR", str(trained_sentiment.models_dir))


def test_cli_sentiment_train_scale_and_evaluate(tmp_path):
    ok("datasets", "import", "ratings", str(DATA / "ratings.csv"), "--label-col", "rating")
    trained = ok("train", "ratings", "--name", "ratings", "--task", "sentiment", "--scale", "4", "--time-budget", "10")
    assert "Saved" in trained.output and "Ordinal scale 0..4" in trained.output and "kappa_quadratic" in trained.output
    shown = ok("evaluate", "ratings", "ratings", "--split", "all", "--out", str(tmp_path / "rep")).output
    assert "kappa_linear" in shown and "Ordinal scale" in (tmp_path / "rep" / "report.html").read_text()
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["ordinal"]["scale"] == 4 and metrics["ordinal"]["n_examples"] == 60
    pred = json.loads(ok("predict", "ratings", "Wonderful, I love it!").stdout)
    assert pred["model"] == "ratings" and pred["sentiment"]["kind"] == "scale"


def test_cli_sentiment_train_errors():
    ok("datasets", "import", "fb", str(DATA / "feedback.csv"), "--label-col", "sentiment")
    fails("E351", "train", "fb", "--name", "m", "--task", "sentiment", "--scale", "2")
    fails("E350", "train", "fb", "--name", "m", "--task", "sentiment", "--scale", "0")
    fails("E350", "train", "fb", "--name", "m", "--task", "sentiment", "--scale", "11")
    fails("E354", "train", "fb", "--name", "m", "--task", "sentiment", "--multi-label")
    fails("E315", "train", "fb", "--name", "m", "--scale", "2")  # classification takes no scale


def test_cli_sentiment_predict_with_sentences(with_trained, tmp_path):
    pred = json.loads(ok("predict", "feedback-sentiment", MIXED, "--sentences").stdout)
    assert pred["model"] == "feedback-sentiment" and pred["predicted"] == [pred["sentiment"]["label"]]
    sents = pred["sentiment"]["sentences"]
    assert [(MIXED[s["start"] : s["end"]], s["label"]) for s in sents] == [
        ("The courier was rude and the box was crushed.", "negative"),
        ("Support fixed it fast, thank you!", "positive"),
    ]
    rows = [
        json.loads(x)
        for x in ok("predict", "feedback-sentiment", "-", input="Awful.\nLovely!\n").stdout.split("\n")
        if x
    ]
    assert [r["sentiment"]["label"] for r in rows] == ["negative", "positive"]
    fails("E415", "predict", "feedback-sentiment", "fine", "--top-k", "1")


def test_cli_lexicon_needs_no_model(tmp_path):
    assert json.loads(ok("models", "list", "--json").stdout) == []
    pred = json.loads(ok("predict", "--lexicon", "I love it!").stdout)
    assert pred["model"] == "lexicon" and pred["version"].startswith("vader-")
    assert pred["sentiment"]["kind"] == "lexicon" and pred["sentiment"]["label"] == "positive"
    lines = ok("predict", "--lexicon", "-", "--sentences", input="Awful. Great!\nThe bus is at 5\n").stdout.split("\n")
    rows = [json.loads(x) for x in lines if x]
    assert [s["label"] for s in rows[0]["sentiment"]["sentences"]] == ["negative", "positive"]
    assert rows[1]["sentiment"]["label"] == "neutral"
    doc = tmp_path / "review.txt"
    doc.write_text("What a wonderful, friendly team. Highly recommended!")
    from_file = json.loads(ok("predict", "--lexicon", "--file", str(doc)).stdout)
    assert from_file["source"].endswith("review.txt") and from_file["sentiment"]["label"] == "positive"


def test_cli_predict_model_or_lexicon_errors():
    fails("E420", "predict")
    fails("E423", "predict", "--lexicon", "some-model", "some text")
    fails("E423", "predict", "--lexicon", "text", "--version", "v1")
    fails("E415", "predict", "--lexicon", "text", "--top-k", "1")
    result = run("predict", "--help")
    assert "--lexicon" in result.output and "--sentences" in result.output
