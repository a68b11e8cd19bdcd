"""The broker admits only certificates of the site CA, each as itself and to its own topics."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from mqtt_clients import tls_client

from allhours.broker import PrivateMosquitto
from cloud_bridge.contract import topics
from cloud_bridge.link import wait_until
from provisioning import broker_access, pki
from provisioning.authority import BACKEND, SiteAuthority
from provisioning.tls import ClientTls, write_private

pytestmark = pytest.mark.broker


class Peer:
    """A connected client that records what it receives and how it was refused."""

    def __init__(self, client: mqtt.Client, broker: PrivateMosquitto):
        self.client = client
        self.received: list[tuple[str, bytes]] = []
        self.suback: list[list[str]] = []
        self.disconnects: list[str] = []
        self.connects = 0
        self.connected = threading.Event()
        self._acks: dict[int, str] = {}
        self._lock = threading.Lock()
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = lambda c, u, mid, rcs, p: self.suback.append([str(r) for r in rcs])
        client.on_publish = lambda c, u, mid, rc, p: self._acks.__setitem__(mid, str(rc))
        client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(str(rc))
        client.connect(broker.host, broker.port, keepalive=10)
        client.loop_start()
        assert self.connected.wait(10), "did not connect"

    def _on_connect(self, _c, _u, _f, rc, _p) -> None:
        if not rc.is_failure:
            self.connects += 1
            self.connected.set()

    def _on_message(self, _c, _u, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, msg.payload))

    def subscribe(self, topic: str) -> list[str]:
        before = len(self.suback)
        self.client.subscribe(topic, qos=1)
        assert wait_until(lambda: len(self.suback) > before, 5)
        return self.suback[-1]

    def publish(self, topic: str, payload: bytes) -> str:
        """Publish at QoS 1; the broker's PUBACK reason ("Success", "Not authorized")."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        return self._acks.pop(info.mid)

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


NARROW_ACLS = broker_access.terminal_acls
# A QoS 1 publish the broker took; with no subscriber, MQTT 5 says so in the PUBACK.
TAKEN = {"Success", "No matching subscribers"}


def _wider_acls(terminal_id: str) -> list[dict]:
    """A terminal's grants as an earlier release made them: any event name under `events/+`."""
    kept = [acl for acl in NARROW_ACLS(terminal_id) if "/events/" not in acl["topic"]]
    events = f"{topics.ROOT}/terminals/{terminal_id}/events/+"
    return [{"acltype": "publishClientSend", "topic": events, "priority": 0, "allow": True}, *kept]


def test_a_terminal_admitted_under_wider_grants_has_them_narrowed_without_a_restart(
    peers, broker, site_ca, monkeypatch, caplog
):
    # Grants narrowed by a new release reached a running broker only at its restart: a terminal
    # admitted before kept `events/+`, free to retain messages under made-up event names.
    backend_files = broker.client_tls("backend.1", BACKEND)
    with monkeypatch.context() as earlier_release:
        earlier_release.setattr(broker_access, "terminal_acls", _wider_acls)
        files = broker.client_tls("T0001")
        # Read from the configuration at the broker's start, as a fleet is. Mosquitto 2.0.11
        # disconnects such clients (not those made by createClient) at each addRoleACL or
        # removeRoleACL on their role.
        broker.stop()
        broker.start()
    backend = peers("backend.1", BACKEND, files=backend_files)
    assert backend.subscribe(f"{topics.ROOT}/terminals/+/events/#") == ["Granted QoS 1"]
    t1 = peers("T0001", files=files)
    made_up, alarm = topics.event("T0001", "xyz"), topics.event("T0001", "alarm")
    assert t1.publish(made_up, b"before") == "Success"

    with caplog.at_level("INFO", logger="provisioning.authority"):
        assert site_ca.publish() == []

    assert t1.publish(made_up, b"after") == "Not authorized"
    assert t1.publish(alarm, b"real") == "Success"
    assert wait_until(lambda: len(backend.received) == 2, 5)
    assert backend.received == [(made_up, b"before"), (alarm, b"real")]
    assert t1.disconnects == []  # narrowed under its feet, its connection kept
    assert "updated 1 (T0001)" in caplog.text


def _dynsec(broker: PrivateMosquitto, *command: str) -> None:
    """One dynamic-security command by hand, as an operator would with `mosquitto_ctrl`."""
    control = broker.authority.control_tls()
    tls = ["--cafile", control.ca_file, "--cert", control.cert_file, "--key", control.key_file]
    address = ["-h", broker.host, "-p", str(broker.port)]
    subprocess.run(
        ["mosquitto_ctrl", *address, *map(str, tls), "dynsec", *command],
        check=True,
        capture_output=True,
        timeout=10,
    )


def test_a_known_terminal_whose_role_was_unlinked_is_linked_again(peers, broker, site_ca):
    files = broker.client_tls("T0001")
    _dynsec(broker, "removeClientRole", "T0001", "id:T0001")
    t1 = peers("T0001", files=files)
    alarm = topics.event("T0001", "alarm")
    assert t1.publish(alarm, b"muted") == "Not authorized"

    site_ca.publish()

    # Linking a role disconnects the client; it comes back with its grants.
    assert wait_until(lambda: t1.connects == 2, 10)
    assert t1.publish(alarm, b"heard") in TAKEN


def _enroll_device(site_ca: SiteAuthority, terminal_id: str, broker: str, directory) -> ClientTls:
    """A device's key and certificate from a token for `broker`, as the lobby endpoint makes."""
    key = pki.new_key()
    token = site_ca.issue_token(terminal_id, broker=broker)
    cert, _ = site_ca.enroll(str(token), pki.make_csr(key, terminal_id))
    files = ClientTls.in_dir(directory)
    write_private(files.key_file, pki.key_pem(key))
    write_private(files.cert_file, pki.cert_pem(cert), mode=0o644)
    write_private(files.ca_file, site_ca.ca_pem, mode=0o644)
    return files


def test_a_re_enrolled_terminals_old_device_is_cut_off_at_once_and_the_new_one_connects(
    peers, broker, site_ca, tmp_path
):
    # The kiosk's hardware replaced, the new device enrolled for broker west: the old device,
    # connected to this broker, stayed connected for as long as its connection lasted. Its
    # certificate was on the CRL, but the CRL is checked only at a connect, and no new device
    # took its session over on a broker the new one does not use.
    west = PrivateMosquitto(tmp_path / "west", site_ca, name="west").start()
    new_devices: list[Peer] = []
    try:
        old = peers("T0011")
        files = _enroll_device(site_ca, "T0011", "west", tmp_path / "new-device")
        assert old.disconnects == []

        assert site_ca.publish() == []  # what the endpoint does after every enrollment

        assert wait_until(lambda: old.disconnects, 5)
        assert old.disconnects == ["Administrative action"]
        time.sleep(2)  # its reconnects (paho retries after 1 s) fail the TLS handshake
        assert old.connects == 1
        for at in (west, broker):
            new_devices.append(Peer(tls_client(at, "T0011", files=files), at))
            assert new_devices[-1].publish(topics.event("T0011", "alarm"), b"new") in TAKEN
    finally:
        for peer in new_devices:
            peer.close()
        west.stop()
        west.remove_data()
