"""A dataset's statistics: documents, labels per split, annotations by source, annotator agreement.

Kept apart from :mod:`nlpipe.store.datasets` because it reads the agreement of annotators
(:mod:`nlpipe.store.agreement`), which reads annotations, which read datasets: here the arrows all point one way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nlpipe.store.agreement import dataset_agreement, dataset_span_agreement
from nlpipe.store.datasets import get_dataset, load_dataset
from nlpipe.store.runs import incomplete_runs
from nlpipe.store.schema import Annotation

__all__ = ["dataset_stats"]


def dataset_stats(session: Session, name: str) -> dict[str, Any]:
    ds = get_dataset(session, name)
    data = load_dataset(session, name, labeled_only=False)
    per_split: dict[str, Counter[str]] = defaultdict(Counter)
    docs_per_split: Counter[str] = Counter()
    for labs, sp in zip(data.labels, data.splits, strict=True):
        docs_per_split[sp] += 1
        per_split[sp].update(labs)
    all_labels = sorted({lab for c in per_split.values() for lab in c})
    by_source = dict(
        session.execute(
            select(Annotation.source, func.count())
            .where(Annotation.dataset_id == ds.id, Annotation.kind == "label")
            .group_by(Annotation.source)
        ).all()
    )
    n_labeled = sum(1 for labs in data.labels if labs)
    lengths = [len(t) for t in data.texts]
    unfinished = incomplete_runs(session, ds.id)
    return {
        "name": ds.name,
        # incomplete: an ingest into it stopped part-way (or is still running); running it again completes it
        "state": "incomplete" if unfinished else "complete",
        "incomplete_runs": unfinished,
        "documents": len(data),
        "labeled": n_labeled,
        "unlabeled": len(data) - n_labeled,
        "multi_label": any(len(labs) > 1 for labs in data.labels),
        "splits": dict(sorted(docs_per_split.items())),
        "labels": {
            lab: {sp: per_split[sp][lab] for sp in sorted(per_split)}
            | {"total": sum(c[lab] for c in per_split.values())}
            for lab in all_labels
        },
        "annotations_by_source": by_source,
        "mean_chars": round(float(np.mean(lengths)), 1) if lengths else 0.0,
        # Cohen's kappa between human annotators on documents several labeled; None when none did.
        "agreement": dataset_agreement(session, ds.id),
        "span_agreement": dataset_span_agreement(session, ds.id),
    }
