"""Station uploads sent as multipart/form-data, read as a stream: the first file part's bytes as they arrive, so an
upload of any size passes through a small buffer (Starlette's form parser would spool it whole before anyone counts
it). The parsing is python-multipart's push parser; this module turns its callbacks into an async stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

HEADERS_MAX = 16 * 1024  # one part's headers
FIELDS_MAX = 64 * 1024  # every part before the file together


class MultipartError(ValueError):
    """The body is not the multipart/form-data it says it is, or holds no file."""


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data Content-Type; MultipartError if there is none."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise MultipartError(f"expected multipart/form-data, got {kind.decode('latin-1') or 'no content type'}")
    boundary = params.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:
        raise MultipartError("the multipart/form-data content type has no valid boundary")
    return boundary


class MultipartFile:
    """Feeds the body to the parser until the first part with a filename (or named "file"): `open` finds it, then
    `chunks` streams its bytes. Parts before it are plain fields, read and dropped (at most FIELDS_MAX bytes)."""

    def __init__(self, body: AsyncIterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._delimiter = b"--" + boundary
        self._preamble = b""  # what came before the first boundary (RFC 2046 allows it; the parser does not)
        self._started = False
        self.filename: str | None = None
        self.content_type: str | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._in_file = False  # the current part is the file
        self._found = False  # the file part's headers are read
        self._file_ended = False
        self._body_ended = False  # the closing boundary was read
        self._skipped = 0
        self._data: list[bytes] = []  # the file's bytes the last feed produced
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
            max_header_size=HEADERS_MAX,
        )

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        if self._found:
            return  # a part after the file: ignored
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"filename") or params.get(b"filename*", b"").rpartition(b"'")[2]
        if b"filename" in params or b"filename*" in params or params.get(b"name") == b"file":
            self._in_file = self._found = True
            self.filename = name.decode("utf-8", "replace") or None
            kind = self._headers.get(b"content-type")
            self.content_type = kind.decode("latin-1") if kind else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._data.append(data[start:end])
        elif not self._found:
            self._skipped += end - start

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_ended = True

    def _end(self) -> None:
        self._body_ended = True

    async def _feed(self) -> bool:
        """One more chunk of the body through the parser; False when the body has ended."""
        chunk = await anext(self._body, None)
        if chunk is None:
            return False
        if not self._started:
            self._preamble += chunk
            at = self._preamble.find(self._delimiter)
            if at < 0:
                self._preamble = self._preamble[-len(self._delimiter) :]  # a boundary may straddle two chunks
                return True
            self._started, chunk, self._preamble = True, self._preamble[at:], b""
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise MultipartError(f"the multipart body is malformed: {exc} (is the boundary right?)") from None
        if self._skipped > FIELDS_MAX:
            raise MultipartError(f"the form fields before the file are larger than {FIELDS_MAX} bytes")
        return True

    async def open(self) -> None:
        """Read until the file part's first byte."""
        while not self._found:
            if self._body_ended:
                raise MultipartError("the multipart body holds no file part (a field with a filename)")
            if not await self._feed():
                if self._started:
                    raise MultipartError("the multipart body holds no file part (a field with a filename)")
                raise MultipartError("the multipart body has no part (is the boundary right?)")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file part's bytes, up to the boundary that ends it."""
        while True:
            pending, self._data = self._data, []
            for data in pending:
                if data:
                    yield data
            if self._file_ended:
                return
            if not await self._feed():
                raise MultipartError("the multipart body ends before its closing boundary")
