from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from nlpipe.errors import ConflictError, InputError, NotFoundError
from nlpipe.store.datasets import create_dataset, export_records, list_datasets, load_dataset
from nlpipe.store.importing import import_records
from nlpipe.store.schema import Annotation, Document, Split
from nlpipe.store.splits import seeded_split
from nlpipe.store.stats import dataset_stats
from nlpipe.types import Record, Span
from tests.conftest import news_records


@pytest.fixture
def settings(backend_settings):
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_settings


def _recs(n: int = 40) -> list[Record]:
    return [
        Record(text=f"document number {i} about {'cats' if i % 2 else 'dogs'}", labels=["a" if i % 2 else "b"])
        for i in range(n)
    ]


def test_store_create_and_list(store):
    with store.session() as s:
        create_dataset(s, "alpha", "first")
    with store.session() as s:
        rows = list_datasets(s)
    assert [r["name"] for r in rows] == ["alpha"]
    assert rows[0]["documents"] == 0


def test_store_create_twice_is_a_conflict(store):
    with store.session() as s:
        create_dataset(s, "alpha")
    with pytest.raises(ConflictError) as exc, store.session() as s:
        create_dataset(s, "alpha")
    assert exc.value.code == "E202"


@pytest.mark.parametrize("bad", ["", "has space", "../up", "-x", "a" * 101])
def test_store_bad_dataset_name(store, bad):
    with pytest.raises(InputError) as exc, store.session() as s:
        create_dataset(s, bad)
    assert exc.value.code == "E201"


def test_store_import_into_missing_dataset_without_create(store):
    with pytest.raises(NotFoundError) as exc:
        import_records(store, "nope", _recs())
    assert exc.value.code == "E203"
    assert "nlpipe datasets create nope" in exc.value.message


def test_store_import_assigns_seeded_stratified_split(store):
    summary = import_records(store, "news", news_records(), create=True, seed=3, test_fraction=0.25)
    assert summary.added == 240 and summary.seeded_split == 240
    with store.session() as s:
        data = load_dataset(s, "news")
    per_label = Counter((labs[0], sp) for labs, sp in zip(data.labels, data.splits, strict=True))
    for label in ("business", "sports", "science", "politics"):
        assert per_label[(label, "test")] == 15 and per_label[(label, "train")] == 45


def test_store_split_is_reproducible_and_recorded(tmp_path):
    from nlpipe.store.db import open_store
    from tests.conftest import make_settings

    splits = []
    for run in range(2):
        st = open_store(make_settings(tmp_path / str(run)))
        import_records(st, "news", news_records(), create=True, seed=7)
        with st.session() as s:
            data = load_dataset(s, "news")
            assert s.scalar(select(func.count()).select_from(Split).where(Split.assigned_by == "seeded")) == 240
        splits.append(dict(zip(data.texts, data.splits, strict=True)))
        st.close()
    assert splits[0] == splits[1]


def test_seeded_split_changes_with_seed():
    keys = [f"k{i}" for i in range(100)]
    strata = ["x"] * 100
    assert seeded_split(keys, strata, 0.2, 0) != seeded_split(keys, strata, 0.2, 1)
    assert Counter(seeded_split(keys, strata, 0.2, 0).values())["test"] == 20


def test_store_import_keeps_given_splits(store):
    recs = [Record(text=f"t{i}", labels=["a" if i % 2 else "b"], split="test" if i < 4 else "train") for i in range(10)]
    import_records(store, "d", recs, create=True)
    with store.session() as s:
        data = load_dataset(s, "d")
    assert Counter(data.splits) == {"test": 4, "train": 6}


def test_store_import_is_all_or_nothing(store):
    import_records(store, "d", _recs(10), create=True)
    bad = _recs(20)[10:] + [Record(text="x", labels=["a"], split="holdout", file="f.jsonl", line=11)]
    with pytest.raises(InputError) as exc:
        import_records(store, "d", bad)
    assert exc.value.code == "E204" and "f.jsonl, line 11" in exc.value.message
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 10


def test_store_import_rolls_back_when_reader_fails_midway(store, tmp_path):
    from nlpipe.label.formats import read_records

    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "also fine", "label": "b"}\n{"text": oops}\n')
    with pytest.raises(InputError) as exc:
        import_records(store, "d", read_records(path), create=True)
    assert "line 3" in str(exc.value)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0


def test_store_documents_are_deduplicated_by_content(store):
    first = import_records(store, "d", _recs(10), create=True)
    again = import_records(store, "d", _recs(10) + [Record(text=_recs(1)[0].text, labels=["c"])])
    assert first.added == 10
    assert again.added == 0 and again.already_present == 10 and again.duplicates_in_file == 1
    assert again.labels_added == 1  # only the new label "c"; existing labels are not repeated
    import_records(store, "other", _recs(10), create=True)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 10
        assert s.scalar(select(func.count()).select_from(Annotation)) == 21


