"""How long a terminal's backlog takes to land at the backend after the broker comes back.

A terminal queues N events while the broker is down (as during a network outage), then the
broker starts. Timed from the moment the terminal's link is up again until the outbox is
empty, i.e. until the backend has stored every event and its receipts came back.

    .venv/bin/python benchmarks/outbox_drain.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import TERMINAL, application, site_backend, site_broker, stored, wait

from allhours.bootstrap import training_terminal
from demo_support.enrollment import enroll_at_site


def main(n: int) -> None:
    key = b"k" * 32
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        broker = site_broker(tmpdir)
        service = site_backend(broker, tmpdir)
        service.register_terminal(TERMINAL, key)
        service.start()
        assert service.mqtt and service.mqtt.wait_ready(10)
        broker.stop()
        data_dir = enroll_at_site(
            broker.authority,
            tmpdir / "t",
            TERMINAL,
            broker_host=broker.host,
            broker_port=broker.port,
            pickup_code_key=key,
        )
        node = training_terminal(data_dir).node
        queued_start = time.perf_counter()
        for i in range(n):
            node.outbox.put(application(i))
        queue_s = time.perf_counter() - queued_start
        node.start()
        broker.start()
        assert service.mqtt.wait_ready(30)
        up = wait(node.link.connected.is_set, 30)
        drain = wait(lambda: node.outbox.backlog() == 0, 300, 0.01)
        landed = stored(service.db)
        node.stop()
        service.stop()
        broker.stop()
        broker.remove_data()

    print(
        f"backlog: {n} events queued offline in {queue_s:.2f} s "
        f"({queue_s / n * 1000:.2f} ms each, synchronous=FULL)"
    )
    print(f"link up {up:.2f} s after the broker started")
    print(
        f"outbox empty (all stored and receipted) {drain:.2f} s after reconnect "
        f"({n / drain:.0f} events/s); backend stored {landed} messages (events + status)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
