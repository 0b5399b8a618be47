"""Archives, folders and hostile input in nlpipe.readers: nesting, zip bombs, unsafe members, damage, caps."""

from __future__ import annotations

import bz2
import gzip
import io
import os
import stat
import struct
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.archives.guards import ArchiveBudget, ArchiveLimits, read_capped
from nlpipe.readers.archives.zips import zip_entry_count
from nlpipe.readers.dispatch.results import IngestSkipped
from nlpipe.readers.dispatch.route import ingest_bytes, ingest_path, iter_ingest
from tests.conftest import make_settings

MB = 1024 * 1024


@pytest.fixture
def cfg(tmp_path: Path):
    return make_settings(tmp_path)


def make_zip(entries: dict[str, bytes | str], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tarinfo(name: str, size: int = 0, type_: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = size, type_, linkname
    return info


def make_tar(entries: dict[str, bytes | str], mode: str = "w", *, extra: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in entries.items():
            raw = data.encode() if isinstance(data, str) else data
            tf.addfile(_tarinfo(name, len(raw)), io.BytesIO(raw))
        for info in extra:
            tf.addfile(info)
    return buf.getvalue()


def _codes(items) -> list[tuple[str, str]]:
    return [(f.source, f.code) for f in items]


def _texts(result) -> dict[str, str]:
    return {d.source: d.text for d in result.documents}


def _zeros_zip(name: str, size: int) -> bytes:
    """``size`` zero bytes deflated into one member, written in 1 MB chunks (never whole in memory)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w", force_zip64=True) as fh:
        chunk = bytes(MB)
        for _ in range(size // MB):
            fh.write(chunk)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb_zip() -> bytes:
    return _zeros_zip("bomb.txt", 50 * MB)


def _bounded(fn, *, seconds: float = 2.0, peak_mb: float = 8.0):
    """Run ``fn`` and assert it was quick and never held much memory (the bomb never inflated)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = fn()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f}s"
    assert peak < peak_mb * MB, f"peak {peak / MB:.1f} MB"
    return result


def _patch_zip(data: bytes, name: bytes, *, file_size: int | None = None, flag: int | None = None) -> bytes:
    """Rewrite a member's declared size or flag bits in the central directory (and its local header)."""
    out = bytearray(data)
    cd = out.find(b"PK\x01\x02")
    while cd != -1:
        name_len = struct.unpack_from("<H", out, cd + 28)[0]
        if bytes(out[cd + 46 : cd + 46 + name_len]) == name:
            local = struct.unpack_from("<I", out, cd + 42)[0]
            if file_size is not None:
                struct.pack_into("<I", out, cd + 24, file_size)
                struct.pack_into("<I", out, local + 22, file_size)
            if flag is not None:
                struct.pack_into("<H", out, cd + 8, struct.unpack_from("<H", out, cd + 8)[0] | flag)
                struct.pack_into("<H", out, local + 6, struct.unpack_from("<H", out, local + 6)[0] | flag)
            return bytes(out)
        cd = out.find(b"PK\x01\x02", cd + 4)
    raise AssertionError(f"no member {name!r}")


# ---------------------------------------------------------------------------------------------- nesting


def test_ingest_nested_zip_tar_tgz_sources(cfg):
    inner_tar = make_tar({"doc.txt": "deep text", "sub/page.html": "<p>html <b>inside</b></p>"})
    tgz = make_tar({"notes.md": "# tgz note"}, "w:gz")
    outer = make_zip({"inner.tar": inner_tar, "more/inner.tgz": tgz, "top.txt": "top level"})
    result = ingest_bytes(outer, "outer.zip", cfg)
    assert not result.failures and not result.skipped
    assert _texts(result) == {
        "outer.zip!inner.tar!doc.txt": "deep text",
        "outer.zip!inner.tar!sub/page.html": "html inside",
        "outer.zip!more/inner.tgz!notes.md": "# tgz note",
        "outer.zip!top.txt": "top level",
    }


@pytest.mark.parametrize("mode, name", [("w:gz", "a.tar.gz"), ("w:bz2", "a.tbz2"), ("w:xz", "a.tar.xz"),
                                        ("w", "a.tar")])  # fmt: skip
def test_ingest_tar_compressions(cfg, mode, name):
    data = make_tar({"x/one.txt": "one", "two.txt": "two"}, mode)
    assert _texts(ingest_bytes(data, name, cfg)) == {f"{name}!x/one.txt": "one", f"{name}!two.txt": "two"}


def test_ingest_single_compressed_files(cfg):
    assert _texts(ingest_bytes(gzip.compress(b"gzipped words"), "notes.txt.gz", cfg)) == {
        "notes.txt.gz!notes.txt": "gzipped words"
    }
    assert _texts(ingest_bytes(bz2.compress(b"<p>bz</p>"), "page.html.bz2", cfg)) == {"page.html.bz2!page.html": "bz"}


def test_ingest_folder_recursive_with_archives_and_hidden_files(cfg, tmp_path):
    root = tmp_path / "corpus"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]")
    (root / "__MACOSX").mkdir()
    (root / "a.txt").write_text("alpha")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "sub" / "b.html").write_text("<p>beta</p>")
    (root / "sub" / "deeper" / "pack.zip").write_bytes(make_zip({"c.txt": "gamma", "d/e.tgz": make_tar(
        {"f.txt": "delta"}, "w:gz")}))  # fmt: skip
    (root / "sub" / "empty.txt").write_bytes(b"")
    (root / "sub" / "tool.exe").write_bytes(b"MZ\x90\x00")
    os.symlink(root / "a.txt", root / "link.txt")
    result = ingest_path(root, cfg)
    src = root.as_posix()
    assert _texts(result) == {
        f"{src}/a.txt": "alpha",
        f"{src}/sub/b.html": "beta",
        f"{src}/sub/deeper/pack.zip!c.txt": "gamma",
        f"{src}/sub/deeper/pack.zip!d/e.tgz!f.txt": "delta",
    }
    assert sorted(_codes(result.failures)) == [(f"{src}/sub/empty.txt", "E176"), (f"{src}/sub/tool.exe", "E175")]
    assert sorted(_codes(result.skipped)) == [
        (f"{src}/.DS_Store", "E191"), (f"{src}/.git", "E191"), (f"{src}/__MACOSX", "E191"),
        (f"{src}/link.txt", "E189"),
    ]  # fmt: skip


