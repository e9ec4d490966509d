"""The S3-compatible file store (AWS S3, MinIO, Ceph RGW ...): one object per key under an optional prefix.

A put streams: the first PART_BYTES are held in memory; a smaller object goes up with one PutObject, a larger one as
a multipart upload, part by part, so memory stays bounded whatever the size. Size and SHA-256 are counted on the way.
An object only becomes visible when complete (PutObject and CompleteMultipartUpload are atomic); on any failure, the
size limit passed or the task cancelled, the multipart upload is aborted and nothing of it stays.

aiobotocore does the HTTP on the event loop; its one blocking step, reading the service model from disk when the
client is made, runs in a thread (warm_up_loader_caches).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from evscada.core.files.store import ObjectMissing, ObjectTooLarge, StoredObject

log = logging.getLogger(__name__)

PART_BYTES = 5 << 20  # S3's smallest part (but the last): objects above it go up as multipart uploads
READ_CHUNK = 1 << 16
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")  # the local store's rule: keys move between stores
STALE_UPLOAD_AGE = timedelta(days=1)  # a multipart upload this old was left by a process that died mid-upload
CHECK_TIMEOUT_SECONDS = 30.0


class FileStoreUnusable(OSError):
    """The configured bucket cannot be used: start-up stops with what went wrong and what to do.

    An OSError, like an unreachable database: the command line prints it as one line."""


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where the objects live and who we are there (from the [files] settings)."""

    bucket: str
    endpoint_url: str | None = None  # None: AWS S3 itself
    region: str = "us-east-1"
    access_key_id: str | None = None  # None (both): the standard AWS chain (AWS_ACCESS_KEY_ID, ~/.aws, role)
    secret_access_key: str | None = None
    prefix: str = ""  # e.g. "evscada/": every key is stored as prefix + key

    def describe(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'} (region {self.region})"


class S3FileStore:
    """A FileStore on an S3-compatible bucket. One client for the process, made on first use; close() ends it."""

    def __init__(self, location: S3Location, *, part_bytes: int = PART_BYTES, list_page_size: int = 1000) -> None:
        if part_bytes < PART_BYTES:
            raise ValueError(f"part_bytes must be at least {PART_BYTES} (S3's smallest multipart part)")
        self.location = location
        self.part_bytes = part_bytes
        self.list_page_size = list_page_size  # keys per ListObjectsV2 call (1000 is S3's most)
        self._client: Any = None
        self._exit = contextlib.AsyncExitStack()
        self._opening = asyncio.Lock()

    # Life cycle

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                session = await asyncio.to_thread(_session)
                where = self.location
                config = AioConfig(
                    # Path-style addresses (endpoint/bucket/key): what MinIO and other S3-compatible servers accept.
                    s3={"addressing_style": "path"} if where.endpoint_url else None,
                    # Checksums only where S3 requires them: not every S3-compatible server knows the newer ones.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    connect_timeout=10,
                    read_timeout=60,
                    retries={"max_attempts": 3, "mode": "standard"},
                    warm_up_loader_caches=True,  # the service model is read from disk in a thread
                )
                self._client = await self._exit.enter_async_context(
                    session.create_client(
                        "s3",
                        endpoint_url=where.endpoint_url,
                        region_name=where.region,
                        aws_access_key_id=where.access_key_id,
                        aws_secret_access_key=where.secret_access_key,
                        config=config,
                    )
                )
        return self._client

    async def check(self) -> None:
        """At start-up: the bucket exists and these credentials may use it; multipart uploads a process left behind
        when it died are aborted. Raises FileStoreUnusable saying what to do."""
        where = self.location
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                client = await self._s3()
                await client.head_bucket(Bucket=where.bucket)
        except TimeoutError:
            raise FileStoreUnusable(
                f"the file store's {where.describe()} did not answer within {CHECK_TIMEOUT_SECONDS:.0f} s: check "
                "files.s3_endpoint_url and that the S3 server runs and is reachable from here"
            ) from None
        except ClientError as exc:
            raise FileStoreUnusable(_bucket_problem(where, exc)) from None
        except (BotoCoreError, OSError) as exc:  # no route, refused, DNS, TLS, no credentials anywhere
            raise FileStoreUnusable(
                f"the file store's {where.describe()} is not reachable: {exc}. Check files.s3_endpoint_url "
                "(http(s)://host:port of the S3 server), that the server runs, and the credentials "
                "(files.s3_access_key_id and files.s3_secret_access_key, or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY)"
            ) from None
        await self._abort_stale_uploads()

    async def close(self) -> None:
        await self._exit.aclose()
        self._client = None
        self._exit = contextlib.AsyncExitStack()

    # The FileStore port

    def _name(self, key: str) -> str:
        if not _KEY.match(key):
            raise ValueError(f"{key!r} is not a file store key (letters, digits, '.', '_', '-')")
        return self.location.prefix + key

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StoredObject:
        name = self._name(key)
        client = await self._s3()
        bucket = self.location.bucket
        digest = hashlib.sha256()
        size = 0
        pending = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_bytes:
                    raise ObjectTooLarge(max_bytes)
                digest.update(chunk)
                pending += chunk
                while len(pending) >= self.part_bytes:  # a full part goes up; at most one part is held
                    if upload_id is None:
                        started = await client.create_multipart_upload(Bucket=bucket, Key=name)
                        upload_id = started["UploadId"]
                    part = bytes(pending[: self.part_bytes])
                    del pending[: self.part_bytes]
                    parts.append(await self._upload_part(name, upload_id, len(parts) + 1, part))
            if upload_id is None:
                await client.put_object(Bucket=bucket, Key=name, Body=bytes(pending))
            else:
                if pending:
                    parts.append(await self._upload_part(name, upload_id, len(parts) + 1, bytes(pending)))
                await client.complete_multipart_upload(
                    Bucket=bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            if upload_id is not None:
                await asyncio.shield(self._abort(name, upload_id))
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    async def open(self, key: str) -> AsyncIterator[bytes]:
        name = self._name(key)
        client = await self._s3()
        try:
            answer = await client.get_object(Bucket=self.location.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise ObjectMissing(f"no object {name} in {self.location.describe()}") from None
            raise
        async with answer["Body"] as body:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        client = await self._s3()
        await client.delete_object(Bucket=self.location.bucket, Key=self._name(key))  # absent: S3 says fine too

    async def listing(self) -> list[StoredObject]:
        client = await self._s3()
        prefix = self.location.prefix
        found: list[StoredObject] = []
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.list_page_size}
        )
        async for page in pages:
            for entry in page.get("Contents", []):
                key = entry["Key"][len(prefix) :]
                if _KEY.match(key):  # not ours: "folders" below the prefix, other tools' objects
                    found.append(StoredObject(key=key, size=int(entry["Size"]), sha256=""))
        return found

    # Multipart uploads

    async def pending_uploads(self) -> list[tuple[str, datetime]]:
        """Multipart uploads under the prefix not completed nor aborted yet (key, started): in flight, or left by a
        process that died mid-upload."""
        client = await self._s3()
        prefix = self.location.prefix
        found: list[tuple[str, datetime]] = []
        pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=self.location.bucket, Prefix=prefix)
        async for page in pages:
            found.extend((upload["Key"][len(prefix) :], upload["Initiated"]) for upload in page.get("Uploads", []))
        return found

    async def _abort_stale_uploads(self) -> None:
        """Parts of an upload never completed are kept (and billed) until aborted. Only old ones: another CSMS on
        the same bucket may be uploading right now."""
        client = await self._s3()
        prefix = self.location.prefix
        before = datetime.now(UTC) - STALE_UPLOAD_AGE
        try:
            pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=self.location.bucket, Prefix=prefix)
            async for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < before:
                        log.info(
                            "aborting the multipart upload of %s left since %s", upload["Key"], upload["Initiated"]
                        )
                        await self._abort(upload["Key"], upload["UploadId"])
        except (ClientError, BotoCoreError) as exc:  # a server without the call, or a key without the right
            log.warning("could not look for abandoned multipart uploads in %s: %s", self.location.describe(), exc)

    async def _upload_part(self, name: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        client = await self._s3()
        answer = await client.upload_part(
            Bucket=self.location.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    async def _abort(self, name: str, upload_id: str) -> None:
        client = await self._s3()
        try:
            await client.abort_multipart_upload(Bucket=self.location.bucket, Key=name, UploadId=upload_id)
        except (ClientError, BotoCoreError, OSError) as exc:
            log.warning(
                "could not abort the multipart upload of %s in %s (%s): its parts stay until a lifecycle rule "
                "(AbortIncompleteMultipartUpload) or the next start-up removes them",
                name,
                self.location.describe(),
                exc,
            )


def _session() -> AioSession:
    """A session with the AWS configuration files read (a blocking read: called in a thread)."""
    session = get_session()
    session.get_scoped_config()
    return session


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _bucket_problem(where: S3Location, exc: ClientError) -> str:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in {"404", "NoSuchBucket", "NotFound"}:
        return (
            f"the file store's {where.describe()} does not exist: create it (e.g. `mc mb` on MinIO, "
            "`aws s3 mb s3://<bucket>` on AWS) or set files.s3_bucket to an existing bucket"
        )
    if code in {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        return (
            f"the file store's {where.describe()} refuses these credentials ({code}): check files.s3_access_key_id "
            "and files.s3_secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), that the key may read "
            "and write the bucket, and files.s3_region"
        )
    if code in {"301", "PermanentRedirect", "AuthorizationHeaderMalformed"}:
        return f"the file store's {where.describe()} is in another region ({code}): set files.s3_region to the bucket's"
    return f"the file store's {where.describe()} cannot be used: {code or status} {exc}"
