"""Block until the process is asked to stop (SIGINT or SIGTERM): the foreground commands' wait."""

from __future__ import annotations

import signal
import threading


def wait_for_signal() -> None:
    """Return once SIGINT or SIGTERM arrives; must run on the main thread."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