def test_ingest_archive_on_disk_is_streamed(cfg, tmp_path):
    path = tmp_path / "big.zip"
    path.write_bytes(make_zip({f"doc{i}.txt": f"text {i}" for i in range(50)}))
    items = iter_ingest(path, cfg)
    first = next(items)
    assert first.source == f"{path.as_posix()}!doc0.txt"
    assert len(list(items)) == 49


def test_ingest_progress_for_an_archive(cfg, tmp_path):
    path = tmp_path / "pack.tgz"
    path.write_bytes(make_tar({"a.txt": "a", "b.txt": "b", ".hidden": "h"}, "w:gz"))
    seen: list[tuple[str, int, int | None]] = []
    ingest_path(path, cfg, progress=lambda *a: seen.append(a))
    src = path.as_posix()
    assert seen == [(f"{src}!a.txt", 1, None), (f"{src}!b.txt", 2, None), (f"{src}!.hidden", 3, None)]


def test_ingest_depth_cap(cfg):
    level3 = make_zip({"doc.txt": "too deep"})
    level2 = make_zip({"doc.txt": "deep enough", "l3.zip": level3})
    level1 = make_zip({"l2.zip": level2})
    result = ingest_bytes(make_zip({"l1.zip": level1}), "outer.zip", cfg)
    assert _texts(result) == {"outer.zip!l1.zip!l2.zip!doc.txt": "deep enough"}
    assert _codes(result.failures) == [("outer.zip!l1.zip!l2.zip!l3.zip", "E187")]
    assert "unpack the outer archives first" in result.failures[0].message


# -------------------------------------------------------------------------------------------- zip bombs


def test_ingest_zip_bomb_refused_by_declared_size(cfg, bomb_zip):
    assert len(bomb_zip) < MB
    result = _bounded(lambda: ingest_bytes(bomb_zip, "bomb.zip", cfg))
    assert _codes(result.failures) == [("bomb.zip!bomb.txt", "E178")]
    assert "declares 52,428,800 bytes" in result.failures[0].message


def test_ingest_zip_bomb_refused_by_ratio(tmp_path, bomb_zip):
    cfg = make_settings(tmp_path, max_document_bytes=100 * MB)
    result = _bounded(lambda: ingest_bytes(bomb_zip, "bomb.zip", cfg))
    assert _codes(result.failures) == [("bomb.zip!bomb.txt", "E184")]
    assert "zip bomb" in result.failures[0].message and "NLPIPE_MAX_COMPRESSION_RATIO" in result.failures[0].message


def test_ingest_zip_member_lying_about_its_size(tmp_path, bomb_zip):
    cfg = make_settings(tmp_path, max_document_bytes=100 * MB)
    liar = _patch_zip(bomb_zip, b"bomb.txt", file_size=1000)  # declares 1000 bytes, inflates to 50 MB
    result = _bounded(lambda: ingest_bytes(liar, "liar.zip", cfg))
    assert _codes(result.failures) == [("liar.zip!bomb.txt", "E192")]


