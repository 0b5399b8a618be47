"""Readers, writers and encoding detection of nlpipe.label.formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlpipe.errors import InputError, LimitError, NlpipeError
from nlpipe.label.formats import FORMATS, detect_format, read_records, read_text, write_records
from nlpipe.types import Record, Span


def _write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode(encoding))
    return path


def _read(path: Path, fmt: str | None = None, **kw) -> list[Record]:
    return list(read_records(path, fmt, **kw))


def _key(rec: Record) -> tuple:
    return (rec.text, rec.labels, rec.split, rec.external_id)


def _raises(code: str, fn, *args, kind: type[NlpipeError] = InputError, **kw) -> NlpipeError:
    with pytest.raises(kind) as info:
        result = fn(*args, **kw)
        if not isinstance(result, int | str):
            list(result)
    assert info.value.code == code, str(info.value)
    return info.value


# --------------------------------------------------------------------------------------------- reading


def test_formats_jsonl_single_and_multi_label(tmp_path):
    f = _write(
        tmp_path / "d.jsonl",
        '{"text": "good film", "label": "pos", "split": "train", "id": 7}\n'
        "\n"
        '{"text": "bad, boring", "labels": ["neg", "boring"], "split": "dev", "id": "b"}\n'
        '{"text": "no label here", "extra": 1}\n'
        '{"text": "explicitly none", "labels": [], "split": "VALID"}\n',
    )
    recs = _read(f)
    assert [_key(r) for r in recs] == [
        ("good film", ["pos"], "train", "7"),
        ("bad, boring", ["neg", "boring"], "validation", "b"),
        ("no label here", [], None, None),
        ("explicitly none", [], "validation", None),
    ]
    assert [r.line for r in recs] == [1, 3, 4, 5]
    assert recs[0].file == str(f)


def test_formats_jsonl_custom_keys_and_unicode_line_separator(tmp_path):
    f = _write(tmp_path / "d.ndjson", '{"body": "a\u2028b", "tag": "x|y"}\r\n')
    (rec,) = _read(f, text_col="body", label_col="tag", label_sep="|")
    assert rec.text == "a\u2028b" and rec.labels == ["x", "y"]


def test_formats_csv_single_and_multi_label(tmp_path):
    f = _write(
        tmp_path / "d.csv",
        "ID,Review,Category,Split\n1,nice phone,pos,train\n2,meh,,\n3,broken screen,neg|hw,test\n",
    )
    recs = _read(f, label_sep="|")
    assert [_key(r) for r in recs] == [
        ("nice phone", ["pos"], "train", "1"),
        ("meh", [], None, "2"),
        ("broken screen", ["neg", "hw"], "test", "3"),
    ]
    assert [r.line for r in recs] == [2, 3, 4]


def test_formats_csv_quoted_multiline_text_and_line_numbers(tmp_path):
    f = _write(
        tmp_path / "d.csv",
        'text,label\r\n"first line\r\nsecond, with comma\r\nsaid ""hi""",a\r\nshort,b\r\n',
    )
    recs = _read(f)
    assert recs[0].text == 'first line\r\nsecond, with comma\r\nsaid "hi"'
    assert [r.line for r in recs] == [2, 5]
    bad = _write(tmp_path / "bad.csv", 'text,label\n"multi\nline",a\nx,b\n,c\n')
    err = _raises("E106", _read, bad)
    assert "line 5" in str(err) and str(bad) in str(err)


def test_formats_tsv_and_labels_column_defaults_to_pipe(tmp_path):
    f = _write(tmp_path / "d.tsv", "text\tlabels\nhello, world\ta|b\n")
    (rec,) = _read(f)
    assert rec.labels == ["a", "b"] and rec.text == "hello, world"


def test_formats_csv_text_col_option(tmp_path):
    f = _write(tmp_path / "d.csv", "msg,kind\nhi,greeting\n")
    assert detect_format(f, text_col="msg") == "csv"
    (rec,) = _read(f, "csv", text_col="msg", label_col="kind")
    assert _key(rec) == ("hi", ["greeting"], None, None)


def test_formats_comprehend_single_and_multi_label(tmp_path):
    f = _write(tmp_path / "c.csv", 'SPORT,"Team wins, again"\nCOMEDY|MYSTERY,A funny whodunit\n')
    recs = _read(f)
    assert [_key(r) for r in recs] == [
        ("Team wins, again", ["SPORT"], None, None),
        ("A funny whodunit", ["COMEDY", "MYSTERY"], None, None),
    ]


