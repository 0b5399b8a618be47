"""A crfsuite model file checked in full before crfsuite reads it.

crfsuite (the C library behind python-crfsuite) trusts its model file: it follows every offset and uses every id
it finds there without a bounds check, so a damaged or crafted file crashes the process (SIGSEGV) or loops forever
at the first prediction, even when the file's header and sections look right and its checksum was recorded again
(found by the model-folder fuzz target). :func:`check_crfsuite` therefore checks everything crfsuite will
dereference, with numpy over whole arrays so a large model is checked in milliseconds:

- the header: magic, model type, version, the file size it records, label count (at most :data:`MAX_LABELS`: the
  tagger allocates labels x labels and labels x tokens arrays);
- each of the five sections where the header says, with its magic, and inside the file;
- features (``FEAT``): as many as the header says, each a state feature (attribute -> label) or a transition
  (label -> label) whose ids are in range, with a finite weight;
- the feature references of each label (``LFRF``) and attribute (``AFRF``): one offset per id, each pointing at a
  list inside its section whose feature ids are in range;
- the label and attribute dictionaries (``CQDB``, a hash database): the byte-order mark, 256 hash tables inside the
  section, each with a free bucket (a lookup walks a full table for ever), every record inside the section with a
  NUL-terminated key and an id in range, and the id -> string index covering every id; labels are UTF-8 (the
  tagger's results are decoded).

The layout is crfsuite's own (``lib/crf/src/crf1d_model.c`` and ``lib/cqdb/src/cqdb.c``), little-endian.
"""

from __future__ import annotations

import struct

import numpy as np

from nlpipe.errors import ArtifactError

#: The file header: magic, file size, model type, version, feature / label / attribute counts, then the offsets of
#: the five sections (features, label and attribute databases, label and attribute references).
HEADER = struct.Struct("<4sI4s9I")
SECTIONS = (b"FEAT", b"CQDB", b"CQDB", b"LFRF", b"AFRF")
VERSION = 100
#: A section of features or references starts with its magic, its size and its item count.
SECTION_HEAD = 12
FEATURE = np.dtype([("type", "<u4"), ("src", "<u4"), ("dst", "<u4"), ("weight", "<f8")])
STATE, TRANSITION = 0, 1
#: A CQDB starts with its magic, size, flag, byte-order mark, the id -> string index's size and offset, then 256
#: tables of (offset, bucket count); a bucket is (hash, record offset); a record is (id, key size, key + NUL).
CQDB_HEADER = struct.Struct("<4s5I")
CQDB_BYTEORDER = 0x62445371
CQDB_TABLES = 256
CQDB_DATA = CQDB_HEADER.size + 8 * CQDB_TABLES
#: Entity tag sets are small (BILOU x entity types); the tagger allocates labels^2 doubles.
MAX_LABELS = 4096


class _Damaged(Exception):
    pass


def check_crfsuite(data: bytes, name: str) -> None:
    """Refuse bytes that crfsuite could not read safely (E431), naming the first problem found."""
    try:
        _check(memoryview(data))
    except _Damaged as exc:
        raise ArtifactError("E431", f"{name} is not a whole crfsuite model: {exc}.", file=name) from None


def _check(data: memoryview) -> None:
    if len(data) < HEADER.size:
        raise _Damaged(f"it is {len(data)} bytes (truncated?)")
    magic, size, kind, version, _features, n_labels, n_attrs, *offsets = HEADER.unpack_from(data)
    if magic != b"lCRF" or kind != b"FOMC" or version != VERSION:
        raise _Damaged("bad header")
    if size != len(data):
        raise _Damaged(f"it is {len(data):,} bytes but its header says {size:,} (truncated or damaged)")
    if not 1 <= n_labels <= MAX_LABELS:
        raise _Damaged(f"its header counts {n_labels:,} labels (1 to {MAX_LABELS:,} expected)")
    view = np.frombuffer(data, dtype=np.uint8)
    spans = [_section(data, offset, magic) for offset, magic in zip(offsets, SECTIONS, strict=True)]
    features, labels, attrs, label_refs, attr_refs = spans
    n_features = _check_features(data, features, n_labels, n_attrs)
    _check_dictionary(view, labels, n_labels, "label")
    _check_dictionary(view, attrs, n_attrs, "attribute")
    _check_references(view, label_refs, n_labels, n_features, "label")
    _check_references(view, attr_refs, n_attrs, n_features, "attribute")


def _section(data: memoryview, offset: int, magic: bytes) -> tuple[int, int]:
    """The (start, end) of the section the header places at ``offset``, checked to start with ``magic`` and to lie
    inside the file."""
    if not HEADER.size <= offset <= len(data) - SECTION_HEAD or data[offset : offset + 4] != magic:
        raise _Damaged(f"its {magic.decode()} section is not where the header says")
    (length,) = struct.unpack_from("<I", data, offset + 4)
    if length < SECTION_HEAD or offset + length > len(data):
        raise _Damaged(f"its {magic.decode()} section runs past the end")
    return offset, offset + length


def _check_features(data: memoryview, span: tuple[int, int], n_labels: int, n_attrs: int) -> int:
    """The number of features (the section's count: crfsuite leaves the header's at 0), each checked."""
    start, end = span
    (n,) = struct.unpack_from("<I", data, start + 8)
    if start + SECTION_HEAD + FEATURE.itemsize * n > end:
        raise _Damaged(f"its FEAT section does not hold the {n:,} features it counts")
    f = np.frombuffer(data, dtype=FEATURE, count=n, offset=start + SECTION_HEAD)
    state, trans = f["type"] == STATE, f["type"] == TRANSITION
    ok = (state | trans) & (f["dst"] < n_labels) & (f["src"] < np.where(state, n_attrs, n_labels))
    if not ok.all():
        raise _Damaged(f"feature {int(np.argmin(ok)):,} has an unknown type or an id out of range")
    if not np.isfinite(f["weight"]).all():
        raise _Damaged("a feature weight is not a finite number")
    return n


