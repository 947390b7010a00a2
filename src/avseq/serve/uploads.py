"""Receiving an upload: the multipart body is parsed as it streams in and the file part written
straight to a server-named file in the request's own temporary folder, counting bytes, so an
oversized body is refused after at most the limit has been read and nothing lands anywhere else.
The client's file name is only ever echoed back, sanitised; it is never part of a path."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from avseq.serve.limits import ApiError

UPLOAD_NAME = "upload"  # the one name an upload is stored under, inside its request's folder
FIELD_BYTES = 1024  # longest value of a plain (non-file) form field
MAX_PARTS = 8
NAME_CHARS = 80
HOW = "send the file as multipart/form-data in the field 'file' (curl -F file=@speech.wav URL)"


@dataclass
class Upload:
    """A received file: where the server stored it, the client's name for it (sanitised, for
    display only), its size, and the plain form fields sent with it."""

    path: Path
    filename: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


def display_name(name: str | None) -> str:
    """A client-supplied file name made safe to show anywhere: its last path component, letters,
    digits and `._-()[] ` kept, anything else (markup, quotes, control characters) as "_"."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(
        c if c.isalnum() or c in "._-()[] " else "_"
        for c in unicodedata.normalize("NFC", base)
        if unicodedata.category(c)[0] != "C"
    ).strip(" .")
    return kept[:NAME_CHARS] or UPLOAD_NAME


class _FormReader:
    """python-multipart callbacks: the `file` part to `path`, other allowed fields to memory."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path, self.allowed = path, fields
        self.out: BinaryIO | None = None
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size, self.parts, self.got_file, self.file_done = 0, 0, False, False
        self.header, self.value, self.headers = b"", b"", {}
        self.name: str | None = None
        self.buffer = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda d, s, e: setattr(self, "header", self.header + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "value", self.value + d[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(400, f"too many form fields (more than {MAX_PARTS}); {HOW}")
        self.headers, self.name, self.buffer = {}, None, bytearray()

    def header_end(self) -> None:
        self.headers[self.header.lower()] = self.value
        self.header, self.value = b"", b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            if self.got_file:
                raise ApiError(400, "more than one file sent; send one file per request")
            self.got_file = True
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self.out = self.path.open("xb")
        elif name not in self.allowed:
            shown = display_name(name) if name else "(no name)"
            allowed = ", ".join(repr(f) for f in ("file", *self.allowed))
            raise ApiError(400, f"unknown form field {shown!r}: this endpoint takes {allowed}")
        self.name = name

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is not None:
            self.out.write(data[start:end])
            self.size += end - start
        else:
            self.buffer += data[start:end]
            if len(self.buffer) > FIELD_BYTES:
                raise ApiError(400, f"the form field {self.name!r} is longer than {FIELD_BYTES} B")

    def part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out, self.file_done = None, True
        elif self.name:
            self.fields[self.name] = self.buffer.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()


def check_length(request: Request, limit: int) -> None:
    """Refuses a body whose announced Content-Length is over `limit` before reading any of it."""
    length = request.headers.get("content-length")
    if length is None:
        return
    if not length.isdigit():
        raise ApiError(400, f"bad Content-Length header {length[:40]!r}")
    if int(length) > limit:
        raise ApiError(413, f"the upload is {int(length) / 1e6:.1f} MB; {most(limit)}")


def most(limit: int) -> str:
    return f"this server takes at most {limit / 1e6:g} MB per upload"


async def receive_upload(
    request: Request, folder: Path, limit: int, fields: tuple[str, ...] = ()
) -> Upload:
    """Streams the request's multipart body into `folder`/upload.

    Args:
        request: a multipart/form-data request with a part named "file".
        folder: a server-made folder belonging to this request alone.
        limit: the most body bytes read; past it the request is refused (413).
        fields: the plain form fields allowed besides "file" (any other is refused, 400).

    Raises:
        ApiError: 400 (not multipart, no/empty/duplicate file, unknown field), 413 (too big).
    """
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(400, f"expected a multipart/form-data body; {HOW}")
    check_length(request, limit)
    reader = _FormReader(folder / UPLOAD_NAME, fields)
    parser = MultipartParser(boundary, reader.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ApiError(413, f"the upload is larger than allowed; {most(limit)}")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as err:
        raise ApiError(400, f"the multipart body does not parse ({err}); {HOW}") from None
    except ClientDisconnect:
        raise ApiError(400, "the client went away before the upload ended") from None
    finally:
        reader.close()
    if not reader.got_file:
        raise ApiError(400, f"no file in the request; {HOW}")
    if not reader.file_done:
        raise ApiError(400, "the upload was cut off before the file's end; send it again")
    if reader.size == 0:
        raise ApiError(400, "the uploaded file is empty (0 bytes)")
    return Upload(reader.path, display_name(reader.filename), reader.size, reader.fields)
