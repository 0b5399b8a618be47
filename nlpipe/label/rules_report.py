"""A per-rule summary in the manner of Snorkel's ``LFAnalysis.lf_summary``, built one document at a time.

For a label rule, over all documents the rules ran on:

- ``coverage``: share of documents where the rule fires;
- ``overlaps``: share of documents where it fires together with at least one other label rule;
- ``conflicts``: share of documents where it fires together with a rule voting for another label;
- ``correct`` / ``incorrect`` / ``accuracy``: on documents that have human or imported labels (the gold),
  how often the rule's label is among them (``accuracy`` is None without gold documents).

For a gazetteer rule: coverage counts documents where it keeps a span; overlaps and conflicts documents where
one of its matches overlaps a match of another gazetteer rule (of another entity type, for conflicts);
correct/incorrect count its kept spans on documents with human/imported spans, correct meaning the same
start, end and type.

``summary()`` also reports the vote: documents labeled, ties, documents no rule fired on, and against the gold,
the share of voted labels that are right (precision) and of documents whose voted labels equal the gold.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from nlpipe.label.rules import EntityRule, LabelRule, RuleSet
from nlpipe.label.rules_match import DocMatches
from nlpipe.types import Span

__all__ = ["RuleReport"]


class RuleReport:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.label_of = {r.name: r.label for r in rules.label_rules}
        self.documents = 0
        self.fires: Counter[str] = Counter()
        self.overlaps: Counter[str] = Counter()
        self.conflicts: Counter[str] = Counter()
        self.correct: Counter[str] = Counter()
        self.incorrect: Counter[str] = Counter()
        self.gold_docs = 0
        self.gold_span_docs = 0
        self.voted: Counter[str] = Counter()
        self.ties = 0
        self.labeled = 0
        self.no_rule = 0
        self.vote_right = 0
        self.vote_wrong = 0
        self.vote_exact = 0
        self.vote_gold_docs = 0
        self.span_counts: Counter[str] = Counter()

    def add(self, m: DocMatches, gold_labels: list[str] | None, gold_spans: list[Span] | None) -> None:
        """Count one document; ``gold_*`` are None when the document has no human/imported labels (spans)."""
        self.documents += 1
        fired = m.fired
        if not fired:
            self.no_rule += 1
        self.ties += m.tie
        self.labeled += bool(m.labels)
        self.voted.update(m.labels)
        labels_fired = {self.label_of[n] for n in fired}
        for name in fired:
            self.fires[name] += 1
            if len(fired) > 1:
                self.overlaps[name] += 1
            if len(labels_fired - {self.label_of[name]}) > 0:
                self.conflicts[name] += 1
        if gold_labels is not None:
            self.gold_docs += 1
            gold = set(gold_labels)
            for name in fired:
                if self.label_of[name] in gold:
                    self.correct[name] += 1
                else:
                    self.incorrect[name] += 1
            if m.labels:
                self.vote_gold_docs += 1
                self.vote_right += len(set(m.labels) & gold)
                self.vote_wrong += len(set(m.labels) - gold)
                self.vote_exact += set(m.labels) == gold
        self._add_spans(m, gold_spans)

    def _add_spans(self, m: DocMatches, gold_spans: list[Span] | None) -> None:
        kept_by: dict[str, list[Span]] = {}
        for sp, name in zip(m.spans, m.span_rules, strict=True):
            kept_by.setdefault(name, []).append(sp)
            self.span_counts[sp.label] += 1
        overlapping: set[str] = set()
        conflicting: set[str] = set()
        cands = m.candidates
        for i, (s1, e1, t1, r1) in enumerate(cands):
            for s2, e2, t2, r2 in cands[i + 1 :]:
                if r1 != r2 and s1 < e2 and s2 < e1:
                    overlapping.update((r1, r2))
                    if t1 != t2:
                        conflicting.update((r1, r2))
        for name in kept_by:
            self.fires[name] += 1
        self.overlaps.update(overlapping)
        self.conflicts.update(conflicting)
        if gold_spans is not None:
            self.gold_span_docs += 1
            gold = {(s.start, s.end, s.label) for s in gold_spans}
            for name, spans in kept_by.items():
                for sp in spans:
                    if (sp.start, sp.end, sp.label) in gold:
                        self.correct[name] += 1
                    else:
                        self.incorrect[name] += 1

    def summary(self) -> dict[str, Any]:
        n = self.documents or 1
        rows = []
        every_rule: list[LabelRule | EntityRule] = [*self.rules.label_rules, *self.rules.entity_rules]
        for r in every_rule:
            kind = getattr(r, "kind", "gazetteer")
            right, wrong = self.correct[r.name], self.incorrect[r.name]
            rows.append(
                {
                    "rule": r.name,
                    "kind": kind,
                    "target": r.label,
                    "line": r.line,
                    "documents": self.fires[r.name],
                    "coverage": self.fires[r.name] / n,
                    "overlaps": self.overlaps[r.name] / n,
                    "conflicts": self.conflicts[r.name] / n,
                    "correct": right,
                    "incorrect": wrong,
                    "accuracy": right / (right + wrong) if right + wrong else None,
                }
            )
        judged = self.vote_right + self.vote_wrong
        return {
            "documents": self.documents,
            "gold_documents": self.gold_docs,
            "gold_span_documents": self.gold_span_docs,
            "rules": rows,
            "vote": {
                "multi_label": self.rules.multi_label,
                "min_votes": self.rules.min_votes,
                "labeled": self.labeled,
                "labels": dict(sorted(self.voted.items())),
                "ties": self.ties,
                "no_rule_fired": self.no_rule,
                "precision": self.vote_right / judged if judged else None,
                "exact_match": self.vote_exact / self.vote_gold_docs if self.vote_gold_docs else None,
                "gold_documents_voted": self.vote_gold_docs,
            },
            "spans": dict(sorted(self.span_counts.items())),
        }
