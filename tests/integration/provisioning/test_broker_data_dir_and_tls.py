"""Where a broker run as root keeps its data, and which TLS the broker speaks."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from mqtt_clients import tls_client

from allhours.broker import PrivateMosquitto
from cloud_bridge.contract import topics
from provisioning.authority import BACKEND

pytestmark = pytest.mark.broker


def _root_with_mosquitto_and_nobody() -> bool:
    try:
        pwd.getpwnam("mosquitto"), pwd.getpwnam("nobody")
    except KeyError:
        return False
    return os.geteuid() == 0


as_root = pytest.mark.skipif(
    not _root_with_mosquitto_and_nobody(),
    reason="needs root and the users mosquitto and nobody (the broker drops to mosquitto)",
)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file of root's, 0600, that no one else may come to own."""
    path = tmp_path / "canary"
    path.write_text("root's own\n")
    os.chmod(path, 0o600)
    os.chown(path, 0, 0)
    return path


def _made_by_nobody(directory: Path, canary: Path) -> None:
    """What any local user can do in /tmp: a directory of their own, open to all, and in it a
    symbolic link to a file of root's (made here by root and handed to nobody, as they would)."""
    nobody = pwd.getpwnam("nobody")
    directory.mkdir(mode=0o777)
    os.chmod(directory, 0o777)
    (directory / "evil").symlink_to(canary)
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)
    os.chown(directory / "evil", nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)


def _untouched(directory: Path, canary: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    st = canary.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o600)
    assert directory.stat().st_uid == nobody.pw_uid
    assert sorted(p.name for p in directory.iterdir()) == ["evil"]  # nothing of the broker's
    assert (directory / "evil").lstat().st_uid == nobody.pw_uid


@as_root
def test_a_directory_another_user_made_at_the_name_a_broker_once_used_is_not_taken(
    tmp_path, site_ca, canary
):
    # The data directory of a broker whose workdir mosquitto cannot reach was named after the
    # workdir and made with exist_ok: a user who made it first had root write the broker's key
    # into it and chown what their symbolic link pointed at to mosquitto.
    workdir = tmp_path / "broker"  # under pytest's 0700 directory: mosquitto cannot reach it
    tag = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:16]
    predicted = Path(tempfile.gettempdir()) / f"allhours-mosquitto-{tag}"
    shutil.rmtree(predicted, ignore_errors=True)
    _made_by_nobody(predicted, canary)
    broker = PrivateMosquitto(workdir, site_ca)
    try:
        broker.start()
        _untouched(predicted, canary)
        data = broker._data_dir()
        assert data != predicted and data.parent == predicted.parent
        st = data.lstat()
        assert st.st_uid == pwd.getpwnam("mosquitto").pw_uid and st.st_mode & 0o777 == 0o700
    finally:
        broker.stop()
        broker.remove_data()
        shutil.rmtree(predicted, ignore_errors=True)
    assert not data.exists()


@as_root
def test_a_data_directory_another_user_made_in_place_of_the_brokers_is_not_used(
    tmp_path, site_ca, canary, caplog
):
    # The temp dir cleaned of the broker's directory while it was stopped, another user makes
    # one under that name: the next start takes a fresh directory and leaves theirs alone.
    broker = PrivateMosquitto(tmp_path / "broker", site_ca)
    replaced = None
    try:
        broker.start()
        broker.stop()
        replaced = broker._data_dir()
        shutil.rmtree(replaced)
        _made_by_nobody(replaced, canary)
        with caplog.at_level("WARNING", logger="allhours.broker"):
            broker.start()
        _untouched(replaced, canary)
        assert broker._data_dir() != replaced
        assert f"{replaced} is not a data directory of root and mosquitto" in caplog.text
    finally:
        broker.stop()
        broker.remove_data()
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)


@as_root
def test_a_link_left_in_the_data_directory_does_not_hand_its_target_to_mosquitto(
    tmp_path, site_ca, canary
):
    # The directory is mosquitto's: a broker taken over could leave a link there for root to
    # chown what it points at at the next start. Each entry changes owner itself, links too.
    mosquitto = pwd.getpwnam("mosquitto")
    broker = PrivateMosquitto(tmp_path / "broker", site_ca)
    try:
        broker.start()
        broker.stop()
        link = broker._data_dir() / "evil"
        link.symlink_to(canary)
        os.chown(link, mosquitto.pw_uid, mosquitto.pw_gid, follow_symlinks=False)
        broker.start()
        st = canary.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o600)
        assert link.lstat().st_uid == mosquitto.pw_uid
    finally:
        broker.stop()
        broker.remove_data()


@as_root
def test_a_broker_started_again_on_its_workdir_finds_its_persistence(tmp_path, site_ca):
    broker = PrivateMosquitto(tmp_path / "broker", site_ca)
    again = None
    received: list[tuple[str, bytes, bool]] = []
    got = threading.Event()
    try:
        broker.start()
        terminal = tls_client(broker, "T0001")
        terminal.connect(broker.host, broker.port, keepalive=10)
        terminal.loop_start()
        terminal.publish(topics.status("T0001"), b"online", qos=1, retain=True).wait_for_publish(5)
        terminal.disconnect()
        terminal.loop_stop()
        data = broker._data_dir()
        broker.stop()  # SIGTERM: Mosquitto saves its persistence file

        # Another process of the same install: a new object on the same workdir and port.
        again = PrivateMosquitto(tmp_path / "broker", site_ca, broker.port).start()
        assert again._data_dir() == data
        assert (data / "mosquitto.db").is_file()

        def on_message(_c, _u, msg: mqtt.MQTTMessage) -> None:
            received.append((msg.topic, msg.payload, msg.retain))
            got.set()

        backend = tls_client(again, "backend.1", BACKEND)
        backend.on_message = on_message
        backend.on_connect = lambda c, *_: c.subscribe(f"{topics.ROOT}/terminals/+/status", 1)
        backend.connect(again.host, again.port, keepalive=10)
        backend.loop_start()
        try:
            assert got.wait(10)
        finally:
            backend.disconnect()
            backend.loop_stop()
        assert received == [(topics.status("T0001"), b"online", True)]
    finally:
        broker.stop()
        if again is not None:
            again.stop()
        broker.remove_data()


def _negotiated(broker: PrivateMosquitto, ctx: ssl.SSLContext) -> str | None:
    """The cipher suite of a completed handshake with the broker, None when it was refused."""
    with socket.create_connection((broker.host, broker.port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=broker.host) as tls:
                return tls.cipher()[0]
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return None


def _tls12_offering(broker: PrivateMosquitto, suite: str) -> ssl.SSLContext:
    """A terminal's own context, limited to TLS 1.2 and to the one cipher suite `suite`."""
    ctx = broker.client_tls("T0001").context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(suite)
    assert [c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"] == [suite]
    return ctx


CBC_SUITES = (
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
)
AEAD_SUITES = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
)


def test_a_tls12_client_offering_only_cbc_suites_is_refused(broker):
    for suite in CBC_SUITES:
        assert _negotiated(broker, _tls12_offering(broker, suite)) is None, suite


def test_a_tls12_client_offering_an_aead_suite_connects_with_it(broker):
    for suite in AEAD_SUITES:
        assert _negotiated(broker, _tls12_offering(broker, suite)) == suite


def test_the_projects_clients_negotiate_aead_at_tls12_and_tls13(broker):
    tls13 = broker.client_tls("T0001").context()
    assert _negotiated(broker, tls13) in {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"}
    tls12 = broker.client_tls("T0001").context()  # Python's default suites, TLS 1.2 only
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _negotiated(broker, tls12) in AEAD_SUITES
