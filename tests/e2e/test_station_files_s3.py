"""Station files with the S3 backend, end to end: a CSMS keeping its files in a bucket on a real local S3-compatible
server (moto_server) receives a simulated station's diagnostics over HTTP, and the download is byte-identical; a
CSMS pointed at a missing bucket does not start and says what to do."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from evscada.storage.files.s3 import FileStoreUnusable, S3FileStore
from tests.conftest import start_csms, test_settings
from tests.e2e.test_station_files import _ask, _downloaded, rig
from tests.s3_server import S3Server, moto_server


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


async def test_diagnostics_land_in_the_bucket_and_download_byte_identical(
    database_url: str, tmp_path: Path, s3_server: S3Server
) -> None:
    bucket = await s3_server.new_bucket()
    try:
        async with rig(database_url, tmp_path, "1.6", **s3_server.files_settings(bucket.location.bucket)) as r:
            assert isinstance(r.csms.app.core.files.file_store, S3FileStore)
            r.station.files.size = 300 * 1024
            result = await _ask(r, "diagnostics", {"reason": "support ticket 42"})
            received = await r.settled(result["request"]["id"], "received")
            (sent,) = r.station.files.sent
            content, _ = await _downloaded(r, received["file_id"])
            assert len(content) == sent.size == 300 * 1024
            assert hashlib.sha256(content).hexdigest() == sent.sha256
            (row,) = await r.rows()
            listed = await bucket.listing()  # seen from outside the CSMS: the object is in the bucket
            assert [(o.key, o.size) for o in listed] == [(row["storage_key"], sent.size)]
            assert r.stored() == []  # and nothing in the local folder

            assert (await r.operator.delete(f"/files/{received['file_id']}")).status_code == 204
            assert await bucket.listing() == []
    finally:
        await bucket.close()


async def test_a_missing_bucket_stops_start_up_with_what_to_do(
    sqlite_url: str, tmp_path: Path, s3_server: S3Server
) -> None:
    settings = test_settings(sqlite_url, files=s3_server.files_settings("no-such-bucket"))
    with pytest.raises(FileStoreUnusable, match=r"'no-such-bucket'.*does not exist: create it"):
        async with contextlib.aclosing(start_csms(settings)) as running:  # type: ignore[type-var]  # a generator
            await anext(running)