def test_ingest_gz_bomb_stopped_while_streaming(cfg):
    data = gzip.compress(bytes(50 * MB))  # no trustworthy declared size: only the streaming guard helps
    result = _bounded(lambda: ingest_bytes(data, "bomb.txt.gz", cfg))
    assert _codes(result.failures) == [("bomb.txt.gz!bomb.txt", "E184")]
    assert "unpacked to more than" in result.failures[0].message


def test_ingest_tgz_bomb_stopped_on_the_stream(cfg):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.addfile(_tarinfo("first.txt", 5), io.BytesIO(b"first"))
        tf.addfile(_tarinfo("zeros.bin", 50 * MB), io.BytesIO(bytes(50 * MB)))
        tf.addfile(_tarinfo("after.txt", 5), io.BytesIO(b"after"))
    data = buf.getvalue()
    result = _bounded(lambda: ingest_bytes(data, "bomb.tgz", cfg))
    assert _texts(result) == {"bomb.tgz!first.txt": "first"}
    # the member is refused by its declared size; skipping over it would inflate 50 MB, which the stream
    # guard stops at the compression ratio -- the rest of the archive is not read
    assert _codes(result.failures) == [("bomb.tgz!zeros.bin", "E178"), ("bomb.tgz", "E184")]


def test_ingest_streaming_guard_stops_on_lies():
    limits = ArchiveLimits(max_member_bytes=10 * MB, max_total_bytes=100 * MB, max_members=10, max_ratio=200)
    budget = ArchiveBudget(limits)
    with pytest.raises(NlpipeError) as info:
        read_capped(io.BytesIO(b"x" * 300_000), source="a.tar!m", budget=budget, declared=1000, compressed=None)
    assert info.value.code == "E192" and "more data than the 1,000 bytes" in info.value.message
    small = ArchiveBudget(ArchiveLimits(100_000, 100 * MB, 10, 200))
    with pytest.raises(LimitError) as info:
        read_capped(io.BytesIO(bytes(5 * MB)), source="a.tar!m", budget=small, declared=None, compressed=None)
    assert info.value.code == "E178"
    assert small.total_bytes < 100_000 + 2 * 64 * 1024  # stopped one chunk past the limit


def test_ingest_archive_total_bytes_cap(tmp_path):
    cfg = make_settings(tmp_path, max_archive_bytes=25)
    data = make_zip({"a.txt": "0123456789", "b.txt": "0123456789", "c.txt": "0123456789", "d.txt": "x"})
    result = ingest_bytes(data, "a.zip", cfg)
    assert sorted(_texts(result)) == ["a.zip!a.txt", "a.zip!b.txt"]
    assert _codes(result.failures) == [("a.zip!c.txt", "E185")]  # and d.txt is not read at all
    tar = ingest_bytes(make_tar({"a.txt": "0123456789", "b.txt": "0123456789", "c.txt": "0123456789"}), "a.tar", cfg)
    assert sorted(_texts(tar)) == ["a.tar!a.txt", "a.tar!b.txt"]
    assert _codes(tar.failures) == [("a.tar!c.txt", "E185")]


def test_ingest_pax_header_bomb(cfg):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(_tarinfo("ok.txt", 2), io.BytesIO(b"ok"))
        info = _tarinfo("padded.txt", 2)
        info.pax_headers = {"comment": "x" * (2 * MB)}
        tf.addfile(info, io.BytesIO(b"no"))
    result = _bounded(lambda: ingest_bytes(buf.getvalue(), "pax.tar.gz", cfg))
    assert _texts(result) == {"pax.tar.gz!ok.txt": "ok"}
    assert _codes(result.failures) == [("pax.tar.gz", "E182")] and "extended tar header" in result.failures[0].message


# --------------------------------------------------------------------------------------- unsafe members


def test_ingest_absolute_and_dotdot_members_skipped(cfg):
    data = make_zip({"/etc/passwd": "root", "../escape.txt": "up", "a/../../b.txt": "up2", "C:/win.txt": "w",
                     "ok.txt": "fine"})  # fmt: skip
    result = ingest_bytes(data, "evil.zip", cfg)
    assert _texts(result) == {"evil.zip!ok.txt": "fine"}
    assert {s.code for s in result.skipped} == {"E188"} and len(result.skipped) == 4
    assert all(isinstance(s, IngestSkipped) for s in result.skipped) and not result.failures
    tar = make_tar({"/etc/shadow": "x", "../../up.txt": "y", "fine.txt": "ok"})
    result = ingest_bytes(tar, "evil.tar", cfg)
    assert _texts(result) == {"evil.tar!fine.txt": "ok"}
    assert _codes(result.skipped) == [("evil.tar!/etc/shadow", "E188"), ("evil.tar!../../up.txt", "E188")]


