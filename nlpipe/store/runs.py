"""Ingest runs: documents written batch by batch, each batch in its own transaction, with a record of the run.

``nlpipe ingest`` and uploads store what they read as they go, so what was stored before a failure (or a kill)
stays stored. :class:`IngestWriter` writes the batches with one :class:`~nlpipe.store.importing.StreamingImport`
for the whole run, as ``datasets import`` does: what the run placed is remembered between batches (about 230
bytes per text), and only documents stored before a batch are looked up in the dataset, so a batch costs the
same in a dataset of a thousand documents or a million. Each batch's documents without a split get their seeded
split in the batch's transaction.

The first batch also writes the run's row in ``ingest_runs`` (``running``), and each batch updates its inputs and
document count; :meth:`IngestWriter.finish` marks it ``succeeded``, :meth:`IngestWriter.fail` ``failed``. A run
killed mid-way stays ``running``: its dataset shows as incomplete (``incomplete_runs`` in
:func:`~nlpipe.store.stats.dataset_stats`, ``state`` in :func:`~nlpipe.store.datasets.list_datasets`) until a
later run that read every input of it succeeds -- running the same ingest again: the documents already stored
are found by their SHA-256 and skipped, the rest stored, and the unfinished run becomes ``superseded``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nlpipe.errors import NlpipeError
from nlpipe.store.bulk import BulkWriter
from nlpipe.store.datasets import INCOMPLETE_RUNS, ensure_dataset, get_dataset
from nlpipe.store.db import Store
from nlpipe.store.importing import ImportSummary, StreamingImport
from nlpipe.store.schema import Annotation, DatasetDocument, IngestRun, Split, utcnow
from nlpipe.types import Record

__all__ = ["INCOMPLETE", "IngestWriter", "incomplete_runs", "run_dict"]

log = logging.getLogger("nlpipe.store")

INCOMPLETE = INCOMPLETE_RUNS  # run statuses that leave their dataset incomplete


class IngestWriter:
    """Writes one ingest run's batches into ``dataset`` (created at the first batch if missing) and keeps its
    ``ingest_runs`` row. Call :meth:`add_input` for each input before writing its documents, :meth:`write` per
    batch, then :meth:`finish` or :meth:`fail`."""

    def __init__(self, store: Store, dataset: str, *, kind: str, seed: int, test_fraction: float) -> None:
        self.store, self.dataset, self.kind, self.seed, self.test_fraction = store, dataset, kind, seed, test_fraction
        self.summary = ImportSummary(dataset=dataset)
        self.inputs: list[dict[str, str]] = []  # {"input": key, "name": shown}; keys say what a re-run must read
        self.run_id: int | None = None
        self._job: StreamingImport | None = None

    def add_input(self, key: str, name: str) -> None:
        """An input the run starts reading: ``key`` identifies it (a resolved path, ``sha256:<hex>`` of an
        upload), ``name`` is how it is shown."""
        if all(i["input"] != key for i in self.inputs):
            self.inputs.append({"input": key, "name": name})

    def write(self, records: list[Record]) -> None:
        """Store one batch in its own transaction, with the run's row."""
        if not records:
            return
        if self._job is None:
            ensure_dataset(self.store, self.dataset)
        with self.store.session() as s:
            if self._job is None:
                self._start(s)
            else:
                self._job.bind(s)
            assert self._job is not None
            self._job.add(records)
            self._job.draw(self.test_fraction, self.seed)
            s.execute(
                update(IngestRun)
                .where(IngestRun.id == self.run_id)
                .values(inputs=list(self.inputs), documents=self.stored, updated_at=utcnow())
            )

    @property
    def stored(self) -> int:
        """Documents of this run now in the dataset (added, or there already)."""
        return self.summary.added + self.summary.already_present

    def _start(self, s: Session) -> None:
        ds = get_dataset(s, self.dataset)
        self._job = StreamingImport(s, ds.id, self.summary, "import", None)
        if self._job.had_members:
            _fresh_statistics(s)
        run = IngestRun(dataset_id=ds.id, kind=self.kind, status="running", inputs=list(self.inputs), documents=0)
        s.add(run)
        s.flush()
        self.run_id = run.id

    def finish(self) -> None:
        """The run succeeded: mark it so, and mark the unfinished runs of the dataset whose inputs it all read
        ``superseded``."""
        if self.run_id is None:
            return
        keys = {i["input"] for i in self.inputs}
        now = utcnow()
        with self.store.session() as s:
            run = s.get(IngestRun, self.run_id)
            assert run is not None
            run.status, run.finished_at, run.updated_at, run.documents = "succeeded", now, now, self.stored
            earlier = s.scalars(
                select(IngestRun).where(
                    IngestRun.dataset_id == run.dataset_id, IngestRun.status.in_(INCOMPLETE), IngestRun.id != run.id
                )
            )
            for old in earlier:
                if {i["input"] for i in old.inputs or []} <= keys:
                    old.status, old.superseded_by, old.finished_at = "superseded", run.id, now

    def fail(self, error: BaseException) -> None:
        """The run stopped on ``error``: mark it ``failed`` (its dataset stays incomplete). Never raises."""
        if self.run_id is None:
            return
        detail: dict[str, Any] = (
            error.to_dict()
            if isinstance(error, NlpipeError)
            else {"code": None, "message": f"stopped on {type(error).__name__}", "details": {}}
        )
        try:
            with self.store.session() as s:
                s.execute(
                    update(IngestRun)
                    .where(IngestRun.id == self.run_id)
                    .values(status="failed", error=detail, documents=self.stored, finished_at=utcnow())
                )
        except Exception as exc:  # the store itself is failing: the run stays "running", incomplete too
            log.warning("ingest run %s: its failure could not be recorded: %s", self.run_id, exc)


def _fresh_statistics(s: Session) -> None:
    """PostgreSQL: renew the planner's statistics of the tables a run looks documents up in before it starts, so
    that look-ups use the (dataset, document) indexes instead of reading the whole dataset per batch (a sample:
    the cost does not grow with the tables). Other databases: nothing."""
    writer = BulkWriter(s)
    for table in (DatasetDocument.__table__, Split.__table__, Annotation.__table__):
        writer.analyze(table)


def incomplete_runs(session: Session, dataset_id: int) -> list[dict[str, Any]]:
    """The runs that leave the dataset incomplete (:func:`run_dict` each), oldest first."""
    rows = session.scalars(
        select(IngestRun)
        .where(IngestRun.dataset_id == dataset_id, IngestRun.status.in_(INCOMPLETE))
        .order_by(IngestRun.id)
    )
    return [run_dict(r) for r in rows]


def run_dict(run: IngestRun) -> dict[str, Any]:
    """An ingest run as ``datasets stats`` and the API show it."""
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "documents": run.documents,
        "inputs": [i.get("name") for i in run.inputs or []],
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "updated_at": run.updated_at.isoformat() if run.updated_at else None,
        "error": run.error,
    }
