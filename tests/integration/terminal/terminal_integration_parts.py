"""A terminal on emulated devices and a fake backend that speaks only the MQTT wire protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from enrolled_terminal import enrolled_for
from mqtt_clients import tls_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from allhours.bootstrap import training_terminal
from allhours.broker import PrivateMosquitto
from allhours.settings import LinkSettings as LinkSection
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing, topics
from cloud_bridge.contract.signing import BackendSigner
from cloud_bridge.link import wait_until
from devices.identity.emulated import ScriptedIdentityReader
from devices.identity.port import IdentityDocument
from devices.lock.emulated import EmulatedLockBoard
from face.decision import FaceDecision, FixedFaceVerifier
from provisioning.authority import BACKEND
from terminal.node import TerminalNode

TERMINAL = "T0001"
KEY = b"pickup-code-key-of-T0001"
ZHANG_SAN = IdentityDocument(
    document_type="cn_resident_id", name="张三", number="11010519491231002X", photo=b"\xff\xd8"
)
MATCH = FaceDecision(matched=True, distance=0.31, threshold=0.5, liveness_passed=True)


QUICK_LINK = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "keepalive_s": 5}


def link_settings(**overrides: float | str) -> LinkSection:
    """The `[link]` table of a test terminal: quick reconnects and a short keep-alive."""
    return LinkSection(**{**QUICK_LINK, **overrides})  # type: ignore[arg-type]


_last_seq = 0
_seq_lock = threading.Lock()


def _next_seq() -> int:
    """Strictly increasing across every fake backend of the test run, as the database makes it."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(_last_seq + 1, time.time_ns() // 1000)
        return _last_seq


def build_node(
    broker: PrivateMosquitto, data_dir: Path, **link: float | str
) -> tuple[TerminalNode, EmulatedLockBoard]:
    """A terminal enrolled at the test broker's site, built by the bootstrap on emulated
    devices (a card reader holding ZHANG_SAN's card, a face check that matches); `link`: keys
    of the `[link]` table over `link_settings()`."""
    devices = EmulatedDevices(
        reader=ScriptedIdentityReader([ZHANG_SAN]), face=FixedFaceVerifier(MATCH)
    )
    enrolled_for(broker, data_dir, TERMINAL, pickup_code_key=KEY)
    node = training_terminal(data_dir, devices=devices, link=link_settings(**link)).node
    return node, devices.board


@dataclass(frozen=True)
class Received:
    """One upstream publication as the backend saw it."""

    topic: str
    message: m.Message
    retain: bool
    at: float


class FakeBackend:
    """The backend's side of the wire: subscribes upstream, publishes receipts and commands.

    `persistent=True` is a backend with a stored MQTT session (clean start off, session
    expiry), so the broker queues what arrives while it is away, as production's does.
    """

    def __init__(
        self,
        broker: PrivateMosquitto,
        *,
        client_id: str = "backend.fake",
        persistent: bool = False,
        filters: tuple[str, ...] | None = None,
    ):
        self.port = broker.port
        self.signer = BackendSigner.from_raw(broker.authority.backend_signing_key())
        self.persistent = persistent
        self.filters = filters or tuple(
            f"{topics.ROOT}/terminals/+/{channel}{'/#' if channel == topics.EVENTS else ''}"
            for channel in topics.UPSTREAM
        )
        self.received: list[Received] = []
        self.undecodable: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = tls_client(broker, client_id, BACKEND)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    # ---------------------------------------------------------------- session

    def start(self, timeout: float = 5.0) -> FakeBackend:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if self.persistent else 0
        self.client.connect_async(
            "127.0.0.1", self.port, 5, clean_start=not self.persistent, properties=props
        )
        self.client.loop_start()
        assert self.subscribed.wait(timeout), "fake backend did not subscribe"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        if not flags.session_present:
            self.subscribed.clear()
            client.subscribe([(f, 1) for f in self.filters])
        else:
            self.subscribed.set()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            message = m.decode_from(msg.topic, msg.payload)
        except m.MalformedMessage:
            with self._lock:
                self.undecodable.append((msg.topic, msg.payload))
            return
        with self._lock:
            self.received.append(Received(msg.topic, message, bool(msg.retain), time.monotonic()))

    # ---------------------------------------------------------------- what arrived

    def messages(self, cls: type[m.Message] | None = None, since: float = 0.0) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.received
                if r.at >= since and (cls is None or isinstance(r.message, cls))
            ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 8.0) -> bool:
        return wait_until(predicate, timeout)

    # ---------------------------------------------------------------- talking back

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        signer: BackendSigner | None = None,
        seq: int = 0,
        sig: str | None = None,
        unsigned: bool = False,
    ) -> None:
        """Publish signed with the site's backend key (or `signer`, or exactly `sig`);
        `seq` defaults to the next one."""
        seq = seq or _next_seq()
        props = Properties(PacketTypes.PUBLISH)
        if not unsigned:
            sig = sig or (signer or self.signer).sign(topic, seq, payload)
            props.UserProperty = [(signing.SEQ, str(seq)), (signing.SIG, sig)]
        info = self.client.publish(topic, payload, qos=1, retain=False, properties=props)
        info.wait_for_publish(timeout=5)
        assert info.is_published(), "the broker did not take the fake backend's message"

    def receipt(
        self,
        terminal_id: str,
        message_ids: list[str],
        outcome: m.ReceiptOutcome = m.ReceiptOutcome.STORED,
    ) -> m.Settlement:
        """Acknowledge stored messages at application level, as the ingest does after commit."""
        ids = list(dict.fromkeys(message_ids))
        receipt = m.Settlement(
            terminal_id=terminal_id,
            items=[m.ReceiptItem(message_id=i, outcome=outcome) for i in ids],
        )
        self.publish(topics.receipts(terminal_id), receipt.encode())
        return receipt

    def command(self, command: m.Message) -> None:
        self.publish(topics.commands(command.terminal_id), command.encode())


def load_command(load_id: str = "L-7f3a9c") -> m.LoadResult:
    """A LoadResult for TERMINAL, collected with the code alone, valid for five minutes."""
    return m.LoadResult(
        terminal_id=TERMINAL,
        operation_id=load_id,
        load_id=load_id,
        application_no="AH-T0001-20261120-0001",
        size="M",
        expires_at=m.utcnow() + timedelta(minutes=5),
        item_code="SB-0203",
    )


def acks_for(
    backend: FakeBackend, command: m.Message, received: bool = False
) -> list[m.CommandAck]:
    """The answers the fake backend received for `command` (or, `received`, its
    `received` acks, sent once the terminal verified it and before it ran)."""
    return [
        r.message  # type: ignore[misc]
        for r in backend.messages(m.CommandAck)
        if r.message.command_id == command.message_id  # type: ignore[attr-defined]
        and (r.message.outcome == m.AckOutcome.RECEIVED) == received  # type: ignore[attr-defined]
    ]


def wait_online(backend: FakeBackend) -> None:
    """Wait for the terminal's online status: it goes out after its SUBSCRIBE on the same
    connection, so once it is here the broker routes commands to the terminal."""
    assert backend.wait_for(
        lambda: any(
            r.message.state == m.TerminalState.ONLINE  # type: ignore[attr-defined]
            for r in backend.messages(m.Status)
        )
    )
