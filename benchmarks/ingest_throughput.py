"""Backend ingest rate over a real Mosquitto, against mosquitto_sub receiving the same stream.

Both subscribe before the publisher starts; the publisher sends N distinct
application_submitted events at QoS 1 as fast as the broker takes them. mosquitto_sub only
prints each message; the backend validates, dedupes, commits to SQLite, publishes receipts
and acks. The ratio says what the backend's guarantees cost against bare delivery.

    .venv/bin/python benchmarks/ingest_throughput.py [N]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import TERMINAL, application, site_backend, site_broker, stored, wait

from cloud_bridge.contract import signing
from cloud_bridge.contract.signing import TerminalSigner
from provisioning.authority import BACKEND


def _signature(signer: TerminalSigner, topic: str, payload: bytes) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = (signing.SIG, signer.sign(topic, payload))
    return props


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        broker = site_broker(tmpdir)
        # The terminal's certificate first: the backend checks each event's signature with it.
        files = broker.client_tls(TERMINAL)
        service = site_backend(broker, tmpdir)
        # mosquitto_sub reads as a backend worker would: its own certificate, a plain filter.
        sub_tls = broker.client_tls("backend.bench-sub", BACKEND)
        service.register_terminal(TERMINAL, b"k" * 32)
        service.start()
        assert service.mqtt and service.mqtt.wait_ready(10)
        sub = subprocess.Popen(
            [
                "mosquitto_sub",
                "-h",
                broker.host,
                "-p",
                str(broker.port),
                "-V",
                "mqttv5",
                "-q",
                "1",
                "--cafile",
                str(sub_tls.ca_file),
                "--cert",
                str(sub_tls.cert_file),
                "--key",
                str(sub_tls.key_file),
                "-i",
                "backend.bench-sub",
                "-t",
                "allhours/v1/terminals/+/events/#",
                "-C",
                str(n),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        sub_lines = 0
        sub_done = threading.Event()
        sub_end = [0.0]

        def count() -> None:
            nonlocal sub_lines
            assert sub.stdout
            for _ in sub.stdout:
                sub_lines += 1
            sub_end[0] = time.perf_counter()
            sub_done.set()

        reader = threading.Thread(target=count, daemon=True)
        reader.start()
        time.sleep(0.5)  # let mosquitto_sub subscribe
        payloads = [(e.topic(), e.encode()) for e in (application(i) for i in range(n))]
        pub = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=TERMINAL
        )
        pub.tls_set_context(files.context())
        # Signed as the terminal signs each event when it queues it, before the clock starts.
        signer = TerminalSigner.from_pem(files.key_file.read_bytes())
        signed = [(t, p, _signature(signer, t, p)) for t, p in payloads]
        pub.max_inflight_messages_set(1000)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        start = time.perf_counter()
        infos = [pub.publish(t, p, qos=1, properties=props) for t, p, props in signed]
        for info in infos:
            info.wait_for_publish(60)
        published = time.perf_counter() - start
        backend_s = wait(lambda: stored(service.db) >= n, 300) + published
        sub_done.wait(120)
        sub_s = sub_end[0] - start
        pub.loop_stop()
        pub.disconnect()
        sub.wait(10)
        service.stop()
        broker.stop()
        broker.remove_data()

    print(f"events: {n} application_submitted, QoS 1, one publisher, SQLite backend")
    print(f"publisher done after        {published:8.2f} s")
    print(f"mosquitto_sub received all  {sub_s:8.2f} s  {sub_lines / sub_s:9.0f} events/s")
    print(f"backend stored all          {backend_s:8.2f} s  {n / backend_s:9.0f} events/s")
    print(f"backend / mosquitto_sub rate ratio: {(n / backend_s) / (sub_lines / sub_s):.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