def _u32(view: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The little-endian uint32 at each of ``offsets`` (bounds already checked; any alignment)."""
    return np.ascontiguousarray(view[offsets[:, None] + np.arange(4)]).view("<u4").ravel()


def _check_references(view: np.ndarray, span: tuple[int, int], n: int, n_features: int, what: str) -> None:
    """Each of the ``n`` ids' feature lists: an offset in the section's table, pointing at a count and that many
    feature ids, all inside the section and below ``n_features``. (The label table has two more entries, for the
    sequence's start and end, that the tagger does not read.)"""
    start, end = span
    table = start + SECTION_HEAD
    count = int(_u32(view, np.array([start + 8]))[0])
    if count < n or table + 4 * count > end:
        raise _Damaged(f"its {what} references do not cover the {n:,} {what}s the header counts")
    offsets = np.frombuffer(view, dtype="<u4", count=n, offset=table).astype(np.int64)
    if ((offsets < table + 4 * count) | (offsets + 4 > end)).any():
        raise _Damaged(f"a {what}'s feature list is outside its section")
    counts = _u32(view, offsets).astype(np.int64)
    if (offsets + 4 + 4 * counts > end).any():
        raise _Damaged(f"a {what}'s feature list runs past its section")
    if counts.sum() == 0:
        return
    first = np.repeat(offsets + 4 - 4 * np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    fids = _u32(view, first + 4 * np.arange(int(counts.sum())))
    if (fids >= n_features).any():
        raise _Damaged(f"a {what}'s feature list names a feature that does not exist")


def _check_dictionary(view: np.ndarray, span: tuple[int, int], n: int, what: str) -> None:
    """A CQDB holding the strings of ids 0..n-1: its tables, buckets and records inside it, every table with a free
    bucket, every record's id below ``n`` and key NUL-terminated, and its id -> string index covering 0..n-1."""
    start, end = span
    size = end - start
    if size < CQDB_DATA:
        raise _Damaged(f"its {what} dictionary is {size:,} bytes (truncated)")
    _magic, _size, _flag, byteorder, bwd_size, bwd_offset = CQDB_HEADER.unpack(
        bytes(view[start : start + CQDB_HEADER.size])
    )
    if byteorder != CQDB_BYTEORDER:
        raise _Damaged(f"its {what} dictionary has a bad byte-order mark")
    tables = np.frombuffer(view, dtype="<u4", count=2 * CQDB_TABLES, offset=start + CQDB_HEADER.size)
    table_offsets, table_sizes = tables[0::2].astype(np.int64), tables[1::2].astype(np.int64)
    used = table_sizes > 0
    if ((table_offsets > 0) != used).any() or (table_offsets[used] + 8 * table_sizes[used] > size).any():
        raise _Damaged(f"a hash table of its {what} dictionary is outside it")
    records = []
    for offset, buckets in zip(table_offsets[used], table_sizes[used], strict=True):
        pairs = np.frombuffer(view, dtype="<u4", count=2 * int(buckets), offset=start + int(offset))
        targets = pairs[1::2]
        if targets.all():
            raise _Damaged(f"a hash table of its {what} dictionary has no free bucket")
        records.append(targets[targets > 0])
    found = np.concatenate(records).astype(np.int64) if records else np.zeros(0, np.int64)
    if len(found) != n:
        raise _Damaged(f"its {what} dictionary holds {len(found):,} entries for {n:,} {what}s")
    ids = _check_records(view, start, size, found, n, what)
    if len(np.unique(ids)) != n:
        raise _Damaged(f"its {what} dictionary gives one id to two {what}s")
    if bwd_offset == 0 or bwd_size < n or bwd_offset + 4 * n > size:
        raise _Damaged(f"its {what} dictionary's index does not cover its {n:,} {what}s")
    index = np.frombuffer(view, dtype="<u4", count=n, offset=start + bwd_offset).astype(np.int64)
    if (index == 0).any():
        raise _Damaged(f"its {what} dictionary's index misses a {what}")
    if not (_check_records(view, start, size, index, n, what) == np.arange(n)).all():
        raise _Damaged(f"its {what} dictionary's index points at the wrong {what}")
    if what == "label":  # python-crfsuite decodes the labels it returns (UTF-8); attributes are only looked up
        for offset in index.tolist():
            key_size = int(_u32(view, np.array([start + offset + 4]))[0])
            try:
                bytes(view[start + offset + 8 : start + offset + 7 + key_size]).decode("utf-8")
            except UnicodeDecodeError:
                raise _Damaged("a label is not UTF-8 text") from None


def _check_records(view: np.ndarray, start: int, size: int, offsets: np.ndarray, n: int, what: str) -> np.ndarray:
    """The ids of the records at ``offsets`` (inside a CQDB of ``size`` bytes at ``start``), each checked to lie
    inside it with a NUL-terminated key and an id below ``n``."""
    if ((offsets < CQDB_DATA) | (offsets + 8 > size)).any():
        raise _Damaged(f"an entry of its {what} dictionary is outside it")
    ids = _u32(view, start + offsets)
    key_sizes = _u32(view, start + offsets + 4).astype(np.int64)
    if ((key_sizes < 1) | (offsets + 8 + key_sizes > size)).any():
        raise _Damaged(f"an entry of its {what} dictionary runs past its end")
    if (view[start + offsets + 7 + key_sizes] != 0).any() or (ids >= n).any():
        raise _Damaged(f"an entry of its {what} dictionary is damaged")
    return ids.astype(np.int64)
