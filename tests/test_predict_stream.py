"""``nlpipe predict -`` streams: :func:`nlpipe.predict.predict_lines` and :class:`~nlpipe.predict.LineReader`, and
the command in a real process answering each line before the next one is written."""

from __future__ import annotations

import io
import itertools
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

import pytest

from nlpipe.cli.predict import stream_stdin
from nlpipe.errors import InputError
from nlpipe.predict import LineReader, load_predictor, predict_inputs, predict_lines
from nlpipe.tasks.base import BasePredictor
from tests.conftest import news_records

SPORTS = "The striker scored twice as the home side won the cup final"
MARKETS = "Shares fell after the central bank raised interest rates again"
#: Seconds to wait for one result of the child process: it starts Python, imports nlpipe and loads the model
#: first, on a machine whose two cores other tests may be using.
ANSWER_TIMEOUT = 120


def without_line(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "line"} for row in rows]


def test_blank_lines_keep_their_place_and_number(trained) -> None:
    predictor = load_predictor(trained.models_dir, "news")
    lines = [f"{SPORTS}\n", "\n", "   \t", MARKETS, "", f"{SPORTS}\r\n"]
    rows = list(predict_lines(predictor, lines, options={"top_k": 1}, batch=2))
    assert [row["line"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [row.get("error", {}).get("code") for row in rows] == [None, "E417", "E417", None, "E417", None]
    assert "line 3 is blank" in rows[2]["error"]["message"]
    expected = list(predict_inputs(predictor, texts=[SPORTS, MARKETS, SPORTS], options={"top_k": 1}).rows())
    assert without_line([rows[0], rows[3], rows[5]]) == expected


@pytest.mark.parametrize("batch", [1, 4, 256])
def test_results_match_predict_inputs_however_the_batches_are_cut(trained, batch) -> None:
    predictor = load_predictor(trained.models_dir, "news")
    texts = [r.text.replace("\n", " ") for r in news_records()[:30]]
    expected = list(predict_inputs(predictor, texts=texts, options={"top_k": 2, "explain": True}).rows())
    waiting = itertools.cycle([True, True, False])  # input at hand for two lines, then a pause
    rows = list(
        predict_lines(predictor, texts, options={"top_k": 2, "explain": True}, batch=batch, ready=lambda: next(waiting))
    )
    assert [row["line"] for row in rows] == list(range(1, 31))
    assert without_line(rows) == expected


def test_a_result_comes_out_before_the_next_line_is_read_unless_input_is_waiting(trained) -> None:
    predictor = load_predictor(trained.models_dir, "news")
    pulled: list[int] = []

    def lines():
        for number, text in enumerate([SPORTS, MARKETS, SPORTS, MARKETS], 1):
            pulled.append(number)
            yield text

    for row in predict_lines(predictor, lines(), ready=lambda: False):  # nothing waiting: answer each line now
        assert pulled[-1] == row["line"]
    pulled.clear()
    rows = predict_lines(predictor, lines(), batch=3, ready=lambda: True)  # input waiting: fill the batch
    assert next(rows)["line"] == 1 and pulled == [1, 2, 3]


def test_an_over_long_line_is_an_error_row_not_an_abort(trained) -> None:
    predictor = load_predictor(trained.models_dir, "news")
    wide = "é" * 40  # 40 characters, 80 bytes in UTF-8
    rows = list(predict_lines(predictor, [SPORTS[:60], wide, MARKETS[:60]], max_bytes=64))
    assert rows[1] == {
        "line": 2,
        "error": {
            "code": "E613",
            "message": "line 2 is 80 bytes, more than the 64-byte document limit (NLPIPE_MAX_DOCUMENT_BYTES); "
            "split it into shorter lines",
        },
    }
    assert "predicted" in rows[0] and "predicted" in rows[2]


def test_a_batch_the_predictor_refuses_costs_only_the_lines_at_fault(trained) -> None:
    real = load_predictor(trained.models_dir, "news")

    class RefusesOne(type(real)):  # type: ignore[misc]
        def predict(self, texts, **options):
            if "REFUSED" in texts:
                raise InputError("E413", "refused on purpose")
            return super().predict(texts, **options)

    predictor: BasePredictor = RefusesOne(real.loaded)
    rows = list(predict_lines(predictor, [SPORTS, "REFUSED", MARKETS]))
    assert rows[1] == {"line": 2, "error": {"code": "E413", "message": "refused on purpose"}}
    assert without_line([rows[0], rows[2]]) == [p.to_dict() for p in real.predict([SPORTS, MARKETS])]


def test_options_are_checked_before_any_line_is_read(trained) -> None:
    predictor = load_predictor(trained.models_dir, "news")

    def lines():
        raise AssertionError("no line may be read before the options are checked")
        yield ""

    with pytest.raises(InputError) as caught:
        predict_lines(predictor, lines(), options={"sentences": True})
    assert caught.value.code == "E415"


def test_line_reader_cuts_line_ends_and_puts_errors_in_place_of_bad_lines() -> None:
    data = b"\xef\xbb\xbfone\r\n\n  \nbad \xff byte\n" + b"x" * 50 + b"\nafter\r\n" + b"y" * 21 + b"\nlast"
    reader = LineReader(io.BytesIO(data), 20, chunk=8)
    items = list(reader)
    assert items[:3] == ["one", "", "  "] and items[5] == "after" and items[7] == "last"
    assert (items[3].code, items[4].code, items[6].code) == ("E108", "E613", "E613")
    assert "line 4 is not valid UTF-8 (byte 0xff at byte 5)" in items[3].message
    assert "line 5 is longer than the 20-byte" in items[4].message and "line 7 is 21 bytes" in items[6].message
    assert reader.lines == 8


def test_line_reader_memory_stays_flat_on_an_endless_line() -> None:
    stream = io.BytesIO(b"z" * 8_000_000 + b"\nshort\n")
    tracemalloc.start()
    try:
        reader = LineReader(stream, 10_000)
        first, second = list(reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not isinstance(first, str) and first.code == "E613" and second == "short"
    assert peak < 1_000_000, f"{peak:,} bytes held for an 8 MB line"


@pytest.mark.parametrize("buffering", [0, -1], ids=["raw", "buffered"])
def test_line_reader_ready_tells_without_blocking_whether_a_line_is_at_hand(buffering) -> None:
    read_end, write_end = os.pipe()
    with open(read_end, "rb", buffering=buffering) as source, open(write_end, "wb", buffering=0) as sink:
        reader = LineReader(source, 1000)
        assert not reader.ready()  # nothing written: no line, and no waiting for one
        sink.write(b"first\nsec")
        assert reader.ready() and next(reader) == "first"
        assert not reader.ready()  # half a line is not a line
        sink.write(b"ond\r\nthird\n")
        assert reader.ready() and next(reader) == "second"
        assert reader.ready() and next(reader) == "third"
        sink.write(b"last")
        sink.close()
        assert reader.ready() and next(reader) == "last"
        assert reader.ready() and list(reader) == []


class ResultReader:
    """JSON lines of a child's stdout, each waited for with a timeout (never a blocking read)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self) -> dict[str, Any]:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                pytest.fail(f"no result within {ANSWER_TIMEOUT} s")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                pytest.fail(f"stdout ended early; left over: {self.buffer!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)


def test_cli_predict_stdin_answers_each_line_while_stdin_is_still_open(trained, tmp_path) -> None:
    env = {**os.environ, "NLPIPE_MODELS_DIR": str(trained.models_dir), "NLPIPE_HOME": str(tmp_path / "home")}
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nlpipe.cli.main", "predict", "news", "-", "--top-k", "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=env, bufsize=0,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        try:
            results = ResultReader(proc.stdout.fileno())
            proc.stdin.write(f"{SPORTS}\n".encode())
            first = results.next()  # stdin is still open: only a streaming command can answer now
            assert (first["model"], first["line"], first["predicted"]) == ("news", 1, ["sports"])
            proc.stdin.write(f"\n{MARKETS}\n".encode())
            assert results.next()["error"]["code"] == "E417"
            third = results.next()
            assert third["line"] == 3 and len(third["labels"]) == 1
            proc.stdin.write(SPORTS.encode())  # a last line without its line end, then EOF
            proc.stdin.close()
            assert results.next()["line"] == 4
            assert proc.wait(timeout=ANSWER_TIMEOUT) == 0 and proc.stdout.read() == b""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        errors.seek(0)
        assert b"Traceback" not in errors.read()


def test_stream_stdin_ends_quietly_when_stdout_is_closed(trained, monkeypatch) -> None:
    """`nlpipe predict m - | head -3`: the reader goes away; the command stops without a traceback."""
    predictor = load_predictor(trained.models_dir, "news")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader of stdout is gone: every write is EPIPE (Python ignores SIGPIPE)
    stdout = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 -- closed below
    stdin = io.TextIOWrapper(io.BytesIO(f"{SPORTS}\n{MARKETS}\n".encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stdin", stdin)
    try:
        stream_stdin(predictor, {}, 1000)  # returns, not raises BrokenPipeError
        stdout.write("more\n")
        stdout.flush()  # stdout now goes to /dev/null: the flush at exit will not fail again
    finally:
        stdout.close()
