"""Model folders as fuzz inputs (issue 13, part 2: "... encodings, model folders").

A tiny classifier (skops) and a tiny entity recogniser (spaCy + crfsuite, the native code of D1) are trained once
per process and zipped with an alias file. A case damages one file of one of them and, half the time, records the
damaged files' sizes and checksums again in meta.json: such a folder passes the checksum check, as a crafted folder
with a matching meta.json would, so the loaders behind it (skops, spaCy, crfsuite) get the damaged bytes.
"""

from __future__ import annotations

import functools
import io
import tempfile
import zipfile
from pathlib import Path

from hypothesis import strategies as st

from tests.fuzz.strategies import damage

#: The member that asks the target to record the files' checksums again after the damage.
RERECORD = ".rerecord"


@functools.cache
def model_seeds() -> tuple[bytes, ...]:
    """Zips of the models folder of each tiny model: ``<name>/v1/...`` and ``<name>/aliases.json``. Training runs
    at the first draw, inside hypothesis, which checks that no strategy moves the global random state: the state
    is put back as it was."""
    import random

    import numpy as np

    state, np_state = random.getstate(), np.random.get_state()
    try:
        return _train_seeds()
    finally:
        random.setstate(state)
        np.random.set_state(np_state)


def _train_seeds() -> tuple[bytes, ...]:
    from nlpipe import artifacts
    from nlpipe.config import Settings
    from nlpipe.store.db import open_store
    from nlpipe.store.importing import import_records
    from nlpipe.train import train
    from tests.conftest import entity_records, news_records

    seeds = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Settings(home=Path(tmp) / "home", models_dir=Path(tmp) / "models")  # type: ignore[call-arg]
        store = open_store(cfg)
        try:
            import_records(store, "news", news_records(), create=True, seed=0)
            train(store, cfg, "news", "news", time_budget=5, seed=0)
            import_records(store, "ents", entity_records()[:60], create=True, seed=0)
            train(store, cfg, "ents", "ents", task="entities", seed=0)
        finally:
            store.close()
        for name in ("news", "ents"):
            artifacts.promote(cfg.models_dir, name, "v1", "production")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                for path in sorted((cfg.models_dir / name).rglob("*")):
                    rel = path.relative_to(cfg.models_dir).as_posix()
                    if path.is_file() and "/report/" not in rel and not path.name.startswith("."):
                        zf.writestr(rel, path.read_bytes())
            seeds.append(buf.getvalue())
    return tuple(seeds)


@st.composite
def damaged_model_folders(draw: st.DrawFn) -> bytes:
    """A seed model folder with one file damaged (``damage``), as a zip the target unpacks."""
    seed = model_seeds()[draw(st.integers(0, len(model_seeds()) - 1))]  # by index: no strategy holds the bytes
    with zipfile.ZipFile(io.BytesIO(seed)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    name = draw(st.sampled_from(sorted(files)))
    files[name] = damage(draw, files[name])
    if draw(st.booleans()):  # checksums recorded again: a crafted folder
        files[RERECORD] = b"1"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return buf.getvalue()


def crfsuite_seeds() -> tuple[bytes, ...]:
    """The crfsuite files of the tiny entity model (its first and second pass)."""
    found = []
    for seed in model_seeds():
        with zipfile.ZipFile(io.BytesIO(seed)) as zf:
            found += [zf.read(n) for n in sorted(zf.namelist()) if n.endswith(".crfsuite")]
    return tuple(found)


#: Values that break an id, a count or an offset: zero, around the tiny model's counts, the top bit, all ones.
_WORDS = st.one_of(st.sampled_from([0, 1, 2, 13, 14, 15, 16, 250, 251, 252, 2**31 - 1, 2**31, 2**32 - 1]),
                   st.integers(0, 2**32 - 1))  # fmt: skip


@st.composite
def damaged_crfsuite_files(draw: st.DrawFn) -> bytes:
    """A crfsuite file with one to three 32-bit words (offsets, counts, ids: what crfsuite follows unchecked)
    replaced or moved by one, often in the header, or damaged by the generic mutations."""
    seeds = crfsuite_seeds()
    data = bytearray(seeds[draw(st.integers(0, len(seeds) - 1))])
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["word", "step", "damage"]))
        if how == "damage":
            data = bytearray(damage(draw, bytes(data), max_ops=1))
            continue
        if len(data) < 4:
            break
        pos = draw(st.one_of(st.integers(0, min(44, len(data) - 4)), st.integers(0, len(data) - 4)))
        old = int.from_bytes(data[pos : pos + 4], "little")
        new = draw(_WORDS) if how == "word" else (old + draw(st.sampled_from([-1, 1]))) % 2**32
        data[pos : pos + 4] = new.to_bytes(4, "little")
    return bytes(data)
