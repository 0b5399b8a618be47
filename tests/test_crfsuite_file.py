"""check_crfsuite: every structure crfsuite follows unchecked is checked first (issue 13, D1 and the crafted file
found by fuzzing). Each test damages one thing in a real model file, the way a crafted file would, with the
header and sections left in place; a run of the tagger on such a file crashes or hangs the process, which the
fuzz target ``crfsuite`` (tests/fuzz) shows for the whole class. Here each check is shown to refuse its case."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pycrfsuite
import pytest

from nlpipe.errors import ArtifactError
from nlpipe.tasks.entities.crfsuite_file import CQDB_DATA, CQDB_HEADER, HEADER, MAX_LABELS, SECTION_HEAD, check_crfsuite

FEATURE_SIZE = 20


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    trainer = pycrfsuite.Trainer(verbose=False)
    sents = [
        (["w=Alice", "w=met", "w=Bob"], ["U-PER", "O", "U-PER"]),
        (["w=in", "w=Paris", "w=today"], ["O", "U-LOC", "O"]),
        (["w=Acme", "w=Corp", "w=hired"], ["B-ORG", "L-ORG", "O"]),
    ]
    for xs, ys in sents:
        trainer.append([{x: 1.0, "bias": 1.0} for x in xs], ys)
    trainer.set_params({"max_iterations": 20})
    path = tmp_path_factory.mktemp("crf") / "m.crfsuite"
    trainer.train(str(path))
    return path.read_bytes()


def _header(data: bytes) -> dict[str, int]:
    names = ("size", "features", "labels", "attrs", "off_features", "off_labels", "off_attrs", "off_lrefs",
             "off_arefs")  # fmt: skip
    fields = HEADER.unpack_from(data)
    return dict(zip(names, (fields[1], *fields[4:]), strict=True))


def _put(data: bytes, offset: int, value: int, fmt: str = "<I") -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def _get(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _used_table(data: bytes, cqdb: int) -> tuple[int, int]:
    """(absolute offset of the buckets, bucket count) of the first non-empty hash table of the CQDB at ``cqdb``."""
    for t in range(256):
        offset, count = struct.unpack_from("<II", data, cqdb + CQDB_HEADER.size + 8 * t)
        if count:
            return cqdb + offset, count
    raise AssertionError("no table")


def _first_record(data: bytes, cqdb: int) -> int:
    """Absolute offset of the record of id 0 in the CQDB at ``cqdb`` (through its id -> string index)."""
    bwd_offset = CQDB_HEADER.unpack_from(data, cqdb)[5]
    return cqdb + _get(data, cqdb + bwd_offset)


def test_a_trained_model_passes_and_opens(model: bytes) -> None:
    check_crfsuite(model, "m.crfsuite")
    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(model)
    items = [{x: 1.0, "bias": 1.0} for x in ("w=in", "w=Paris", "w=today")]
    assert tagger.tag(items) == ["O", "U-LOC", "O"]


def _feature(model: bytes, i: int) -> int:
    return _header(model)["off_features"] + SECTION_HEAD + FEATURE_SIZE * i


CASES: dict[str, Callable[[bytes], bytes]] = {
    "no labels": lambda m: _put(m, 20, 0),
    "too many labels": lambda m: _put(m, 20, MAX_LABELS + 1),
    "bad version": lambda m: _put(m, 12, 101),
    "a feature's label id out of range": lambda m: _put(m, _feature(m, 0) + 8, _header(m)["labels"]),
    "a feature of unknown type": lambda m: _put(m, _feature(m, 0), 2),
    "a state feature's attribute out of range": lambda m: _put(
        m, _feature(m, next(i for i in range(99) if _get(m, _feature(m, i)) == 0)) + 4, _header(m)["attrs"]
    ),
    "a NaN weight": lambda m: _put(m, _feature(m, 1) + 12, float("nan"), "<d"),
    "more features counted than the section holds": lambda m: _put(m, _header(m)["off_features"] + 8, 10**6),
    "a label's feature list outside its section": lambda m: _put(m, _header(m)["off_lrefs"] + SECTION_HEAD, 0),
    "a label's feature list running past its section": lambda m: _put(
        m, _get(m, _header(m)["off_lrefs"] + SECTION_HEAD), 10**6
    ),
    "an attribute's feature list naming a missing feature": lambda m: _put(
        m, _get(m, _header(m)["off_arefs"] + SECTION_HEAD) + 4, 10**6
    ),
    "fewer attribute references than attributes": lambda m: _put(m, _header(m)["off_arefs"] + 8, 1),
    "a dictionary's byte-order mark": lambda m: _put(m, _header(m)["off_labels"] + 12, 0),
    "a hash table outside the dictionary": lambda m: _table_outside(m),
    "a full hash table (a lookup would loop for ever)": lambda m: _full_table(m),
    "an entry's id out of range": lambda m: _put(m, _first_record(m, _header(m)["off_labels"]), 10**6),
    "an entry's key running past the dictionary": lambda m: _put(
        m, _first_record(m, _header(m)["off_labels"]) + 4, 10**5
    ),
    "an entry's key without its NUL": lambda m: _unterminated(m),
    "a label that is not UTF-8": lambda m: _non_utf8_label(m),
    "the index missing a label": lambda m: _put(
        m, _header(m)["off_labels"] + CQDB_HEADER.unpack_from(m, _header(m)["off_labels"])[5], 0
    ),
    "the index shorter than the labels": lambda m: _put(m, _header(m)["off_labels"] + 16, 1),
    "the attribute dictionary truncated to its header": lambda m: _put(m, _header(m)["off_attrs"] + 4, CQDB_DATA - 1),
}


def _table_outside(m: bytes) -> bytes:
    cqdb = _header(m)["off_attrs"]
    for t in range(256):
        at = cqdb + CQDB_HEADER.size + 8 * t
        if _get(m, at + 4):
            return _put(m, at, 2**31)
    raise AssertionError("no table")


def _unterminated(m: bytes) -> bytes:
    record = _first_record(m, _header(m)["off_labels"])
    end = record + 8 + _get(m, record + 4) - 1
    assert m[end] == 0
    return m[:end] + b"x" + m[end + 1 :]


def _non_utf8_label(m: bytes) -> bytes:
    record = _first_record(m, _header(m)["off_labels"])
    return m[: record + 8] + b"\xff" + m[record + 9 :]


def _full_table(m: bytes) -> bytes:
    cqdb = _header(m)["off_labels"]
    buckets, count = _used_table(m, cqdb)
    record = _first_record(m, cqdb) - cqdb
    for b in range(count):
        if _get(m, buckets + 8 * b + 4) == 0:
            m = _put(m, buckets + 8 * b + 4, record)
    return m


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_structure_is_refused_before_crfsuite_reads_it(model: bytes, case: str) -> None:
    damaged = CASES[case](model)
    assert damaged != model and len(damaged) == len(model)
    with pytest.raises(ArtifactError) as info:
        check_crfsuite(damaged, "pass1.crfsuite")
    assert info.value.code == "E431" and "pass1.crfsuite is not a whole crfsuite model" in str(info.value)


def test_a_truncated_file_is_refused(model: bytes, tmp_path: Path) -> None:
    for cut in (0, 10, HEADER.size, len(model) // 3, len(model) - 1):
        with pytest.raises(ArtifactError, match="E431"):
            check_crfsuite(model[:cut], "pass1.crfsuite")
