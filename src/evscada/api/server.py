"""Uvicorn inside the CSMS's own event loop (one process by default; `--role api` later)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # SIGINT/SIGTERM belong to `evscada serve`, which stops the whole application


class HttpServer:
    def __init__(self, app: FastAPI, *, host: str, port: int, closing: asyncio.Event | None = None) -> None:
        self._host = host
        self.port = port
        # Never-ending responses (live event streams) would hold a shutdown forever: they watch `closing`, set
        # first on stop, and uvicorn cancels whatever is left after a few seconds.
        self._closing = closing
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # We bind the socket ourselves: uvicorn answers a failed bind with sys.exit, which escapes the event loop.
        try:
            sock = socket.create_server((self._host, self.port), reuse_port=False, backlog=2048)
        except OSError as exc:
            raise OSError(
                f"the REST API cannot listen on {self._host}:{self.port} ({exc.strerror}); set http_port / "
                "EVSCADA_HTTP_PORT to a free port, or null to turn the REST API off"
            ) from None
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="http-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting; see the log above")
            await asyncio.sleep(0.01)
        log.info("REST API under /api/v1, reference: http://%s:%d/api/docs", self._host, self.port)

    async def stop(self) -> None:
        if self._task is None:
            return
        if self._closing is not None:
            self._closing.set()
        self._server.should_exit = True
        await self._task
        self._task = None
