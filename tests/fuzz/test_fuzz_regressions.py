"""The defects the fuzz targets found, each with the input that showed it (built here byte for byte).

Inputs that hung or ate memory before the fix run in the fuzz worker (its memory and time limits), so that a
regression fails the test instead of freezing the suite.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlpipe.errors import LimitError, NlpipeError
from nlpipe.label.formats import read_records
from nlpipe.readers.text.markup import read_html
from nlpipe.readers.text.word import read_docx
from tests.fuzz.harness import Worker
from tests.fuzz.strategies import deep_jsonl, docx_seeds


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = Worker(tmp_path_factory.mktemp("fuzz-regressions"))
    yield w
    w.close()


def _code(path: Path, fmt: str | None = None) -> str:
    with pytest.raises(NlpipeError) as info:
        list(read_records(path, fmt))
    return info.value.code


# ---------------------------------------------------------------------------------------------- Label Studio


def test_labelstudio_nested_too_deeply_is_e210_not_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    assert _code(path, "labelstudio") == "E210"
    path.write_bytes(b'[{"data": {"text": "x"}, "annotations": ' + b"[" * 200_000 + b"]" * 200_000 + b"}]")
    assert _code(path) == "E210"


def test_labelstudio_number_of_5000_digits_is_e123_not_value_error(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(b'[{"data": {"text": "abc"}, "id": ' + b"9" * 5000 + b', "annotations": []}]')
    assert _code(path) == "E123"


# ---------------------------------------------------------------------------------------------- HTML


@pytest.mark.parametrize("charset", [b"rot13", b"hex", b"base64", b"zlib"])
def test_html_declaring_a_bytes_codec_as_charset_is_read_by_detection(charset: bytes) -> None:
    doc = read_html(b'<meta charset="' + charset + b'"><p>hello caf\xe9</p>', source="x.html")
    assert doc.text == "hello café"
    assert "charset" not in doc.meta


# ---------------------------------------------------------------------------------------------- DOCX


def _docx_with_body(body: bytes) -> bytes:
    seed = zipfile.ZipFile(io.BytesIO(docx_seeds()[0]))
    members = {name: seed.read(name) for name in seed.namelist()}
    members["word/document.xml"] = re.sub(rb"<w:body>.*</w:body>", b"<w:body>" + body + b"</w:body>",
                                          members["word/document.xml"], flags=re.S)  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


GRID_SPAN_BOMB = _docx_with_body(
    b"<w:tbl><w:tr><w:tc><w:p/></w:tc></w:tr><w:tr></w:tr><w:tr><w:tc><w:tcPr>"
    b'<w:gridSpan w:val="2147483647"/></w:tcPr><w:p><w:r><w:t>wide</w:t></w:r></w:p></w:tc></w:tr></w:tbl>'
)


def test_docx_cell_spanning_2_to_the_31_columns_is_read_at_once(worker: Worker) -> None:
    outcome = worker.run("docx", GRID_SPAN_BOMB)  # before: python-docx listed the cell 2^31 times (hang or MemoryError)
    assert (outcome.kind, outcome.detail) == ("ok", "")
    assert read_docx(GRID_SPAN_BOMB, source="x.docx").text == "wide"


def test_docx_merged_cells_are_read_once_where_they_start() -> None:
    doc = read_docx(docx_seeds()[0], source="x.docx")
    rows = [line.split("\t") for line in doc.text.splitlines() if "\t" in line or line in ("down", "cell b")]
    assert ["cell a", "across"] in rows
    assert ["down", "cell b"] in rows
    assert doc.text.count("down") == 1 and doc.text.count("across") == 1


# ---------------------------------------------------------------------------------------------- e-mail

HUGE_SUBJECT = b"Subject: " + b"=?utf-8?q?a?= " * 200_000 + b"\n\nbody"


def test_eml_with_a_huge_encoded_subject_is_read_in_bounded_memory(worker: Worker) -> None:
    outcome = worker.run("eml", HUGE_SUBJECT)  # before: 1.4 GB and 13 s in the worker, >20 GB without a limit
    assert (outcome.kind, outcome.detail) == ("ok", "")
    assert outcome.peak_kb < 400 * 1024
    from nlpipe.readers.text.mail import MAX_HEADER_CHARS, read_eml

    doc = read_eml(HUGE_SUBJECT, source="x.eml")
    subject = doc.meta["subject"]  # the first MAX_HEADER_CHARS of the header, decoded
    assert subject.startswith("a" * 500) and len(subject) < MAX_HEADER_CHARS // len("=?utf-8?q?a?= ") + 5
    assert doc.text.endswith("\n\nbody")


# ---------------------------------------------------------------------------------------------- Comprehend


@pytest.mark.parametrize("name", ["../secret.txt", "{secret}"])
def test_comprehend_entities_file_outside_the_documents_folder_is_e236(tmp_path: Path, name: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    folder = tmp_path / "import"
    folder.mkdir()
    csv = folder / "annotations.csv"
    csv.write_text(f"File,Begin Offset,End Offset,Type\n{name.format(secret=secret)},0,8,X\n")
    assert _code(csv) == "E236"


def test_comprehend_entities_link_out_of_the_documents_folder_is_e236(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("password=hunter2\n")
    folder = tmp_path / "import"
    folder.mkdir()
    (folder / "doc.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "annotations.csv").write_text("File,Begin Offset,End Offset,Type\ndoc.txt,0,8,X\n")
    assert _code(folder / "annotations.csv") == "E236"


# ---------------------------------------------------------------------------------------------- spaCy DocBin


def test_docbin_compression_bomb_is_e237_before_it_is_inflated(tmp_path: Path) -> None:
    path = tmp_path / "bomb.spacy"
    path.write_bytes(zlib.compress(b"\0" * 100_000_000, 9))  # 97 KB that spaCy inflated whole (100 MB)
    with pytest.raises(LimitError) as info:
        list(read_records(path))
    assert info.value.code == "E237"


# ---------------------------------------------------------------------------------------------- JSON Lines rows


def test_jsonl_nested_too_deeply_is_a_coded_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_bytes(deep_jsonl())
    assert _code(path) == "E210"


def test_jsonl_number_of_5000_digits_is_a_coded_error(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"text": "abc", "label": ' + b"9" * 5000 + b"}\n")
    assert _code(path) == "E102"  # the JSON Lines reader's invalid JSON, naming the line


# ---------------------------------------------------------------------------------------------- model folders


def test_entity_model_with_a_damaged_spacy_config_is_e431(tmp_path: Path, trained_entities) -> None:
    """Found by the model-folder target: a config.cfg with a section written twice (the checksums recorded again, as
    a crafted folder would have them) made spaCy raise configparser's DuplicateSectionError, uncoded."""
    import json
    import shutil

    from nlpipe.errors import ArtifactError
    from nlpipe.predict import load_predictor
    from nlpipe.tasks.integrity import file_records

    models = tmp_path / "models"
    shutil.copytree(trained_entities.models_dir, models)
    version = models / "ents" / "v1"
    config = version / "spacy" / "config.cfg"
    config.write_text(config.read_text() + "\n[training.batcher]\nsize = 1\n")
    meta = json.loads((version / "meta.json").read_text())
    meta["files"] = file_records(version)
    (version / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as info:
        load_predictor(models, "ents")
    assert info.value.code == "E431" and "spaCy pipeline" in str(info.value)


def test_crafted_crfsuite_file_with_matching_checksums_is_a_coded_error(worker: Worker) -> None:
    """Found by the model-folder target in benchmarks/reliability.py: an entity model whose pass1.crfsuite is damaged
    inside (a feature whose label id is out of range), with meta.json's checksums matching it, killed the process
    (SIGSEGV) at the first prediction. The whole file is now checked before crfsuite reads it. Run in the fuzz
    harness's child, so a crash is an outcome, not the end of the test run."""
    data = (Path(__file__).parent / "reproducers" / "crafted-crfsuite-model.zip").read_bytes()
    outcome = worker.run("model-folder", data)
    assert (outcome.kind, outcome.detail) == ("coded", "E431"), f"{outcome.kind}: {outcome.detail[-500:]}"


def test_crfsuite_file_whose_label_key_is_damaged_is_e431(worker: Worker) -> None:
    """Found by the crfsuite target: a label's key damaged (its hash, table and index intact) passes the structure
    check; the tagger then returns that label and cannot look it up again (marginal(): RuntimeError, uncoded).
    Loading now looks every label up by its name."""
    data = (Path(__file__).parent / "reproducers" / "crfsuite-label-key-damaged.crfsuite").read_bytes()
    outcome = worker.run("crfsuite", data)
    assert (outcome.kind, outcome.detail) == ("coded", "E431"), f"{outcome.kind}: {outcome.detail[-500:]}"


@pytest.mark.parametrize("name", ["export.json", "export.jsonl", "export.txt"])
def test_format_detection_on_a_number_of_5000_digits_is_a_coded_error(tmp_path: Path, name: str) -> None:
    """Format detection parsed the first line with json.loads, whose ValueError for an integer over 4,300 digits
    is not a JSONDecodeError: it escaped uncoded. Such a line is an object: its reader names the line."""
    path = tmp_path / name
    path.write_bytes(b'{"text": "abc", "label": ' + b"9" * 5000 + b"}\n")
    assert _code(path).startswith("E")


@pytest.mark.parametrize("body", [b'{"task": ' + b"7" * 5000 + b"}", b"[" * 100_000 + b"]" * 100_000])
def test_model_meta_json_with_a_huge_number_or_deep_nesting_is_e405(tmp_path: Path, trained_entities, body) -> None:
    """Found by the model-folder target: a meta.json holding a 5,000-digit number (and, by the same path, one nested
    100,000 deep) escaped read_meta as ValueError / RecursionError instead of E405."""
    import shutil

    from nlpipe.errors import ArtifactError
    from nlpipe.predict import load_predictor

    models = tmp_path / "models"
    shutil.copytree(trained_entities.models_dir, models)
    (models / "ents" / "v1" / "meta.json").write_bytes(body)
    with pytest.raises(ArtifactError) as info:
        load_predictor(models, "ents")
    assert info.value.code == "E405" and "meta.json is not valid JSON" in str(info.value)
