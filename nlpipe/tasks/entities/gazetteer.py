"""The gazetteer of the entity features: entity strings seen in the training spans (and in entity lists given by
the user) with the types they were seen with, matched longest-first in a sentence. Plain data, saved as JSON.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from nlpipe.tasks.entities.tags import bilou_to_spans
from nlpipe.tasks.entities.words import Doc


class Gazetteer:
    """Entity strings (token tuples) with the types they were seen with; matched longest-first in a sentence."""

    def __init__(self, max_len: int = 8) -> None:
        self.max_len = max_len
        self.entries_: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        self._longest: dict[str, int] = {}  # first token -> length of the longest entry starting with it

    def add(self, tokens: Sequence[str], label: str, count: int = 1) -> None:
        if 0 < len(tokens) <= self.max_len:
            self.entries_[tuple(tokens)][label] += count
            first = tokens[0]
            if len(tokens) > self._longest.get(first, 0):
                self._longest[first] = len(tokens)

    def add_spans(self, docs: Iterable[Doc], tags: Iterable[list[list[str]]]) -> Gazetteer:
        """Add every entity of tagged documents (``tags`` in BILOU, parallel to ``docs``)."""
        for doc, doc_tags in zip(docs, tags, strict=True):
            for sent, sent_tags in zip(doc, doc_tags, strict=True):
                for start, end, label in bilou_to_spans(sent_tags):
                    self.add(sent[start:end], label)
        return self

    def matches(self, sent: Sequence[str]) -> list[str | None]:
        """Per token ``"B-PER"``/``"I-PER"``/... for the longest entries found left to right (None outside)."""
        out: list[str | None] = [None] * len(sent)
        longest, entries = self._longest, self.entries_
        i = 0
        while i < len(sent):
            found = 0
            # only entries that start with this token can match; none of them is longer than longest[token]
            for n in range(min(longest.get(sent[i], 0), self.max_len, len(sent) - i), 0, -1):
                labels = entries.get(tuple(sent[i : i + n]))
                if labels:
                    label = labels.most_common(1)[0][0]
                    for j in range(n):
                        out[i + j] = ("B-" if j == 0 else "I-") + label
                    found = n
                    break
            i += found or 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_len": self.max_len,
            "entries": [[list(k), dict(v)] for k, v in sorted(self.entries_.items())],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gazetteer:
        obj = cls(max_len=int(data["max_len"]))
        for tokens, labels in data["entries"]:
            for label, n in labels.items():
                obj.add(tokens, label, int(n))
        return obj
