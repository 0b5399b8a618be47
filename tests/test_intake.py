"""Files, folders, archives and uploads into the store: documents, pages, originals, per-file failures."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from nlpipe.cli.main import app
from nlpipe.ingest import ingest_paths, ingest_uploads
from nlpipe.store.datasets import load_dataset
from nlpipe.store.documents import get_document, original_path
from nlpipe.store.schema import PageRow
from tests.conftest import DATA, SHARED, make_zip

PDFS = SHARED / "pdfplumber_test_pdfs" / "pdfs"
needs_pdfs = pytest.mark.skipif(not PDFS.is_dir(), reason="shared pdfplumber test PDFs not present")


def test_intake_folder_with_a_bad_member_keeps_the_rest(store, settings, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("First document about the harbour.")
    (tmp_path / "in" / "b.html").write_text("<html><script>x()</script><p>Second document</p></html>")
    (tmp_path / "in" / "empty.txt").write_bytes(b"")
    (tmp_path / "in" / "c.zip").write_bytes(make_zip({"inner/d.txt": b"Third one", "../evil.txt": b"nope"}))
    summary = ingest_paths(store, settings, "docs", [tmp_path / "in"])
    assert summary.documents == 3 and summary.added == 3
    assert [(f.code, f.source.endswith("empty.txt")) for f in summary.failures] == [("E176", True)]
    assert [f.code for f in summary.skipped] == ["E188"]
    with store.session() as s:
        data = load_dataset(s, "docs", labeled_only=False)
    assert sorted(data.texts) == ["First document about the harbour.", "Second document", "Third one"]
    assert any(e.endswith("c.zip!inner/d.txt") for e in data.external_ids)
    again = ingest_paths(store, settings, "docs", [tmp_path / "in"])
    assert again.added == 0 and again.already_present == 3


@needs_pdfs
def test_intake_pdf_pages_words_and_original(store, settings):
    pdf = PDFS / "cupertino_usd_4-6-16.pdf"
    summary = ingest_paths(store, settings, "pdfs", [pdf])
    assert summary.documents == 1 and summary.pages == 1
    with store.session() as s:
        doc_id = load_dataset(s, "pdfs", labeled_only=False).doc_ids[0]
        doc = get_document(s, doc_id)
        assert s.scalar(select(func.count()).select_from(PageRow)) == 1
    assert doc.mime == "application/pdf" and doc.pages[0].words
    word = doc.pages[0].words[0]
    assert 0 <= word.x0 < word.x1 <= doc.pages[0].width and word.size
    assert original_path(settings.home, doc.meta["original_sha256"]).read_bytes() == pdf.read_bytes()


@needs_pdfs
def test_intake_uploads_report_encrypted_and_empty_files(store, settings):
    uploads = [
        ("locked.pdf", (PDFS / "password-example.pdf").read_bytes()),
        ("empty.pdf", b""),
        ("notes.txt", "Caf\u00e9 au lait, s'il vous pla\u00eet".encode("cp1252")),
    ]
    summary = ingest_uploads(store, settings, "up", uploads)
    codes = {f.source: f.code for f in summary.failures}
    assert codes == {"locked.pdf": "E154", "empty.pdf": "E176"}
    assert summary.documents == 1
    with store.session() as s:
        assert load_dataset(s, "up", labeled_only=False).texts == ["Caf\u00e9 au lait, s'il vous pla\u00eet"]
    unlocked = ingest_uploads(store, settings, "up", uploads[:1], password="test")
    assert unlocked.documents == 1 and not unlocked.failures


def test_intake_csv_rows_keep_labels(store, settings):
    summary = ingest_paths(store, settings, "fb", [DATA / "feedback.csv"])
    assert summary.documents == 200
    with store.session() as s:
        data = load_dataset(s, "fb")
    assert len(data) == 200 and any(len(labs) == 2 for labs in data.labels)


def test_cli_ingest_summary_and_exit_codes(tmp_path):
    runner = CliRunner()
    good = tmp_path / "good.txt"
    good.write_text("A perfectly ordinary document.")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00\x01\x02binary")
    result = runner.invoke(app, ["ingest", "d", str(good), str(bad), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["added"] == 1 and [f["code"] for f in body["failures"]] == ["E175"]
    only_bad = runner.invoke(app, ["ingest", "d", str(bad)])
    assert only_bad.exit_code == 1 and "E175" in only_bad.stderr
    missing = runner.invoke(app, ["ingest", "d", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 1 and "[E195]" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_ingest_failure_table_names_each_file_in_full(tmp_path):
    """However deep the folder, the table shows each failed file's whole name, relative to the folder given."""
    deep = tmp_path / "a-rather-long-folder-name-for-the-customer-exports" / "another-level-of-folders"
    (deep / "sub").mkdir(parents=True)
    (deep / "fine.txt").write_text("A perfectly ordinary document.")
    (deep / "sub" / "empty-feedback-export-2026-11.txt").write_bytes(b"")
    (deep / "sub" / "scrambled-binary-blob.bin").write_bytes(b"\x00\x01\x02binary")
    result = CliRunner().invoke(app, ["ingest", "d", str(deep)])
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:4] for line in result.stderr.splitlines() if line.startswith("│")]
    names = "".join(cells[0].strip() for cells in rows)  # a long name folds over several lines of its cell
    assert names == "sub/empty-feedback-export-2026-11.txtsub/scrambled-binary-blob.bin"
    assert [cells[1].strip() for cells in rows if cells[1].strip()] == ["E176", "E175"]
    assert str(deep) not in result.stderr  # not repeated in front of every name and message


