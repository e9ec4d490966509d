"""A simulated station's logs: the files the CSMS asks for (GetDiagnostics, GetLog), generated and uploaded to the
location it gave, by HTTP PUT or POST multipart/form-data, as real stations do either."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import httpx

log = logging.getLogger(__name__)

UPLOAD_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class SentFile:
    """One upload as the station made it: tests compare what the CSMS kept with it."""

    filename: str
    location: str
    size: int
    sha256: str
    status_code: int | None  # the server's answer; None: it could not be reached


@dataclass(slots=True)
class StationFiles:
    station_id: str
    size: int = 8 * 1024  # bytes of each generated file
    method: Literal["PUT", "POST"] = "PUT"
    append_filename: bool = True  # upload to <location>/<filename>, as most HTTP(S) stations do
    sent: list[SentFile] = field(default_factory=list)

    def make(self, kind: str) -> tuple[str, bytes]:
        """A file name and content: readable log lines, then random bytes up to `size`."""
        at = datetime.now(UTC)
        name = f"{self.station_id}-{kind}-{at.strftime('%Y%m%dT%H%M%S%f')}.log"
        head = f"{at.isoformat()} {self.station_id} {kind}: simulated station log\n".encode()
        return name, (head + os.urandom(max(self.size - len(head), 0)))[: self.size]

    async def upload(self, location: str, filename: str, content: bytes) -> bool:
        url = f"{location.rstrip('/')}/{filename}" if self.append_filename else location
        status_code: int | None = None
        try:
            async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT) as client:
                if self.method == "PUT":
                    answer = await client.put(url, content=content, headers={"Content-Type": "text/plain"})
                else:
                    answer = await client.post(url, files={"file": (filename, content, "text/plain")})
            status_code = answer.status_code
        except httpx.HTTPError as exc:
            log.warning("%s: uploading %s to %s failed: %r", self.station_id, filename, location, exc)
        self.sent.append(SentFile(filename, url, len(content), hashlib.sha256(content).hexdigest(), status_code))
        return status_code is not None and 200 <= status_code < 300

    async def deliver(
        self, location: str, filename: str, content: bytes, report: Callable[[str], Awaitable[object]], failed: str
    ) -> None:
        """Upload, telling the CSMS as a station does: Uploading, then Uploaded or the version's failure word."""
        await report("Uploading")
        ok = await self.upload(location, filename, content)
        await report("Uploaded" if ok else failed)
