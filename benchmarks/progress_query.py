"""Round trip of a progress query: the terminal asks, the backend answers, over a real broker.

Timed from `ProgressLookup.ask` until it returns the backend's answer (publish, ingest batch,
guess count, audit row, commit, response, correlation). Baseline in the same run: the same
request payload published by a plain paho client to a topic it subscribes itself, over the
same broker: what the broker and the network hops alone cost.

    .venv/bin/python benchmarks/progress_query.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt
from _common import TERMINAL, application, site_backend, site_broker, wait

from allhours.bootstrap import training_terminal
from allhours.broker import PrivateMosquitto
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from demo_support.enrollment import enroll_at_site
from provisioning.authority import BACKEND
from provisioning.authority import TERMINAL as TERMINAL_ROLE


def _client(broker: PrivateMosquitto, cn: str, role: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=cn)
    client.tls_set_context(broker.client_tls(cn, role).context())
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def _echo_round_trips(broker: PrivateMosquitto, n: int) -> list[float]:
    """A request-sized payload through the broker to a waiting client, n times.

    The broker's ACL lets no client hear itself outside the contract, so a backend-role client
    publishes on a terminal's responses topic and that terminal's client receives it: the same
    one publish and one delivery as a client echoing to itself.
    """
    got = threading.Event()
    echo_terminal = "T0999"
    sender = _client(broker, "backend.bench-echo", BACKEND)
    receiver = _client(broker, echo_terminal, TERMINAL_ROLE)
    receiver.on_message = lambda *_a: got.set()
    topic = topics.responses(echo_terminal)
    receiver.subscribe(topic, qos=1)
    time.sleep(0.3)
    payload = m.ApplicationStatusQuery(
        terminal_id=echo_terminal,
        operation_id="STATUS-000000000000",
        application_no="AH-T0001-20261120-00000",
        phone_tail="8000",
        expires_at=m.utcnow() + timedelta(seconds=5),
    ).encode()
    out = []
    try:
        for _ in range(n):
            got.clear()
            start = time.perf_counter()
            sender.publish(topic, payload, qos=1)
            if not got.wait(5):
                raise TimeoutError("echo lost")
            out.append(time.perf_counter() - start)
    finally:
        for client in (sender, receiver):
            client.loop_stop()
            client.disconnect()
    return out


def main(n: int) -> None:
    key = b"k" * 32
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        broker = site_broker(tmpdir)
        service = site_backend(broker, tmpdir, shared_group=None)
        service.register_terminal(TERMINAL, key)
        event = application(0)
        service.ingest.handle_batch([(event.topic(), event.encode())])
        data_dir = enroll_at_site(
            broker.authority,
            tmpdir / "t",
            TERMINAL,
            broker_host=broker.host,
            broker_port=broker.port,
            pickup_code_key=key,
        )
        node = training_terminal(data_dir).node
        try:
            service.start()
            assert service.mqtt and service.mqtt.wait_ready(10)
            node.start()
            wait(lambda: node.link.responses_granted.is_set(), 10)
            number, tail = event.application_no, event.applicant.phone[-4:]
            node.progress.ask(number, tail)  # warm up
            found, missed = [], []
            for i in range(n):
                start = time.perf_counter()
                # Every 5th query uses a wrong tail, on a number of its own (no lock reached).
                wrong = i % 5 == 4
                answer = node.progress.ask(
                    f"AH-T0001-20261120-9{i:04d}" if wrong else number, "0000" if wrong else tail
                )
                (missed if wrong else found).append(time.perf_counter() - start)
                assert answer.reached and answer.found is not wrong
            echo = _echo_round_trips(broker, n)
        finally:
            node.stop()
            service.stop()
            broker.stop()
    med = statistics.median
    p90 = lambda xs: sorted(xs)[int(0.9 * (len(xs) - 1))]  # noqa: E731
    print(
        f"progress query round trip, {len(found)} found: median {med(found) * 1e3:.1f} ms, "
        f"p90 {p90(found) * 1e3:.1f} ms"
    )
    print(f"not found (wrong tail), {len(missed)}: median {med(missed) * 1e3:.1f} ms")
    print(
        f"broker echo of the same request: median {med(echo) * 1e3:.2f} ms; "
        f"ratio query/echo {med(found) / med(echo):.1f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
