"""The streamed zip directory reader (nlpipe.readers.archives.zip_directory) against zipfile itself, on real zips:
the same entries, the same bytes, the same refusals of damaged members; and the batch reader built on it."""

from __future__ import annotations

import io
import zipfile

import pytest

from nlpipe.batch.members import member_units
from nlpipe.batch.sources import iter_units, unit_document
from nlpipe.batch.units import SourceOptions
from nlpipe.errors import NlpipeError
from nlpipe.readers.archives import zip_directory
from nlpipe.readers.archives.zip_directory import (
    has_member_named,
    iter_entries,
    open_entry,
    read_direct,
)
from tests.conftest import make_settings
from tests.test_ingest_archives import _zipcrypto_zip

TEXT = "Harbour news: the ferry runs again. " * 20


def sample_zip(prefix: bytes = b"") -> bytes:
    """Folders, UTF-8 names, every compression method zipfile writes, a zip64 member, data prepended."""
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("docs/", b"")
        zf.writestr(zipfile.ZipInfo("docs/stored.txt"), TEXT)
        zf.writestr("docs/deflated.txt", TEXT, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("docs/bzip2.txt", TEXT, compress_type=zipfile.ZIP_BZIP2)
        zf.writestr("docs/lzma.txt", TEXT, compress_type=zipfile.ZIP_LZMA)
        zf.writestr("Übersicht/café.txt", "Crème brûlée.", compress_type=zipfile.ZIP_DEFLATED)
        with zf.open("big/zip64.txt", "w", force_zip64=True) as fh:
            fh.write(TEXT.encode())
    return buf.getvalue()


@pytest.mark.parametrize("prefix", [b"", b"MZ self-extractor stub " * 40])
def test_entries_and_bytes_match_zipfile(prefix):
    data = sample_zip(prefix)
    fh = io.BytesIO(data)
    entries = list(iter_entries(fh))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        assert [e.filename for e in entries] == [i.filename for i in infos]
        for entry, info in zip(entries, infos, strict=True):
            got = (entry.flag_bits, entry.compress_type, entry.CRC, entry.compress_size, entry.file_size,
                   entry.header_offset, entry.external_attr, entry.is_dir())  # fmt: skip
            assert got == (info.flag_bits, info.compress_type, info.CRC, info.compress_size, info.file_size,
                           info.header_offset, info.external_attr, info.is_dir())  # fmt: skip
            if entry.is_dir():
                continue
            assert open_entry(fh, entry).read() == zf.read(info)
            direct = read_direct(fh, entry)
            if entry.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                assert direct == zf.read(info)
            else:
                assert direct is None  # bzip2, lzma: read through open_entry
    assert any("zip64" in e.filename for e in entries) and "Übersicht/café.txt" in [e.filename for e in entries]


def test_directory_read_in_blocks(monkeypatch):
    """A directory longer than a block: entries and exact-name hits that straddle block ends are still found."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(300):
            zf.writestr(f"n/{i:04d}.txt", f"note {i}")
        zf.writestr("word/document.xml", "<w/>")
        zf.writestr("x/mimetype", "not the package marker")  # a longer name ending in a marker name
    monkeypatch.setattr(zip_directory, "_BLOCK", 97)
    fh = io.BytesIO(buf.getvalue())
    names = [e.filename for e in iter_entries(fh)]
    assert names[:2] == ["n/0000.txt", "n/0001.txt"] and len(names) == 302
    assert has_member_named(fh, ["word/document.xml", "mimetype", "n/0150.txt", "0150.txt"]) == {
        "word/document.xml",
        "n/0150.txt",
    }


def test_damaged_members_and_directory():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("stored.txt"), b"CORRUPTME" * 20)
        zf.writestr("deflated.txt", TEXT, compress_type=zipfile.ZIP_DEFLATED)
    good = buf.getvalue()
    bad = good.replace(b"CORRUPTME", b"CORRUPTmE", 1)
    entry = next(iter_entries(io.BytesIO(bad)))
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
        read_direct(io.BytesIO(bad), entry)
    lying = entry._replace(file_size=entry.file_size - 1)  # holds more than it declares
    with pytest.raises(zipfile.BadZipFile, match="declares"):
        read_direct(io.BytesIO(good), lying)
    renamed = entry._replace(filename="other.txt")
    with pytest.raises(zipfile.BadZipFile, match="differ"):
        read_direct(io.BytesIO(good), renamed)
    with pytest.raises(zipfile.BadZipFile):
        list(iter_entries(io.BytesIO(good[:-30])))  # the end record cut: no directory found
    span = zip_directory.directory_span(io.BytesIO(good))
    cut = good[: span.start + 60] + good[span.start + 61 :]  # a byte gone inside the directory
    with pytest.raises(zipfile.BadZipFile):
        list(iter_entries(io.BytesIO(cut)))


# ------------------------------------------------------------------------------------------- the batch reader


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return make_settings(tmp_path)


def _units(path, cfg, options):
    """The units of ``path`` as a worker sees them: ranges of zip members made into units."""
    found = iter_units([path], options, cfg)
    return [u for unit in found for u in (member_units(unit, cfg, options) if unit.kind == "members" else [unit])]


def _outcome(unit, cfg, options):
    try:
        return unit_document(unit, cfg, options).text
    except NlpipeError as exc:
        return exc.code


def test_batch_zipcrypto_member_read_by_the_worker(tmp_path, cfg):
    (tmp_path / "z.zip").write_bytes(_zipcrypto_zip("secret.txt", b"the launch code", b"hunter2"))
    [locked] = _units("z.zip", cfg, SourceOptions())
    assert (locked.kind, locked.error and locked.error[0]) == ("error", "E183")  # no password: refused by its entry
    for password, expected in (("hunter2", "the launch code"), ("wrong", "E183")):
        options = SourceOptions(password=password)
        [unit] = _units("z.zip", cfg, options)
        assert unit.kind == "member"
        assert _outcome(unit, cfg, options) == expected


def test_batch_members_the_worker_refuses_or_leaves_out(tmp_path, cfg):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("x.txt", "inside")
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as zf:
        zf.writestr("disguised.dat", inner.getvalue())  # an archive under another name
        zf.writestr("picture.bin", png)  # an image found only by its bytes
        zf.writestr("named.png", png)  # an image by name: left out by the reader already
        zf.writestr("ok.txt", "plain")
    options = SourceOptions(ocr="never")
    units = _units("outer.zip", cfg, options)
    assert [(u.id, u.kind) for u in units] == [
        ("outer.zip!disguised.dat", "member"),
        ("outer.zip!picture.bin", "member"),
        ("outer.zip!named.png", "skipped"),
        ("outer.zip!ok.txt", "member"),
    ]
    with pytest.raises(NlpipeError) as err:
        unit_document(units[0], cfg, options)
    assert err.value.code == "E175" and "name says so" in err.value.message
    assert _outcome(units[1], cfg, options) == "E190"  # predict_chunk turns this into a skipped unit
    assert _outcome(units[3], cfg, options) == "plain"


def test_batch_reads_more_members_than_ingest_up_to_its_own_limit(tmp_path):
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zf:
        for i in range(30):
            zf.writestr(f"n{i:02}.txt", f"note {i}")
    cfg = make_settings(tmp_path, max_archive_members=10, max_batch_archive_members=30)
    assert [u.kind for u in _units(str(tmp_path / "many.zip"), cfg, SourceOptions())] == ["member"] * 30
    tight = make_settings(tmp_path, max_batch_archive_members=29)
    [refused] = iter_units([str(tmp_path / "many.zip")], SourceOptions(), tight)
    assert refused.error is not None and refused.error[0] == "E186"
    assert "NLPIPE_MAX_BATCH_ARCHIVE_MEMBERS" in refused.error[1]


def test_batch_archive_total_stops_the_rest_where_it_is_passed(tmp_path, cfg):
    with zipfile.ZipFile(tmp_path / "big.zip", "w") as zf:
        for i in range(6):
            zf.writestr(f"n{i}.txt", "x" * 1000)
    found = _units("big.zip", cfg.model_copy(update={"max_batch_archive_bytes": 3500}), SourceOptions())
    assert [(u.id, u.kind, u.error and u.error[0]) for u in found] == [
        ("big.zip!n0.txt", "member", None),
        ("big.zip!n1.txt", "member", None),
        ("big.zip!n2.txt", "member", None),
        ("big.zip!n3.txt", "error", "E185"),  # the member that would pass the total, and nothing after it
    ]
    assert "NLPIPE_MAX_BATCH_ARCHIVE_BYTES" in (found[3].error or ("", ""))[1]


@pytest.mark.parametrize("range_members", [1, 2, 3, 256])
@pytest.mark.parametrize("prefix", [b"", b"MZ self-extractor stub " * 40])
def test_batch_member_ranges_are_directory_slices(tmp_path, cfg, monkeypatch, range_members, prefix):
    """The reader hands on ranges as the directory bytes of their entries; the worker reads them back: the members
    are those of one walk of the directory, in order, however the ranges are cut, with folders between members and
    archives by name (read by the reader) in the middle, and data prepended to the archive."""
    from nlpipe.batch import members

    monkeypatch.setattr(members, "RANGE_MEMBERS", range_members)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep.txt", "inside the inner zip")
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ["top/", "top/a.txt", "top/sub/", "top/b.txt", "inner.zip", "c.txt", "empty/", "d.txt",
                     "e.txt", "z/"]:  # fmt: skip
            zf.writestr(name, b"" if name.endswith("/") else inner.getvalue() if name.endswith(".zip") else name)
    (tmp_path / "mixed.zip").write_bytes(buf.getvalue())
    found = _units("mixed.zip", cfg, SourceOptions())
    assert [(u.id, u.kind) for u in found] == [
        ("mixed.zip!top/a.txt", "member"), ("mixed.zip!top/b.txt", "member"),
        ("mixed.zip!inner.zip!deep.txt", "bytes"),
        ("mixed.zip!c.txt", "member"), ("mixed.zip!d.txt", "member"), ("mixed.zip!e.txt", "member")]  # fmt: skip
    assert [unit_document(u, cfg, SourceOptions()).text for u in found if u.kind == "member"] == [
        "top/a.txt", "top/b.txt", "c.txt", "d.txt", "e.txt"]  # fmt: skip
    ranges = [u for u in iter_units(["mixed.zip"], SourceOptions(), cfg) if u.kind == "members"]
    assert sum(u.count for u in ranges) == 5 and all(u.count <= range_members for u in ranges)


def test_batch_member_range_of_a_changed_or_missing_archive(tmp_path, cfg):
    """A range read after its archive changed (its directory no longer holds those entries) is one E182 row; after
    the archive is gone, E195."""
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        for i in range(5):
            zf.writestr(f"n{i}.txt", f"note {i}")
    [unit] = iter_units(["a.zip"], SourceOptions(), cfg)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("other.txt", "a different archive")
    [changed] = member_units(unit, cfg, SourceOptions())
    assert changed.kind == "error" and changed.error[0] == "E182"
    (tmp_path / "a.zip").unlink()
    [gone] = member_units(unit, cfg, SourceOptions())
    assert gone.error[0] == "E195"
