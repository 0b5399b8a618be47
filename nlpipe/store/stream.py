"""Read a dataset's labeled documents a batch at a time, for training on more documents than fit in memory.

:func:`iter_split` yields :class:`~nlpipe.store.datasets.LabeledData` batches of one split in document-id order,
like :func:`~nlpipe.store.datasets.load_dataset` would list them, without ever holding every text. The truth
labels of the whole dataset (document id -> label names) are read first: a few hundred bytes per document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from sqlalchemy import func, null, or_, select
from sqlalchemy.orm import Session

from nlpipe.store.datasets import LabeledData, get_dataset, truth_labels
from nlpipe.store.schema import Annotation, DatasetDocument, Document, Split

__all__ = ["count_documents", "iter_split"]


def count_documents(session: Session, name: str) -> int:
    """How many documents the dataset holds (labeled or not): one COUNT, to choose how to train."""
    ds = get_dataset(session, name)
    return int(session.scalar(select(func.count()).where(DatasetDocument.dataset_id == ds.id)) or 0)


def iter_split(
    session: Session, name: str, split: str, batch_size: int = 20_000, *, with_texts: bool = True
) -> Iterator[LabeledData]:
    """The labeled documents of ``split`` (documents without a split count as train), ``batch_size`` at a time.
    ``with_texts=False`` leaves the texts out (``texts`` is empty): the labels of a split, for its checks."""
    ds = get_dataset(session, name)
    labels = truth_labels(
        session.execute(
            select(Annotation.document_id, Annotation.label, Annotation.source).where(
                Annotation.dataset_id == ds.id, Annotation.kind == "label"
            )
        )
    )
    in_split = Split.split == split if split != "train" else or_(Split.split == "train", Split.split.is_(None))
    query = (
        select(Document.id, Document.text if with_texts else null(), Split.split, DatasetDocument.external_id)
        .join(DatasetDocument, DatasetDocument.document_id == Document.id)
        .outerjoin(Split, (Split.document_id == Document.id) & (Split.dataset_id == ds.id))
        .where(DatasetDocument.dataset_id == ds.id, in_split)
        .order_by(Document.id)
        .execution_options(yield_per=batch_size)
    )
    for rows in session.execute(query).partitions():
        out = LabeledData([], [], [], [], [])
        for doc_id, text, sp, ext in rows:
            labs = labels.get(doc_id)
            if not labs:
                continue
            out.doc_ids.append(doc_id)
            if with_texts:
                out.texts.append(cast(str, text))  # documents.text is NOT NULL: only with_texts=False selects NULL
            out.labels.append(labs)
            out.splits.append(sp or "train")
            out.external_ids.append(ext)
        if len(out):
            yield out
