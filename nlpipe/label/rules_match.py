"""Apply a :class:`~nlpipe.label.rules.RuleSet` to texts with spaCy (a blank English tokenizer, nothing
downloaded): which rules fire, the labels their vote gives, and the gazetteer spans.

- Keywords, phrases and gazetteer terms go to three ``PhraseMatcher`` objects (attributes ``LOWER``, ``LEMMA``
  and ``ORTH`` for the match modes lower, lemma and exact); token patterns to a ``Matcher`` (their ``LEMMA``
  values go through the same lemma function as the text); regular expressions are searched in the text.
  Documents are tokenised with ``nlp.pipe`` in batches.
- **Vote.** Each label rule that fires gives its label one vote. Single-label rule sets (the default) give a
  document the label with the most votes if it has at least ``min_votes``; a tie between labels for the most
  votes gives no label (the document is counted as a tie and left for a person). Multi-label rule sets give
  every label with at least ``min_votes`` votes. A label's score is its share of the document's votes.
- **Spans.** Every occurrence of every gazetteer term is a candidate; overlapping candidates are resolved
  with ``spacy.util.filter_spans``: the longest wins, then the earliest; for the same characters under two
  types, the type listed first in the rules file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nlpipe.label.rules import EntityRule, LabelRule, RuleSet
from nlpipe.label.rules_lemmas import lemma_function
from nlpipe.types import Span

__all__ = ["DocMatches", "RuleMatcher", "vote"]

_ATTRS = {"lower": "LOWER", "lemma": "LEMMA", "exact": "ORTH"}
_MAX_LENGTH = 100_000_000  # a tokenizer-only pipeline has no parser whose memory spaCy's 1M default protects


@dataclass
class DocMatches:
    """What the rules say about one text.

    ``fired`` are the label rules that fired (rule order); ``labels`` the labels the vote gives, with
    ``scores`` (vote share) and ``voters`` (rules voting for each); ``tie`` is true when a single-label vote
    was tied. ``candidates`` are every gazetteer match ``(start, end, type, rule)``; ``spans`` the resolved
    ones with ``span_rules`` naming the rule of each.
    """

    fired: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    voters: dict[str, list[str]] = field(default_factory=dict)
    tie: bool = False
    candidates: list[tuple[int, int, str, str]] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    span_rules: list[str] = field(default_factory=list)


def vote(fired: Iterable[str], label_of: dict[str, str], *, multi_label: bool, min_votes: int) -> DocMatches:
    """Labels from the rules that fired (see the module docstring for the tie rule)."""
    out = DocMatches(fired=list(fired))
    voters: dict[str, list[str]] = {}
    for name in out.fired:
        voters.setdefault(label_of[name], []).append(name)
    total = sum(len(v) for v in voters.values())
    out.voters = voters
    if not voters:
        return out
    if multi_label:
        winners = [lab for lab, v in voters.items() if len(v) >= min_votes]
    else:
        top = max(len(v) for v in voters.values())
        best = [lab for lab, v in voters.items() if len(v) == top]
        out.tie = len(best) > 1
        winners = best if len(best) == 1 and top >= min_votes else []
    out.labels = winners
    out.scores = {lab: len(voters[lab]) / total for lab in winners}
    return out


class RuleMatcher:
    """Compiled rules; :meth:`match` yields one :class:`DocMatches` per text, in order."""

    def __init__(self, rules: RuleSet) -> None:
        import spacy
        from spacy.matcher import Matcher, PhraseMatcher

        self.rules = rules
        self.nlp = spacy.blank("en")
        self.nlp.max_length = _MAX_LENGTH
        vocab = self.nlp.vocab
        self._lemma: Callable[[str], str] | None
        self._lemma, self.lemma_source = lemma_function(rules.lemmas) if rules.uses_lemmas() else (None, "none")
        self._lemma_ids: dict[int, int] = {}  # orth id -> lemma id
        self._phrase = {mode: PhraseMatcher(vocab, attr=attr) for mode, attr in _ATTRS.items()}
        self._matcher = Matcher(vocab)
        self._regex: list[tuple[str, list[re.Pattern[str]]]] = []
        self._label_of = {r.name: r.label for r in rules.label_rules}
        every_rule: list[LabelRule | EntityRule] = [*rules.label_rules, *rules.entity_rules]
        self._order = {r.name: i for i, r in enumerate(every_rule)}
        self._entity_type = {r.name: r.label for r in rules.entity_rules}
        for r in rules.label_rules:
            if r.kind == "regex":
                self._regex.append((r.name, [re.compile(src) for src in r.items]))
            elif r.kind == "patterns":
                self._matcher.add("L\t" + r.name, [self._lemma_pattern(p) for p in r.patterns])
            else:
                self._add_terms("L\t" + r.name, r.items, r.match)
        for e in rules.entity_rules:
            self._add_terms("E\t" + e.name, e.terms, e.match)

    def _lemma_pattern(self, pattern: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A token pattern whose LEMMA values went through the lemma function, like the text's lemmas."""
        lemma = self._lemma
        if lemma is None:
            return list(pattern)
        out = []
        for token in pattern:
            token = dict(token)
            for key, value in token.items():
                if str(key).upper() != "LEMMA":
                    continue
                if isinstance(value, str):
                    token[key] = lemma(value)
                elif isinstance(value, dict):  # {"IN": [...]}, {"NOT_IN": [...]}, ...
                    token[key] = {op: [lemma(v) if isinstance(v, str) else v for v in vals] if isinstance(vals, list)
                                  else vals for op, vals in value.items()}  # fmt: skip
            out.append(token)
        return out

    def _add_terms(self, key: str, terms: Iterable[str], mode: str) -> None:
        docs = [self._lemmatise(d) if mode == "lemma" else d for d in self.nlp.pipe(terms)]
        self._phrase[mode].add(key, docs)

    def _lemmatise(self, doc: Any) -> Any:
        """Set every token's lemma (by array, not token by token: this runs on every document)."""
        if self._lemma is None or not len(doc):
            return doc
        import numpy as np
        from spacy.attrs import LEMMA, ORTH

        ids, strings, lemma = self._lemma_ids, self.nlp.vocab.strings, self._lemma
        out = []
        for orth in doc.to_array(ORTH).tolist():
            lid = ids.get(orth)
            if lid is None:
                lid = ids[orth] = strings.add(lemma(strings[orth]))
            out.append(lid)
        doc.from_array([LEMMA], np.asarray(out, dtype="uint64").reshape(-1, 1))
        return doc

    def match(self, texts: Iterable[str], *, batch_size: int = 256) -> Iterator[DocMatches]:
        from spacy.tokens import Span as SpacySpan
        from spacy.util import filter_spans

        strings = self.nlp.vocab.strings
        active = [m for m in self._phrase.values() if len(m)]
        for doc in self.nlp.pipe(texts, batch_size=batch_size):
            self._lemmatise(doc)
            fired: set[str] = set()
            found: list[tuple[int, int, int, str]] = []  # (rule order, start token, end token, entity rule)
            matchers: list[Any] = [*active, self._matcher] if len(self._matcher) else active  # spaCy's are untyped
            for matcher in matchers:
                for match_id, start, end in matcher(doc):
                    side, name = strings[match_id].split("\t", 1)
                    if side == "L":
                        fired.add(name)
                    else:
                        found.append((self._order[name], start, end, name))
            for name, patterns in self._regex:
                if any(p.search(doc.text) for p in patterns):
                    fired.add(name)
            result = vote(sorted(fired, key=self._order.__getitem__), self._label_of,
                          multi_label=self.rules.multi_label, min_votes=self.rules.min_votes)  # fmt: skip
            if found:
                found.sort()
                spans = [SpacySpan(doc, s, e, label=self._entity_type[name]) for _, s, e, name in found]
                rule_of: dict[tuple[int, int, str], str] = {}
                for sp, (_, _, _, name) in zip(spans, found, strict=True):
                    key = (sp.start_char, sp.end_char, sp.label_)
                    rule_of.setdefault(key, name)
                    result.candidates.append((*key, name))
                for sp in sorted(filter_spans(spans), key=lambda x: x.start):
                    key = (sp.start_char, sp.end_char, sp.label_)
                    result.spans.append(Span(*key, source="rule"))
                    result.span_rules.append(rule_of[key])
            yield result