def test_formats_automl_single_and_multi_label(tmp_path):
    f = _write(
        tmp_path / "a.csv",
        'TRAIN,"great, really",pos\nvalidate,meh,neutral,,\nTEST,awful,neg,angry\nUNASSIGNED,no idea\n',
    )
    recs = _read(f)
    assert [_key(r) for r in recs] == [
        ("great, really", ["pos"], "train", None),
        ("meh", ["neutral"], "validation", None),
        ("awful", ["neg", "angry"], "test", None),
        ("no idea", [], None, None),
    ]


def test_formats_fasttext_single_and_multi_label(tmp_path):
    f = _write(tmp_path / "t.txt", "__label__pos great  movie\n\n__label__a __label__b\ttwo labels\nno labels\n")
    recs = _read(f)
    assert [(r.text, r.labels, r.line) for r in recs] == [
        ("great  movie", ["pos"], 1),
        ("two labels", ["a", "b"], 3),
        ("no labels", [], 4),
    ]


def test_formats_folder_single_and_multi_label_any_encoding(tmp_path):
    root = tmp_path / "news"
    _write(root / "sci.space" / "60154", "Orbit of Jupiter\n")
    _write(root / "sci.space" / "sub" / "x.txt", "Café crème à la française – 5 €", "cp1252")
    _write(root / "rec.autos" / "101", "Ångström garçon über naïve", "latin-1")
    _write(root / "rec.autos" / "utf16.txt", "\ufeffЁлка – ünïcödé", "utf-16-le")
    _write(root / "rec.autos" / "utf8.txt", "Zażółć gęślą jaźń 日本")
    _write(root / "rec.autos" / "both.txt", "shared doc")
    _write(root / "sci.space" / "both.txt", "shared doc")
    _write(root / "rec.autos" / ".hidden", "skip me")
    _write(root / ".git" / "config", "skip me too")
    recs = {r.external_id: r for r in _read(root)}
    assert detect_format(root) == "folder"
    assert set(recs) == {
        "rec.autos/101",
        "rec.autos/both.txt",
        "rec.autos/utf16.txt",
        "rec.autos/utf8.txt",
        "sci.space/60154",
        "sci.space/sub/x.txt",
    }
    assert recs["sci.space/sub/x.txt"].text == "Café crème à la française – 5 €"
    assert recs["rec.autos/101"].text == "Ångström garçon über naïve"
    assert recs["rec.autos/utf16.txt"].text == "Ёлка – ünïcödé"
    assert recs["rec.autos/utf8.txt"].text == "Zażółć gęślą jaźń 日本"
    assert recs["rec.autos/both.txt"].labels == ["rec.autos", "sci.space"]
    assert recs["sci.space/60154"].labels == ["sci.space"] and recs["sci.space/60154"].line is None


# --------------------------------------------------------------------------------------------- read_text