def test_store_truth_labels_prefer_human_over_rule(store):
    import_records(store, "d", [Record(text="hello", labels=["rule-label"])], create=True, source="rule")
    with store.session() as s:
        assert load_dataset(s, "d").labels == [["rule-label"]]
    import_records(store, "d", [Record(text="hello", labels=["human-label"])], source="human", author="ann")
    with store.session() as s:
        assert load_dataset(s, "d").labels == [["human-label"]]


def test_store_stats_and_export(store):
    recs = [Record(text=f"t{i}", labels=["a", "b"] if i == 0 else ["a"], split="train") for i in range(5)]
    recs.append(Record(text="unlabeled", labels=[], split="test"))
    import_records(store, "d", recs, create=True)
    with store.session() as s:
        stats = dataset_stats(s, "d")
        exported = list(export_records(s, "d"))
    assert stats["documents"] == 6 and stats["labeled"] == 5 and stats["unlabeled"] == 1
    assert stats["multi_label"] is True
    assert stats["labels"]["a"] == {"train": 5, "test": 0, "total": 5}
    assert stats["annotations_by_source"] == {"import": 6}
    assert sorted((r.text, tuple(r.labels), r.split) for r in exported)[0] == ("t0", ("a", "b"), "train")
    assert len(exported) == 6


def test_store_empty_import_is_an_error(store):
    with pytest.raises(InputError) as exc:
        import_records(store, "d", [], create=True)
    assert exc.value.code == "E205"


def test_store_documents_keep_pages_words_and_originals(store, settings):
    from nlpipe.store.documents import get_document, original_path, save_original
    from nlpipe.types import Document, Page, Word

    sha = save_original(settings.home, b"%PDF-1.4 fake bytes")
    assert save_original(settings.home, b"%PDF-1.4 fake bytes") == sha
    assert original_path(settings.home, sha).read_bytes() == b"%PDF-1.4 fake bytes"
    words = [Word("Invoice", 10.0, 20.0, 50.0, 32.0, 12.0), Word("42", 60.0, 20.0, 70.0, 32.0, 12.0, 91.5)]
    doc = Document(
        text="Invoice 42",
        source="in.pdf",
        mime="application/pdf",
        pages=[Page(1, "Invoice 42", 612.0, 792.0, words, ocr=True)],
        meta={"original_sha256": sha},
    )
    import_records(store, "docs", [Record(text=doc.text, labels=[], document=doc)], create=True)
    with store.session() as s:
        doc_id = load_dataset(s, "docs", labeled_only=False).doc_ids[0]
        back = get_document(s, doc_id)
    assert back.pages[0].words == words and back.pages[0].ocr is True
    assert back.mime == "application/pdf" and back.meta["original_sha256"] == sha and back.source == "in.pdf"


def test_store_spans_import_dedupe_precedence_and_export(store):
    text = "Acme Corp hired Jane Doe in Paris."
    recs = [
        Record(text=text, labels=[], spans=[Span(0, 9, "ORG"), Span(16, 24, "PER")]),
        Record(text=text, labels=[], spans=[Span(16, 24, "PER"), Span(28, 33, "LOC")]),  # repeat: merged
        Record(text="Nothing to see here.", labels=[], split="train"),
    ]
    summary = import_records(store, "ner", recs, create=True)
    assert summary.spans_added == 3 and summary.duplicates_in_file == 1
    again = import_records(store, "ner", recs[:1])  # nothing new on a second import
    assert again.spans_added == 0
    # rule spans never override human/imported ones; a model's never count
    import_records(store, "ner", [Record(text=text, labels=[], spans=[Span(0, 4, "ORG")])], source="rule")
    import_records(store, "ner", [Record(text="Bob went home.", labels=[], spans=[Span(0, 3, "PER")])], source="rule")
    with store.session() as s:
        data = load_dataset(s, "ner", labeled_only=False, with_spans=True)
        plain = load_dataset(s, "ner")
        exported = list(export_records(s, "ner"))
    by_text = dict(zip(data.texts, data.spans, strict=True))
    assert [(sp.start, sp.end, sp.label) for sp in by_text[text]] == [(0, 9, "ORG"), (16, 24, "PER"), (28, 33, "LOC")]
    assert [(sp.start, sp.end, sp.label, sp.source) for sp in by_text["Bob went home."]] == [(0, 3, "PER", "rule")]
    assert by_text["Nothing to see here."] == []
    assert len(plain) == 0  # no document labels and spans not asked for: nothing counts as labeled
    assert {r.text: len(r.spans) for r in exported}[text] == 3
    assert len(data.subset("train").spans) == len(data.subset("train"))


