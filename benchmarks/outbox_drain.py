"""How long a terminal's backlog takes to land at the backend once the terminal is back.

Two cases, each with N application events queued in the terminal's outbox while it could not
send, timed from the moment the terminal's link is up until the outbox is empty, i.e. until
the backend has stored every event and its receipts came back:

- terminal outage: the terminal was offline (its network down); broker and backend ran on.
- broker restart: the broker was down. The terminal and the backend worker both reconnect;
  whatever the terminal sends before the worker has subscribed again reaches nobody (PUBACK
  "no matching subscribers") and goes again after a short pause (cloud_bridge/link_unheard).

Also printed: publishes per event (1.00 when nothing went twice).

The terminal runs in a process of its own, as it runs on a machine of its own: in the
benchmark's process it shared one interpreter lock with the backend worker, and each waited on
the other's Python.

    .venv/bin/python benchmarks/outbox_drain.py [N]
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import TERMINAL, application, site_backend, site_broker, stored, wait

from allhours.bootstrap import training_terminal
from demo_support.enrollment import enroll_at_site

KEY = b"k" * 32


def _terminal(data_dir: Path, n: int, go, started, results) -> None:
    """The terminal's process: queue `n` events, start when told, time the outbox emptying."""
    node = training_terminal(data_dir).node
    queued_start = time.perf_counter()
    for i in range(n):
        node.outbox.put(application(i))
    queue_s = time.perf_counter() - queued_start
    go.wait()
    node.start()
    started.set()
    wait(node.link.connected.is_set, 60)
    up = time.perf_counter()
    wait(lambda: node.outbox.backlog() == 0, 300, 0.01)
    results.put(
        {
            "queue_ms": queue_s / n * 1000,
            "drain_s": time.perf_counter() - up,
            "publishes_per_event": node.outbox.sends / n,
            "unheard": node.link.unheard.count,
        }
    )
    node.stop()


def drain(n: int, broker_restart: bool) -> dict[str, float]:
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        broker = site_broker(tmpdir)
        service = site_backend(broker, tmpdir)
        service.register_terminal(TERMINAL, KEY)
        service.start()
        assert service.mqtt and service.mqtt.wait_ready(10)
        data_dir = enroll_at_site(
            broker.authority,
            tmpdir / "t",
            TERMINAL,
            broker_host=broker.host,
            broker_port=broker.port,
            pickup_code_key=KEY,
        )
        go, started, results = spawn.Event(), spawn.Event(), spawn.Queue()
        terminal = spawn.Process(target=_terminal, args=(data_dir, n, go, started, results))
        terminal.start()
        if broker_restart:
            broker.stop()
        before = stored(service.db)
        go.set()
        if broker_restart:
            assert started.wait(60)
            broker.start()
        figures = results.get(timeout=360)
        terminal.join(60)
        figures["landed"] = stored(service.db) - before
        service.stop()
        broker.stop()
        broker.remove_data()
        return figures


def main(n: int) -> None:
    print(f"backlog: {n} application events, queued while the terminal could not send")
    for label, restart in (("terminal outage", False), ("broker restart", True)):
        f = drain(n, restart)
        print(
            f"-- {label}: queued at {f['queue_ms']:.2f} ms each (synchronous=FULL); outbox"
            f" empty {f['drain_s']:.2f} s after the link came up ({n / f['drain_s']:.0f}"
            f" events/s); {f['publishes_per_event']:.2f} publishes per event, {f['unheard']}"
            f" answered 'no matching subscribers'; backend stored {f['landed']} messages"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
