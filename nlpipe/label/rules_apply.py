"""`nlpipe label apply`: run a rules file over a dataset, say what would change, and store it on request.

:func:`apply_rules` reads the dataset's documents and annotations, runs the rules (:mod:`nlpipe.label.rules_match`),
builds the per-rule report (:mod:`nlpipe.label.rules_report`) against the human/imported labels and spans,
and, with ``write=True``, stores the voted labels and the gazetteer spans as ``source='rule'`` annotations
whose ``author`` is ``rule:<names of the rules that fired>`` and whose ``score`` is the label's vote share.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select

from nlpipe.errors import InputError
from nlpipe.label.rules import load_rules
from nlpipe.label.rules_match import DocMatches, RuleMatcher
from nlpipe.label.rules_report import RuleReport
from nlpipe.store.datasets import get_dataset
from nlpipe.store.db import Store
from nlpipe.store.rule_annotations import Key, RuleAnnotation, existing_annotation_keys, write_rule_annotations
from nlpipe.store.schema import Annotation, DatasetDocument, Document
from nlpipe.types import Span

__all__ = ["ApplyResult", "apply_rules"]

GOLD_SOURCES = ("human", "import")
_SAMPLE_CHARS = 160


@dataclass
class ApplyResult:
    dataset: str
    rules_file: str
    documents: int
    lemmas: str
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> {documents, new}
    spans: dict[str, dict[str, int]] = field(default_factory=dict)  # type -> {spans, new}
    ties: int = 0
    no_rule_fired: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    written: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _author(rules: list[str]) -> str:
    text = "rule:" + ",".join(rules)
    return text if len(text) <= 200 else text[:197] + "..."


def apply_rules(
    store: Store,
    dataset: str,
    rules_path: Path,
    *,
    write: bool = False,
    replace: bool = False,
    sample: int = 5,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> ApplyResult:
    """Apply the rules file to every document of ``dataset``; store the result only when ``write``.

    ``replace`` (with ``write``) first deletes the dataset's earlier rule annotations. The counts of new
    annotations in the result are what ``write`` adds (or added). Raises the rules file's E7xx errors before
    touching the database, E203 for an unknown dataset and E713 for an empty one.
    """
    rules = load_rules(Path(rules_path))
    matcher = RuleMatcher(rules)
    docs, gold_labels, gold_spans, existing = _read_dataset(store, dataset, replace)
    if not docs:
        raise InputError("E713", f"Dataset {dataset!r} has no documents to apply rules to; import some first.")

    result = ApplyResult(dataset=dataset, rules_file=str(rules_path), documents=len(docs), lemmas=matcher.lemma_source)
    report = RuleReport(rules)
    tally = _Tally()
    texts = (text for _, text, _ in docs)
    for i, ((doc_id, text, ext), m) in enumerate(zip(docs, matcher.match(texts, batch_size=batch_size), strict=True)):
        report.add(m, gold_labels.get(doc_id), gold_spans.get(doc_id))
        tally.add(doc_id, m, existing)
        if len(result.sample) < sample and (m.labels or m.spans):
            result.sample.append(_sample_item(doc_id, ext, text, m))
        if progress and ((i + 1) % batch_size == 0 or i + 1 == len(docs)):
            progress(i + 1, len(docs))
    result.labels = {lab: {"documents": tally.label_docs[lab], "new": tally.label_new[lab]}
                     for lab in sorted(tally.label_docs)}  # fmt: skip
    result.spans = {typ: {"spans": tally.span_total[typ], "new": tally.span_new[typ]}
                    for typ in sorted(tally.span_total)}  # fmt: skip
    result.report = report.summary()
    result.ties = report.ties
    result.no_rule_fired = report.no_rule
    if write:
        result.written = write_rule_annotations(store, dataset, tally.to_write, replace=replace)
    return result


def _read_dataset(
    store: Store, dataset: str, replace: bool
) -> tuple[Sequence[Row[int, str, str | None]], dict[int, list[str]], dict[int, list[Span]], set[Key]]:
    """(documents as (id, text, external id), gold labels and gold spans per document, keys of the annotations
    already stored, rule annotations left out when ``replace``)."""
    with store.session() as s:
        ds = get_dataset(s, dataset)
        docs = s.execute(
            select(Document.id, Document.text, DatasetDocument.external_id)
            .join(DatasetDocument, DatasetDocument.document_id == Document.id)
            .where(DatasetDocument.dataset_id == ds.id)
            .order_by(Document.id)
        ).all()
        gold_labels: dict[int, list[str]] = defaultdict(list)
        gold_spans: dict[int, list[Span]] = defaultdict(list)
        for doc_id, kind, label, start, end in s.execute(
            select(Annotation.document_id, Annotation.kind, Annotation.label, Annotation.start, Annotation.end).where(
                Annotation.dataset_id == ds.id, Annotation.source.in_(GOLD_SOURCES)
            )
        ):
            if kind == "label":
                gold_labels[doc_id].append(label)
            else:
                assert start is not None and end is not None  # a span annotation always has its offsets
                gold_spans[doc_id].append(Span(start, end, label))
        existing = existing_annotation_keys(s, ds.id, ignore_rule=replace)
    return docs, gold_labels, gold_spans, existing


@dataclass
class _Tally:
    """What the rules found over the dataset, by label and entity type, and the new annotations to write."""

    label_docs: Counter[str] = field(default_factory=Counter)
    label_new: Counter[str] = field(default_factory=Counter)
    span_total: Counter[str] = field(default_factory=Counter)
    span_new: Counter[str] = field(default_factory=Counter)
    to_write: list[RuleAnnotation] = field(default_factory=list)

    def add(self, doc_id: int, m: DocMatches, existing: set[Key]) -> None:
        """Count one document's voted labels and spans; those not stored yet are new and will be written."""
        for label in m.labels:
            self.label_docs[label] += 1
            ann = RuleAnnotation(doc_id, "label", label, author=_author(m.voters[label]),
                                 score=round(m.scores[label], 6))  # fmt: skip
            if ann.key not in existing:
                self.label_new[label] += 1
                self.to_write.append(ann)
        for sp, rule in zip(m.spans, m.span_rules, strict=True):
            self.span_total[sp.label] += 1
            ann = RuleAnnotation(doc_id, "span", sp.label, sp.start, sp.end, author=_author([rule]))
            if ann.key not in existing:
                self.span_new[sp.label] += 1
                self.to_write.append(ann)


def _sample_item(doc_id: int, ext: str | None, text: str, m: DocMatches) -> dict[str, Any]:
    """One document of the result's sample: its text (cut) with the labels' voters and the spans' rules."""
    return {
        "document_id": doc_id,
        "external_id": ext,
        "text": text if len(text) <= _SAMPLE_CHARS else text[: _SAMPLE_CHARS - 3] + "...",
        "labels": {lab: m.voters[lab] for lab in m.labels},
        "spans": [
            {"start": sp.start, "end": sp.end, "label": sp.label, "text": text[sp.start : sp.end], "rule": rule}
            for sp, rule in zip(m.spans, m.span_rules, strict=True)
        ],
    }