@pytest.mark.parametrize(
    ("span", "needle"),
    [(Span(5, 99, "ORG"), "not inside the text"), (Span(3, 3, "ORG"), "not inside"), (Span(0, 2, " "), "no label")],
)
def test_store_bad_span_is_refused_naming_the_line(store, span, needle):
    bad = Record(text="short text", labels=[], spans=[span], file="x.jsonl", line=7)
    with pytest.raises(InputError) as exc:
        import_records(store, "ner", [Record(text="fine", labels=["a"]), bad], create=True)
    assert exc.value.code == "E207" and needle in exc.value.message and "x.jsonl, line 7" in exc.value.message
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Annotation)) == 0


def test_store_import_warns_when_a_document_keeps_its_earlier_split(store):
    import_records(
        store, "sp", [Record("shared sentence", ["a"], "train"), Record("other", ["b"], "train")], create=True
    )
    summary = import_records(store, "sp", [Record("shared sentence", ["a"], "test"), Record("new", ["b"], "test")])
    assert summary.warnings == [
        "1 documents marked 'test' were already in the dataset's 'train' split; kept 'train' "
        "(a document is in one split per dataset)"
    ]
    with store.session() as s:
        data = load_dataset(s, "sp")
    assert dict(zip(data.texts, data.splits, strict=True))["shared sentence"] == "train"


# ----------------------------------------------------------------------------------------------- streaming import


def _stored(st, name: str) -> dict:
    """Everything an import leaves about a dataset, keyed by text (ids aside)."""
    with st.session() as s:
        data = load_dataset(s, name, labeled_only=False, with_spans=True)
        seeded = dict(
            s.execute(select(Document.text, Split.assigned_by).join(Split, Split.document_id == Document.id)).all()
        )
    return {
        t: (tuple(labs), sp, tuple((x.start, x.end, x.label) for x in spans), ext, seeded[t])
        for t, labs, sp, spans, ext in zip(
            data.texts, data.labels, data.splits, data.spans, data.external_ids, strict=True
        )
    }


def _mixed_records() -> list[Record]:
    """Repeats near and far apart (labels, spans and splits to merge), named and drawn splits, several strata."""
    recs = []
    for i in range(60):
        text = f"text {i % 45} about {'cats' if i % 3 else 'dogs'}"
        labels = [["b", "a"], ["c"], [], ["a"]][i % 4]
        split = "validation" if i % 7 == 0 else ("test" if i % 11 == 0 else None)
        spans = [Span(0, 4, "X")] if i % 5 == 0 else []
        recs.append(Record(text=text, labels=labels, split=split, external_id=f"r{i}", spans=spans,
                           file="m.jsonl", line=i + 1))  # fmt: skip
    return recs


def test_store_import_batches_do_not_change_the_result(tmp_path, settings, monkeypatch):
    """Batch boundaries (a repeat in a later batch, labels merged into a stratum) leave the same stored result,
    summary and warnings as one batch; the drawn splits are seeded_split's over hex digests and smallest labels."""
    import nlpipe.store.importing as D
    from nlpipe.store.db import open_store
    from nlpipe.store.splits import sha256_text
    from tests.conftest import _reset_postgres

    results = []
    for batch in (5000, 4, 1):
        monkeypatch.setattr(D, "BATCH", batch)
        if settings.database_url:  # PostgreSQL: one database, emptied for each run
            _reset_postgres(settings.database_url)
        st = open_store(settings.model_copy(update={"home": tmp_path / f"b{batch}"}))
        summary = import_records(st, "d", _mixed_records(), create=True, seed=5, test_fraction=0.3)
        results.append((summary.to_dict(), _stored(st, "d")))
        st.close()
    assert results[0] == results[1] == results[2]
    summary, stored = results[0]
    assert summary["duplicates_in_file"] == 15 and summary["added"] == 45
    assert summary["warnings"] and "repeats the text of line" in summary["warnings"][0]
    # The drawn splits are what seeded_split gives (merged labels: the smallest over all repeats).
    merged: dict[str, set[str]] = {}
    first_split: dict[str, str | None] = {}
    for r in _mixed_records():
        merged.setdefault(r.text, set()).update(r.labels)
        first_split.setdefault(r.text, r.split)
    drawn = [t for t in merged if first_split[t] is None]
    expected = seeded_split([sha256_text(t) for t in drawn], [min(merged[t], default="") for t in drawn], 0.3, 5)
    assert {t: stored[t][1] for t in drawn} == {t: expected[sha256_text(t)] for t in drawn}
    assert all(stored[t][4] == "seeded" for t in drawn) and all(
        stored[t][1] == first_split[t] for t in stored if t not in drawn
    )
    assert stored["text 0 about dogs"][0] == ("a", "b", "c")  # lines 1, 46 (batch 12 of 4) merged
    assert stored["text 0 about dogs"][2] == ((0, 4, "X"),) and stored["text 0 about dogs"][3] == "r0"