def test_formats_read_text_encodings():
    text = "Grüße – “quotes” naïve €"
    assert read_text(text.encode("utf-8")) == text
    assert read_text(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert read_text(text.encode("cp1252")) == text
    assert read_text("Ångström à la mode, garçon".encode("latin-1")) == "Ångström à la mode, garçon"
    for enc in ("utf-16", "utf-32"):  # Python writes a BOM for these
        assert read_text(text.encode(enc)) == text
    assert read_text("plain ascii\nline two".encode("utf-16-le")) == "plain ascii\nline two"  # no BOM
    assert read_text("Привет, как дела? Всё хорошо, спасибо.".encode("cp1251")).startswith("Привет")
    # valid UTF-8 is never reinterpreted; mixed files keep their UTF-8 lines
    assert read_text("Ã© is mojibake but valid UTF-8".encode()) == "Ã© is mojibake but valid UTF-8"
    mixed = "café\n".encode("cp1252") + "naïve 日本\n".encode()
    assert read_text(mixed) == "café\nnaïve 日本\n"
    assert read_text(text.encode("cp1252"), encoding="cp1252") == text


def test_formats_read_text_errors(tmp_path):
    err = _raises("E108", read_text, "é".encode("cp1252") + b"\n", encoding="utf-8", source="x.txt")
    assert "x.txt" in str(err) and "line 1" in str(err)
    assert _raises("E108", read_text, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", source="img").code
    assert _raises("E108", read_text, b"abc", encoding="no-such-codec").code
    err = _raises("E100", read_text, tmp_path / "missing.txt")
    assert "missing.txt" in str(err)


def test_formats_jsonl_streams_cp1252_and_utf16(tmp_path):
    rows = [{"text": "café – “ok”", "label": "x"}, {"text": "naïve", "label": "y"}]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    for enc in ("cp1252", "utf-16", "utf-8-sig"):
        f = _write(tmp_path / f"{enc}.jsonl", body, enc)
        assert [r.text for r in _read(f)] == ["café – “ok”", "naïve"], enc
    # ASCII for longer than the sniffed chunk, then cp1252: detected when first needed
    late = ('{"text": "plain", "label": "a"}\n' * 3000).encode() + '{"text": "été", "label": "b"}\n'.encode("cp1252")
    recs = _read(_write(tmp_path / "late.jsonl", late))
    assert recs[-1].text == "été" and recs[-1].line == 3001


def test_formats_csv_cp1252(tmp_path):
    f = _write(tmp_path / "d.csv", "text;label\nsmörgåsbord – très “bon”;food\n", "cp1252")
    (rec,) = _read(f)
    assert _key(rec) == ("smörgåsbord – très “bon”", ["food"], None, None)


# --------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.jsonl", '{"text": "x"}\n', "jsonl"),
        ("a.ndjson", "anything", "jsonl"),
        ("a.json", '\n{"text": "x", "label": "y"}\n', "jsonl"),
        ("a.txt", "__label__x hello\n", "fasttext"),
        ("a.ft", "\n__label__x hello\n", "fasttext"),
        ("a.csv", "validate,some text,lab\n", "automl"),
        ("a.csv", "Id,Text,Label\n1,x,y\n", "csv"),
        ("a.tsv", "review\tclass\nx\ty\n", "csv"),
        ("a.csv", "SPORT,a match report\n", "comprehend"),
        ("a.dat", '{"text": "x"}\n', "jsonl"),
        ("a", "__label__x hi\n", "fasttext"),
    ],
)
def test_formats_detect_each_format(tmp_path, name, content, expected):
    assert detect_format(_write(tmp_path / name, content)) == expected


def test_formats_detect_folder_and_formats_constant(tmp_path):
    (tmp_path / "ds" / "pos").mkdir(parents=True)
    assert detect_format(tmp_path / "ds") == "folder"
    assert set(FORMATS) == {"jsonl", "csv", "automl", "comprehend", "folder", "fasttext",
                            "conll", "spacy", "labelstudio", "comprehend-entities"}  # fmt: skip


# --------------------------------------------------------------------------------------------- errors


def test_formats_e100_missing_file(tmp_path):
    err = _raises("E100", read_records, tmp_path / "nope.jsonl")
    assert "nope.jsonl" in str(err)
    assert _raises("E100", detect_format, tmp_path / "nope.csv").code == "E100"


@pytest.mark.parametrize(
    ("name", "content", "hint"),
    [
        ("a.csv", "a,b,c\n1,2,3\n", "3 column"),
        ("a.json", '[{"text": "x"}]\n', "JSON array"),
        ("a.txt", "just prose\n", "__label__"),
        ("a.xml", "<doc/>\n", ".xml"),
    ],
)
def test_formats_e101_undetected(tmp_path, name, content, hint):
    f = _write(tmp_path / name, content)
    err = _raises("E101", read_records, f)
    assert str(f) in str(err) and hint in str(err) and "jsonl, csv, automl, comprehend, folder, fasttext" in str(err)


def test_formats_e102_invalid_json(tmp_path):
    f = _write(tmp_path / "d.jsonl", '{"text": "ok", "label": "a"}\n\n{"text": "broken", \n')
    err = _raises("E102", _read, f)
    assert str(f) in str(err) and "line 3" in str(err)
    err = _raises("E102", _read, _write(tmp_path / "e.jsonl", '["text"]\n'))
    assert "line 1" in str(err) and "JSON object" in str(err)


def test_formats_e103_missing_text(tmp_path):
    f = _write(tmp_path / "d.jsonl", '{"text": "ok"}\n{"body": "x", "label": "a"}\n')
    err = _raises("E103", _read, f)
    assert "line 2" in str(err) and "'body'" in str(err)
    f = _write(tmp_path / "d.csv", "title,label\nx,a\n")
    err = _raises("E103", _read, f, "csv")
    assert str(f) in str(err) and "line 1" in str(err) and "'title', 'label'" in str(err)
    err = _raises("E103", _read, _write(tmp_path / "e.csv", "text,label\nx,a\n"), label_col="tag")
    assert "'tag'" in str(err)
    err = _raises("E103", _read, _write(tmp_path / "n.jsonl", '{"text": 5}\n'))
    assert "line 1" in str(err) and "string" in str(err)


