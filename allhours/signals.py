"""How the foreground commands end on a signal: cleanly, stopping what they started."""

from __future__ import annotations

import signal
import threading

# SIGHUP is the terminal going away (its window closed). By default it and SIGTERM end the
# process on the spot, without the `finally` that stops what it started, and Mosquitto, in a
# session of its own, went on running with nobody to stop it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def exit_on_stop_signals() -> None:
    """From now on SIGTERM and SIGHUP end the main thread as Ctrl-C does, by an exception, so
    every `finally` on the way out runs; the exit status is 128 + the signal's number."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


def _exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def wait_for_signal() -> None:
    """Return once SIGINT, SIGTERM or SIGHUP arrives; must run on the main thread."""
    stop = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
