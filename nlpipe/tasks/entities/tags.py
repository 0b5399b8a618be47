"""BILOU tags, the CRF's labels: from token spans and back (repairing ill-formed sequences)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def spans_to_bilou(n: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    """BILOU tags for ``n`` tokens from token spans ``(start, end, label)`` (end exclusive, no overlaps)."""
    tags = ["O"] * n
    for start, end, label in spans:
        if end - start == 1:
            tags[start] = f"U-{label}"
        else:
            tags[start] = f"B-{label}"
            for i in range(start + 1, end - 1):
                tags[i] = f"I-{label}"
            tags[end - 1] = f"L-{label}"
    return tags


def bilou_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Token spans from BILOU tags, repairing ill-formed sequences (an I/L without B starts an entity)."""
    spans: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for i, tag in enumerate(tags):
        prefix, _, lab = tag.partition("-")
        if prefix in ("O", "") or (start >= 0 and lab != label) or prefix in ("B", "U"):
            if start >= 0:
                spans.append((start, i, label))
                start = -1
        if prefix in ("B", "U", "I", "L") and start < 0:
            start, label = i, lab
        if prefix in ("U", "L") and start >= 0:
            spans.append((start, i + 1, label))
            start = -1
    if start >= 0:
        spans.append((start, len(tags), label))
    return spans