@pytest.mark.parametrize(
    "line",
    [
        '{"text": "x", "label": ""}',
        '{"text": "x", "label": 1.5}',
        '{"text": "x", "labels": ["a", true]}',
        '{"text": "x", "label": {"a": 1}}',
        '{"text": "x", "labels": "a", "label": "b"}',
        '{"text": "x", "label": null}',
    ],
)
def test_formats_e104_bad_label_jsonl(tmp_path, line):
    f = _write(tmp_path / "d.jsonl", '{"text": "ok", "label": "a"}\n' + line + "\n")
    err = _raises("E104", _read, f)
    assert str(f) in str(err) and "line 2" in str(err)


def test_formats_integer_labels_become_strings(tmp_path):
    f = _write(tmp_path / "d.jsonl", '{"text": "good", "label": 1}\n{"text": "bad", "labels": [0, "x"]}\n')
    assert [r.labels for r in _read(f)] == [["1"], ["0", "x"]]


def test_formats_e104_bad_label_other_formats(tmp_path):
    err = _raises("E104", _read, _write(tmp_path / "c.csv", "a,fine\n,no label\n"), "comprehend")
    assert "line 2" in str(err)
    err = _raises("E104", _read, _write(tmp_path / "d.csv", "text,labels\nx,a||b\n"))
    assert "line 2" in str(err) and "a||b" in str(err)
    err = _raises("E104", _read, _write(tmp_path / "f.txt", "__label__a ok\n__label__ oops\n"))
    assert "line 2" in str(err)


def test_formats_e105_unknown_split(tmp_path):
    err = _raises("E105", _read, _write(tmp_path / "d.jsonl", '{"text": "x", "split": "holdout"}\n'))
    assert "line 1" in str(err) and "'holdout'" in str(err)
    err = _raises("E105", _read, _write(tmp_path / "d.csv", "text,split\nx,train\ny,later\n"))
    assert "line 3" in str(err) and "'later'" in str(err)
    err = _raises("E105", _read, _write(tmp_path / "a.csv", "TRAIN,x,a\nMAYBE,y,b\n"), "automl")
    assert "line 2" in str(err) and "'MAYBE'" in str(err)


def test_formats_e106_empty_text(tmp_path):
    err = _raises("E106", _read, _write(tmp_path / "d.jsonl", '{"text": "x"}\n{"text": "  "}\n'))
    assert "line 2" in str(err)
    err = _raises("E106", _read, _write(tmp_path / "f.txt", "__label__a\n"))
    assert "line 1" in str(err)
    _write(tmp_path / "ds" / "pos" / "empty.txt", "")
    err = _raises("E106", _read, tmp_path / "ds")
    assert "empty.txt" in str(err)


def test_formats_e107_document_too_large(tmp_path):
    big = "x" * 2000
    err = _raises("E107", _read, _write(tmp_path / "d.jsonl", f'{{"text": "ok"}}\n{{"text": "{big}"}}\n'),
                  max_bytes=1000, kind=LimitError)  # fmt: skip
    assert "line 2" in str(err) and "1,000" in str(err)
    err = _raises("E107", _read, _write(tmp_path / "d.csv", f"text\nok\n{big}\n"), max_bytes=1000, kind=LimitError)
    assert "line 3" in str(err)
    err = _raises("E107", _read, _write(tmp_path / "e.csv", f"text\n{'y' * 9000}\n"), max_bytes=1000, kind=LimitError)
    assert "line 2" in str(err)  # caught by the csv field-size limit before the row is built
    _write(tmp_path / "ds" / "a" / "huge.txt", "é" * 600)  # 1200 UTF-8 bytes
    err = _raises("E107", _read, tmp_path / "ds", max_bytes=1000, kind=LimitError)
    assert "huge.txt" in str(err)
    assert len(_read(tmp_path / "ds", max_bytes=1200)[0].text) == 600


