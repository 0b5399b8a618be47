"""Defects the crash and concurrency tests found, each at a fixed (deterministic) point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from nlpipe.config import Settings
from nlpipe.store.db import open_store
from nlpipe.store.documents import originals_dir, originals_in_use, reconcile_originals, save_original
from tests.reliability.harness import World, doctor, inspect, store_problems

# A child that runs `nlpipe ingest` and SIGKILLs itself while writing its second batch: the originals of that
# batch are saved, its documents never committed.
KILLED_INGEST = textwrap.dedent(
    """
    import os, signal, sys
    from nlpipe.store import runs
    from nlpipe.cli.main import app

    write = runs.IngestWriter.write
    calls = []

    def dying_write(self, records):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        write(self, records)

    runs.IngestWriter.write = dying_write
    app(["ingest", "docs", sys.argv[1]])
    """
)


def _folder(tmp: Path, n: int) -> Path:
    folder = tmp / "files"
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i:04d}.txt").write_text(f"document {i} of a folder killed part-way")
    return folder


def test_killed_ingest_originals_are_reported_and_removed_by_doctor(backend_settings: Settings, tmp_path: Path):
    """An ingest killed between saving a batch's originals and committing its documents left the originals on
    disk forever, and `nlpipe doctor` said nothing: now doctor reports them (E680) and --fix removes them."""
    world = World(backend_settings.home, backend_settings.models_dir, backend_settings.database_url)
    folder = _folder(tmp_path, 260)  # two batches: 200, then 60
    proc = subprocess.run([sys.executable, "-c", KILLED_INGEST, str(folder)], env=world.environ(), timeout=300)
    assert proc.returncode == -9
    _, leftover = store_problems(world)
    assert leftover and "60 stored originals" in leftover[0]
    found = [p for p in doctor(world) if p["code"] == "E680"]
    assert len(found) == 1 and "60 stored originals no document comes from" in found[0]["message"]
    assert not inspect(world)  # reported: a repairable leftover
    assert [p["fixed"] for p in doctor(world, fix=True) if p["code"] == "E680"] == [True]
    assert inspect(world, strict=True) == [] and store_problems(world)[1] == []
    rerun = subprocess.run([sys.executable, "-m", "nlpipe.cli.main", "ingest", "docs", str(folder)],
                           env=world.environ(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert inspect(world, strict=True) == []


def test_doctor_leaves_the_originals_of_a_running_ingest_alone(settings: Settings):
    """While an ingest runs (it holds originals_in_use), its originals are not committed yet: doctor --fix must
    not take them for leftovers."""
    st = open_store(settings)
    try:
        with originals_in_use(settings.home):
            sha = save_original(settings.home, b"an upload whose batch is not committed yet")
            with st.session() as s:
                assert reconcile_originals(s, settings.home, fix=True) == []
            assert (originals_dir(settings.home) / sha[:2] / sha).is_file()
        with st.session() as s:  # the run ended without storing it: now it is a leftover
            assert [p["code"] for p in reconcile_originals(s, settings.home, fix=True)] == ["E680"]
        assert not (originals_dir(settings.home) / sha[:2] / sha).exists()
    finally:
        st.close()


def _race_on_annotation_reads(store, n: int = 2) -> tuple[threading.Barrier, Callable[[], None]]:
    """Make the first read of the ``annotations`` table in each of ``n`` threads wait for the others' (up to 3 s):
    every writer has read what is stored before any writes, unless the writes are serialised (then the wait
    times out and the first writer goes on). Returns the barrier and a function removing the hook."""
    from sqlalchemy import event

    barrier = threading.Barrier(n, timeout=3)
    waited: set[int] = set()

    def hook(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        me = threading.get_ident()
        if statement.lstrip().upper().startswith("SELECT") and "FROM annotations" in statement and me not in waited:
            waited.add(me)
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass

    event.listen(store.engine, "after_cursor_execute", hook)
    return barrier, lambda: event.remove(store.engine, "after_cursor_execute", hook)


def test_the_same_annotation_written_twice_at_once_is_stored_once(backend_settings: Settings):
    """Two clients of one annotator posting the same label at once (a double submit) both found nothing stored
    and both inserted it: the label was stored twice (found by tests/reliability/test_concurrency.py). The write
    now locks the document's membership row before reading."""
    from sqlalchemy import func, select

    from nlpipe.store.annotations import add_annotations
    from nlpipe.store.importing import import_records
    from nlpipe.store.schema import Annotation, Document
    from nlpipe.types import Record

    st = open_store(backend_settings)
    try:
        import_records(st, "d", [Record(text="one text to label", labels=[])], create=True)
        with st.session() as s:
            doc_id = s.scalar(select(func.min(Document.id)))
        _, unhook = _race_on_annotation_reads(st)
        results: list[object] = []

        def write() -> None:
            try:
                with st.session() as s:
                    results.append(add_annotations(s, "d", doc_id, "alice", labels=["spam"])[0]["created"])
            except Exception as exc:  # noqa: BLE001 - the test reports any failure of a writer
                results.append(exc)

        threads = [threading.Thread(target=write) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        unhook()
        with st.session() as s:
            stored = s.scalar(select(func.count()).select_from(Annotation).where(Annotation.author == "alice"))
        assert sorted(map(str, results)) == ["False", "True"] and stored == 1, (results, stored)
    finally:
        st.close()
