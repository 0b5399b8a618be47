"""CoNLL-2003's baseline for entities: tag the entity strings seen in training with their most frequent type.

Evaluations report it beside the model (``baseline`` of :func:`nlpipe.metrics.entities.entity_metrics`); it is the
entity task's, so evaluation needs nothing of the entity model's features.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nlpipe.tasks.entities.gazetteer import Gazetteer
from nlpipe.types import Span

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    toks, offs = [], []
    for m in _TOKEN.finditer(text):
        toks.append(m.group())
        offs.append(m.span())
    return toks, offs


def memorized_baseline(
    train_texts: Sequence[str], train_spans: Sequence[Sequence[Span]], texts: Sequence[str]
) -> list[list[Span]]:
    """Tag every occurrence of an entity string seen in training with its most frequent type, longest first."""
    gaz = Gazetteer(max_len=10)
    for text, spans in zip(train_texts, train_spans, strict=True):
        for s in spans:
            toks, _ = _tokens(text[s.start : s.end])
            gaz.add(toks, s.label)
    out = []
    for text in texts:
        toks, offs = _tokens(text)
        tags = gaz.matches(toks)
        found, i = [], 0
        while i < len(tags):
            tag = tags[i]
            if tag is None or not tag.startswith("B-"):
                i += 1
                continue
            j = i + 1
            while j < len(tags) and tags[j] == "I-" + tag[2:]:
                j += 1
            found.append(Span(offs[i][0], offs[j - 1][1], tag[2:], source="rule"))
            i = j
        out.append(found)
    return out