def test_formats_e108_undecodable(tmp_path):
    f = _write(tmp_path / "d.jsonl", b'{"text": "ok"}\n' + '{"text": "café"}\n'.encode("cp1252"))
    err = _raises("E108", _read, f, encoding="utf-8")
    assert str(f) in str(err) and "line 2" in str(err)
    _write(tmp_path / "ds" / "a" / "img.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\x00\xfe\x01")
    err = _raises("E108", _read, tmp_path / "ds")
    assert "img.png" in str(err)


def test_formats_e109_malformed_row(tmp_path):
    err = _raises("E109", _read, _write(tmp_path / "c.csv", "a,one\nb,two,three\n"), "comprehend")
    assert "line 2" in str(err) and "2 columns" in str(err)
    err = _raises("E109", _read, _write(tmp_path / "a.csv", "TRAIN,x\nTEST\n"), "automl")
    assert "line 2" in str(err)
    err = _raises("E109", _read, _write(tmp_path / "d.csv", "text,label\nx,a\ny\n"))
    assert "line 3" in str(err)
    err = _raises("E109", _read, _write(tmp_path / "q.csv", 'text,label\nx,a\n"quoted"junk,b\n'))
    assert "line 3" in str(err)


def test_formats_e110_empty(tmp_path):
    for name, content in [("d.jsonl", "\n\n"), ("d.csv", "text,label\n"), ("e.txt", ""), ("f.csv", "")]:
        f = _write(tmp_path / name, content)
        err = _raises("E110", _read, f)
        assert str(f) in str(err)
    (tmp_path / "ds").mkdir()
    _raises("E110", _read, tmp_path / "ds")


def test_formats_e111_unknown_format(tmp_path):
    f = _write(tmp_path / "d.jsonl", '{"text": "x"}\n')
    err = _raises("E111", read_records, f, "xlsx")
    assert "'xlsx'" in str(err) and "fasttext" in str(err)
    _raises("E111", write_records, [], tmp_path / "o.jsonl", "parquet")


def test_formats_e112_gs_reference(tmp_path):
    f = _write(tmp_path / "a.csv", "TRAIN,inline text,a\nTEST,gs://bucket/doc.txt,b\n")
    err = _raises("E112", _read, f)
    assert "line 2" in str(err) and "gs://bucket/doc.txt" in str(err)


def test_formats_e113_bad_id(tmp_path):
    err = _raises("E113", _read, _write(tmp_path / "d.jsonl", '{"text": "x", "id": 1.5}\n'))
    assert "line 1" in str(err) and "id" in str(err)


def test_formats_e114_folder_layout(tmp_path):
    _write(tmp_path / "ds" / "pos" / "a.txt", "good")
    _write(tmp_path / "ds" / "README", "about")
    err = _raises("E114", _read, tmp_path / "ds")
    assert "README" in str(err)
    _raises("E114", read_records, _write(tmp_path / "x.jsonl", '{"text": "x"}\n'), "folder")
    _raises("E114", read_records, tmp_path / "ds", "csv")


def test_formats_e115_unwritable_record(tmp_path):
    err = _raises("E115", write_records, [Record("x", ["a|b"])], tmp_path / "o.csv")
    assert "record 1" in str(err) and "a|b" in str(err)
    assert not (tmp_path / "o.csv").exists() and not list(tmp_path.iterdir())  # no partial file left
    _raises("E115", write_records, [Record("x", ["two words"])], tmp_path / "o.txt")
    _raises("E115", write_records, [Record("x", [])], tmp_path / "o.csv", "comprehend")
    _raises("E115", write_records, [Record("x", ["ok"]), Record("y", [])], tmp_path / "out", "folder")
    assert not (tmp_path / "out").exists()
    _raises("E115", write_records, [Record("x", [".hidden"])], tmp_path / "out", "folder")


def test_formats_e116_export_target(tmp_path):
    _write(tmp_path / "out" / "keep.txt", "x")
    err = _raises("E116", write_records, [Record("x", ["a"])], tmp_path / "out", "folder")
    assert "out" in str(err)
    _raises("E116", write_records, [Record("x", ["a"])], tmp_path / "out", "jsonl")
    _raises("E101", write_records, [Record("x", ["a"])], tmp_path / "o.parquet")


# --------------------------------------------------------------------------------------------- round trips

_RECORDS = [
    Record('A fine day, "quoted" and\nmulti-line', ["pos"], "train", "r1"),
    Record("Tabs\tand, commas; 日本語 – €", ["neg", "spam"], "validation", "r2"),
    Record("unlabeled one", [], "test", None),
    Record("last", ["pos"], None, "42"),
]


