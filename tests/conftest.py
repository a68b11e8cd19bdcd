"""Suite-wide guards: a test that leaves a thread or a child process behind fails."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from allhours.broker import PrivateMosquitto


def _children() -> set[int]:
    """Live child processes of this pytest process (zombies excluded)."""
    me = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid = fields[0], fields[1]
        if ppid == me and state != "Z":
            found.add(int(entry.name))
    return found


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


@pytest.fixture(autouse=True)
def verify_cleanup(request: pytest.FixtureRequest):
    """Fail any test that leaves threads or child processes running (zigpy-style guard)."""
    threads_before = _threads()
    children_before = _children()
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked_threads = {
            t for t in _threads() - threads_before
            if not t.name.startswith(("asyncio_", "ThreadPoolExecutor", "AnyIO worker"))
        }
        leaked_children = _children() - children_before
        if not (leaked_threads or leaked_children) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = []
    if leaked_threads:
        problems.append("threads: " + ", ".join(sorted(t.name for t in leaked_threads)))
    if leaked_children:
        problems.append(f"child processes: {sorted(leaked_children)}")
    if problems:
        pytest.fail(f"{request.node.nodeid} left behind " + "; ".join(problems), pytrace=False)


@pytest.fixture
def broker(tmp_path: Path):
    """A private Mosquitto on loopback for one test; stopped (and checked stopped) after it."""
    b = PrivateMosquitto(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()
        b.remove_data()
