"""What each fuzz target does with one input: a reader or importer called on the bytes, in the child process.

A target returns how many items it produced (documents, records, archive members or failures). It must either
return or raise a coded :class:`~nlpipe.errors.NlpipeError`; anything else is a defect. This module imports no
test library: :mod:`tests.fuzz.child` runs it under a memory limit.

The readers are called directly (not through the dispatcher, whose catch-all turns a parser's exception into a
coded failure and would hide it); archives go through :func:`~nlpipe.readers.dispatch.route.ingest_bytes`, so
the walker and every member's reader run as an upload would run them, and the failure items are checked to
carry codes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nlpipe.config import Settings
from nlpipe.error_codes import CODES

__all__ = ["TARGETS", "IMPORT_SUFFIXES"]

CANARY = "CANARY-outside-the-import-folder"
MAX_PAGES = 200  # a mutated /Count must not make a case read thousands of pages within the time limit


def _settings(work: Path) -> Settings:
    return Settings(home=work / "home", models_dir=work / "models", ocr="never")  # type: ignore[call-arg]


def _pdf(data: bytes, work: Path) -> int:
    from nlpipe.readers.pdf.reader import read_pdf

    doc = read_pdf(data, source="fuzz.pdf", ocr="never", max_pages=MAX_PAGES, words=True)
    return len(doc.pages)


def _pdf_texts(data: bytes, work: Path) -> int:
    from nlpipe.readers.pdf.reader import pdf_page_texts

    return len(pdf_page_texts(data, source="fuzz.pdf", max_pages=MAX_PAGES))


def _html(data: bytes, work: Path) -> int:
    from nlpipe.readers.text.markup import read_html

    read_html(data, source="fuzz.html")
    return 1


def _docx(data: bytes, work: Path) -> int:
    from nlpipe.readers.text.word import read_docx

    read_docx(data, source="fuzz.docx")
    return 1


def _eml(data: bytes, work: Path) -> int:
    from nlpipe.readers.text.mail import read_eml

    read_eml(data, source="fuzz.eml")
    return 1


def _text(data: bytes, work: Path) -> int:
    from nlpipe.readers.text.plain import read_plain

    read_plain(data, source="fuzz.txt")
    return 1


def _rows_csv(data: bytes, work: Path) -> int:
    from nlpipe.readers.text.records import read_csv

    return len(read_csv(data, source="fuzz.csv"))


def _rows_jsonl(data: bytes, work: Path) -> int:
    from nlpipe.readers.text.records import read_jsonl

    return len(read_jsonl(data, source="fuzz.jsonl"))


def _ingest(name: str) -> Callable[[bytes, Path], int]:
    def run(data: bytes, work: Path) -> int:
        from nlpipe.readers.dispatch.route import ingest_bytes

        result = ingest_bytes(data, name, _settings(work), ocr="never")
        for failure in [*result.failures, *result.skipped]:
            if failure.code not in CODES:
                raise TypeError(f"a failure without a defined code: {failure!r}")
        return len(result.documents) + len(result.failures) + len(result.skipped)

    return run


# label import formats -> the file name each input is written to (the extension matters for detection)
IMPORT_SUFFIXES = {
    "jsonl": "fuzz.jsonl",
    "csv": "fuzz.csv",
    "automl": "fuzz.csv",
    "comprehend": "fuzz.csv",
    "fasttext": "fuzz.txt",
    "conll": "fuzz.conll",
    "spacy": "fuzz.spacy",
    "labelstudio": "fuzz.json",
    "comprehend-entities": "annotations.csv",
}


def _import(fmt: str | None, name: str) -> Callable[[bytes, Path], int]:
    def run(data: bytes, work: Path) -> int:
        from nlpipe.label.formats import read_records

        folder = work / "import"
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        path = folder / name
        path.write_bytes(data)
        if fmt == "comprehend-entities":  # the documents its rows point at
            (folder / "doc1.txt").write_text("Alice met Bob in Paris.\nSecond line here.\n", encoding="utf-8")
        (work / "secret.txt").write_text(CANARY, encoding="utf-8")  # outside the import folder: never read
        n = 0
        for record in read_records(path, fmt):
            if CANARY in record.text:
                raise AssertionError(f"a record read a file outside the import folder: {record.file}")
            n += 1
        return n

    return run


def _model_folder(data: bytes, work: Path) -> int:
    """A damaged model folder (tests/fuzz/models.py) loaded as the service and the CLI load one, then asked for
    predictions: a result or a coded error, never a crash of the native loaders (issue 13, D1 and D9)."""
    import io
    import json
    import shutil
    import zipfile

    from nlpipe.predict import load_predictor
    from nlpipe.tasks.integrity import file_records

    models = work / "models"
    shutil.rmtree(models, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:  # the harness's own container: intact, members damaged
        names = [n for n in zf.namelist() if n != ".rerecord"]
        for n in names:
            (models / n).parent.mkdir(parents=True, exist_ok=True)
            (models / n).write_bytes(zf.read(n))
        rerecord = ".rerecord" in zf.namelist()
    name = names[0].split("/")[0]
    version = models / name / "v1"
    if rerecord:  # as a crafted folder with a matching meta.json would be
        try:
            meta = json.loads((version / "meta.json").read_bytes())
        except ValueError:
            meta = None
        if isinstance(meta, dict):
            meta["files"] = file_records(version)
            (version / "meta.json").write_text(json.dumps(meta))
    predictor = load_predictor(models, name)
    return len(predictor.predict(["Acme Corp hired Maria Lopez in Berlin.", "Shares fell after the rate rise."]))


def _crfsuite(data: bytes, work: Path) -> int:
    """A damaged crfsuite model file given to the entity recogniser as it loads one: refused (E431), or its tagger
    used the ways the recogniser and ``info()`` use it (labels, tags, marginals, the whole feature dump) without an
    uncoded error, a crash or a hang. The attributes tagged are the strings the file holds, so lookups reach its
    dictionaries."""
    import re

    from nlpipe.tasks.entities.crf import CrfEntityRecognizer

    component = CrfEntityRecognizer(None)
    component.set_models([data])
    tagger = component._taggers[0]
    words = [w.decode("latin-1") for w in re.findall(rb"[\x21-\x7e]{1,60}(?=\x00)", data)][:400] or ["x"]
    items = [{w: 1.0 for w in words[i : i + 8]} | {"unknown-attribute": 0.5} for i in range(0, len(words), 8)]
    tags = tagger.tag(items)
    marginals = [tagger.marginal(t, i) for i, t in enumerate(tags)]
    try:  # walks every reference and feature (crfsuite's dump); nlpipe never calls it, and python-crfsuite's own
        tagger.info()  # parser of the dump may fail on odd attribute strings: only a crash or a hang counts here
    except (ValueError, AssertionError, AttributeError):
        pass
    return len(component.labels) + len(tags) + len(marginals)


TARGETS: dict[str, Callable[[bytes, Path], int]] = {
    "pdf": _pdf,
    "pdf-texts": _pdf_texts,
    "html": _html,
    "docx": _docx,
    "eml": _eml,
    "text": _text,
    "rows-csv": _rows_csv,
    "rows-jsonl": _rows_jsonl,
    "zip": _ingest("fuzz.zip"),
    "tar": _ingest("fuzz.tar"),
    "tar.gz": _ingest("fuzz.tar.gz"),
    "gz": _ingest("fuzz.txt.gz"),
    **{f"import-{fmt}": _import(fmt, name) for fmt, name in IMPORT_SUFFIXES.items()},
    "import-detect-csv": _import(None, "fuzz.csv"),
    "import-detect-txt": _import(None, "fuzz.txt"),
    "import-detect-json": _import(None, "fuzz.json"),
    "model-folder": _model_folder,
    "crfsuite": _crfsuite,
}


# ----------------------------------------------------------------------------------------------- harness probes
# Targets that misbehave on purpose, so tests/fuzz/test_harness.py can show that each kind of failure is caught.


def _probe_uncaught(data: bytes, work: Path) -> int:
    return {}[data]  # type: ignore[no-any-return]  # KeyError


def _probe_crash(data: bytes, work: Path) -> int:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)
    return 0


def _probe_hang(data: bytes, work: Path) -> int:
    import threading

    threading.Event().wait()
    return 0


def _probe_memory(data: bytes, work: Path) -> int:
    hog = bytearray(4 * 1024**3)  # more than the child's address space
    return len(hog)


def _probe_undefined_code(data: bytes, work: Path) -> int:
    from nlpipe.errors import InputError

    raise InputError("E000", "a code nobody defined")


PROBES: dict[str, Callable[[bytes, Path], int]] = {
    "probe-uncaught": _probe_uncaught,
    "probe-crash": _probe_crash,
    "probe-hang": _probe_hang,
    "probe-memory": _probe_memory,
    "probe-undefined-code": _probe_undefined_code,
}


def run_target(name: str, data: bytes, work: Path) -> int:
    return {**TARGETS, **PROBES}[name](data, work)
