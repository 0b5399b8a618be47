"""The body of ``POST /v1/batch``, read as it arrives: a multipart form whose files are streamed into the job's
folder under NLPIPE_HOME -- never held in memory, never in the system's temporary folder -- or a small JSON object.

The files' bytes are counted as they come and refused past ``NLPIPE_MAX_BATCH_UPLOAD_BYTES`` (413 E873); they are
written to disk by a worker thread, a megabyte or so at a time, so the event loop never waits on the disk. Errors:
E875 an uploaded file without a usable name (or two of one name), E876 a body that is neither a multipart form nor
a JSON object, cannot be parsed, or has too many or too large fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio.to_thread
from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from nlpipe.errors import InputError, LimitError

FILE_FIELDS = ("file", "files")
#: Limits of the form's text fields (models, options): none needs more.
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 200
MAX_FILES = 1000
MAX_JSON_BYTES = 1024 * 1024
#: Bytes of file data gathered before they are handed to a thread to write.
WRITE_BATCH = 1024 * 1024
#: Fields that may be given several times (or comma-separated).
LIST_FIELDS = ("models", "text_cols")


@dataclass
class BatchBody:
    """What the request carried: its text fields (each with every value given) and the files written to the
    folder (their names, in order), ``size`` bytes in all."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    size: int = 0

    def values(self) -> dict[str, Any]:
        """The fields as the request model takes them: list fields split at commas, the others as one value (or
        the list of values given, which the model refuses)."""
        out: dict[str, Any] = {}
        for name, values in self.fields.items():
            if name in LIST_FIELDS:
                out[name] = [v.strip() for value in values for v in value.split(",") if v.strip()]
            else:
                out[name] = values[0] if len(values) == 1 else values
        return out


def _malformed(why: str) -> InputError:
    return InputError("E876", f"The request body cannot be read: {why}. Send multipart/form-data (a `file` part and "
                      "fields) or a JSON object (`path` and fields).")  # fmt: skip


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def upload_name(raw: str, index: int) -> str:
    """The name an uploaded file is kept under: the last part of the name the client gave (E875 when there is no
    usable one)."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", "..") or len(name.encode()) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InputError("E875", f"Uploaded file {index} has no usable file name ({raw[:100]!r}); give it a name such "
                         "as news.zip (its documents' ids start with it).", field=f"file[{index}]")  # fmt: skip
    return name


class _FormReader:
    """python-multipart callbacks that keep the text fields and queue the files' data for writing."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.body = BatchBody()
        self.header_name = b""
        self.header_value = b""
        self.disposition = b""
        self.name = ""
        self.text: bytearray | None = None
        self.file: IO[bytes] | None = None
        self.queued: list[tuple[IO[bytes], bytes | None]] = []  # (file, data), or (file, None) to close it
        self.queued_bytes = 0
        self.open_files: list[IO[bytes]] = []

    def on_part_begin(self) -> None:
        self.disposition, self.text, self.file = b"", None, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise _malformed("a part has no name in its Content-Disposition header")
        self.name = _decode(options[b"name"])
        if b"filename" not in options:
            if sum(len(v) for v in self.body.fields.values()) >= MAX_FIELDS:
                raise _malformed(f"more than {MAX_FIELDS} fields")
            self.text = bytearray()
            return
        if self.name not in FILE_FIELDS:
            raise _malformed(f"a file is sent as field {self.name!r}; send files as `file`")
        index = len(self.body.files)
        if index >= MAX_FILES:
            raise _malformed(f"more than {MAX_FILES} files")
        name = upload_name(_decode(options[b"filename"]), index)
        if name in self.body.files:
            raise InputError("E875", f"Two uploaded files are called {name!r}; rename one (documents' ids start with "
                             "the file name).", field=f"file[{index}]")  # fmt: skip
        self.file = open(self.folder / name, "xb")  # noqa: SIM115 -- closed by _flush, or by close() on an error
        self.open_files.append(self.file)
        self.body.files.append(name)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.text is not None:
            self.text += data[start:end]
            if len(self.text) > MAX_FIELD_BYTES:
                raise _malformed(f"field {self.name!r} is over {MAX_FIELD_BYTES // 1024} KiB")
            return
        assert self.file is not None
        self.body.size += end - start
        if self.body.size > self.max_bytes:
            raise LimitError("E873", f"The upload is larger than the {self.max_bytes:,} byte limit "
                             "(NLPIPE_MAX_BATCH_UPLOAD_BYTES). Put the input under NLPIPE_BATCH_ROOT and give its "
                             "`path`, or split it.", max_bytes=self.max_bytes)  # fmt: skip
        self.queued.append((self.file, data[start:end]))
        self.queued_bytes += end - start

    def on_part_end(self) -> None:
        if self.text is not None:
            self.body.fields.setdefault(self.name, []).append(_decode(bytes(self.text)))
        elif self.file is not None:
            self.queued.append((self.file, None))

    def flush(self) -> None:
        """Write (and close) what is queued: called in a worker thread."""
        queued, self.queued, self.queued_bytes = self.queued, [], 0
        for fh, data in queued:
            if data is None:
                fh.close()
            else:
                fh.write(data)

    def close(self) -> None:
        for fh in self.open_files:
            fh.close()


async def read_form(request: Request, folder: Path, max_bytes: int) -> BatchBody:
    """Read a multipart body: its files streamed into ``folder``, at most ``max_bytes`` of them (E873)."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise _malformed("multipart/form-data without a boundary")
    reader = _FormReader(folder, max_bytes)
    callbacks: Any = {name: getattr(reader, name) for name in dir(reader) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise _malformed(f"the multipart form is damaged ({exc})") from None
            if reader.queued_bytes >= WRITE_BATCH or any(data is None for _, data in reader.queued):
                await anyio.to_thread.run_sync(reader.flush)
        try:
            parser.finalize()
        except FormParserError as exc:
            raise _malformed(f"the multipart form is damaged ({exc})") from None
        await anyio.to_thread.run_sync(reader.flush)
        if any(not fh.closed for fh in reader.open_files):
            raise _malformed("the multipart form ends inside a file")
    finally:
        reader.close()
    return reader.body


async def read_json(request: Request) -> dict[str, Any]:
    """A JSON object body of at most :data:`MAX_JSON_BYTES` (E876 otherwise)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_JSON_BYTES:
            raise _malformed(f"a JSON body is at most {MAX_JSON_BYTES // 1024} KiB (it names a path and options; "
                             "upload files as multipart/form-data)")  # fmt: skip
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise _malformed(f"it is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _malformed("the JSON body is not an object")
    return value
