"""A real S3-compatible server for the S3 file store's tests: moto's server (moto[server] from PyPI) as a subprocess on
a free port of 127.0.0.1, one per test session; each test makes a bucket of its own."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from evscada.storage.files.s3 import S3FileStore, S3Location
from tests.conftest import REQUIRE_SERVICES

START_TIMEOUT_SECONDS = 30.0
ACCESS_KEY = "evscada-test"  # moto accepts any credentials; the store must still sign with them
SECRET_KEY = "evscada-test-secret"


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint_url: str

    def location(self, bucket: str, prefix: str = "") -> S3Location:
        return S3Location(
            bucket=bucket,
            endpoint_url=self.endpoint_url,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            prefix=prefix,
        )

    def files_settings(self, bucket: str) -> dict[str, Any]:
        """The [files] settings of a CSMS keeping its files in this bucket."""
        return {
            "backend": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_bucket": bucket,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
        }

    async def new_bucket(self, **store: Any) -> S3FileStore:
        """A store on a new, empty bucket (the caller closes it)."""
        bucket = f"evscada-{uuid.uuid4().hex[:16]}"
        made = S3FileStore(self.location(bucket), **store)
        client = await made._s3()
        await client.create_bucket(Bucket=bucket)
        return made


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}; CI requires the S3 file store tests (EVSCADA_TEST_REQUIRE_SERVICES)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer: it listens
    except OSError:
        return False


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    """Run moto's S3 server until the block ends (a skip, or a failure under EVSCADA_TEST_REQUIRE_SERVICES, when it
    is not installed or does not start)."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        _unavailable("moto[server] is not installed (pip install 'moto[server]'): the S3 file store tests need it")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # moto logs a line per request: to a file, as a pipe nobody reads would fill and stall it.
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not _answers(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    output.seek(0)
                    said = output.read().decode(errors="replace")[-2000:]
                    _unavailable(f"moto_server did not start on port {port}: {said or 'no output'}")
                time.sleep(0.1)
            yield S3Server(url)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
