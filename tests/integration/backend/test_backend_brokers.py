"""One backend worker on two brokers (two regions): terminals of each reach it, commands go to
each terminal's own broker, and a broker's crash and restart loses nothing."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from backend_integration_factories import KEY, submission, wait_for
from mqtt_clients import tls_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from allhours.broker import PrivateMosquitto
from backend.enrollment import worker_identity
from backend.models import Application, ProcessedMessage
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing, topics
from cloud_bridge.contract.schema import examples
from cloud_bridge.contract.signing import TerminalSigner

pytestmark = pytest.mark.broker

EAST, WEST = "T0101", "T0201"  # a terminal of each region


class RegionTerminal:
    """A terminal on its region's broker: sends signed events, re-sends what has no receipt
    (as the terminal's outbox does), and keeps the commands it gets."""

    def __init__(self, broker: PrivateMosquitto, terminal_id: str):
        self.terminal_id = terminal_id
        self.receipted: set[str] = set()
        self.commands: queue.Queue[m.Message] = queue.Queue()
        self.sent: dict[str, m.Message] = {}
        files = broker.client_tls(terminal_id)
        self.signer = TerminalSigner.from_pem(files.key_file.read_bytes())
        self.client = tls_client(broker, terminal_id, files=files)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.subscribed = False
        self.client.on_subscribe = lambda *_a: setattr(self, "subscribed", True)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(lambda: self.subscribed, 10, f"{terminal_id} subscribed")

    def _on_connect(self, client, *_args) -> None:
        client.subscribe(
            [(topics.receipts(self.terminal_id), 1), (topics.commands(self.terminal_id), 1)]
        )

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        message = m.decode(msg.payload)
        if isinstance(message, m.Settlement):
            self.receipted.update(i.message_id for i in message.items)
        else:
            self.commands.put(message)

    def send(self, message: m.Message) -> None:
        self.sent[message.message_id] = message
        self._publish(message)

    def _publish(self, message: m.Message) -> None:
        topic, payload = message.topic(), message.encode()
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = (signing.SIG, self.signer.sign(topic, payload))
        self.client.publish(topic, payload, qos=1, properties=props)

    def settle_all(self, timeout: float = 60.0) -> None:
        """Re-send whatever has no receipt every few seconds until everything has one."""
        deadline = time.monotonic() + timeout
        while set(self.sent) - self.receipted:
            if time.monotonic() > deadline:
                missing = len(set(self.sent) - self.receipted)
                pytest.fail(f"{self.terminal_id}: {missing} events never receipted")
            end = time.monotonic() + 3
            while time.monotonic() < end and set(self.sent) - self.receipted:
                time.sleep(0.05)
            for message_id in set(self.sent) - self.receipted:
                self._publish(self.sent[message_id])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def regions(tmp_path: Path, broker: PrivateMosquitto):
    """Broker `east` (the suite's) and `west`, one site CA, one backend worker on both."""
    west = PrivateMosquitto(tmp_path / "west", broker.authority, name="west").start()
    client_id = "backend.regions"
    service = BackendService(
        f"sqlite:///{tmp_path / 'backend.db'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        extra_brokers=[(west.host, west.port)],
        client_id=client_id,
        credentials=worker_identity(broker.authority, client_id),
    )
    for terminal_id in (EAST, WEST, "T0202"):
        service.register_terminal(terminal_id, KEY)
    service.start()
    terminals: list[RegionTerminal] = []
    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(20)
        terminals = [RegionTerminal(broker, EAST), RegionTerminal(west, WEST)]
        yield service, broker, west, terminals
    finally:
        for t in terminals:
            t.close()
        service.stop()
        west.stop()
        west.remove_data()


def _events(terminal_id: str, start: int, n: int) -> list[m.ApplicationSubmitted]:
    out = []
    for i in range(start, start + n):
        no = f"AH-{terminal_id}-20261204-{i:04d}"
        base = submission(no)
        out.append(base.model_copy(update={"terminal_id": terminal_id}))
    return out


def _count(service: BackendService, model, terminal_id: str | None = None) -> int:
    with service.db.transaction() as s:
        q = select(func.count()).select_from(model)
        if terminal_id is not None:
            q = q.where(model.terminal_id == terminal_id)
        return s.scalar(q) or 0


def _command(terminal_id: str) -> m.Message:
    base = examples()["command.withdraw_result"]
    return base.model_copy(update={"terminal_id": terminal_id, "message_id": m.new_message_id()})


def test_terminals_on_two_brokers_reach_one_backend_and_commands_go_to_their_broker(regions):
    service, _east, west, (east_terminal, west_terminal) = regions

    for t in (east_terminal, west_terminal):
        for event in _events(t.terminal_id, 0, 15):
            t.send(event)
    for t in (east_terminal, west_terminal):
        t.settle_all()

    assert _count(service, Application, EAST) == 15
    assert _count(service, Application, WEST) == 15
    # Each terminal was heard on its own broker, and its commands go there alone.
    assert service.mqtt.home_of(EAST) is service.mqtt.links[0]
    assert service.mqtt.home_of(WEST) is service.mqtt.links[1]
    for t in (east_terminal, west_terminal):
        command = _command(t.terminal_id)
        service.publish(command)
        got = t.commands.get(timeout=15)
        assert got.message_id == command.message_id
    # A terminal not heard from yet gets its command once, from whichever broker it is on.
    quiet = RegionTerminal(west, "T0202")
    try:
        command = _command("T0202")
        service.publish(command)
        assert quiet.commands.get(timeout=15).message_id == command.message_id
        time.sleep(1.0)
        assert quiet.commands.empty()
    finally:
        quiet.close()


def test_a_broker_crash_and_restart_loses_nothing(regions):
    service, _east, west, (east_terminal, west_terminal) = regions
    first = _events(WEST, 0, 20)
    for event in first:
        west_terminal.send(event)
    west.stop(kill=True)  # SIGKILL while messages are on the way
    for event in _events(EAST, 0, 10):
        east_terminal.send(event)  # the other region carries on meanwhile
    east_terminal.settle_all()
    west.start()
    for event in _events(WEST, 20, 10):
        west_terminal.send(event)
    west_terminal.settle_all(timeout=90)

    wait_for(lambda: _count(service, Application, WEST) == 30, 30, "every west application")
    assert _count(service, Application, EAST) == 10
    with service.db.transaction() as s:
        ids = list(s.scalars(select(ProcessedMessage.message_id)))
    assert len(ids) == len(set(ids)) == 40  # each stored once
    wait_for(lambda: service.mqtt.ready, 30, "both brokers subscribed again")
