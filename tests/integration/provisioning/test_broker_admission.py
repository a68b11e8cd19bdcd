"""The broker admits only certificates of the site CA, each as itself and to its own topics."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from mqtt_clients import tls_client

from allhours.broker import PrivateMosquitto
from cloud_bridge.contract import topics
from cloud_bridge.link import wait_until
from provisioning.authority import BACKEND, SiteAuthority

pytestmark = pytest.mark.broker


class Peer:
    """A connected client that records what it receives and how it was refused."""

    def __init__(self, client: mqtt.Client, broker: PrivateMosquitto):
        self.client = client
        self.received: list[tuple[str, bytes]] = []
        self.suback: list[list[str]] = []
        self.disconnects: list[str] = []
        self.connected = threading.Event()
        self._lock = threading.Lock()
        client.on_connect = lambda c, u, f, rc, p: rc.is_failure or self.connected.set()
        client.on_message = self._on_message
        client.on_subscribe = lambda c, u, mid, rcs, p: self.suback.append([str(r) for r in rcs])
        client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(str(rc))
        client.connect(broker.host, broker.port, keepalive=10)
        client.loop_start()
        assert self.connected.wait(10), "did not connect"

    def _on_message(self, _c, _u, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, msg.payload))

    def subscribe(self, topic: str) -> list[str]:
        before = len(self.suback)
        self.client.subscribe(topic, qos=1)
        assert wait_until(lambda: len(self.suback) > before, 5)
        return self.suback[-1]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def peers(broker: PrivateMosquitto):
    made: list[Peer] = []

    def connect(cn: str, role: str = "terminal", **kwargs) -> Peer:
        peer = Peer(tls_client(broker, cn, role, **kwargs), broker)
        made.append(peer)
        return peer

    yield connect
    for peer in made:
        peer.close()


def _handshake_fails(broker: PrivateMosquitto, ctx: ssl.SSLContext) -> bool:
    """True when the broker ends the TLS session before any MQTT byte can be exchanged."""
    with socket.create_connection((broker.host, broker.port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=broker.host) as tls:
                tls.sendall(b"\x10\x00")  # the start of a CONNECT; the broker must not read it
                return tls.recv(1) == b""
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return True


# A minimal MQTT 5 CONNECT: client id "anon", clean start, keep-alive 10 s, no properties.
PLAIN_CONNECT = bytes.fromhex("101100044d5154540502000a000004616e6f6e")


def test_a_plain_tcp_client_gets_no_mqtt_session(broker):
    with socket.create_connection((broker.host, broker.port), timeout=5) as raw:
        raw.sendall(PLAIN_CONNECT)
        try:
            answer = raw.recv(4)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"\x20")  # no CONNACK: the port speaks TLS only


def test_tls_without_a_client_certificate_is_refused(broker):
    ctx = ssl.create_default_context(cafile=str(broker.tls_dir / "ca.pem"))
    assert _handshake_fails(broker, ctx)


def test_a_certificate_from_another_ca_is_refused(broker, tmp_path):
    stranger = SiteAuthority.create(tmp_path / "other-ca")
    files = stranger.issue_identity("T0001", "terminal", tmp_path / "stranger")
    ctx = ssl.create_default_context(cafile=str(broker.tls_dir / "ca.pem"))
    ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
    assert _handshake_fails(broker, ctx)


def test_a_terminal_cannot_read_or_write_another_terminals_topics(peers):
    backend = peers("backend.1", BACKEND)
    assert backend.subscribe(f"{topics.ROOT}/terminals/+/events/#") == ["Granted QoS 1"]
    t1 = peers("T0001")
    t2 = peers("T0002")

    assert t2.subscribe("#") == ["Not authorized"]
    assert t2.subscribe(topics.commands("T0001")) == ["Not authorized"]
    assert t2.subscribe(f"$share/{topics.SHARED_GROUP}/{topics.ROOT}/terminals/+/events/#") == [
        "Not authorized"
    ]
    t2.publish(topics.event("T0001", "application_submitted"), b"forged by T0002")
    t1.publish(topics.event("T0001", "application_submitted"), b"real")

    assert wait_until(lambda: backend.received, 5)
    time.sleep(0.5)  # what the forged publish would have needed to arrive
    assert [p for _t, p in backend.received] == [b"real"]
    assert t2.received == []


def test_a_terminal_cannot_join_the_backends_shared_group_to_swallow_messages(peers):
    backend = peers("backend.1", BACKEND)
    group = f"$share/{topics.SHARED_GROUP}/{topics.ROOT}/terminals/+/events/#"
    assert backend.subscribe(group) == ["Granted QoS 1"]
    intruder = peers("T0002")
    assert intruder.subscribe(group) == ["Not authorized"]
    t1 = peers("T0001")
    for n in range(20):
        t1.publish(topics.event("T0001", "alarm"), str(n).encode())

    assert wait_until(lambda: len(backend.received) == 20, 10), len(backend.received)
    assert intruder.received == []


def test_a_terminal_publishes_only_the_event_topics_of_the_contract(peers):
    # Under `events/+` a stolen certificate retained 3000 messages of 60 KB on made-up event
    # names: the broker kept 172 MiB for ever and handed all of it to each new subscription.
    backend = peers("backend.1", BACKEND)
    assert backend.subscribe(f"{topics.ROOT}/terminals/+/events/#") == ["Granted QoS 1"]
    t1 = peers("T0001")
    alarm = topics.event("T0001", "alarm")

    for n in range(3):
        made_up = topics.event("T0001", f"x{n:06d}")
        t1.client.publish(made_up, b"made up", qos=1, retain=True).wait_for_publish(5)
    t1.publish(alarm, b"real")

    assert wait_until(lambda: backend.received, 5)
    time.sleep(0.5)  # what a made-up one would have needed to arrive
    assert backend.received == [(alarm, b"real")]
    late = peers("backend.2", BACKEND)
    assert late.subscribe(f"{topics.ROOT}/terminals/+/events/#") == ["Granted QoS 1"]
    time.sleep(0.5)
    assert late.received == []  # the broker kept none of them


def test_a_certificate_connects_only_under_its_own_client_id(peers, broker):
    t1 = peers("T0001")
    impostor = peers("T0002", client_id="T0001")  # asks for T0001's id, and its session

    time.sleep(0.5)
    assert t1.disconnects == []  # the real T0001 was not kicked off
    assert impostor.connected.is_set()
    log = broker.log_path.read_text()
    assert "as T0002 (" in log and log.count("as T0001 (") == 1


def test_a_terminal_cannot_publish_commands_or_receipts(peers):
    t1 = peers("T0001")
    watcher = peers("backend.watch", BACKEND)
    t2 = peers("T0002")
    assert t2.subscribe(topics.commands("T0002")) == ["Granted QoS 1"]

    t1.publish(topics.commands("T0002"), b"open everything")
    t1.publish(topics.receipts("T0002"), b"stored")
    time.sleep(0.5)
    assert t2.received == []
    assert watcher.received == []


def test_four_hundred_terminals_admitted_at_once_can_all_be_heard(peers, broker, site_ca, tmp_path):
    # A district enrolling a fleet in one go: before the control commands went in batches,
    # 400 new terminals in one message got no answer within the wait, the broker was left
    # unchanged, and every terminal connected but was muted (its publishes dropped).
    backend = peers("backend.1", BACKEND)
    assert backend.subscribe(f"{topics.ROOT}/terminals/+/events/#") == ["Granted QoS 1"]
    names = [f"T{n:04d}" for n in range(5000, 5400)]
    files = {cn: site_ca.issue_identity(cn, "terminal", tmp_path / "fleet" / cn) for cn in names}

    site_ca.publish()

    for cn in (names[0], names[199], names[-1]):
        peers(cn, files=files[cn]).publish(topics.event(cn, "alarm"), cn.encode())
    assert wait_until(lambda: len(backend.received) == 3, 10), backend.received
    assert sorted(p for _t, p in backend.received) == [b"T5000", b"T5199", b"T5399"]


def _connects(broker: PrivateMosquitto, files, cn: str) -> bool:
    client = tls_client(broker, cn, files=files)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: rc.is_failure or connected.set()
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except (OSError, ssl.SSLError):
        return False
    client.loop_start()
    try:
        return connected.wait(3)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_running_broker_has_its_crl_signed_afresh_before_it_lapses(tmp_path):
    # The CRL is signed for 30 days and was signed again only at an enrollment, a revocation or
    # the broker's start: on a quiet site OpenSSL then refused every client, the whole fleet
    # cut off. A running broker now has it signed afresh (daily; here every half second).
    now = [datetime.now(UTC)]
    site = SiteAuthority.create(tmp_path / "ca", clock=lambda: now[0])
    broker = PrivateMosquitto(tmp_path / "broker", site, crl_refresh=timedelta(seconds=0.5))
    broker.start()
    try:
        files = broker.client_tls("T0001")
        assert _connects(broker, files, "T0001")
        now[0] -= timedelta(days=31)  # the CRL as signed 31 days ago: past its next update
        site.write_broker_files(broker._data_dir(), access=False)
        os.kill(broker.proc.pid, signal.SIGHUP)
        assert wait_until(lambda: not _connects(broker, files, "T0001"), 10)
        now[0] = datetime.now(UTC)
        assert wait_until(lambda: _connects(broker, files, "T0001"), 10)
    finally:
        broker.stop()
        broker.remove_data()
