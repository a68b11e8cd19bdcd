"""Blocking device and network calls off the UI thread; results come back via Clock.

Each job runs in its own named thread. The kiosk bumps `epoch` when it forgets a citizen, so
a card read or a scan that finishes after the wipe is dropped instead of showing up again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock

log = logging.getLogger(__name__)


class Worker:
    """Runs jobs in threads; `stop()` asks loops to end and joins every thread."""

    def __init__(self) -> None:
        self.epoch = 0
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(
        self,
        name: str,
        job: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> threading.Thread:
        epoch = self.epoch

        def deliver(fn: Callable[[Any], None] | None, value: Any) -> None:
            if fn is None:
                return

            def call(_dt: float) -> None:
                if epoch == self.epoch and not self.stopping.is_set():
                    fn(value)

            Clock.schedule_once(call, 0)

        def body() -> None:
            try:
                result = job()
            except BaseException as exc:
                if on_error is None:
                    log.exception("kiosk job %s failed", name)
                deliver(on_error, exc)
            else:
                deliver(on_done, result)

        thread = threading.Thread(target=body, name=f"kiosk-{name}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def forget(self) -> None:
        """Results of jobs started before now are dropped."""
        self.epoch += 1

    def busy(self) -> bool:
        with self._lock:
            return any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.forget()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)
