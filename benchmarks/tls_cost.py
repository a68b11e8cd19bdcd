"""What mutual TLS costs, and how long a terminal takes from token to first message.

One Mosquitto process with two listeners on loopback, in one run: the site's mutual-TLS
listener (certificates of the site CA) and, as the baseline, a plain-TCP listener that only this
benchmark opens. Figures: connect time (TCP + handshake + CONNECT/CONNACK), and the rate of QoS 1
messages of 1 KiB from one client to another. Then enrollment on the real site: token issued,
key and CSR made, HTTPS enrollment, broker admission, first message seen by a backend client.

    .venv/bin/python benchmarks/tls_cost.py [CONNECTS] [MESSAGES]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as mqtt
from _common import site_broker, wait

from allhours.bootstrap import training_terminal
from allhours.broker import find_mosquitto, free_port, port_open
from backend.enrollment import enrollment_server
from backend.service import BackendService
from cloud_bridge.contract import topics
from provisioning.authority import BACKEND, SiteAuthority
from provisioning.enroll_client import enroll
from provisioning.tls import ClientTls


def _two_listener_broker(tmp: Path, authority: SiteAuthority) -> tuple[subprocess.Popen, int, int]:
    server = authority.issue_server("bench-broker", tmp / "tls", ("127.0.0.1",))
    if os.geteuid() == 0:  # Mosquitto drops to user mosquitto before it reads the key
        os.chmod(tmp, 0o755)
        for path in (tmp / "tls", *(tmp / "tls").iterdir()):
            shutil.chown(path, user="mosquitto")
    plain, tls = free_port(), free_port()
    conf = tmp / "bench.conf"
    conf.write_text(
        "\n".join(
            [
                "per_listener_settings true",
                "set_tcp_nodelay true",
                f"listener {plain} 127.0.0.1",
                "allow_anonymous true",
                f"listener {tls} 127.0.0.1",
                "allow_anonymous true",
                f"cafile {server.ca_file}",
                f"certfile {server.cert_file}",
                f"keyfile {server.key_file}",
                "require_certificate true",
                "use_identity_as_username true",
                "max_queued_messages 1000000",
                "log_dest none",
                "",
            ]
        )
    )
    proc = subprocess.Popen([find_mosquitto(), "-c", str(conf)], stderr=subprocess.DEVNULL)
    wait(lambda: port_open("127.0.0.1", plain) and port_open("127.0.0.1", tls), 10)
    return proc, plain, tls


def _client(port: int, tls: ClientTls | None, cid: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    if tls:
        c.tls_set_context(tls.context())
    return c


def connect_times(port: int, tls: ClientTls | None, n: int) -> list[float]:
    out = []
    for i in range(n):
        c = _client(port, tls, f"T{i:04d}")
        start = time.perf_counter()
        c.connect("127.0.0.1", port, keepalive=30)
        while not c.is_connected():
            c.loop(timeout=0.01)
        out.append(time.perf_counter() - start)
        c.disconnect()
    return out


def message_rate(port: int, tls: ClientTls | None, n: int) -> float:
    got = 0
    done = threading.Event()

    def on_message(*_a) -> None:
        nonlocal got
        got += 1
        if got == n:
            done.set()

    sub = _client(port, tls, "backend.rate-sub")
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("bench/#", qos=1)
    sub.loop_start()
    pub = _client(port, tls, "T0001")
    pub.max_inflight_messages_set(200)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.3)
    payload = b"x" * 1024
    start = time.perf_counter()
    for _ in range(n):
        pub.publish("bench/T0001", payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - start
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return got / elapsed


def enrollment_seconds(tmp: Path) -> tuple[float, float]:
    """(token to certificate on disk, token to first message at the backend), seconds."""
    with contextlib.ExitStack() as stack:
        broker = site_broker(tmp)
        stack.callback(broker.remove_data)
        stack.callback(broker.stop)
        db = f"sqlite:///{tmp / 'b.sqlite'}"
        service = BackendService(db, tmp / "blobs", broker_port=None)
        stack.callback(service.stop)
        server = enrollment_server(
            service,
            broker.authority,
            broker_host=broker.host,
            broker_port=broker.port,
            host="127.0.0.1",
            port=free_port(),
        ).start()
        stack.callback(server.stop)
        seen = threading.Event()
        files = broker.client_tls("backend.watch", BACKEND)
        watcher = _client(broker.port, files, "backend.watch")
        watcher.on_message = lambda *_a: seen.set()
        watcher.connect(broker.host, broker.port)
        watcher.subscribe(topics.status("T0002"), qos=1)
        watcher.loop_start()
        stack.callback(watcher.loop_stop)
        stack.callback(watcher.disconnect)
        start = time.perf_counter()
        token = broker.authority.issue_token("T0002")
        identity = enroll(server.url, str(token), tmp / "T0002")
        enrolled = time.perf_counter() - start
        node = training_terminal(identity.directory.parent).node
        node.start()
        stack.callback(node.stop)
        seen.wait(30)
        return enrolled, time.perf_counter() - start


def main() -> None:
    connects = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    messages = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        authority = SiteAuthority.create(tmp / "site-ca")
        client = authority.issue_identity("T0001", "terminal", tmp / "client")
        proc, plain, tls = _two_listener_broker(tmp, authority)
        try:
            plain_c = statistics.median(connect_times(plain, None, connects))
            tls_c = statistics.median(connect_times(tls, client, connects))
            plain_r = message_rate(plain, None, messages)
            tls_r = message_rate(tls, client, messages)
        finally:
            proc.terminate()
            proc.wait(10)
        print(
            f"connect, median of {connects}: plain {plain_c * 1000:.2f} ms, "
            f"mutual TLS {tls_c * 1000:.2f} ms (ratio {tls_c / plain_c:.1f})"
        )
        print(
            f"QoS 1 messages of 1 KiB, {messages}: plain {plain_r:,.0f}/s, "
            f"mutual TLS {tls_r:,.0f}/s (ratio {tls_r / plain_r:.2f}); per message "
            f"{(1 / tls_r - 1 / plain_r) * 1e6:+.1f} µs with TLS"
        )
        enrolled, first = enrollment_seconds(tmp / "site")
        print(
            f"enrollment: token to certificate on disk {enrolled:.2f} s, "
            f"token to first message at the backend {first:.2f} s"
        )


if __name__ == "__main__":
    main()
