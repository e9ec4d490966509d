"""`evscada demo` as a newcomer runs it, in its own process: what it prints works, and the CLI acts on its database."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

LAST_BANNER_LINE = "Ctrl-C stops it"
URL = re.compile(r"https?://[^\s)'\"]+")


@dataclass
class Demo:
    cwd: Path
    banner: str
    key: str
    env: dict[str, str]
    process: asyncio.subprocess.Process


def _environment() -> dict[str, str]:
    """The caller's environment without evscada settings, every listener on an ephemeral local port."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("EVSCADA_")}
    for listener in ("OCPP", "HTTP"):
        env[f"EVSCADA_{listener}_HOST"] = "127.0.0.1"
        env[f"EVSCADA_{listener}_PORT"] = "0"
    env["EVSCADA_OCPP_TLS_PORT"] = "0"
    return env


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    env = _environment()
    out = tmp_path / "demo.out"
    with out.open("w") as stdout, (tmp_path / "demo.err").open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "evscada",
            "demo",
            "--stations",
            "2",
            "--no-faults",
            "--control-port",
            "0",
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        banner = await asyncio.wait_for(_banner(out, process), 60)
        (key,) = re.findall(r"admin API key\): (evs_\S+)", banner)
        yield Demo(cwd=tmp_path, banner=banner, key=key, env=env, process=process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 30)


async def _banner(out: Path, process: asyncio.subprocess.Process) -> str:
    while LAST_BANNER_LINE not in (text := await asyncio.to_thread(out.read_text)):
        assert process.returncode is None, f"the demo ended: {text}\n{(out.parent / 'demo.err').read_text()[-3000:]}"
        await asyncio.sleep(0.1)
    return text


async def _evscada(demo: Demo, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evscada",
        *args,
        cwd=demo.cwd,
        env=demo.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_key_made_with_the_cli_during_the_demo_works_on_the_demos_api(demo: Demo) -> None:
    code, _, err = await _evscada(demo, "user", "add", "billing", "--role", "viewer")
    assert code == 0, err
    assert "using database sqlite+aiosqlite:///var/demo.db (the demo's" in err
    code, out, err = await _evscada(demo, "user", "key", "billing", "--name", "billing-system")
    assert code == 0, err
    assert "(the demo's" in err
    key = out.split()[0]
    (docs,) = [url for url in URL.findall(demo.banner) if url.endswith("/api/docs")]
    async with httpx.AsyncClient(base_url=docs.removesuffix("/api/docs"), timeout=10) as client:
        answer = await client.get("/api/v1/transactions", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text


async def test_every_address_the_demo_prints_answers(demo: Demo) -> None:
    urls = set(URL.findall(demo.banner))
    assert any(url.endswith("/api/docs") for url in urls) and any("/docs" in url for url in urls)
    assert len({url.split("/")[2] for url in urls}) == 2  # the console / API port and the fault control port
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as client:
        for url in urls:
            answer = await client.get(url, headers={"Authorization": f"Bearer {demo.key}"})
            assert answer.status_code == 200, f"{url} answered {answer.status_code}"


async def test_the_demo_withdraws_its_marker_when_it_stops(demo: Demo) -> None:
    marker = demo.cwd / "var" / "demo.running"
    assert marker.exists()
    code, _, err = await _evscada(demo, "station", "list")
    assert code == 0 and f"(the demo's, running here as pid {demo.process.pid})" in err
    demo.process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(demo.process.wait(), 30) == 0
    assert not marker.exists()
    code, _, err = await _evscada(demo, "station", "list")
    assert code == 0 and "the default; no demo is running here" in err