def test_ingest_tar_links_and_devices_skipped(cfg):
    extra = [
        _tarinfo("passwd-link", type_=tarfile.SYMTYPE, linkname="/etc/passwd"),
        _tarinfo("hard", type_=tarfile.LNKTYPE, linkname="a.txt"),
        _tarinfo("dev/null", type_=tarfile.CHRTYPE),
        _tarinfo("pipe", type_=tarfile.FIFOTYPE),
    ]
    result = ingest_bytes(make_tar({"a.txt": "real"}, extra=extra), "links.tar", cfg)
    assert _texts(result) == {"links.tar!a.txt": "real"}
    assert _codes(result.skipped) == [("links.tar!passwd-link", "E189"), ("links.tar!hard", "E189"),
                                      ("links.tar!dev/null", "E189"), ("links.tar!pipe", "E189")]  # fmt: skip
    assert "/etc/passwd" in result.skipped[0].message and "hard link" in result.skipped[1].message


def test_ingest_zip_symlink_entry_skipped(cfg):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("link.txt")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("real.txt", "real")
    result = ingest_bytes(buf.getvalue(), "links.zip", cfg)
    assert _texts(result) == {"links.zip!real.txt": "real"}
    assert _codes(result.skipped) == [("links.zip!link.txt", "E189")]


def test_ingest_macos_resource_forks_skipped(cfg):
    data = make_zip({"doc.txt": "text", "__MACOSX/._doc.txt": "\x00\x05\x16\x07", ".hidden": "h"})
    result = ingest_bytes(data, "mac.zip", cfg)
    assert _texts(result) == {"mac.zip!doc.txt": "text"} and not result.failures
    assert {s.code for s in result.skipped} == {"E191"}


# ------------------------------------------------------------------------------------- damage and caps


def test_ingest_encrypted_zip_member(cfg):
    data = _patch_zip(make_zip({"secret.txt": "classified", "open.txt": "public"}), b"secret.txt", flag=0x1)
    result = ingest_bytes(data, "locked.zip", cfg)
    assert _texts(result) == {"locked.zip!open.txt": "public"}
    assert _codes(result.failures) == [("locked.zip!secret.txt", "E183")]
    assert "password" in result.failures[0].message
    wrong = ingest_bytes(data, "locked.zip", cfg, password="guess")
    assert _codes(wrong.failures) == [("locked.zip!secret.txt", "E183")]


