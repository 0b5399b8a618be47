"""`nlpipe batch predict` end to end: one row per document in input order, byte-identical for any number of
workers and after kills, refusals of a changed run, error rows instead of aborts (issue 14, part 1)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from nlpipe.batch import runner, tables
from nlpipe.batch.runner import BatchRequest, run_batch, state_dir
from nlpipe.batch.units import SourceOptions
from nlpipe.config import Settings
from nlpipe.errors import NlpipeError

TOPICS = [
    "Shares fell after the company missed its profit forecast",
    "The striker scored twice in the final",
    "Parliament passed the budget after a long debate",
    "Astronomers found water on a distant planet",
]


def make_inputs(root: Path, n: int = 300) -> list[str]:
    """A folder of texts, a zip with a damaged member, a CSV with a row without text, a JSONL of ``n`` rows."""
    folder = root / "docs"
    (folder / "sub").mkdir(parents=True)
    for i in range(12):
        (folder / ("sub" if i % 3 == 0 else "") / f"d{i:02}.txt").write_text(f"{TOPICS[i % 4]} ({i}).")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", TOPICS[0])
        zf.writestr("b.pdf", b"%PDF-1.4 not really a pdf")
        zf.writestr("c.txt", TOPICS[1])
    (root / "arch.zip").write_bytes(buf.getvalue())
    (root / "rows.csv").write_text(f"id,text\nr1,{TOPICS[2]}\nr2,\nr3,{TOPICS[3]}\n")
    with (root / "many.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"m{i}", "text": f"{TOPICS[i % 4]} number {i}"}) + "\n")
    return [str(folder), str(root / "arch.zip"), str(root / "rows.csv"), str(root / "many.jsonl")]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 16 documents, each checkpointed (and reported to ``progress``) as soon as it is written; JSON Lines
    files in ranges of 7 lines (cut by the client, read by the workers)."""
    monkeypatch.setattr(runner, "CHUNK_UNITS", 16)
    monkeypatch.setattr(tables, "RANGE_LINES", 7)
    monkeypatch.setattr(runner, "CHECKPOINT_SECONDS", 0.0)


def test_every_document_is_a_row_in_input_order_with_errors_in_place(trained: Settings, tmp_path, small_chunks):
    inputs = make_inputs(tmp_path, n=40)
    out = tmp_path / "out.jsonl"
    summary = run_batch(BatchRequest(inputs, ["news"], out, workers=1), trained)
    got = rows(out)
    ids = [r["id"] for r in got]
    folder = [f"{inputs[0]}/d{i:02}.txt" for i in range(12) if i % 3] + [f"{inputs[0]}/sub/d{i:02}.txt" for i in
                                                                        range(0, 12, 3)]  # fmt: skip
    assert ids[:12] == folder  # a folder's files, then its sub-folders' (as ingest orders them)
    assert ids[12:15] == [f"{inputs[1]}!a.txt", f"{inputs[1]}!b.pdf", f"{inputs[1]}!c.txt"]
    by_id = {r["id"].rsplit("!", 1)[-1]: r for r in got}
    assert by_id["b.pdf"]["error"]["code"].startswith("E1") and by_id["b.pdf"]["predictions"] == {}
    assert by_id["a.txt"]["predictions"]["news"]["predicted"] == ["business"]
    assert [r["id"] for r in got if r["id"] in ("r1", "r2", "r3")] == ["r1", "r2", "r3"]
    assert next(r for r in got if r["id"] == "r2")["error"] is not None  # a row without text: an error row
    assert [r["id"] for r in got[-40:]] == [f"m{i}" for i in range(40)]
    assert summary.rows == len(got) == 12 + 3 + 3 + 40 and summary.failed == 2
    assert not state_dir(out).exists()  # the run's state is removed once OUT is written


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_output_is_byte_identical_for_one_and_two_workers(trained: Settings, tmp_path, small_chunks, fmt):
    inputs = make_inputs(tmp_path, n=100)
    one, two = tmp_path / f"one.{fmt}", tmp_path / f"two.{fmt}"
    run_batch(BatchRequest(inputs, ["news"], one, fmt=fmt, workers=1), trained)
    run_batch(BatchRequest(inputs, ["news"], two, fmt=fmt, workers=2), trained)
    assert one.read_bytes() == two.read_bytes()


