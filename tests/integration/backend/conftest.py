"""Fixtures for backend integration tests: a private Mosquitto, the backend, a plain terminal."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from backend_integration_factories import KEY, TERMINAL, wait_for
from mqtt_clients import tls_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from allhours.broker import PrivateMosquitto
from backend.enrollment import worker_identity
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing, topics
from cloud_bridge.contract.signing import TerminalSigner


class PlainTerminal:
    """A bare paho client standing in for a terminal: publishes upstream, collects receipts."""

    def __init__(self, broker: PrivateMosquitto, terminal_id: str = TERMINAL):
        self.terminal_id = terminal_id
        self.receipts: queue.Queue[m.Settlement] = queue.Queue()
        self.commands: queue.Queue[tuple[m.Message, mqtt.MQTTMessage]] = queue.Queue()
        self.subscriptions = 0
        files = broker.client_tls(terminal_id)
        self.signer = TerminalSigner.from_pem(files.key_file.read_bytes())
        self.client = tls_client(broker, terminal_id, files=files)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(lambda: self.subscriptions, 10, "the terminal's subscriptions")

    def _on_connect(self, client, *_args) -> None:
        # A clean session: subscribe again after every (re)connect.
        client.subscribe(
            [(topics.receipts(self.terminal_id), 1), (topics.commands(self.terminal_id), 1)]
        )

    def _on_subscribe(self, *_args) -> None:
        self.subscriptions += 1

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        message = m.decode(msg.payload)
        if isinstance(message, m.Settlement):
            self.receipts.put(message)
        else:
            self.commands.put((message, msg))

    def send(self, message: m.Message) -> None:
        self.publish_raw(message.topic(), message.encode())

    def publish_raw(
        self, topic: str, payload: bytes, *, signed: bool = True, retain: bool = False
    ) -> None:
        """Publish as the terminal does: signed with its certificate key (unless told not to)."""
        self.publish_async(topic, payload, signed=signed, retain=retain).wait_for_publish(10)

    def publish_async(
        self, topic: str, payload: bytes, *, signed: bool = True, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        props = Properties(PacketTypes.PUBLISH)
        if signed:
            props.UserProperty = (signing.SIG, self.signer.sign(topic, payload))
        return self.client.publish(topic, payload, qos=1, retain=retain, properties=props)

    def receipt_items(self, n: int, timeout: float = 15.0) -> list[m.ReceiptItem]:
        """At least `n` receipt items (from however many Settlement messages it takes)."""
        return self._receipts_until(
            lambda items: len(items) >= n,
            timeout,
            lambda items: f"got {len(items)} receipt items, expected {n}",
        )

    def receipts_covering(self, ids: set[str], timeout: float = 15.0) -> list[m.ReceiptItem]:
        """Receipt items until each of `ids` has one. A message stored just before a crash and
        delivered again after it is answered twice, so a count of items can come up short."""

        def missing(items: list[m.ReceiptItem]) -> set[str]:
            return ids - {i.message_id for i in items}

        return self._receipts_until(
            lambda items: not missing(items),
            timeout,
            lambda items: f"{len(missing(items))} of {len(ids)} messages got no receipt",
        )

    def _receipts_until(
        self,
        done: Callable[[list[m.ReceiptItem]], bool],
        timeout: float,
        failure: Callable[[list[m.ReceiptItem]], str],
    ) -> list[m.ReceiptItem]:
        items: list[m.ReceiptItem] = []
        deadline = time.monotonic() + timeout
        while not done(items):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(failure(items))
            try:
                items.extend(self.receipts.get(timeout=remaining).items)
            except queue.Empty:
                continue
        return items

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mosquitto(broker: PrivateMosquitto) -> PrivateMosquitto:
    return broker


@pytest.fixture
def make_service(tmp_path: Path, mosquitto: PrivateMosquitto):
    """A factory of started in-process backends over one database; all stopped at the end."""
    started: list[BackendService] = []

    def make(shared_group: str | None = None) -> BackendService:
        service = BackendService(
            f"sqlite:///{tmp_path / 'backend.db'}",
            tmp_path / "blobs",
            broker_host=mosquitto.host,
            broker_port=mosquitto.port,
            client_id="backend.under-test",
            credentials=worker_identity(mosquitto.authority, "backend.under-test"),
            shared_group=shared_group,
        )
        started.append(service)
        service.register_terminal(TERMINAL, KEY)
        service.start()
        assert service.mqtt is not None and service.mqtt.wait_ready(10), "backend subscribed"
        return service

    yield make
    for service in started:
        service.stop()


@pytest.fixture
def terminal(mosquitto: PrivateMosquitto) -> Iterator[PlainTerminal]:
    t = PlainTerminal(mosquitto)
    try:
        yield t
    finally:
        t.close()
