"""Store annotations that rules made (``source='rule'``), each with the rule(s) that fired and a score.

Unlike :func:`nlpipe.store.importing.import_records`, which gives one author to a whole import, every row here
carries its own ``author`` (``rule:<rule names>``) and ``score``. The same dedupe applies: a label or span
already on the document in this dataset, from any source, is not added again. With ``replace`` the dataset's
earlier rule annotations are deleted first, in the same transaction, so a changed rules file leaves no stale
labels behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select

from nlpipe.store.datasets import CHUNK, get_dataset
from nlpipe.store.db import Store
from nlpipe.store.schema import Annotation

__all__ = ["RuleAnnotation", "existing_annotation_keys", "write_rule_annotations"]

SOURCE = "rule"
Key = tuple[int, str, str, int | None, int | None]  # (document id, kind, label, start, end)


@dataclass(frozen=True)
class RuleAnnotation:
    document_id: int
    kind: str  # "label" or "span"
    label: str
    start: int | None = None
    end: int | None = None
    author: str | None = None
    score: float | None = None

    @property
    def key(self) -> Key:
        return (self.document_id, self.kind, self.label, self.start, self.end)


def existing_annotation_keys(session: Any, dataset_id: int, *, ignore_rule: bool = False) -> set[Key]:
    """``(document id, kind, label, start, end)`` of every annotation in the dataset (rule ones left out with
    ``ignore_rule``: what remains after a ``replace``)."""
    query = select(Annotation.document_id, Annotation.kind, Annotation.label, Annotation.start, Annotation.end).where(
        Annotation.dataset_id == dataset_id
    )
    if ignore_rule:
        query = query.where(Annotation.source != SOURCE)
    return {tuple(row) for row in session.execute(query)}


def write_rule_annotations(
    store: Store, dataset: str, items: Iterable[RuleAnnotation], *, replace: bool = False
) -> dict[str, int]:
    """Insert the rule annotations not already present; returns ``{"labels_added", "spans_added", "replaced",
    "already_present"}``. One transaction: on error nothing changes."""
    counts = {"labels_added": 0, "spans_added": 0, "replaced": 0, "already_present": 0}
    with store.session() as s:
        ds = get_dataset(s, dataset)
        if replace:
            # A DELETE's result is a CursorResult (it has the rowcount); Session.execute is typed as any Result.
            result = cast(
                "CursorResult[Any]",
                s.execute(delete(Annotation).where(Annotation.dataset_id == ds.id, Annotation.source == SOURCE)),
            )
            counts["replaced"] = result.rowcount or 0
        seen = existing_annotation_keys(s, ds.id)
        rows: list[dict[str, Any]] = []
        for a in items:
            if a.key in seen:
                counts["already_present"] += 1
                continue
            seen.add(a.key)
            counts["labels_added" if a.kind == "label" else "spans_added"] += 1
            rows.append(
                {
                    "dataset_id": ds.id,
                    "document_id": a.document_id,
                    "kind": a.kind,
                    "label": a.label,
                    "start": a.start,
                    "end": a.end,
                    "source": SOURCE,
                    "author": (a.author or "")[:200] or None,
                    "score": a.score,
                }
            )
        for i in range(0, len(rows), CHUNK):
            s.execute(insert(Annotation), rows[i : i + CHUNK])
    return counts
