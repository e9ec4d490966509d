"""The streaming multipart reader: the file part's bytes exactly, however the body is cut into chunks."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from evscada.api.multipart import MultipartError, MultipartFile, boundary_of

BOUNDARY = "----evscada7MA4YWxkTrZu0gW"


def _body(parts: list[tuple[str, bytes]]) -> bytes:
    out = b"preamble to ignore\r\n"
    for headers, data in parts:
        out += f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


async def _read(body: bytes, size: int) -> tuple[MultipartFile, bytes]:
    form = MultipartFile(_chunks(body, size), boundary_of(f'multipart/form-data; boundary="{BOUNDARY}"'))
    await form.open()
    return form, b"".join([chunk async for chunk in form.chunks()])


# The content holds what looks like a boundary without its leading CRLF, and CRLFs of its own.
CONTENT = os.urandom(5000) + f"\r\n--{BOUNDARY[:-1]}x\r\n--{BOUNDARY}".encode()[:-3] + b"\r\n\r\n" + os.urandom(100)


@pytest.mark.parametrize("size", [1, 7, 64, 4096, 1 << 20])
async def test_the_file_part_comes_out_byte_identical_whatever_the_chunking(size: int) -> None:
    body = _body(
        [
            ('Content-Disposition: form-data; name="note"', b"a plain field first"),
            ('Content-Disposition: form-data; name="upload"; filename="diag.log"\r\nContent-Type: text/plain', CONTENT),
        ]
    )
    form, data = await _read(body, size)
    assert data == CONTENT
    assert (form.filename, form.content_type) == ("diag.log", "text/plain")


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        ("text/plain", b"", "expected multipart/form-data"),
        ("multipart/form-data", b"", "no valid boundary"),
        (f"multipart/form-data; boundary={BOUNDARY}", b"no parts at all", "no part"),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            _body([('Content-Disposition: form-data; name="note"', b"text only")]),
            "no file part",
        ),
    ],
)
async def test_a_body_without_a_file_is_refused_with_the_reason(content_type: str, body: bytes, problem: str) -> None:
    with pytest.raises(MultipartError, match=problem):
        form = MultipartFile(_chunks(body, 10), boundary_of(content_type))
        await form.open()


async def test_a_body_cut_before_its_closing_boundary_is_refused() -> None:
    body = _body([('Content-Disposition: form-data; name="file"; filename="a.log"', b"x" * 100)])[:-60]
    form = MultipartFile(_chunks(body, 16), boundary_of(f"multipart/form-data; boundary={BOUNDARY}"))
    await form.open()
    with pytest.raises(MultipartError, match="ends before its closing boundary"):
        _ = [chunk async for chunk in form.chunks()]
