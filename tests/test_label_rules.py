"""Rules files: parsing with line-numbered errors, matching with spaCy, the vote, the per-rule report, writing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from nlpipe.errors import ConfigError, InputError, NotFoundError
from nlpipe.label.formats import read_records
from nlpipe.label.rules import load_rules
from nlpipe.label.rules_apply import apply_rules
from nlpipe.label.rules_lemmas import suffix_lemma
from nlpipe.label.rules_match import RuleMatcher, vote
from nlpipe.store.datasets import load_dataset
from nlpipe.store.importing import import_records
from nlpipe.store.schema import Annotation
from nlpipe.types import Record
from tests.conftest import DATA

RULES = DATA / "rules" / "feedback.toml"


def _rules(tmp_path: Path, text: str, name: str = "r.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


def _match(rules, *texts: str):
    return list(RuleMatcher(rules).match(texts))


def _config_error(tmp_path: Path, text: str, name: str = "r.toml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _rules(tmp_path, text, name)
    return info.value


# --------------------------------------------------------------------------------------------- parsing


def test_rules_sample_file_parses_with_rule_names_and_lines():
    rules = load_rules(RULES)
    assert rules.multi_label is True and rules.min_votes == 1
    assert rules.labels == ["app", "billing", "delivery", "product", "support"]
    names = [r.name for r in rules.label_rules]
    assert names[:5] == ["app.keywords", "app.phrases", "billing.keywords", "billing.phrases", "billing.regex"]
    assert "support.patterns" in names
    lines = RULES.read_text().splitlines()
    for r in rules.label_rules:
        assert lines[r.line - 1].startswith(r.kind), r
    assert [r.name for r in rules.entity_rules] == [
        "entities.PRODUCT", "feedback_entities.csv:LOCATION", "feedback_entities.csv:DATE"
    ]  # fmt: skip
    assert "Isle of Wight" in rules.entity_rules[1].terms


def test_rules_yaml_and_toml_give_the_same_rules(tmp_path):
    shutil.copy(RULES.parent / "feedback_entities.csv", tmp_path)
    toml = _rules(tmp_path, RULES.read_text())
    yaml_text = """
options: {match: lemma, multi_label: true}
labels:
  billing:
    keywords: [refund, invoice]
    regex: ['£\\s?\\d']
  support:
    phrases: [customer service]
    patterns:
      - [{LOWER: "no"}, {LOWER: one}]
entities:
  PRODUCT:
    terms: [laptop, TV]
    match: exact
entity_lists:
  - file: feedback_entities.csv
