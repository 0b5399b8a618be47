"""Entity-annotation formats: CoNLL, spaCy DocBin, Label Studio JSON, AWS Comprehend entity CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nlpipe.errors import InputError, NlpipeError
from nlpipe.label.formats import detect_format, longest_first, read_records, write_records
from nlpipe.store.datasets import export_records
from nlpipe.store.importing import import_records
from nlpipe.store.schema import Annotation, Document
from nlpipe.types import Record, Span
from tests.conftest import SHARED

CONLL = SHARED / "conll2003"
needs_conll = pytest.mark.skipif(
    not (CONLL / "eng.testa").is_file(), reason=f"shared CoNLL-2003 corpus not found at {CONLL}"
)
FORMAT_FILES = {"conll": "out.conll", "spacy": "out.spacy", "labelstudio": "out.json",
                "comprehend-entities": "out.csv"}  # fmt: skip

RECORDS = [
    Record("Acme Corp hired Jane Doe in Paris.", ["hiring"], "train", "d1",
           spans=[Span(0, 9, "ORG"), Span(16, 24, "PER"), Span(28, 33, "LOC")]),
    Record("No entities here, only a label.", ["other"], "test", "d2"),
    Record("Berlin and Bonn", [], "validation", None, spans=[Span(0, 6, "LOC"), Span(11, 15, "LOC")]),
    Record("EU rejects German call", ["politics", "eu"], "train", "d4",
           spans=[Span(0, 2, "ORG"), Span(11, 17, "MISC")]),
]  # fmt: skip


def _write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def _spans(rec: Record) -> list[tuple[int, int, str]]:
    return sorted((s.start, s.end, s.label) for s in rec.spans)


def _annotations(records) -> dict[str, list[tuple[int, int, str]]]:
    return {r.text: _spans(r) for r in records}


def _raises(code: str, fn, *args, **kw) -> NlpipeError:
    with pytest.raises(NlpipeError) as info:
        list(fn(*args, **kw))
    assert info.value.code == code, str(info.value)
    return info.value


def _count(store, table) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(table))


# --------------------------------------------------------------------------------------------- CoNLL


@needs_conll
@pytest.mark.parametrize(
    ("name", "sentences", "entities", "documents"),
    [("eng.train", 14_041, 23_499, 946), ("eng.testa", 3_250, 5_942, 216), ("eng.testb", 3_453, 5_648, 231)],
)
def test_annotations_conll2003_counts(name, sentences, entities, documents):
    path = CONLL / name
    assert detect_format(path) == "conll"
    recs = list(read_records(path, "conll"))
    assert len(recs) == sentences
    assert sum(len(r.spans) for r in recs) == entities
    docs = list(read_records(path, "conll", conll_docs=True))
    assert len(docs) == documents
    assert sum(len(r.spans) for r in docs) == entities
    assert {r.text for r in recs} == {line for d in docs for line in d.text.split("\n")}
    first = recs[0]
    assert first.line == 3 and first.file == str(path) and docs[0].line == 1
    if name == "eng.train":
        assert first.text == "EU rejects German call to boycott British lamb ."
        assert [(first.text[s.start : s.end], s.label) for s in first.spans] == [
            ("EU", "ORG"), ("German", "MISC"), ("British", "MISC")
        ]  # fmt: skip


def test_annotations_conll_iob1_iob2_iobes_read_alike(tmp_path):
    iob1 = "Rome I-LOC\nand O\nParis I-LOC\nB-LOC? O\n\nNew I-LOC\nYork I-LOC\nLondon B-LOC\n"
    iob2 = "Rome B-LOC\nand O\nParis B-LOC\nB-LOC? O\n\nNew B-LOC\nYork I-LOC\nLondon B-LOC\n"
    iobes = "Rome S-LOC\nand O\nParis S-LOC\nB-LOC? O\n\nNew B-LOC\nYork E-LOC\nLondon S-LOC\n"
    want = [("Rome and Paris B-LOC?", [(0, 4, "LOC"), (9, 14, "LOC")]),
            ("New York London", [(0, 8, "LOC"), (9, 15, "LOC")])]  # fmt: skip
    for content in (iob1, iob2, iobes):
        recs = list(read_records(_write(tmp_path / "x.conll", content), "conll"))
        assert [(r.text, _spans(r)) for r in recs] == want


def test_annotations_conll_columns_and_docstart(tmp_path):
    content = "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n-DOCSTART- -X- -X- O\n\nBonn\tB-LOC\n"
    path = _write(tmp_path / "x.txt", content)
    assert detect_format(path) == "conll"
    assert [(r.text, r.line, _spans(r)) for r in read_records(path)] == [
        ("EU rejects", 3, [(0, 2, "ORG")]),
        ("Bonn", 8, [(0, 4, "LOC")]),
    ]
    docs = list(read_records(path, "conll", conll_docs=True))
    assert [(d.text, d.line) for d in docs] == [("EU rejects", 1), ("Bonn", 6)]


@pytest.mark.parametrize("scheme", ["iob2", "iob1"])
def test_annotations_conll_writes_schemes(tmp_path, scheme):
    recs = [Record("Bonn Berlin and Paris", [], spans=[Span(0, 4, "LOC"), Span(5, 11, "LOC"), Span(16, 21, "LOC")])]
    out = tmp_path / "x.conll"
    write_records(recs, out, conll_scheme=scheme)
    tags = [line.split()[-1] for line in out.read_text().splitlines()[2:] if line]
    assert tags == (["B-LOC", "B-LOC", "O", "B-LOC"] if scheme == "iob2" else ["I-LOC", "B-LOC", "O", "I-LOC"])
    assert _annotations(read_records(out)) == _annotations(recs)


def test_annotations_conll_export_splits_words_and_keeps_longest(tmp_path):
    recs = [Record("U.S.-based Acme", [], spans=[Span(0, 4, "LOC"), Span(0, 10, "MISC"), Span(11, 15, "ORG")])]
    out = tmp_path / "x.conll"
    write_records(recs, out)
    back = list(read_records(out))
    assert [(r.text, _spans(r)) for r in back] == [("U.S.-based Acme", [(0, 10, "MISC"), (11, 15, "ORG")])]
    split = [Record("U.S.-based Acme", [], spans=[Span(0, 4, "LOC")])]
    write_records(split, out)
    assert [(r.text, _spans(r)) for r in read_records(out)] == [("U.S. -based Acme", [(0, 4, "LOC")])]


@pytest.mark.parametrize(
    ("content", "code", "line", "needle"),
    [
        ("EU I-ORG\nrejects\n", "E118", 2, "no tag column"),
        ("EU I-ORG\n\nrejects X-ORG\n", "E119", 3, "'X-ORG'"),
        ("EU I-ORG\nrejects B-\n", "E119", 2, "'B-'"),
    ],
)
def test_annotations_conll_bad_lines_name_line_and_store_nothing(store, tmp_path, content, code, line, needle):
    path = _write(tmp_path / "bad.conll", content)
    with pytest.raises(InputError) as info:
        import_records(store, "ner", read_records(path), create=True)
    err = info.value
    assert err.code == code and f"line {line}" in str(err) and str(path) in str(err) and needle in str(err)
    assert _count(store, Document) == 0 and _count(store, Annotation) == 0


@needs_conll
def test_annotations_conll2003_store_round_trip(store, tmp_path):
    """eng.testa -> store -> conll -> records: identical except where the store merged repeated sentences
    annotated differently into overlapping spans (CoNLL tags cannot overlap)."""
    summary = import_records(store, "dev", read_records(CONLL / "eng.testa", "conll"), create=True)
    assert summary.added == 3_070 and summary.duplicates_in_file == 180 and summary.spans_added == 5_784
    with store.session() as s:
        stored = _annotations(export_records(s, "dev"))
        out = tmp_path / "dev.conll"
        assert write_records(export_records(s, "dev"), out) == 3_070
    back = _annotations(read_records(out))
    assert set(back) == set(stored)
    differ = [t for t in stored if back[t] != stored[t]]
    overlapping = [t for t, sp in stored.items() if longest_first(Span(*x) for x in sp) != [Span(*x) for x in sp]]
    assert differ == overlapping == ["BIRMINGHAM , England 1996-08-31"]  # tagged LOC once and ORG once in testa
    assert back[differ[0]] == [(0, 10, "LOC"), (13, 20, "LOC")]


# --------------------------------------------------------------------------------------------- all formats


@pytest.mark.parametrize("fmt", list(FORMAT_FILES))
def test_annotations_round_trip_through_the_store(store, tmp_path, fmt):
    """import -> export -> import gives identical annotations, in each format."""
    out = tmp_path / FORMAT_FILES[fmt]
    write_records(RECORDS, out, fmt)
    assert detect_format(out) == fmt
    import_records(store, "first", read_records(out), create=True)
    with store.session() as s:
        first = list(export_records(s, "first"))
    again = tmp_path / "again" / FORMAT_FILES[fmt]
    write_records(first, again, fmt)
    import_records(store, "second", read_records(again), create=True)
    with store.session() as s:
        second = list(export_records(s, "second"))
    expected = _annotations(RECORDS)
    if fmt == "conll":  # a span ending inside "Paris." splits the word: CoNLL keeps tokens, not spacing
        expected["Acme Corp hired Jane Doe in Paris ."] = expected.pop("Acme Corp hired Jane Doe in Paris.")
    assert _annotations(second) == _annotations(first) == expected
    if fmt in ("spacy", "labelstudio"):  # these carry document labels and splits too
        assert {r.text: (sorted(r.labels), r.split) for r in second} == {
            r.text: (sorted(r.labels), r.split) for r in RECORDS
        }


def test_annotations_e130_option_for_another_format(tmp_path):
    path = _write(tmp_path / "x.jsonl", '{"text": "x"}\n')
    assert _raises("E130", read_records, path, "jsonl", conll_docs=True).details["field"] == "--conll-docs"
    assert _raises("E130", read_records, path, None, documents=tmp_path).code == "E130"


# --------------------------------------------------------------------------------------------- spaCy


def test_annotations_docbin_reads_ents_and_cats(tmp_path):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    doc = nlp("Acme hired Jane")
    doc.ents = [doc.char_span(0, 4, "ORG"), doc.char_span(11, 15, "PER")]
    doc.cats = {"hiring": 0.9, "sports": 0.1, "news": 0.5}
    db = DocBin(docs=[doc, nlp("nothing here")])
    db.to_disk(tmp_path / "x.spacy")
    recs = list(read_records(tmp_path / "x.spacy"))
    assert [(r.text, r.labels, _spans(r), r.line) for r in recs] == [
        ("Acme hired Jane", ["hiring", "news"], [(0, 4, "ORG"), (11, 15, "PER")], 1),
        ("nothing here", [], [], 2),
    ]


def test_annotations_docbin_bad_file_stores_nothing(store, tmp_path):
    path = tmp_path / "x.spacy"
    path.write_bytes(b"not a docbin at all")
    with pytest.raises(InputError) as info:
        import_records(store, "d", read_records(path), create=True)
    assert info.value.code == "E121" and str(path) in str(info.value)
    assert _count(store, Document) == 0


def test_annotations_docbin_bad_category_names_the_doc(tmp_path):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    good, bad = nlp("fine"), nlp("broken")
    bad.cats = {"x": "yes"}
    DocBin(docs=[good, bad]).to_disk(tmp_path / "x.spacy")
    err = _raises("E122", read_records, tmp_path / "x.spacy")
    assert "line 2" in str(err) and "'x'" in str(err)


# --------------------------------------------------------------------------------------------- Label Studio

LABEL_STUDIO = [
    {
        "id": 7,
        "data": {"text": "Acme hired Jane in Paris"},
        "annotations": [
            {"id": 1, "result": [
                {"id": "a", "from_name": "sentiment", "to_name": "text", "type": "choices",
                 "value": {"choices": ["positive"]}},
                {"id": "b", "from_name": "label", "to_name": "text", "type": "labels",
                 "value": {"start": 0, "end": 4, "text": "Acme", "labels": ["ORG"]}},
                {"from_id": "a", "to_id": "b", "type": "relation"},
            ]},
            {"id": 2, "was_cancelled": True, "result": [
                {"type": "labels", "value": {"start": 11, "end": 15, "labels": ["PER"]}}]},
            {"id": 3, "result": [
                {"type": "labels", "value": {"start": 19, "end": 24, "labels": ["LOC", "GPE"]}}]},
        ],
        "predictions": [{"result": [{"type": "labels", "value": {"start": 11, "end": 15, "labels": ["PER"]}}]}],
    },
    {"id": 8, "data": {"text": "Nothing to see", "split": "test"}, "annotations": []},
]  # fmt: skip


def test_annotations_labelstudio_reads_choices_and_labels(tmp_path):
    path = _write(tmp_path / "project.json", json.dumps(LABEL_STUDIO, indent=2))
    assert detect_format(path) == "labelstudio"
    recs = list(read_records(path))
    assert [(r.text, r.labels, _spans(r), r.split, r.external_id, r.line) for r in recs] == [
        ("Acme hired Jane in Paris", ["positive"], [(0, 4, "ORG"), (19, 24, "GPE"), (19, 24, "LOC")], None, "7", 2),
        ("Nothing to see", [], [], "test", "8", recs[1].line),
    ]


def _ls_with(result: dict) -> str:
    tasks = [{"id": 1, "data": {"text": "fine"}, "annotations": []},
             {"id": 2, "data": {"text": "Acme hired Jane"}, "annotations": [{"result": [
                 {"type": "labels", "value": {"start": 0, "end": 4, "labels": ["ORG"]}}, result]}]}]  # fmt: skip
    return json.dumps(tasks, indent=2)


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("result", "needle"),
    [
        ({"type": "rectanglelabels", "value": {"x": 1}}, "unknown result type"),
        ({"type": "labels", "value": {"start": "0", "end": 4, "labels": ["ORG"]}}, "integer value.start"),
        ({"type": "labels", "value": {"start": 5, "end": 10, "labels": []}}, "value.labels"),
        ({"type": "choices", "value": {"choices": "positive"}}, "value.choices"),
    ],
)
def test_annotations_labelstudio_bad_result_names_its_line(store, tmp_path, result, needle):
    content = _ls_with(result)
    path = _write(tmp_path / "bad.json", content)
    with pytest.raises(InputError) as info:
        import_records(store, "d", read_records(path), create=True)
    err = info.value
    # the line where the offending result object starts (the second result of task 2)
    starts = [n for n, line in enumerate(content.splitlines(), 1) if line.strip() == "{"]
    assert err.code == "E125" and needle in str(err) and err.details["line"] == starts[-1]
    assert _count(store, Document) == 0


def test_annotations_labelstudio_bad_json_and_tasks(tmp_path):
    broken = _write(tmp_path / "a.json", '[\n  {"data": {"text": "x"}},\n  {"data": {"text": "y"}\n]\n')
    err = _raises("E123", read_records, broken, "labelstudio")
    assert err.details["line"] == 4
    no_text = _write(tmp_path / "b.json", '[\n {"data": {"text": "x"}},\n {"data": {"body": "y"}}\n]\n')
    err = _raises("E124", read_records, no_text)
    assert err.details["line"] == 3 and "'body'" in str(err)
    not_list = _write(tmp_path / "c.json", '{"data": {"text": "x"}}\n')
    assert detect_format(not_list) == "jsonl"  # one object per line: JSON Lines, as before
    assert _raises("E123", read_records, not_list, "labelstudio").details["line"] == 1


EMOJI_TEXT = "Loved it 😍😍 thanks to Jane at Acme 🙌 in Paris"


@pytest.mark.parametrize("units", ["code points", "utf-16"])
def test_annotations_labelstudio_offsets_after_emoji(tmp_path, units):
    """Label Studio counted JavaScript (UTF-16) indices before its emoji fix, code points after it: value.text
    decides, and the spans land on the same characters either way."""

    def offsets(word: str) -> tuple[int, int]:
        start = EMOJI_TEXT.index(word)
        if units == "utf-16":
            start = len(EMOJI_TEXT[:start].encode("utf-16-le")) // 2
        return start, start + len(word)

    result = []
    for word, label in (("Jane", "PER"), ("Acme", "ORG"), ("Paris", "LOC")):
        start, end = offsets(word)
        result.append({"type": "labels", "value": {"start": start, "end": end, "text": word, "labels": [label]}})
    path = _write(tmp_path / "emoji.json", json.dumps([{"data": {"text": EMOJI_TEXT}, "annotations": [
        {"result": result}]}]))  # fmt: skip
    (rec,) = read_records(path)
    assert [(EMOJI_TEXT[s.start : s.end], s.label) for s in rec.spans] == [
        ("Jane", "PER"), ("Acme", "ORG"), ("Paris", "LOC")]  # fmt: skip
    if units == "utf-16":  # the offsets were really converted: 3 emoji before Jane... 4 before Paris
        assert [s.start for s in rec.spans] == [EMOJI_TEXT.index(w) for w in ("Jane", "Acme", "Paris")]


def test_annotations_labelstudio_offsets_that_select_other_text(store, tmp_path):
    content = _ls_with({"type": "labels", "value": {"start": 5, "end": 10, "text": "Jane", "labels": ["PER"]}})
    path = _write(tmp_path / "moved.json", content)
    with pytest.raises(InputError) as info:
        import_records(store, "d", read_records(path), create=True)
    err = info.value
    starts = [n for n, line in enumerate(content.splitlines(), 1) if line.strip() == "{"]
    assert err.code == "E131" and "'hired'" in str(err) and "'Jane'" in str(err)
    assert err.details["line"] == starts[-1] and err.details["field"] == "value.text"
    assert _count(store, Document) == 0


def test_annotations_labelstudio_span_outside_text_names_the_task(store, tmp_path):
    tasks = [{"data": {"text": "short"}, "annotations": [{"result": [
        {"type": "labels", "value": {"start": 2, "end": 40, "labels": ["X"]}}]}]}]  # fmt: skip
    path = _write(tmp_path / "x.json", json.dumps(tasks))
    with pytest.raises(InputError) as info:
        import_records(store, "d", read_records(path), create=True)
    assert info.value.code == "E207" and f"{path}, line 1" in str(info.value)


# --------------------------------------------------------------------------------------------- Comprehend


def test_annotations_comprehend_entities_one_document_per_line(tmp_path):
    docs = "Jo Brown is an engineer.\n\nAcme builds rockets in Texas.\nNo entity.\n"
    _write(tmp_path / "docs" / "documents.txt", docs)
    csv_text = (
        "File,Line,Begin Offset,End Offset,Type\ndocuments.txt,0,0,8,PERSON\ndocuments.txt,2,0,4,ORG\n"
        "documents.txt,2,23,28,LOC\n"
    )
    path = _write(tmp_path / "ann.csv", csv_text)
    assert detect_format(path) == "comprehend-entities"
    err = _raises("E128", read_records, path)
    assert "'documents.txt' not found" in str(err) and err.details["line"] == 2
    recs = list(read_records(path, documents=tmp_path / "docs"))
    assert [(r.text, _spans(r), r.external_id) for r in recs] == [
        ("Jo Brown is an engineer.", [(0, 8, "PERSON")], "documents.txt:0"),
        ("Acme builds rockets in Texas.", [(0, 4, "ORG"), (23, 28, "LOC")], "documents.txt:2"),
        ("No entity.", [], "documents.txt:3"),
    ]


def test_annotations_comprehend_entities_one_document_per_file(tmp_path):
    _write(tmp_path / "a.txt", "Acme\nhired Jane.")
    _write(tmp_path / "b.txt", "Nothing.")
    path = _write(tmp_path / "ann.csv", "File,Begin Offset,End Offset,Type\na.txt,0,4,ORG\na.txt,11,15,PER\n")
    recs = list(read_records(path, "comprehend-entities"))
    assert [(r.text, _spans(r)) for r in recs] == [("Acme\nhired Jane.", [(0, 4, "ORG"), (11, 15, "PER")])]
    out = tmp_path / "out" / "x.csv"
    write_records(recs + [Record("Nothing.", [])], out, "comprehend-entities")
    assert sorted(p.name for p in out.parent.iterdir()) == ["x-doc-000001.txt", "x-doc-000002.txt", "x.csv"]
    # a file without entities is not named by the CSV: only --documents DIR (every file in it) brings it back
    assert _annotations(read_records(out)) == {"Acme\nhired Jane.": [(0, 4, "ORG"), (11, 15, "PER")]}
    assert _annotations(read_records(out, documents=out.parent)) == {
        "Acme\nhired Jane.": [(0, 4, "ORG"), (11, 15, "PER")],
        "Nothing.": [],
    }


@pytest.mark.parametrize(
    ("rows", "code", "line"),
    [
        ("File,Line,Begin,End Offset,Type\n", "E126", 1),
        ("File,Line,Begin Offset,End Offset,Type\nd.txt,0,0,4,ORG\nd.txt,0,x,4,ORG\n", "E127", 3),
        ("File,Line,Begin Offset,End Offset,Type\nd.txt,0,0,4,\n", "E127", 2),
        ("File,Line,Begin Offset,End Offset,Type\nd.txt,0,0,4,ORG\nd.txt,1,0,99,ORG\n", "E129", 3),
        ("File,Line,Begin Offset,End Offset,Type\nd.txt,0,4,4,ORG\n", "E129", 2),
        ("File,Line,Begin Offset,End Offset,Type\nd.txt,0,0,4,ORG\nd.txt,7,0,4,ORG\n", "E128", 3),
        ("File,Line,Begin Offset,End Offset,Type\nd.txt,0,0,4,ORG\nother.txt,0,0,4,ORG\n", "E128", 3),
    ],
)
def test_annotations_comprehend_entities_bad_rows(store, tmp_path, rows, code, line):
    _write(tmp_path / "d.txt", "Acme hired Jane.\nBonn\n")
    path = _write(tmp_path / "ann.csv", rows)
    with pytest.raises(InputError) as info:
        import_records(store, "d", read_records(path, "comprehend-entities"), create=True)
    err = info.value
    assert err.code == code and err.details["line"] == line and str(path) in str(err)
    assert _count(store, Document) == 0
