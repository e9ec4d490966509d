"""The FileStore contract, run on both stores: the local folder and an S3-compatible bucket on a real local server
(moto_server). Whatever the store, what goes in comes out byte for byte, and a refused or broken upload leaves
nothing behind: no object, no partial file, no pending multipart upload."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evscada.core.files.settings import FileSettings
from evscada.core.files.store import FileStore, ObjectMissing, ObjectTooLarge
from evscada.storage.files.local import LocalFileStore
from evscada.storage.files.s3 import PART_BYTES, FileStoreUnusable, S3FileStore
from tests.s3_server import S3Server, moto_server

MIB = 1 << 20


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@dataclass
class Harness:
    store: FileStore
    leftovers: Callable[[], Awaitable[list[str]]]  # what a failed put could have left: partial files, uploads


@pytest.fixture(params=["local", "s3"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "local":
        folder = tmp_path / "files"

        async def partial_files() -> list[str]:
            return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

        yield Harness(LocalFileStore(folder), partial_files)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    store = await server.new_bucket()

    async def pending_uploads() -> list[str]:
        return [key for key, _ in await store.pending_uploads()]

    try:
        yield Harness(store, pending_uploads)
    finally:
        await store.close()


async def chunks_of(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    """A stream in chunks of an odd size, so parts never line up with what arrives."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read(store: FileStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(key)])


@pytest.mark.parametrize("size", [0, 1, PART_BYTES + 1], ids=["empty", "one-byte", "multipart"])
async def test_what_is_put_opens_byte_identical(harness: Harness, size: int) -> None:
    data = os.urandom(size)
    stored = await harness.store.put("firmware-image.bin", chunks_of(data), max_bytes=10 * MIB)
    assert (stored.key, stored.size, stored.sha256) == ("firmware-image.bin", size, hashlib.sha256(data).hexdigest())
    assert await read(harness.store, "firmware-image.bin") == data
    assert [(o.key, o.size) for o in await harness.store.listing()] == [("firmware-image.bin", size)]
    assert await harness.leftovers() == ([] if isinstance(harness.store, S3FileStore) else ["firmware-image.bin"])


async def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(harness: Harness) -> None:
    limit = PART_BYTES + MIB  # past the first part: on S3 a multipart upload has begun and must be aborted
    with pytest.raises(ObjectTooLarge) as refused:
        await harness.store.put("report-big.pdf", chunks_of(b"x" * (limit + 1)), max_bytes=limit)
    assert refused.value.limit == limit
    assert await harness.store.listing() == []
    assert await harness.leftovers() == []
    with pytest.raises(ObjectMissing):
        await read(harness.store, "report-big.pdf")


async def test_a_stream_that_breaks_midway_leaves_nothing(harness: Harness) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"y" * (PART_BYTES + 1)  # one part already sent on S3
        raise ConnectionResetError("the station went away")

    with pytest.raises(ConnectionResetError):
        await harness.store.put("station-diagnostics.zip", broken(), max_bytes=100 * MIB)
    assert await harness.store.listing() == []
    assert await harness.leftovers() == []


async def test_delete_removes_one_object_and_absent_is_fine(harness: Harness) -> None:
    for key in ("a.log", "b.log"):
        await harness.store.put(key, chunks_of(key.encode()), max_bytes=MIB)
    await harness.store.delete("a.log")
    await harness.store.delete("a.log")  # gone already: no error
    assert [o.key for o in await harness.store.listing()] == ["b.log"]
    with pytest.raises(ObjectMissing):
        await read(harness.store, "a.log")
    assert await read(harness.store, "b.log") == b"b.log"


async def test_listing_shows_every_complete_object_in_key_order(harness: Harness) -> None:
    sizes = {"report-2.pdf": 3, "firmware-1.bin": 5, "SIM-1-diagnostics.zip": 1}
    for key, size in sizes.items():
        await harness.store.put(key, chunks_of(b"z" * size), max_bytes=MIB)
    listed = await harness.store.listing()
    assert [(o.key, o.size) for o in listed] == sorted(sizes.items())


async def test_a_bad_key_is_refused_before_anything_is_written(harness: Harness) -> None:
    with pytest.raises(ValueError, match="not a file store key"):
        await harness.store.put("../escape", chunks_of(b"x"), max_bytes=MIB)
    assert await harness.store.listing() == []


# What only the S3 store has


async def test_s3_sends_large_objects_in_parts(s3_server: S3Server) -> None:
    store = await s3_server.new_bucket()
    try:
        await store.put("big.bin", chunks_of(b"p" * (2 * PART_BYTES + 1)), max_bytes=100 * MIB)
        client = await store._s3()
        head = await client.head_object(Bucket=store.location.bucket, Key="big.bin")
        assert head["ETag"].strip('"').endswith("-3")  # a multipart object's ETag counts its parts
        await store.put("small.bin", chunks_of(b"s" * 10), max_bytes=100 * MIB)
        head = await client.head_object(Bucket=store.location.bucket, Key="small.bin")
        assert "-" not in head["ETag"]  # one PutObject
    finally:
        await store.close()


async def test_s3_listing_pages_and_stays_under_its_prefix(s3_server: S3Server) -> None:
    plain = await s3_server.new_bucket()
    bucket = plain.location.bucket
    prefixed = S3FileStore(s3_server.location(bucket, prefix="evscada/"), list_page_size=2)
    try:
        await plain.put("someone-elses.txt", chunks_of(b"not ours"), max_bytes=MIB)
        keys = [f"report-{n}.pdf" for n in range(5)]
        for key in keys:
            await prefixed.put(key, chunks_of(key.encode()), max_bytes=MIB)
        assert [o.key for o in await prefixed.listing()] == keys  # three pages of two
        client = await plain._s3()
        stored = await client.list_objects_v2(Bucket=bucket, Prefix="evscada/")
        assert sorted(o["Key"] for o in stored["Contents"]) == [f"evscada/{key}" for key in keys]
        assert await read(prefixed, "report-3.pdf") == b"report-3.pdf"
    finally:
        await prefixed.close()
        await plain.close()


async def test_s3_check_says_what_to_do_when_the_bucket_is_missing_or_unreachable(s3_server: S3Server) -> None:
    missing = S3FileStore(s3_server.location("no-such-bucket"))
    try:
        with pytest.raises(FileStoreUnusable, match=r"'no-such-bucket'.*does not exist: create it.*files\.s3_bucket"):
            await missing.check()
    finally:
        await missing.close()

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nowhere = dataclasses.replace(s3_server.location("evscada"), endpoint_url=f"http://127.0.0.1:{closed_port}")
    unreachable = S3FileStore(nowhere)
    try:
        with pytest.raises(FileStoreUnusable, match=r"not reachable.*files\.s3_endpoint_url"):
            await unreachable.check()
    finally:
        await unreachable.close()


def test_s3_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match=r"files\.s3_bucket is not set"):
        FileSettings.model_validate(dict(backend="s3"))
    with pytest.raises(ValueError, match=r"both files\.s3_access_key_id and files\.s3_secret_access_key"):
        FileSettings.model_validate(dict(backend="s3", s3_bucket="evscada", s3_access_key_id="key"))
    with pytest.raises(ValueError, match="s3_prefix"):
        FileSettings.model_validate(dict(backend="s3", s3_bucket="evscada", s3_prefix="no-trailing-slash"))
    settings = FileSettings.model_validate(
        dict(backend="s3", s3_bucket="evscada", s3_access_key_id="key", s3_secret_access_key="hunter2-x")
    )
    assert "hunter2-x" not in repr(settings)