def _zipcrypto_zip(name: str, plain: bytes, password: bytes) -> bytes:
    """A one-member zip encrypted with traditional PKWARE encryption (zipfile can only decrypt it)."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def crc(old: int, byte: int) -> int:
        return zlib.crc32(bytes([byte]), old ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def update(byte: int) -> None:
        keys[0] = crc(keys[0], byte)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc(keys[2], keys[1] >> 24)

    for byte in password:
        update(byte)
    checksum = zlib.crc32(plain)
    out = bytearray()
    for byte in bytes(11) + bytes([checksum >> 24]) + plain:
        temp = keys[2] | 2
        out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
        update(byte)
    n = name.encode()
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 1, 0, 0, 0, checksum, len(out), len(plain), len(n), 0)
    local += n + out
    central = struct.pack(
        "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 1, 0, 0, 0, checksum, len(out), len(plain), len(n), 0, 0, 0, 0, 0, 0
    )
    central += n
    return local + central + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)


def test_ingest_zip_password_decrypts_zipcrypto(cfg):
    data = _zipcrypto_zip("secret.txt", b"the launch code", b"hunter2")
    assert _codes(ingest_bytes(data, "z.zip", cfg).failures) == [("z.zip!secret.txt", "E183")]
    assert _codes(ingest_bytes(data, "z.zip", cfg, password="wrong").failures) == [("z.zip!secret.txt", "E183")]
    assert _texts(ingest_bytes(data, "z.zip", cfg, password="hunter2")) == {"z.zip!secret.txt": "the launch code"}


def test_ingest_truncated_zip(cfg):
    data = make_zip({"a.txt": "alpha " * 100, "b.txt": "beta " * 100})
    result = ingest_bytes(data[: len(data) // 2], "cut.zip", cfg)
    assert not result.documents
    assert _codes(result.failures) == [("cut.zip", "E182")]
    assert result.failures[0].message.startswith("cut.zip:") and "corrupt or truncated" in result.failures[0].message


@pytest.mark.parametrize("mode, name", [("w", "cut.tar"), ("w:gz", "cut.tgz")])
def test_ingest_truncated_tar_keeps_members_before(cfg, mode, name):
    import random

    noise = random.Random(0).randbytes(20_000).hex()  # incompressible, so the cut lands inside member 3
    data = make_tar({"a.txt": "alpha", "b.txt": "beta", "c.txt": noise}, mode)
    result = ingest_bytes(data[: len(data) * 2 // 3], name, cfg)
    assert _texts(result) == {f"{name}!a.txt": "alpha", f"{name}!b.txt": "beta"}
    assert _codes(result.failures) == [(name, "E182")]
    assert "2 member(s) read before the damage were kept" in result.failures[0].message


def test_ingest_tar_damaged_header_and_missing_end(cfg):
    data = bytearray(make_tar({"a.txt": "alpha", "b.txt": "beta"}))
    data[1024:1124] = b"\xff" * 100  # second member's header: bad checksum
    result = ingest_bytes(bytes(data), "bad.tar", cfg)
    assert _texts(result) == {"bad.tar!a.txt": "alpha"}
    assert _codes(result.failures) == [("bad.tar", "E182")] and "damaged header" in result.failures[0].message
    clean = make_tar({"a.txt": "alpha", "b.txt": "beta"})
    no_end = clean[:2048]  # two members, no end-of-archive blocks
    result = ingest_bytes(no_end, "noend.tar", cfg)
    assert sorted(_texts(result)) == ["noend.tar!a.txt", "noend.tar!b.txt"] and not result.failures
    assert _codes(result.skipped) == [("noend.tar", "E197")]


def test_ingest_one_bad_member_never_aborts_the_archive(cfg):
    data = make_zip({
        "good1.txt": "first",
        "broken.docx": b"PK\x03\x04 not really",
        "empty.txt": b"",
        "program.exe": b"MZ\x90\x00",
        "binary.txt": b"\x00\x01\x02\x03\xff\xfe\xfd\x00\x9c",
        "corrupt.zip": b"PK\x03\x04garbage",
        "good2.html": "<p>second</p>",
    })  # fmt: skip
    result = ingest_bytes(data, "mixed.zip", cfg)
    assert _texts(result) == {"mixed.zip!good1.txt": "first", "mixed.zip!good2.html": "second"}
    assert sorted(_codes(result.failures)) == [
        ("mixed.zip!binary.txt", "E108"),
        ("mixed.zip!broken.docx", "E180"),
        ("mixed.zip!corrupt.zip", "E182"),
        ("mixed.zip!empty.txt", "E176"),
        ("mixed.zip!program.exe", "E175"),
    ]
    for failure in result.failures:
        assert failure.message.startswith(failure.source + ":"), failure


def test_ingest_damaged_member_crc(cfg):
    data = bytearray(make_zip({"a.txt": "alpha", "b.txt": "beta"}, method=zipfile.ZIP_STORED))
    pos = data.find(b"alpha")
    data[pos : pos + 5] = b"ALPHA"
    result = ingest_bytes(bytes(data), "crc.zip", cfg)
    assert _texts(result) == {"crc.zip!b.txt": "beta"}
    assert _codes(result.failures) == [("crc.zip!a.txt", "E192")] and "CRC" in result.failures[0].message


def test_ingest_member_count_cap(tmp_path):
    cfg = make_settings(tmp_path, max_archive_members=5)
    entries = {f"f{i}.txt": f"text {i}" for i in range(10)}
    data = make_zip(entries)
    assert zip_entry_count(io.BytesIO(data)) == 10
    result = ingest_bytes(data, "many.zip", cfg)  # refused before the central directory is parsed
    assert not result.documents and _codes(result.failures) == [("many.zip", "E186")]
    assert "has 10 members" in result.failures[0].message
    result = ingest_bytes(make_tar(entries), "many.tar", cfg)  # a tar stream is read up to the cap
    assert len(result.documents) == 5 and _codes(result.failures) == [("many.tar", "E186")]
    nested = make_zip({"a.zip": make_zip({"x.txt": "x", "y.txt": "y"}), "b.zip": make_zip({"z.txt": "z"}),
                       "c.txt": "c"})  # fmt: skip
    result = ingest_bytes(nested, "nested.zip", cfg)  # members of nested archives count towards the cap
    assert sorted(_texts(result)) == ["nested.zip!a.zip!x.txt", "nested.zip!a.zip!y.txt", "nested.zip!b.zip!z.txt"]
    assert _codes(result.failures) == [("nested.zip", "E186")]  # c.txt would be the 6th
