"""`nlpipe label apply`: run a rules file over a dataset, say what would change, and store it on request.

:func:`apply_rules` reads the dataset's documents and annotations, runs the rules (:mod:`nlpipe.label.rules_match`),
builds the per-rule report (:mod:`nlpipe.label.rules_report`) against the human/imported labels and spans,
and, with ``write=True``, stores the voted labels and the gazetteer spans as ``source='rule'`` annotations
whose ``author`` is ``rule:<names of the rules that fired>`` and whose ``score`` is the label's vote share.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from nlpipe.errors import InputError
from nlpipe.label.rules import load_rules
from nlpipe.label.rules_match import RuleMatcher
from nlpipe.label.rules_report import RuleReport
from nlpipe.store.datasets import get_dataset
from nlpipe.store.db import Store
from nlpipe.store.rule_annotations import RuleAnnotation, existing_annotation_keys, write_rule_annotations
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
                gold_spans[doc_id].append(Span(start, end, label))
        existing = existing_annotation_keys(s, ds.id, ignore_rule=replace)
    if not docs:
        raise InputError("E713", f"Dataset {dataset!r} has no documents to apply rules to; import some first.")

    result = ApplyResult(dataset=dataset, rules_file=str(rules_path), documents=len(docs), lemmas=matcher.lemma_source)
    report = RuleReport(rules)
    label_docs: Counter[str] = Counter()
    label_new: Counter[str] = Counter()
    span_total: Counter[str] = Counter()
    span_new: Counter[str] = Counter()
    to_write: list[RuleAnnotation] = []
    texts = (text for _, text, _ in docs)
    for i, ((doc_id, text, ext), m) in enumerate(zip(docs, matcher.match(texts, batch_size=batch_size), strict=True)):
        report.add(m, gold_labels.get(doc_id), gold_spans.get(doc_id))
        for label in m.labels:
            label_docs[label] += 1
            ann = RuleAnnotation(doc_id, "label", label, author=_author(m.voters[label]),
                                 score=round(m.scores[label], 6))  # fmt: skip
            if ann.key not in existing:
                label_new[label] += 1
                to_write.append(ann)
        for sp, rule in zip(m.spans, m.span_rules, strict=True):
            span_total[sp.label] += 1
            ann = RuleAnnotation(doc_id, "span", sp.label, sp.start, sp.end, author=_author([rule]))
            if ann.key not in existing:
                span_new[sp.label] += 1
                to_write.append(ann)
        if len(result.sample) < sample and (m.labels or m.spans):
            result.sample.append(
                {
                    "document_id": doc_id,
                    "external_id": ext,
                    "text": text if len(text) <= _SAMPLE_CHARS else text[: _SAMPLE_CHARS - 3] + "...",
                    "labels": {lab: m.voters[lab] for lab in m.labels},
                    "spans": [
                        {
                            "start": sp.start,
                            "end": sp.end,
                            "label": sp.label,
                            "text": text[sp.start : sp.end],
                            "rule": rule,
                        }  # fmt: skip
                        for sp, rule in zip(m.spans, m.span_rules, strict=True)
                    ],
                }
            )
        if progress and ((i + 1) % batch_size == 0 or i + 1 == len(docs)):
            progress(i + 1, len(docs))
    result.labels = {lab: {"documents": label_docs[lab], "new": label_new[lab]} for lab in sorted(label_docs)}
    result.spans = {typ: {"spans": span_total[typ], "new": span_new[typ]} for typ in sorted(span_total)}
    result.report = report.summary()
    result.ties = report.ties
    result.no_rule_fired = report.no_rule
    if write:
        result.written = write_rule_annotations(store, dataset, to_write, replace=replace)
    return result
