"""A real cluster on this machine: evscada processes of each role on one PostgreSQL database and Redis, behind
Debian's HAProxy configured by the repository's deploy/haproxy.cfg (ADR 12, docs/operations.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
HAPROXY_CONFIG = REPOSITORY / "deploy" / "haproxy.cfg"
REDIS_URL = os.environ.get("EVSCADA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_RUNNING = re.compile(r"evscada is running \(node (?P<node>\S+), role (?P<role>\w+); (?P<listening>[^;]*);")


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)


def free_port() -> int:
    """A port free now, for HAProxy's frontends (HAProxy cannot bind port 0 and say which it got); the caller
    retries when another process took it meanwhile."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    """One `evscada serve --role ...` process."""

    node_id: str
    role: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ocpp_port: int | None = None
    http_port: int | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown, no lease or ownership released."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Cluster:
    database_url: str
    prefix: str
    folder: Path
    nodes: dict[str, Node] = field(default_factory=dict)
    balancer: subprocess.Popen[bytes] | None = None
    lb_ocpp_port: int = 0
    lb_http_port: int = 0
    api_key: str = ""

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.lb_ocpp_port}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_http_port}/api/v1"

    def environment(self, node_id: str, role: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVSCADA_")}
        env.update(
            {
                "PYTHONPATH": str(REPOSITORY / "src"),
                "EVSCADA_DATABASE_URL": self.database_url,
                "EVSCADA_CLUSTER": json.dumps(
                    {
                        "redis_url": REDIS_URL,
                        "prefix": self.prefix,
                        "node_id": node_id,
                        "role": role,
                        "lease_seconds": 3,
                        "ownership_seconds": 6,
                    }
                ),
                "EVSCADA_OCPP_HOST": "127.0.0.1",
                "EVSCADA_OCPP_PORT": "0",
                "EVSCADA_OCPP_TLS_PORT": "0",
                "EVSCADA_HTTP_HOST": "127.0.0.1",
                "EVSCADA_HTTP_PORT": "0",
                "EVSCADA_CALL_TIMEOUT": "10",
                "EVSCADA_HEARTBEAT_INTERVAL": "30",
                "EVSCADA_LAST_SEEN_FLUSH_INTERVAL": "2",
                "EVSCADA_WEBSOCKET_PING_INTERVAL": "null",
                "EVSCADA_LOG_LEVEL": "INFO",
            }
        )
        return env

    def start_node(self, node_id: str, role: str, *, timeout: float = 60) -> Node:
        log_path = self.folder / f"{node_id}.log"
        work = self.folder / node_id
        work.mkdir(exist_ok=True)
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "evscada", "serve", "--role", role],
                cwd=work,
                env=self.environment(node_id, role),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        node = Node(node_id=node_id, role=role, process=process, log_path=log_path)
        self.nodes[node_id] = node
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{node_id} ({role}) exited with {process.returncode}:\n{node.log()[-3000:]}")
            found = _RUNNING.search(node.log())
            if found:
                for part in found["listening"].split(", "):
                    if part.startswith("OCPP ws port "):
                        node.ocpp_port = int(part.rpartition(" ")[2])
                    elif part.startswith("HTTP port "):
                        node.http_port = int(part.rpartition(" ")[2])
                return node
            time.sleep(0.2)
        raise AssertionError(f"{node_id} ({role}) did not start within {timeout} s:\n{node.log()[-3000:]}")

    def start_balancer(self) -> None:
        binary = haproxy_binary()
        assert binary is not None
        gateways = [n for n in self.nodes.values() if n.role == "gateway"]
        apis = [n for n in self.nodes.values() if n.role == "api"]
        assert len(gateways) == 2 and len(apis) == 1, "deploy/haproxy.cfg names two gateways and one api process"
        for _attempt in range(5):
            self.lb_ocpp_port, self.lb_http_port = free_port(), free_port()
            env = dict(os.environ)
            env.update(
                {
                    "EVSCADA_LB_OCPP": f"127.0.0.1:{self.lb_ocpp_port}",
                    "EVSCADA_LB_HTTP": f"127.0.0.1:{self.lb_http_port}",
                    "EVSCADA_GATEWAY_1": f"127.0.0.1:{gateways[0].ocpp_port}",
                    "EVSCADA_GATEWAY_2": f"127.0.0.1:{gateways[1].ocpp_port}",
                    "EVSCADA_GATEWAY_1_HEALTH_PORT": str(gateways[0].http_port),
                    "EVSCADA_GATEWAY_2_HEALTH_PORT": str(gateways[1].http_port),
                    "EVSCADA_API_1": f"127.0.0.1:{apis[0].http_port}",
                }
            )
            log_path = self.folder / "haproxy.log"
            with log_path.open("wb") as out:
                self.balancer = subprocess.Popen(
                    [binary, "-db", "-f", str(HAPROXY_CONFIG)], env=env, stdout=out, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.balancer.poll() is None:
                if _accepts(self.lb_ocpp_port) and _accepts(self.lb_http_port):
                    return
                time.sleep(0.1)
            with contextlib.suppress(Exception):
                self.balancer.kill()
                self.balancer.wait(5)
        raise AssertionError(f"HAProxy did not start:\n{(self.folder / 'haproxy.log').read_text()[-3000:]}")

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        if self.balancer is not None and self.balancer.poll() is None:
            self.balancer.terminate()
            self.balancer.wait(10)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def redis_keys(prefix: str, pattern: str) -> dict[str, str]:
    """The cluster's keys matching `<prefix>:<pattern>` and their values."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}:{pattern}")]
        values = await client.mget(keys) if keys else []
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}
    finally:
        await client.aclose()


async def eventually(check, *, timeout: float = 30, interval: float = 0.3, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll an async check until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s (last: {last!r})")


def require_services() -> None:
    """Skip with the reason when a service of the cluster tests is absent (fail instead where CI requires them)."""
    required = bool(os.environ.get("EVSCADA_TEST_REQUIRE_SERVICES"))
    problems = []
    if haproxy_binary() is None:
        problems.append("no haproxy (make haproxy installs Debian's)")
    if not os.environ.get("EVSCADA_TEST_POSTGRES_URL"):
        problems.append("EVSCADA_TEST_POSTGRES_URL is not set (the cluster shares PostgreSQL)")
    with socket.socket() as probe:
        probe.settimeout(1)
        host, _, port = REDIS_URL.partition("://")[2].partition("/")[0].partition(":")
        if probe.connect_ex((host, int(port or 6379))) != 0:
            problems.append(f"Redis at {REDIS_URL} is not reachable")
    if problems:
        if required:
            pytest.fail("the cluster tests need: " + "; ".join(problems))
        pytest.skip("the cluster tests need: " + "; ".join(problems))


def unique_prefix() -> str:
    return f"evscada-test-{uuid.uuid4().hex[:10]}"


def scratch_folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