def test_store_import_error_late_in_a_large_input_stores_nothing(store, monkeypatch):
    """An error in record 12,000 (batch 12 of 1,000) rolls back every batch written before it; what earlier
    imports stored stays as it was."""
    import nlpipe.store.importing as D

    monkeypatch.setattr(D, "BATCH", 1000)
    import_records(store, "d", _recs(10), create=True)
    before = _stored(store, "d")

    def records(bad: Record):
        for i in range(11_999):
            yield Record(text=f"streamed document {i}", labels=["x"] if i % 2 else [], file="big.jsonl", line=i + 1)
        yield bad

    for bad, code in (
        (Record(text="late", labels=[], split="holdout", file="big.jsonl", line=12_000), "E204"),
        (Record(text="late", labels=[], spans=[Span(0, 99, "X")], file="big.jsonl", line=12_000), "E207"),
    ):
        with pytest.raises(InputError) as exc:
            import_records(store, "d", records(bad), progress=lambda done, total: None)
        assert exc.value.code == code and "big.jsonl, line 12000" in exc.value.message
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Document)) == 10
            assert s.scalar(select(func.count()).select_from(Annotation)) == 10
            assert s.scalar(select(func.count()).select_from(Split)) == 10
        assert _stored(store, "d") == before
    # Into a new dataset: not even the dataset is left behind.
    with pytest.raises(InputError):
        import_records(store, "new", records(Record(text="late", labels=[], split="x", line=12_000)), create=True)
    with store.session() as s:
        assert [r["name"] for r in list_datasets(s)] == ["d"]


def test_store_import_reads_records_lazily_batch_by_batch(store, monkeypatch):
    """The importer pulls one batch from the reader, writes it, and lets it go before reading on: the records
    of early batches are freed while later ones are read, and progress counts records as they go."""
    import gc
    import weakref

    import nlpipe.store.importing as D

    monkeypatch.setattr(D, "BATCH", 100)
    produced = 0
    early: list[weakref.ref] = []

    def records():
        nonlocal produced
        for i in range(1000):
            rec = Record(text=f"lazy document {i}", labels=["a" if i % 2 else "b"])
            if i < 100:
                early.append(weakref.ref(rec))
            produced += 1
            yield rec

    seen_at_write: list[int] = []
    alive_at_write: list[int] = []
    add = D._Import.add

    def spy(self, batch):
        gc.collect()
        seen_at_write.append(produced)
        alive_at_write.append(sum(r() is not None for r in early))
        return add(self, batch)

    monkeypatch.setattr(D._Import, "add", spy)
    calls: list[tuple[int, int | None]] = []
    summary = import_records(store, "lazy", records(), create=True, progress=lambda d, t: calls.append((d, t)))
    assert summary.added == 1000
    # Each write comes after exactly one more batch was read, never the whole input ...
    assert seen_at_write == [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    # ... and the records of a written batch are not kept: the first batch is gone by the second write.
    assert alive_at_write[0] == 100 and alive_at_write[1:] == [0] * 9
    assert calls[:3] == [(100, None), (200, None), (300, None)] and calls[-1] == (1000, 1000)


def test_store_import_writes_through_copy_on_postgresql(store, monkeypatch):
    """PostgreSQL: every table of an import is written with COPY (documents through a staging table, so stored
    texts are skipped); SQLite: executemany, no COPY. Either way the rows are the ones the ORM reads back."""
    from nlpipe.store import bulk

    copied: list[str] = []
    copy = bulk.BulkWriter._copy
    monkeypatch.setattr(
        bulk.BulkWriter, "_copy", lambda self, cur, into, *a: copied.append(into) or copy(self, cur, into, *a)
    )
    import_records(store, "d", _recs(10), create=True)
    import_records(store, "d", [Record(text="new one", labels=["a"], split="validation"), *_recs(3)])
    if store.engine.dialect.name == "postgresql":
        assert set(copied) == {"bulk_documents", "dataset_documents", "annotations", "splits"}
    else:
        assert copied == []
    with store.session() as s:
        data = load_dataset(s, "d")
    assert len(data.texts) == 11 and sorted(Counter(data.splits)) == ["test", "train", "validation"]
    assert dict(zip(data.texts, data.labels, strict=True))["new one"] == ["a"]
