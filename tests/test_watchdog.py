"""The test watchdog turns a hung test into a failure that shows where it hung, and the run goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

HUNG_TESTS = textwrap.dedent(
    """
    import asyncio


    async def wait_for_a_peer_that_never_answers():
        await asyncio.Event().wait()


    async def test_hangs_in_a_nested_wait():
        await wait_for_a_peer_that_never_answers()


    async def test_swallows_the_first_cancel():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # what aiomqtt's client exit does to a cancel
        await asyncio.sleep(3600)


    def test_after_the_hung_ones_still_runs():
        assert True
    """
)


def test_a_hung_test_fails_with_its_await_chain_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_hung.py").write_text(HUNG_TESTS)
    env = {**os.environ, "PYTHONPATH": str(REPO), "EVSCADA_TEST_HANG_SECONDS": "2"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.watchdog", "-o", "asyncio_mode=auto", "-p", "no:cacheprovider",
         "-p", "no:timeout", "-q", "test_hung.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert "2 failed, 1 passed" in output, output
    assert "call outlived 2 s" in output
    # The report names the coroutine that waited, not just the test.
    assert "in wait_for_a_peer_that_never_answers" in output
    # The second test swallowed one cancel and was cancelled again at the next firing.
    assert took < 90, f"the hung tests held the run for {took:.0f} s"
