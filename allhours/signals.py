"""Block until the process is asked to stop: the foreground commands' wait."""

from __future__ import annotations

import signal
import threading

# SIGHUP is the terminal going away (its window closed). By default it ends the process without
# the `finally` that stops what it started, and Mosquitto, in a session of its own, went on
# running with nobody to stop it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def wait_for_signal() -> None:
    """Return once SIGINT, SIGTERM or SIGHUP arrives; must run on the main thread."""
    stop = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
