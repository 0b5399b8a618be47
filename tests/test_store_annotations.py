"""Per-annotator annotations, reviews of pre-annotations, progress, concurrency and the 0003 migration."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect, select, text

from nlpipe.errors import InputError, NotFoundError
from nlpipe.store import annotations as A
from nlpipe.store.datasets import load_dataset
from nlpipe.store.db import make_engine, open_store
from nlpipe.store.importing import import_records
from nlpipe.store.schema import Annotation, AnnotationReview
from nlpipe.types import Record, Span

TEXTS = [
    "Apple opened a new office in Berlin",
    "The striker scored twice in the final",
    "Parliament passed the budget",
]


def seed(st) -> dict[str, int]:
    """Three unlabeled documents, a rule label on the first, one imported labeled document; ids by text."""
    import_records(st, "d", [Record(text=t, labels=[]) for t in TEXTS], create=True)
    import_records(
        st,
        "d",
        [Record(text=TEXTS[0], labels=["business"], spans=[Span(0, 5, "ORG")])],
        source="rule",
        author="kw:apple",
    )
    import_records(st, "d", [Record(text="Shares rose", labels=["business"])], source="import")
    with st.session() as s:
        data = load_dataset(s, "d", labeled_only=False)
    return dict(zip(data.texts, data.doc_ids, strict=True))


def test_store_annotations_are_kept_apart_per_annotator(store):
    ids = seed(store)
    doc = ids[TEXTS[1]]
    with store.session() as s:
        a = A.add_annotations(s, "d", doc, "alice", labels=["sports"], spans=[{"start": 4, "end": 11, "label": "ROLE"}])
        b = A.add_annotations(s, "d", doc, "bob", labels=["business"])
        again = A.add_annotations(s, "d", doc, "alice", labels=["sports"])
    assert [x["created"] for x in a] == [True, True] and again[0]["created"] is False
    assert again[0]["id"] == a[0]["id"]
    with store.session() as s:
        alice = A.get_document(s, "d", doc, annotator="alice")
        bob = A.get_document(s, "d", doc, annotator="bob")
        rows = s.execute(select(Annotation.author, Annotation.label).where(Annotation.source == "human")).all()
    assert {(x["kind"], x["label"]) for x in alice["annotations"]} == {("label", "sports"), ("span", "ROLE")}
    assert [x["label"] for x in bob["annotations"]] == ["business"] and b[0]["author"] == "bob"
    assert sorted(rows) == [("alice", "ROLE"), ("alice", "sports"), ("bob", "business")]
    assert alice["text"] == TEXTS[1]


def test_store_annotations_bad_input_stores_nothing(store):
    ids = seed(store)
    doc = ids[TEXTS[2]]
    with store.session() as s:
        with pytest.raises(InputError) as exc:
            A.add_annotations(s, "d", doc, "alice", labels=["ok"], spans=[{"start": 3, "end": 999, "label": "X"}])
        assert exc.value.code == "E242" and "28 characters" in exc.value.message
        for bad, code in ((dict(labels=[" "]), "E243"), (dict(), "E248")):
            with pytest.raises(InputError) as exc:
                A.add_annotations(s, "d", doc, "alice", **bad)
            assert exc.value.code == code
        with pytest.raises(InputError) as exc:
            A.add_annotations(s, "d", doc, "no/slash", labels=["x"])
        assert exc.value.code == "E241"
        with pytest.raises(NotFoundError) as exc:
            A.add_annotations(s, "d", 9999, "alice", labels=["x"])
        assert exc.value.code == "E240"
    with store.session() as s:
        assert s.scalar(select(Annotation).where(Annotation.source == "human")) is None


def test_store_annotations_delete_only_your_own(store):
    ids = seed(store)
    doc = ids[TEXTS[1]]
    with store.session() as s:
        [mine] = A.add_annotations(s, "d", doc, "alice", labels=["sports"])
        rule_id = s.scalar(select(Annotation.id).where(Annotation.source == "rule"))
    with store.session() as s:
        for who, ann in (("bob", mine["id"]), ("alice", rule_id)):
            with pytest.raises(NotFoundError) as exc:
                A.delete_annotation(s, "d", ann, who)
            assert exc.value.code == "E244"
    with store.session() as s:
        assert A.delete_annotation(s, "d", mine["id"], "alice")["label"] == "sports"
        assert A.get_document(s, "d", doc, annotator="alice")["annotations"] == []


def test_store_annotations_accept_and_reject_pre_annotations(store):
    ids = seed(store)
    doc = ids[TEXTS[0]]
    with store.session() as s:
        pre = A.get_document(s, "d", doc, annotator="alice")["pre_annotations"]
    assert [(p["kind"], p["label"], p["source"], p["by"]) for p in pre] == [
        ("label", "business", "rule", ["kw:apple"]),
        ("span", "ORG", "rule", ["kw:apple"]),
    ]
    with store.session() as s:
        acc = A.review(s, "d", doc, "alice", decision="accept", kind="span", label="ORG", source="rule", start=0, end=5)
        rej = A.review(s, "d", doc, "alice", decision="reject", kind="label", label="business", source="rule")
    assert acc["annotation"]["source"] == "human" and acc["annotation"]["author"] == "alice"
    assert acc["review"]["annotation_id"] == acc["annotation"]["id"] and rej["annotation"] is None
    with store.session() as s:
        alice = A.get_document(s, "d", doc, annotator="alice")
        bob = A.get_document(s, "d", doc, annotator="bob")
    assert alice["pre_annotations"] == [] and [(a["label"], a["start"]) for a in alice["annotations"]] == [("ORG", 0)]
    assert len(bob["pre_annotations"]) == 2 and bob["annotations"] == []
    # Undo the accept: the human copy goes, the suggestion shows again.
    with store.session() as s:
        A.delete_review(s, "d", acc["review"]["id"], "alice")
        alice = A.get_document(s, "d", doc, annotator="alice")
        with pytest.raises(NotFoundError) as exc:
            A.delete_review(s, "d", rej["review"]["id"], "bob")
        assert exc.value.code == "E247"
    assert alice["annotations"] == [] and [p["label"] for p in alice["pre_annotations"]] == ["ORG"]
    with store.session() as s, pytest.raises(InputError) as exc:
        A.review(s, "d", doc, "alice", decision="maybe", kind="label", label="x", source="rule")
    assert exc.value.code == "E246"


def test_store_annotations_model_suggestions_merge_and_can_be_rejected(store):
    ids = seed(store)
    doc = ids[TEXTS[0]]
    sugg = [{"kind": "label", "label": "business", "score": 0.7, "by": ["news@v1"]}]
    with store.session() as s:
        pre = A.get_document(s, "d", doc, annotator="alice", suggestions=sugg)["pre_annotations"]
        assert [(p["label"], p["source"], p["score"]) for p in pre if p["kind"] == "label"] == [
            ("business", "model", 0.7),
            ("business", "rule", None),
        ]
        A.review(s, "d", doc, "alice", decision="reject", kind="label", label="business", source="model")
        pre = A.get_document(s, "d", doc, annotator="alice", suggestions=sugg)["pre_annotations"]
    assert [(p["label"], p["source"]) for p in pre if p["kind"] == "label"] == [("business", "rule")]


def test_store_annotations_progress_and_label_set(store):
    ids = seed(store)
    with store.session() as s:
        A.add_annotations(s, "d", ids[TEXTS[0]], "alice", labels=["business"])
        A.add_annotations(s, "d", ids[TEXTS[1]], "bob", labels=["sports"])
        alice = A.progress(s, "d", "alice")
        anyone = A.progress(s, "d")
        labels = A.label_set(s, "d")
    # The imported document is not in the labeling pool.
    assert (alice["total"], alice["done"], alice["remaining"], alice["labeled_by_anyone"]) == (3, 1, 2, 2)
    assert (anyone["done"], anyone["remaining"]) == (2, 1)
    assert labels == {"labels": ["business", "sports"], "entity_types": ["ORG"]}


@pytest.mark.parametrize("n_threads", [8])
def test_store_annotations_concurrent_annotators_both_keep_theirs(backend_settings, n_threads):
    """Annotators writing to the same document at the same moment, each in their own transaction."""
    st = open_store(backend_settings)
    ids = seed(st)
    doc = ids[TEXTS[1]]
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            for label in ("sports", "final", f"own{i}"):
                with st.session() as s:
                    A.add_annotations(s, "d", doc, f"annotator{i}", labels=[label])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with st.session() as s:
        rows = s.execute(
            select(Annotation.author, Annotation.label).where(
                Annotation.document_id == doc, Annotation.source == "human"
            )
        ).all()
    assert sorted(rows) == sorted(
        (f"annotator{i}", lab) for i in range(n_threads) for lab in ("sports", "final", f"own{i}")
    )
    st.close()


def test_store_migration_0003_adds_reviews_and_keeps_annotations(backend_settings):
    """A database at revision 0002 opens in this nlpipe: the reviews table appears, annotations stay."""
    from alembic import command

    from nlpipe.store.db import _alembic_config

    engine = make_engine(backend_settings.resolved_database_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0002")
        conn.execute(text("INSERT INTO datasets (id, name, created_at) VALUES (1, 'old', CURRENT_TIMESTAMP)"))
        conn.execute(
            text(
                "INSERT INTO documents (id, sha256, text, mime, created_at) VALUES (1, :h, 'kept', 'text/plain', "
                "CURRENT_TIMESTAMP)"
            ),
            {"h": "0" * 64},
        )
        conn.execute(
            text("INSERT INTO dataset_documents (dataset_id, document_id, created_at) VALUES (1, 1, CURRENT_TIMESTAMP)")
        )
        conn.execute(
            text(
                "INSERT INTO annotations (dataset_id, document_id, kind, label, source, author, created_at) "
                "VALUES (1, 1, 'label', 'x', 'human', 'alice', CURRENT_TIMESTAMP)"
            )
        )
    assert "annotation_reviews" not in inspect(engine).get_table_names()
    engine.dispose()
    st = open_store(backend_settings)
    assert "annotation_reviews" in inspect(st.engine).get_table_names()
    with st.session() as s:
        assert A.get_document(s, "old", 1, annotator="alice")["annotations"][0]["label"] == "x"
        A.review(s, "old", 1, "bob", decision="accept", kind="label", label="x", source="import")
    with st.session() as s:
        assert s.scalar(select(AnnotationReview.author)) == "bob"
    st.close()