@pytest.mark.parametrize("name", ["o.jsonl", "o.csv", "o.tsv"])
def test_formats_round_trip_full(tmp_path, name):
    out = tmp_path / name
    assert write_records(_RECORDS, out) == len(_RECORDS)
    first = _read(out)
    assert [_key(r) for r in first] == [_key(r) for r in _RECORDS]
    write_records(first, tmp_path / ("again" + out.suffix))
    assert (tmp_path / ("again" + out.suffix)).read_bytes() == out.read_bytes()


def test_formats_round_trip_automl(tmp_path):
    out = tmp_path / "o.csv"
    write_records(_RECORDS, out, "automl")
    assert detect_format(out) == "automl"
    assert [(r.text, r.labels, r.split) for r in _read(out)] == [(r.text, r.labels, r.split) for r in _RECORDS]


def test_formats_round_trip_comprehend(tmp_path):
    labeled = [r for r in _RECORDS if r.labels]
    out = tmp_path / "o.csv"
    write_records(labeled, out, "comprehend")
    assert detect_format(out) == "comprehend"
    assert [(r.text, r.labels) for r in _read(out)] == [(r.text, r.labels) for r in labeled]


def test_formats_round_trip_fasttext(tmp_path):
    records = [Record("one line  text", ["a"]), Record("two labels", ["a", "b"]), Record("none", [])]
    out = tmp_path / "o.txt"
    write_records(records, out)
    assert out.read_text(encoding="utf-8").splitlines()[1] == "__label__a __label__b two labels"
    assert [(r.text, r.labels) for r in _read(out)] == [(r.text, r.labels) for r in records]
    write_records([Record("multi\nline", ["a"])], out)
    assert _read(out)[0].text == "multi line"  # fastText is one document per line


def test_formats_round_trip_folder(tmp_path):
    records = [r for r in _RECORDS if r.labels] + [Record("same id, other label", ["spam"], None, "r1")]
    out = tmp_path / "export"
    assert write_records(records, out, "folder") == len(records)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "neg/r2.txt",
        "pos/42.txt",
        "pos/r1.txt",
        "spam/r1.txt",
        "spam/r2.txt",
    ]
    back = sorted(((r.text, r.labels) for r in _read(out)), key=str)
    assert back == sorted(((r.text, sorted(r.labels)) for r in records), key=str)


def test_formats_round_trip_write_accepts_generators(tmp_path):
    out = tmp_path / "sub" / "o.jsonl"
    assert write_records((r for r in _RECORDS), out) == len(_RECORDS)
    line = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert list(line) == ["id", "text", "labels", "split"]


def test_formats_jsonl_spans_round_trip(tmp_path):
    recs = [
        Record("Acme Corp hired Jane.", ["hiring"], "train", "s1", spans=[Span(0, 9, "ORG"), Span(16, 20, "PER")]),
        Record("No entities here.", [], "test", "s2"),
    ]
    out = tmp_path / "spans.jsonl"
    write_records(recs, out)
    back = _read(out)
    assert [(r.text, [(s.start, s.end, s.label) for s in r.spans]) for r in back] == [
        ("Acme Corp hired Jane.", [(0, 9, "ORG"), (16, 20, "PER")]),
        ("No entities here.", []),
    ]
    write_records(back, tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    "spans",
    ['"ORG"', '["ORG"]', '[{"start": 0, "end": "2", "label": "ORG"}]', '[{"start": 0, "end": 2}]',
     '[{"start": 0, "end": 2, "label": ""}]', '[{"start": true, "end": 2, "label": "X"}]'],
)  # fmt: skip
def test_formats_e117_malformed_spans(tmp_path, spans):
    f = _write(tmp_path / "s.jsonl", '{"text": "ok"}\n{"text": "Acme", "spans": ' + spans + "}\n")
    err = _raises("E117", _read, f)
    assert "line 2" in str(err)