# ------------------------------------------------------------------------------------------ upload progress

ZIP7 = {f"m/{i}.txt": f"Member number {i} of the archive.".encode() for i in range(7)}
ZIP7["m/broken.docx"] = b"PK\x03\x04no"  # a zip header and nothing more: E180


def _calls(store, settings, uploads):
    calls: list[tuple[str, int, int | None]] = []
    summary = ingest_uploads(store, settings, "up", uploads, progress=lambda *call: calls.append(call))
    return summary, calls


def test_intake_upload_progress_counts_members_over_all_uploads(store, settings):
    uploads = [("a.txt", b"First upload."), ("docs.zip", make_zip(ZIP7)), ("b.txt", b"Last upload.")]
    summary, calls = _calls(store, settings, uploads)
    assert summary.documents == 9 and [f.code for f in summary.failures] == ["E180"]
    # a.txt: an archive is still to come; the members: the archive is being read; b.txt: all known now
    assert [(done, total) for _, done, total in calls] == [(i, None) for i in range(1, 10)] + [(10, 10)]
    assert calls[0][0] == "a.txt" and calls[1][0].startswith("docs.zip!m/") and calls[-1][0] == "b.txt"
    assert calls[-1][1] == summary.documents + len(summary.failures) + len(summary.skipped)


def test_intake_upload_progress_total_known_up_front_for_plain_files(store, settings):
    uploads = [(f"{i}.txt", f"Plain upload {i}.".encode()) for i in range(3)] + [("e.txt", b"")]
    summary, calls = _calls(store, settings, uploads)
    assert calls == [("0.txt", 1, 4), ("1.txt", 2, 4), ("2.txt", 3, 4), ("e.txt", 4, 4)]
    assert summary.documents == 3 and [f.code for f in summary.failures] == ["E176"]


def test_intake_upload_progress_ends_on_an_exact_total(store, settings):
    # the last upload is an archive: one more call once it is read, with the total
    summary, calls = _calls(store, settings, [("a.txt", b"Before the archive."), ("docs.zip", make_zip(ZIP7))])
    assert [(done, total) for _, done, total in calls] == [(i, None) for i in range(1, 10)] + [(9, 9)]
    # an iterator cannot be counted up front: plain files too get their total at the end only
    plain = ((f"{i}.txt", f"Streamed upload {i}.".encode()) for i in range(2))
    summary, calls = _calls(store, settings, plain)
    assert calls == [("0.txt", 1, None), ("1.txt", 2, None), ("1.txt", 2, 2)]
    # nothing to count, nothing reported
    assert _calls(store, settings, [("none.zip", make_zip({}))])[1] == []
