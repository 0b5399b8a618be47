"""The `nlpipe` command line through Typer's CliRunner, on real files and a real SQLite store."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nlpipe.cli.main import app
from tests.conftest import DATA

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None):
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def fails(code: str, *args: str):
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert f"[{code}]" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    return result


def test_cli_help_lists_every_command():
    out = ok("--help").output
    for cmd in ("datasets", "train", "evaluate", "predict", "models", "serve"):
        assert cmd in out


def test_cli_datasets_create_list_stats_export(tmp_path):
    ok("datasets", "create", "news", "--description", "sample news")
    fails("E202", "datasets", "create", "news")
    imported = ok("datasets", "import", "news", str(DATA / "news.jsonl")).output
    assert "documents added" in imported and "240" in imported
    listed = json.loads(ok("datasets", "list", "--json").stdout)
    assert listed[0]["name"] == "news" and listed[0]["documents"] == 240
    stats = json.loads(ok("datasets", "stats", "news", "--json").stdout)
    assert stats["labels"]["sports"]["total"] == 60
    assert "sports" in ok("datasets", "stats", "news").output
    out = tmp_path / "export.jsonl"
    ok("datasets", "export", "news", str(out))
    assert len(out.read_text().splitlines()) == 240


def test_cli_import_multilabel_csv():
    ok("datasets", "import", "fb", str(DATA / "feedback.csv"), "--label-col", "labels", "--label-sep", "|")
    stats = json.loads(ok("datasets", "stats", "fb", "--json").stdout)
    assert stats["multi_label"] is True and stats["documents"] == 200


def test_cli_bad_import_names_file_and_line_and_stores_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a fine line", "label": "x"}\n{"text": "broken", "label": \n')
    result = fails("E102", "datasets", "import", "d", str(bad))
    assert "bad.jsonl" in result.stderr and "line 2" in result.stderr
    assert json.loads(ok("datasets", "list", "--json").stdout) == []


def test_cli_unknown_dataset_and_model():
    fails("E203", "datasets", "stats", "nope")
    fails("E403", "predict", "nope", "some text")
    fails("E403", "models", "show", "nope")


def test_cli_train_evaluate_predict_promote(tmp_path):
    ok("datasets", "import", "news", str(DATA / "news.jsonl"))
    trained = ok("train", "news", "--name", "news", "--time-budget", "20")
    assert "Saved" in trained.output and "accuracy" in trained.output and "Model search" in trained.output

    metrics = json.loads(ok("evaluate", "news", "news", "--json").stdout)
    assert {"accuracy", "macro_f1", "micro_f1", "per_label"} <= set(metrics)
    assert metrics["accuracy"] > metrics["baseline"]["accuracy"]
    report = ok("evaluate", "news", "news", "--out", str(tmp_path / "rep")).output
    assert (tmp_path / "rep" / "report.html").is_file() and "Report:" in report

    line = ok("predict", "news", "The goalkeeper saved a penalty in the last minute of the match").stdout
    pred = json.loads(line)
    assert pred["predicted"] == ["sports"] and pred["version"] == "v1"
    many = ok(
        "predict", "news", "-", "--top-k", "1", input="Stocks rallied on strong earnings\n\nVoters went to the polls\n"
    )
    rows = [json.loads(x) for x in many.stdout.splitlines()]  # one row per input line, the blank one an error row
    assert [r["line"] for r in rows] == [1, 2, 3] and rows[1]["error"]["code"] == "E417"
    assert all(len(r["labels"]) == 1 for r in (rows[0], rows[2])) and rows[2]["version"] == "v1"
    doc = tmp_path / "doc.txt"
    doc.write_text("Astronomers observed a new exoplanet with the space telescope.", encoding="cp1252")
    assert json.loads(ok("predict", "news", "--file", str(doc), "--explain").stdout)["labels"][0]["terms"]

    ok("train", "news", "--name", "news", "--time-budget", "20")
    listed = json.loads(ok("models", "list", "--json").stdout)
    assert [r["version"] for r in listed] == ["v1", "v2"]
    ok("models", "promote", "news", "v1")
    assert json.loads(ok("predict", "news", "tennis final").stdout)["version"] == "v1"
    assert json.loads(ok("models", "show", "news").stdout)["version"] == "v1"
    fails("E404", "models", "promote", "news", "v5")


def test_cli_train_errors():
    fails("E203", "train", "missing", "--name", "m")
    ok("datasets", "import", "one", str(DATA / "news.jsonl"))
    fails("E401", "train", "one", "--name", "bad name")
    fails("E313", "train", "one", "--name", "m", "--task", "nonsense")
    fails("E314", "train", "one", "--name", "m", "--time-budget", "-1")


def test_cli_predict_needs_exactly_one_input(tmp_path):
    fails("E414", "predict", "news")
    fails("E195", "predict", "news", "--file", str(tmp_path / "missing.txt"))


@pytest.mark.parametrize("value", ["2", "0.5x"])
def test_cli_bad_setting_is_reported(monkeypatch, value):
    monkeypatch.setenv("NLPIPE_TEST_FRACTION", value)
    result = run("datasets", "list")
    assert result.exit_code != 0
    assert "NLPIPE_TEST_FRACTION" in (result.stderr + result.output)
    assert "Traceback" not in result.stderr + result.output
