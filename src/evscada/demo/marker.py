"""`var/demo.running`: tells the command line, run in the same directory, which database the running demo uses.

Without it `evscada user key` during a demo wrote to var/evscada.db and its key got 401 from the demo's API.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MARKER = Path("var/demo.running")


@dataclass(frozen=True, slots=True)
class RunningDemo:
    database_url: str
    pid: int


@contextlib.contextmanager
def announced(database_url: str, path: Path = MARKER) -> Iterator[None]:
    """Hold the marker while the demo runs; a demo killed with -9 leaves it, and readers check its PID."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"database_url": database_url, "pid": os.getpid()}))
    try:
        yield
    finally:
        found = running_demo(path)
        if found is not None and found.pid == os.getpid():  # not a later demo's marker
            path.unlink(missing_ok=True)


def running_demo(path: Path = MARKER) -> RunningDemo | None:
    """The demo that wrote the marker, if its process is still alive."""
    try:
        data = json.loads(path.read_text())
        demo = RunningDemo(database_url=str(data["database_url"]), pid=int(data["pid"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return demo if _alive(demo.pid) else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