def test_several_models_in_one_pass(trained: Settings, trained_sentiment: Settings, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(trained.models_dir / "news", models / "news")
    shutil.copytree(trained_sentiment.models_dir / "feedback-sentiment", models / "feedback-sentiment")
    cfg = trained.model_copy(update={"models_dir": models})
    out = tmp_path / "out.csv"
    run_batch(BatchRequest([make_inputs(tmp_path, n=5)[3]], ["news", "feedback-sentiment"], out, fmt="csv"), cfg)
    header, first = out.read_text().splitlines()[:2]
    assert "news.predicted" in header and "feedback-sentiment.sentiment_label" in header
    assert first.startswith("m0,")


def test_a_changed_input_or_option_is_refused_and_restart_starts_again(trained: Settings, tmp_path, small_chunks):
    inputs = make_inputs(tmp_path, n=100)
    out = tmp_path / "out.jsonl"
    with pytest.raises(NlpipeError) as info:  # stopped after its first chunk: the checkpoint stays
        run_batch(BatchRequest(inputs, ["news"], out, workers=1), trained, cancelled=lambda: True)
    assert info.value.code == "E847" and state_dir(out).exists() and not out.exists()
    with pytest.raises(NlpipeError) as info:
        run_batch(BatchRequest(inputs, ["news"], out, workers=1, top_k=2), trained)
    assert info.value.code == "E844" and "--top-k changed" in info.value.message
    time.sleep(0.01)
    Path(inputs[2]).write_text("id,text\nr1,changed\n")
    with pytest.raises(NlpipeError) as info:
        run_batch(BatchRequest(inputs, ["news"], out, workers=1), trained)
    assert info.value.code == "E844" and "an input changed" in info.value.message
    run_batch(BatchRequest(inputs, ["news"], out, workers=1, restart=True), trained)
    assert len(rows(out)) == 12 + 3 + 1 + 100
    with pytest.raises(NlpipeError) as info:
        run_batch(BatchRequest(inputs, ["news"], out, workers=1), trained)
    assert info.value.code == "E846"
    with pytest.raises(NlpipeError) as info:
        run_batch(BatchRequest(inputs, ["news"], tmp_path / "other.jsonl", resume=True), trained)
    assert info.value.code == "E845"


def test_a_cancelled_run_continues_to_the_same_output(trained: Settings, tmp_path, small_chunks):
    inputs = make_inputs(tmp_path, n=100)
    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    run_batch(BatchRequest(inputs, ["news"], ref, workers=1), trained)
    calls = iter(range(1000))
    for stop_after in (1, 2):  # stopped twice at different chunks, then finished
        with pytest.raises(NlpipeError):
            run_batch(BatchRequest(inputs, ["news"], out, workers=1), trained,
                      cancelled=lambda s=stop_after: next(calls) % 3 == s)  # fmt: skip
    run_batch(BatchRequest(inputs, ["news"], out, workers=2), trained)  # continued with other workers
    assert out.read_bytes() == ref.read_bytes()


def _cli(cfg: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NLPIPE_HOME": str(cfg.home), "NLPIPE_MODELS_DIR": str(cfg.models_dir)}
    return subprocess.Popen([sys.executable, "-m", "nlpipe.cli.main", "batch", "predict", *args, "-q"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()


def test_killed_at_random_points_the_rerun_continues_to_a_byte_identical_output(trained: Settings, tmp_path):
    """The CLI killed with SIGKILL three times at random moments (before, during and after its checkpoints), each
    time run again with the same command; the final OUT equals an uninterrupted run's, byte for byte."""
    inputs = make_inputs(tmp_path, n=3000)
    args = [*inputs, "--model", "news", "--workers", "1"]
    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    started = time.monotonic()
    _finish(_cli(trained, *args, "--out", str(ref)))
    full = time.monotonic() - started
    rng = random.Random(int(os.environ.get("NLPIPE_TEST_SEED", "14")))
    kills = 0
    for _ in range(3):
        proc = _cli(trained, *args, "--out", str(out))
        try:
            proc.wait(timeout=rng.uniform(0.2, full))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        if out.exists():
            break
    if not out.exists():
        _finish(_cli(trained, *args, "--out", str(out)))
    assert kills >= 1
    assert out.read_bytes() == ref.read_bytes()
    assert not state_dir(out).exists()


def test_split_on_items_of_a_plain_text_archive(trained: Settings, tmp_path):
    archive = tmp_path / "news.txt"
    archive.write_text("\n\n".join(f"{TOPICS[i % 4]}.\nMore text {i}." for i in range(10)) + "\n")
    out = tmp_path / "out.jsonl"
    run_batch(BatchRequest([str(archive)], ["news"], out, options=SourceOptions(split_on=r"\n\s*\n")), trained)
    got = rows(out)
    assert [r["id"] for r in got] == [f"{archive}#item-{i}" for i in range(1, 11)]
    assert [r["predictions"]["news"]["predicted"][0] for r in got[:4]] == ["business", "sports", "politics",
                                                                          "science"]  # fmt: skip


# ------------------------------------------------------------------------------------------------- Dask (part 2)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def test_dask_output_equals_the_local_engines_and_survives_a_killed_worker(trained, tmp_path, small_chunks, cluster):
    """On a 2-worker cluster the output is byte-identical to the local engine's; one worker killed with SIGKILL
    after the first chunk (its nanny starts a new one) costs nothing: Dask runs its chunks again elsewhere."""
    from distributed import Client

    inputs = make_inputs(tmp_path, n=400)
    local, remote = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    run_batch(BatchRequest(inputs, ["news"], local, workers=1), trained)
    with Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_one(done: int, total: int | None, summary: object) -> None:
        if not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    request = BatchRequest(inputs, ["news"], remote, engine="dask", scheduler=cluster.scheduler_address)
    run_batch(request, trained, progress=kill_one)
    assert killed and remote.read_bytes() == local.read_bytes()


def test_a_run_stopped_on_the_local_engine_continues_on_dask_with_shipped_models(trained, tmp_path, small_chunks,
                                                                                 cluster):  # fmt: skip
    inputs = make_inputs(tmp_path, n=100)
    ref, out = tmp_path / "ref.parquet", tmp_path / "out.parquet"
    run_batch(BatchRequest(inputs, ["news"], ref, fmt="parquet", workers=1), trained)
    with pytest.raises(NlpipeError):
        run_batch(BatchRequest(inputs, ["news"], out, fmt="parquet", workers=1), trained, cancelled=lambda: True)
    from distributed import Client

    with Client(cluster) as client:  # workers forget the models they loaded from the folder: these come shipped
        client.run(lambda: __import__("nlpipe.batch.work", fromlist=["_LOADED"])._LOADED.clear())
    request = BatchRequest(inputs, ["news"], out, fmt="parquet", engine="dask", scheduler=cluster.scheduler_address,
                           ship_model=True)  # fmt: skip
    run_batch(request, trained)
    assert out.read_bytes() == ref.read_bytes()


def test_an_unreachable_scheduler_is_a_coded_error(trained, tmp_path, monkeypatch):
    from nlpipe.batch import engines

    monkeypatch.setattr(engines, "CONNECT_TIMEOUT", "2s")
    request = BatchRequest(make_inputs(tmp_path, n=3), ["news"], tmp_path / "o.jsonl", engine="dask",
                           scheduler="tcp://127.0.0.1:9")  # fmt: skip
    with pytest.raises(NlpipeError) as info:
        run_batch(request, trained)
    assert info.value.code == "E849"


def test_into_dataset_stores_documents_with_model_annotations_to_review(trained: Settings, tmp_path, small_chunks):
    """--into-dataset: every readable document stored once, its predictions as `model` annotations by
    news@VERSION, which the labeling page shows as pre-annotations to accept or reject; error rows are not stored.
    Run again (after a restart of the output), nothing is stored twice."""
    from sqlalchemy import func, select

    from nlpipe.store.annotations import get_document
    from nlpipe.store.db import open_store
    from nlpipe.store.schema import Annotation, Dataset, DatasetDocument

    inputs = make_inputs(tmp_path, n=30)
    out = tmp_path / "out.jsonl"
    run_batch(BatchRequest(inputs, ["news"], out, into_dataset="review"), trained)
    ok = [r for r in rows(out) if r["error"] is None]
    for again in (False, True):
        if again:
            run_batch(BatchRequest(inputs, ["news"], out, into_dataset="review", restart=True), trained)
        store = open_store(trained)
        with store.session() as s:
            ds_id = s.scalar(select(Dataset.id).where(Dataset.name == "review"))
            members = s.scalar(select(func.count()).select_from(DatasetDocument).where(
                DatasetDocument.dataset_id == ds_id))  # fmt: skip
            model_rows = s.execute(select(Annotation.document_id, Annotation.label, Annotation.author).where(
                Annotation.source == "model", Annotation.dataset_id == ds_id)).all()  # fmt: skip
            doc = get_document(s, "review", model_rows[0][0])
        store.close()
        assert members == len({r["sha256"] for r in ok})  # documents deduplicated by text
        assert len(model_rows) == len({r["sha256"] for r in ok}) and {a for _, _, a in model_rows} == {"news@v1"}
        assert [p["label"] for p in doc["pre_annotations"]] == [model_rows[0][1]]


def test_a_dead_local_worker_is_a_coded_error_and_the_run_continues(trained: Settings, tmp_path, small_chunks):
    """A pool worker killed (as the OOM killer would) stops the run with E852, not a traceback; the same command
    then continues from the checkpoint to the same output as an uninterrupted run."""
    import psutil

    inputs = make_inputs(tmp_path, n=200)
    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    run_batch(BatchRequest(inputs, ["news"], ref, workers=1), trained)

    def kill_workers(done: int, total: int | None, summary: object) -> None:
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.NoSuchProcess):  # one killed at the last progress call, not yet reaped
                if "forkserver" in " ".join(child.cmdline()):  # the pool's workers are the fork server's children
                    for worker in child.children():
                        with contextlib.suppress(psutil.NoSuchProcess):
                            worker.kill()

    with pytest.raises(NlpipeError) as info:
        run_batch(BatchRequest(inputs, ["news"], out, workers=2), trained, progress=kill_workers)
    assert info.value.code == "E852" and state_dir(out).exists()
    run_batch(BatchRequest(inputs, ["news"], out, workers=2), trained)
    assert out.read_bytes() == ref.read_bytes()


def test_a_prediction_json_cannot_carry_is_an_error_row_not_the_end_of_the_run(trained, tmp_path, monkeypatch):
    """Found by benchmarks/batch.py: a NaN score (a model gone wrong on one document) made row_bytes raise E827 in
    the runner, which aborted the whole run, and every rerun hit the same document. It is now that document's
    error row."""
    from nlpipe.batch import work
    from nlpipe.types import LabelScore

    real = work._predict

    def with_nan(predictor, docs, options):
        out = real(predictor, docs, options)
        for doc, prediction in zip(docs, out, strict=True):
            if "poison" in doc.text:
                prediction.labels[0] = LabelScore(prediction.labels[0].label, float("nan"))
        return out

    monkeypatch.setattr(work, "_predict", with_nan)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                              for i, t in enumerate([TOPICS[0], "poison " + TOPICS[1], TOPICS[2]])))  # fmt: skip
    out = tmp_path / "out.jsonl"
    summary = run_batch(BatchRequest([str(source)], ["news"], out, workers=1), trained)
    got = rows(out)
    assert [r["id"] for r in got] == ["d0", "d1", "d2"]
    assert got[1]["error"]["code"] == "E827" and got[0]["error"] is None and got[2]["error"] is None
    assert summary.errors == {"E827": 1}


def test_zip_members_read_by_the_workers_skip_or_refuse_in_place(trained: Settings, tmp_path, small_chunks):
    """Members the reader hands on by their directory entries: an image found only by its bytes, with OCR off, is
    left out (E190, no row) and an archive under another name is an error row (E175), each where it stands; the
    output is the same with one and two workers."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("x.txt", TOPICS[0])
    with zipfile.ZipFile(tmp_path / "mixed.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(20):
            zf.writestr(f"n{i:02}.txt", TOPICS[i % 4])
            if i == 7:
                zf.writestr("picture.bin", b"\x89PNG\r\n\x1a\n" + bytes(64))
            if i == 11:
                zf.writestr("disguised.dat", inner.getvalue())
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.jsonl"
        summary = run_batch(BatchRequest([str(tmp_path / "mixed.zip")], ["news"], out, workers=workers,
                                         options=SourceOptions(ocr="never")), trained)  # fmt: skip
        got = rows(out)
        ids = [r["id"].rsplit("!", 1)[-1] for r in got]
        assert ids[7:9] == ["n07.txt", "n08.txt"] and ids[12] == "disguised.dat" and "picture.bin" not in ids
        assert got[12]["error"]["code"] == "E175" and summary.skipped == {"E190": 1} and summary.failed == 1
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