# ----------------------------------------------------------------------------------------------- streaming CSV


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_formats_csv_streams_with_the_rows_of_the_whole_text_reader(tmp_path, monkeypatch, eol):
    """A CSV file is read line by line (never decoded whole), with the same rows, line numbers and errors as the
    whole-text reader: quoted fields over several lines, every line ending, a non-ASCII text, blank lines."""
    import nlpipe.readers.rows as F

    body = eol.join(
        [
            "",
            "id,text,label",
            'a,"first line' + eol + 'second line, still the same field",x',
            "",
            "b,Zürich café,y",
            'c,"He said ""hi""",z',
        ]
    )
    path = _write(tmp_path / "s.csv", body + eol)
    whole = [(r.line, *_key(r)) for r in F.parse_bytes(path.read_bytes(), "s.csv", "csv", max_bytes=10**6)]
    monkeypatch.setattr(F, "read_text", lambda *a, **k: pytest.fail("the CSV was read whole"))
    streamed = [(r.line, *_key(r)) for r in read_records(path, "csv")]
    assert streamed == whole and len(streamed) == 3
    assert streamed[0][1] == "first line" + eol + "second line, still the same field"
    bad = _write(tmp_path / "bad.csv", body + eol + 'd,"never closed,q' + eol)
    with pytest.raises(InputError) as exc:
        _read(bad, "csv")
    assert exc.value.code == "E109" and exc.value.details["line"] == 8


def test_formats_csv_reader_pulls_rows_as_they_are_asked_for(tmp_path):
    """The CSV reader is lazy: an error on the last line is raised only once the rows before it were given out."""
    rows = "\n".join(f"{i},text number {i},lab" for i in range(5000))
    path = _write(tmp_path / "big.csv", "id,text,label\n" + rows + "\n5000,,lab\n")
    it = read_records(path, "csv")
    assert [next(it).external_id for _ in range(3)] == ["0", "1", "2"]
    with pytest.raises(InputError) as exc:
        list(it)
    assert exc.value.code == "E106" and exc.value.details["line"] == 5002


def test_formats_default_split_fills_only_records_without_one(tmp_path):
    lines = [{"text": "a", "label": "x", "split": "test"}, {"text": "b", "label": "y"}, {"text": "c", "label": "x"}]
    path = _write(tmp_path / "s.jsonl", "\n".join(json.dumps(row) for row in lines) + "\n")
    assert [r.split for r in _read(path)] == ["test", None, None]
    assert [r.split for r in _read(path, split="dev")] == ["test", "validation", "validation"]
    assert [r.split for r in _read(path, split="")] == ["test", None, None]
    with pytest.raises(InputError) as exc:  # checked before the path: a missing file still says E105
        read_records(tmp_path / "missing.jsonl", split="holdout")
    assert exc.value.code == "E105" and exc.value.details["field"] == "--split"


# --------------------------------------------------------------------------------- deeply nested JSON (D13)

DEEP = "[" * 100_000  # far deeper than Python's recursion limit


@pytest.mark.parametrize(
    ("name", "content", "fmt", "line"),
    [
        ("deep.jsonl", '{"text": "fine"}\n' + DEEP + "\n", "jsonl", 2),
        ("detected.jsonl", '{"text": "x", "extra": ' + DEEP + "]" * 100_000 + "}\n", None, 1),
        ("inside.jsonl", '{"text": "ok"}\n{"text": "b", "spans": ' + DEEP + "\n", None, 2),
        ("tasks.json", '[\n{"data": {"text": "a"}},\n{"data": {"text": "b"}, "annotations": ' + DEEP + "]", None, 3),
        ("tasks2.json", '[{"data": {"text": "a"}, "annotations": ' + DEEP, "labelstudio", 1),
    ],
)
def test_deeply_nested_json_is_a_coded_error_naming_file_and_line(tmp_path, name, content, fmt, line):
    path = _write(tmp_path / name, content)
    err = _raises("E210", _read, path, fmt)
    assert err.details["file"] == str(path) and err.details["line"] == line
    assert f"line {line}" in str(err)


def test_deeply_nested_jsonl_upload_is_a_failure_with_its_line(settings):
    from nlpipe.readers.dispatch.route import ingest_bytes

    result = ingest_bytes(('{"text": "ok"}\n' + DEEP).encode(), "rows.jsonl", settings)
    assert [(f.code, "line 2" in f.message) for f in result.failures] == [("E210", True)]


def test_deeply_nested_json_import_from_the_cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nlpipe.cli.main import app

    monkeypatch.setenv("NLPIPE_HOME", str(tmp_path / "home"))
    path = _write(tmp_path / "deep.jsonl", '{"text": "fine"}\n' + DEEP + "\n")
    result = CliRunner().invoke(app, ["datasets", "import", "d", str(path)])
    assert result.exit_code != 0 and not isinstance(result.exception, RecursionError)
    assert "E210" in result.output and "line 2" in result.output