"""
    rules = _rules(tmp_path, yaml_text, "r.yaml")
    assert [(r.name, r.match, r.line) for r in rules.label_rules] == [
        ("billing.keywords", "lemma", 5), ("billing.regex", "lemma", 6), ("support.phrases", "lemma", 8),
        ("support.patterns", "lemma", 9),
    ]  # fmt: skip
    assert rules.entity_rules[0].terms == ("laptop", "TV") and rules.entity_rules[0].match == "exact"
    assert [r.name for r in rules.entity_rules][1:] == [r.name for r in toml.entity_rules][1:]


ERRORS_TOML = [
    # (rules text, code, line, text in the message)
    ('[labels.a]\nkeywords = ["x"\n\n', "E702", 2, "TOML syntax"),
    ('[labels.a]\nkeywords = ["x"]\nkeywords = ["y"]\n[labels.b]\n', "E702", 3, "TOML syntax"),
    ('[options]\nmatch = "fuzzy"\n', "E705", 2, "'fuzzy'"),
    ('[labels.a]\nkeywords = ["x"]\nmatch = "stem"\n', "E705", 3, "'stem'"),
    ('[labels.a]\nkeywords = ["x"]\n\n[labels.b]\nregex = [\n  "ok",\n  "bad(",\n]\n', "E706", 7, "bad("),
    ('[labels.a]\nkeyword = ["x"]\n', "E703", 2, "'keyword'"),
    ("rules = 1\n", "E703", 1, "'rules'"),
    ('[labels.a]\nkeywords = ["two words"]\n', "E708", 2, "phrases"),
    ("[labels.a]\nkeywords = []\n", "E704", 2, "non-empty list"),
    ('[labels.a]\nphrases = ["ok", 3]\n', "E704", 2, "item 1"),
    ("[labels.a]\n\n[labels.b]\nmatch = 'lower'\n", "E709", 1, "has no keywords"),
    ('[labels.a]\npatterns = [[{LOWRE = "x"}]]\n', "E707", 2, "LOWRE"),
    ('[options]\nmin_votes = 0\n[labels.a]\nkeywords = ["x"]\n', "E711", 2, "min_votes"),
    ('[entities.PRODUCT]\nmatch = "lower"\n', "E709", 1, "no terms"),
    ('[[entity_lists]]\nfile = "missing.csv"\n', "E710", 2, "missing.csv"),
    ("[options]\n", "E709", None, "no rules"),
]


@pytest.mark.parametrize(("text", "code", "line", "needle"), ERRORS_TOML)
def test_rules_toml_mistakes_name_file_and_line(tmp_path, text, code, line, needle):
    err = _config_error(tmp_path, text)
    assert err.code == code and needle in str(err), str(err)
    assert err.details.get("line") == line and str(tmp_path / "r.toml") in str(err)


ERRORS_YAML = [
    ("labels:\n  a:\n    keywords: [x\n  b: 1\n", "E702", 4, "YAML syntax"),
    ("labels:\n  a:\n    keywords: [x]\n    match: fuzzy\n", "E705", 4, "'fuzzy'"),
    ("labels:\n  a:\n    regex:\n      - ok\n      - 'bad('\n", "E706", 5, "bad("),
    ("labels:\n  a:\n    keywords: [x]\n  b:\n    phrases: [fine, [nested]]\n", "E704", 5, "item 1"),
    ("- just\n- a list\n", "E703", None, "list"),
]


@pytest.mark.parametrize(("text", "code", "line", "needle"), ERRORS_YAML)
def test_rules_yaml_mistakes_name_file_and_line(tmp_path, text, code, line, needle):
    err = _config_error(tmp_path, text, "r.yml")
    assert err.code == code and needle in str(err), str(err)
    assert err.details.get("line") == line


def test_rules_file_missing_other_extension_and_bad_entity_list(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path / "nope.toml")
    assert info.value.code == "E700"
    assert _config_error(tmp_path, "{}", "r.json").code == "E701"
    (tmp_path / "list.csv").write_text("Text,Type\nAcme,ORG\n,ORG\n")
    err = _config_error(tmp_path, '[[entity_lists]]\nfile = "list.csv"\n')
    assert err.code == "E710" and err.details["line"] == 3 and "list.csv" in str(err)
    (tmp_path / "list.csv").write_text("Name,Kind\nAcme,ORG\n")
    assert _config_error(tmp_path, '[[entity_lists]]\nfile = "list.csv"\n').details["line"] == 1


# --------------------------------------------------------------------------------------------- matching


def test_rules_match_modes_lower_exact_lemma(tmp_path):
    rules = _rules(
        tmp_path,
        '[labels.lower]\nkeywords = ["refund"]\n[labels.exact]\nkeywords = ["Refund"]\nmatch = "exact"\n'
        '[labels.lemma]\nphrases = ["charge twice"]\nmatch = "lemma"\n',
    )
    got = [m.fired for m in _match(rules, "REFUND now", "Refund now", "refunded", "I was CHARGED twice")]
    assert got == [["lower.keywords"], ["lower.keywords", "exact.keywords"], [], ["lemma.phrases"]]


def test_rules_lemma_matching_with_suffix_rules(tmp_path):
    rules = _rules(tmp_path, '[options]\nmatch = "lemma"\nlemmas = "suffix"\n[labels.a]\nkeywords = ["refund", '
                   '"delivery", "charge"]\n')  # fmt: skip
    matcher = RuleMatcher(rules)
    assert matcher.lemma_source == "suffix rules"
    texts = ["Refunds please", "two deliveries", "they were charging me", "nothing", "bought"]
    assert [bool(m.fired) for m in matcher.match(texts)] == [True, True, True, False, False]


@pytest.mark.parametrize(
    ("forms", "stem"),
    [(["refund", "refunds", "refunded", "refunding"], "refund"), (["charge", "charges", "charged"], "charg"),
     (["delivery", "deliveries"], "delivery"), (["cancel", "cancelled", "cancelling"], "cancel"),
     (["box", "boxes"], "box"), (["status", "statuses"], "status"), (["app", "apps"], "app")],
)  # fmt: skip
def test_rules_suffix_lemma_is_consistent_across_forms(forms, stem):
    assert {suffix_lemma(f) for f in forms} == {stem}


def test_rules_regex_and_token_patterns(tmp_path):
    rules = _rules(
        tmp_path,
        "[labels.money]\nregex = ['£\\s?\\d+', '(?i)\\bvat\\b']\n"
        '[labels.silent]\npatterns = [[{LOWER = "no"}, {LOWER = "one"}, {LOWER = "has", OP = "?"}, '
        '{LEMMA = "Reply"}]]\nmatch = "lemma"\n',
    )
    texts = ["paid £ 42", "VAT invoice", "no one has replied", "No one replies", "no one here"]
    got = [m.fired for m in _match(rules, *texts)]
    assert got == [["money.regex"], ["money.regex"], ["silent.patterns"], ["silent.patterns"], []]


def test_rules_vote_single_label_tie_and_min_votes():
    label_of = {"a.keywords": "a", "a.regex": "a", "b.keywords": "b"}
    win = vote(["a.keywords", "a.regex", "b.keywords"], label_of, multi_label=False, min_votes=1)
    assert win.labels == ["a"] and win.scores == {"a": pytest.approx(2 / 3)} and not win.tie
    tie = vote(["a.keywords", "b.keywords"], label_of, multi_label=False, min_votes=1)
    assert tie.labels == [] and tie.tie
    weak = vote(["a.keywords"], label_of, multi_label=False, min_votes=2)
    assert weak.labels == [] and not weak.tie
    multi = vote(["a.keywords", "a.regex", "b.keywords"], label_of, multi_label=True, min_votes=1)
    assert multi.labels == ["a", "b"] and multi.voters == {"a": ["a.keywords", "a.regex"], "b": ["b.keywords"]}
    assert vote([], label_of, multi_label=True, min_votes=1).labels == []


def test_rules_gazetteer_spans_every_occurrence_longest_wins(tmp_path):
    (tmp_path / "list.csv").write_text('Text,Type\nNew York,CITY\nYork,CITY\n"New York Times",ORG\nAcme,ORG\n')
    rules = _rules(
        tmp_path,
        '[entities.COMPANY]\nterms = ["acme"]\n[[entity_lists]]\nfile = "list.csv"\nmatch = "exact"\n',
    )
    text = "Acme sued the New York Times in New York; acme and York."
    (m,) = _match(rules, text)
    got = [(text[s.start : s.end], s.label, rule) for s, rule in zip(m.spans, m.span_rules, strict=True)]
    assert got == [
        ("Acme", "COMPANY", "entities.COMPANY"),  # the type listed first wins the same characters
        ("New York Times", "ORG", "list.csv:ORG"),
        ("New York", "CITY", "list.csv:CITY"),
        ("acme", "COMPANY", "entities.COMPANY"),
        ("York", "CITY", "list.csv:CITY"),
    ]
    assert len(m.candidates) == 9 and all(s.source == "rule" for s in m.spans)


# --------------------------------------------------------------------------------------------- applying


@pytest.fixture
def feedback(store):
    import_records(store, "fb", read_records(DATA / "feedback.csv", label_col="labels", label_sep="|"), create=True)
    return store


def _hand_count(rule: str):
    """Coverage and accuracy of one rule over data/feedback.csv, computed here without the report."""
    rules = load_rules(RULES)
    recs = list(read_records(DATA / "feedback.csv", label_col="labels", label_sep="|"))
    label = next(r.label for r in rules.label_rules if r.name == rule)
    fired = [(rec, m) for rec, m in zip(recs, RuleMatcher(rules).match(r.text for r in recs), strict=True)
             if rule in m.fired]  # fmt: skip
    right = sum(label in rec.labels for rec, _ in fired)
    return len(fired) / len(recs), right, len(fired) - right


def test_rules_apply_dry_run_reports_and_stores_nothing(feedback):
    result = apply_rules(feedback, "fb", RULES, sample=3)
    assert result.documents == 200 and result.written is None and len(result.sample) == 3
    with feedback.session() as s:
        assert s.scalar(select(Annotation.id).where(Annotation.source == "rule")) is None
    report = result.report
    assert report["gold_documents"] == 200 and report["gold_span_documents"] == 0
    row = next(r for r in report["rules"] if r["rule"] == "billing.keywords")
    coverage, right, wrong = _hand_count("billing.keywords")
    assert (row["coverage"], row["correct"], row["incorrect"]) == (coverage, right, wrong)
    assert row["accuracy"] == pytest.approx(right / (right + wrong)) and 0 < row["conflicts"] <= row["overlaps"]
    assert report["vote"]["precision"] > 0.8  # the sample rules are good on their own data
    assert result.labels["billing"]["documents"] >= result.labels["billing"]["new"] > 0
    assert result.spans["PRODUCT"]["spans"] == result.spans["PRODUCT"]["new"] > 0


def test_rules_apply_write_is_idempotent_and_keeps_the_rule(feedback):
    first = apply_rules(feedback, "fb", RULES, write=True)
    added = first.written
    assert added["labels_added"] == sum(c["new"] for c in first.labels.values()) > 0
    assert added["spans_added"] == sum(c["new"] for c in first.spans.values()) > 0
    with feedback.session() as s:
        rows = s.execute(select(Annotation.kind, Annotation.author, Annotation.score).where(
            Annotation.source == "rule")).all()  # fmt: skip
    assert len(rows) == added["labels_added"] + added["spans_added"]
    assert all(a.startswith("rule:") for _, a, _ in rows)
    assert all(0 < sc <= 1 for kind, _, sc in rows if kind == "label")
    assert any("billing.regex" in a for _, a, _ in rows) and any("feedback_entities.csv:DATE" in a for _, a, _ in rows)
    again = apply_rules(feedback, "fb", RULES, write=True)
    assert again.written["labels_added"] == again.written["spans_added"] == 0
    replaced = apply_rules(feedback, "fb", RULES, write=True, replace=True)
    assert replaced.written["replaced"] == len(rows) and replaced.written["labels_added"] == added["labels_added"]


def test_rules_labels_count_as_truth_only_without_human_labels(store, tmp_path):
    rules = tmp_path / "r.toml"
    rules.write_text('[labels.billing]\nkeywords = ["invoice"]\n[labels.delivery]\nkeywords = ["parcel"]\n')
    import_records(store, "d", [Record("my invoice is wrong", ["support"]), Record("the invoice came", []),
                                Record("parcel and invoice", []), Record("hello", [])], create=True)  # fmt: skip
    result = apply_rules(store, "d", rules, write=True)
    assert result.ties == 1 and result.no_rule_fired == 1 and result.labels == {
        "billing": {"documents": 2, "new": 2}
    }  # fmt: skip
    row = next(r for r in result.report["rules"] if r["rule"] == "billing.keywords")
    assert (row["correct"], row["incorrect"], row["accuracy"]) == (0, 1, 0.0)  # the only gold says "support"
    assert row["coverage"] == 0.75 and row["overlaps"] == row["conflicts"] == 0.25
    with store.session() as s:
        data = load_dataset(s, "d")
    assert dict(zip(data.texts, data.labels, strict=True)) == {
        "my invoice is wrong": ["support"],  # imported labels win over rule labels
        "the invoice came": ["billing"],
    }


def test_rules_apply_errors(store, tmp_path):
    with pytest.raises(NotFoundError) as info:
        apply_rules(store, "nope", RULES)
    assert info.value.code == "E203"
    from nlpipe.store.datasets import create_dataset

    with store.session() as s:
        create_dataset(s, "empty")
    with pytest.raises(InputError) as info:
        apply_rules(store, "empty", RULES)
    assert info.value.code == "E713"
    with pytest.raises(ConfigError) as info:
        apply_rules(store, "empty", tmp_path / "missing.toml")
    assert info.value.code == "E700"
