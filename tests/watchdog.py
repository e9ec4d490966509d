"""A hung test fails with the state of its asyncio tasks instead of stalling the whole run.

A test that never ends (a library swallowing a cancel, a peer that never answers) used to hold its xdist worker
until CI's own limit killed everything, with no hint of where it stood. The watchdog waits `EVSCADA_TEST_HANG_SECONDS`
(360 s by default, several times the slowest test) for each phase of a test. When a phase outlives it, the
watchdog writes every pending task's await chain into the test's report and cancels the tasks, so the test fails
with that report and the run goes on. pytest-timeout's thread method, set longer in pyproject.toml, is the last
resort for a phase stuck outside the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import threading
import time
from collections.abc import Iterator
from types import CoroutineType, FrameType, GeneratorType
from typing import Any

import pytest

HANG_SECONDS = float(os.environ.get("EVSCADA_TEST_HANG_SECONDS", "360"))


def _pending_tasks() -> list[asyncio.Task[Any]]:
    """Every unfinished task of every loop; read from another thread, so the set is copied with retries."""
    registry = asyncio.tasks._all_tasks  # type: ignore[attr-defined]
    for _ in range(10):
        try:
            return [task for task in list(registry) if not task.done()]
        except RuntimeError:  # the set changed while it was copied
            time.sleep(0.01)
    return []


def _await_chain(task: asyncio.Task[Any]) -> list[str]:
    """Where a task waits: its coroutine, and each coroutine or future it awaits in turn."""
    lines: list[str] = []
    awaited: object = task.get_coro()
    for _ in range(50):
        frame: FrameType | None = None
        if isinstance(awaited, CoroutineType):
            frame, next_awaited = awaited.cr_frame, awaited.cr_await
        elif isinstance(awaited, GeneratorType):
            frame, next_awaited = awaited.gi_frame, awaited.gi_yieldfrom
        elif hasattr(awaited, "ag_frame"):
            frame, next_awaited = awaited.ag_frame, getattr(awaited, "ag_await", None)
        else:
            if awaited is not None:
                lines.append(f"    awaits {awaited!r:.300}")
            break
        if frame is not None:
            code = frame.f_code
            lines.append(f"    {code.co_filename}:{frame.f_lineno} in {code.co_name}")
        awaited = next_awaited
    return lines


def describe_tasks(tasks: list[asyncio.Task[Any]]) -> str:
    out = io.StringIO()
    for task in tasks:
        out.write(f"task {task.get_name()} {task.get_coro()!r:.200}\n")
        out.write("\n".join(_await_chain(task)) + "\n")
    return out.getvalue()


def _fire(item: pytest.Item, phase: str) -> None:
    tasks = _pending_tasks()
    report = describe_tasks(tasks) or "no asyncio task pending: the phase is stuck outside the event loop\n"
    item.add_report_section(phase, "hang", f"{phase} outlived {HANG_SECONDS:.0f} s; pending tasks:\n{report}")
    loops = set()
    for task in tasks:
        with contextlib.suppress(Exception):
            loops.add(task.get_loop())
    for loop in loops:
        # Cancel on the loop's own thread; a task that swallows this is cancelled again on the next firing.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_cancel_all, loop)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel("the test watchdog: this test hung (see the report's 'hang' section)")


@contextlib.contextmanager
def watch(item: pytest.Item, phase: str) -> Iterator[None]:
    stop = threading.Event()

    def run() -> None:
        # Fire at the limit, then again every 30 s at most while the phase runs (a swallowed cancel is retried).
        wait = HANG_SECONDS
        while not stop.wait(wait):
            _fire(item, phase)
            wait = min(30.0, HANG_SECONDS)

    thread = threading.Thread(target=run, name=f"test-watchdog-{phase}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with watch(item, "setup"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with watch(item, "call"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with watch(item, "teardown"):
        yield
