"""Ending tasks a simulated station owns."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_quietly(*tasks: asyncio.Task[Any]) -> None:
    """Cancel the tasks and wait until they have ended, whatever they ended with.

    A cancellation of the caller itself is passed on, not swallowed: a station being shut down while it tidies
    up after a lost connection must not go on to reconnect forever."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)  # unlike `await task`, raises only if the caller is cancelled
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: a failure while being cancelled is nobody's to report
