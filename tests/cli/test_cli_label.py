"""`nlpipe label apply` and the entity-annotation formats of `nlpipe datasets import/export`, through CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nlpipe.cli.main import app
from tests.conftest import DATA

runner = CliRunner()
RULES = DATA / "rules" / "feedback.toml"


def ok(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def fails(code: str, *args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert f"[{code}]" in result.stderr and "Traceback" not in result.output + result.stderr
    return result


def test_cli_label_apply_dry_run_then_write():
    ok("datasets", "import", "fb", str(DATA / "feedback.csv"), "--label-col", "labels", "--label-sep", "|")
    dry = ok("label", "apply", str(RULES), "fb").stdout
    assert "Per-rule report" in dry and "billing.keywords" in dry and "Dry run: nothing stored" in dry
    new_labels = int(dry.split("--write would add ")[1].split()[0])
    data = json.loads(ok("label", "apply", str(RULES), "fb", "--json", "--sample", "1", "--write").stdout)
    assert data["documents"] == 200 and len(data["sample"]) == 1
    assert {r["rule"] for r in data["report"]["rules"]} >= {"billing.regex", "entities.PRODUCT"}
    assert data["written"]["labels_added"] == new_labels == sum(c["new"] for c in data["labels"].values()) > 0
    stats = json.loads(ok("datasets", "stats", "fb", "--json").stdout)
    assert stats["annotations_by_source"]["rule"] == new_labels


def test_cli_label_apply_bad_rules_file_names_the_line(tmp_path):
    ok("datasets", "import", "fb", str(DATA / "feedback.csv"), "--label-col", "labels", "--label-sep", "|")
    bad = tmp_path / "bad.toml"
    bad.write_text('[labels.billing]\nkeywords = ["invoice"]\nregex = ["(unclosed"]\n')
    err = fails("E706", "label", "apply", str(bad), "fb").stderr
    assert f"{bad}, line 3" in err
    fails("E203", "label", "apply", str(RULES), "missing")


def test_cli_datasets_conll_import_split_and_export_formats(tmp_path):
    conll = tmp_path / "tiny.conll"
    conll.write_text("-DOCSTART- -X- -X- O\n\nEU I-ORG\nrejects O\nGerman I-MISC\n\nPeter I-PER\nBlackburn I-PER\n")
    out = ok("datasets", "import", "ner", str(conll), "--split", "test").stdout
    assert "spans added" in out and "test=2" in out
    docs = ok("datasets", "import", "ner-docs", str(conll), "--format", "conll", "--conll-docs").stdout
    assert "documents added" in docs and "│ 1 " in docs
    ls = tmp_path / "ner.json"
    ok("datasets", "export", "ner", str(ls))
    tasks = json.loads(ls.read_text())
    assert [t["data"]["split"] for t in tasks] == ["test", "test"]
    assert tasks[1]["annotations"][0]["result"][0]["value"] == {
        "start": 0, "end": 15, "text": "Peter Blackburn", "labels": ["PER"]
    }  # fmt: skip
    ok("datasets", "export", "ner", str(tmp_path / "ner.txt"), "--format", "conll", "--conll-scheme", "iob1")
    assert "Peter I-PER\nBlackburn I-PER" in (tmp_path / "ner.txt").read_text()
    ok("datasets", "import", "back", str(ls))
    back = tmp_path / "back.jsonl"
    ok("datasets", "export", "back", str(back))
    spans = [json.loads(line)["spans"] for line in back.read_text().splitlines()]
    assert spans == [[{"start": 0, "end": 2, "label": "ORG"}, {"start": 11, "end": 17, "label": "MISC"}],
                     [{"start": 0, "end": 15, "label": "PER"}]]  # fmt: skip


def test_cli_datasets_import_bad_annotation_stores_nothing(tmp_path):
    conll = tmp_path / "bad.conll"
    conll.write_text("EU I-ORG\nrejects O\n\nPeter I-PERSON\nBlackburn Q-PER\n")
    err = fails("E119", "datasets", "import", "ner", str(conll)).stderr
    assert f"{conll}, line 5" in err
    fails("E203", "datasets", "stats", "ner")  # nothing stored, not even the dataset
    fails("E105", "datasets", "import", "ner", str(conll), "--split", "holdout")
    fails("E130", "datasets", "import", "ner", str(DATA / "news.jsonl"), "--conll-docs")
    fails("E120", "datasets", "export", "ner", str(tmp_path / "x.conll"), "--conll-scheme", "bilou")
