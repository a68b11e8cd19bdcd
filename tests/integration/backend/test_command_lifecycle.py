"""The command lifecycle over a real mutual-TLS Mosquitto: queued, sent (the broker's PUBACK),
delivered (the terminal's signed `received`), done; across a backend restart, a terminal away,
expiry, and acks that are forged or come from another terminal."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from backend_integration_factories import KEY, TERMINAL, wait_for
from enrolled_terminal import enrolled_for
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from allhours.bootstrap import training_terminal
from backend.enrollment import worker_identity
from backend.models import AlarmRow, CommandRow, RejectedMessage
from backend.operator_commands import OperatorCommands
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing
from cloud_bridge.contract.signing import TerminalSigner
from provisioning import pki

pytestmark = pytest.mark.broker
OPEN = ("queued", "sent", "delivered")


def _row(service: BackendService, command_id: str) -> CommandRow:
    with service.db.transaction() as s:
        row = s.get(CommandRow, command_id)
        assert row is not None
        s.expunge(row)
        return row


def _reaches(service: BackendService, command_id: str, state: str, timeout: float = 30) -> None:
    wait_for(lambda: _row(service, command_id).status == state, timeout, f"{command_id} {state}")


def test_queued_while_the_backend_had_no_broker_delivered_on_reconnect_then_done_and_expired(
    tmp_path, mosquitto, make_service
):
    node = training_terminal(
        enrolled_for(mosquitto, tmp_path / "terminal", TERMINAL, pickup_code_key=KEY)
    ).node
    first = make_service()
    node.start()  # online once: its broker session exists, then it goes away
    assert node.link.connected.wait(30)
    node.stop()

    # The broker holds it for the terminal: sent, not delivered.
    lasting = OperatorCommands(first.db, first).issue(TERMINAL, "fetch_diagnostics", "op.li", "a")
    _reaches(first, lasting.message_id, "sent")
    assert _row(first, lasting.message_id).delivered_at is None
    first.stop()

    # Issued while no worker is connected to the broker: stored, queued.
    offline = BackendService(
        f"sqlite:///{tmp_path / 'backend.db'}", tmp_path / "blobs", broker_port=None
    )
    queued = OperatorCommands(offline.db, offline).issue(TERMINAL, "resync_state", "op.li", "b")
    short = OperatorCommands(offline.db, offline, ttl=timedelta(seconds=1)).issue(
        TERMINAL, "resync_state", "op.li", "too late"
    )
    assert _row(offline, queued.message_id).status == "queued"
    offline.stop()
    time.sleep(1.5)  # the short one expires while the backend and the terminal are away

    second = make_service()  # same database: republishes what is open, expires the rest
    _reaches(second, queued.message_id, "sent")
    gone = _row(second, short.message_id)
    assert (gone.status, gone.detail) == ("expired", "expired before the terminal received it")
    assert gone.sent_at is None and gone.delivered_at is None and gone.finished_at is not None

    node = training_terminal(tmp_path / "terminal").node
    node.start()
    try:
        for command in (lasting, queued):
            _reaches(second, command.message_id, "done")
            row = _row(second, command.message_id)
            assert row.created_at <= row.sent_at <= row.delivered_at <= row.finished_at
        assert _row(second, lasting.message_id).result["software_version"]
        assert _row(second, short.message_id).status == "expired"  # never moved back
    finally:
        node.stop()


def _sim_backend(broker, tmp_path, ids):
    service = BackendService(
        f"sqlite:///{tmp_path / 'fleet.db'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.cmds",
        credentials=worker_identity(broker.authority, "backend.cmds"),
    )
    for tid in ids:
        service.register_terminal(tid, KEY)
    return service


def test_simulated_terminals_ack_like_the_real_one_and_forged_or_foreign_acks_are_refused(
    broker, tmp_path
):
    from allhours.fleet_sim import FleetSim, SimSettings, enroll_fleet

    ids = ["S0000", "S0001", "S0002"]
    service = _sim_backend(broker, tmp_path, [*ids, "S0003"])
    service.start()
    sim = FleetSim(
        enroll_fleet(broker.authority, ids, tmp_path / "sim"),
        SimSettings(host=broker.host, port=broker.port, keepalive=10, telemetry_s=30),
        broker.authority.backend_signing_keys(),
    )
    ops = OperatorCommands(service.db, service)
    try:
        assert service.mqtt is not None and service.mqtt.wait_ready(10)
        sim.start()
        wait_for(lambda: sim.online() == 3, 30, "the simulated fleet online")

        # S0003 is registered but never connected: no session at the broker to hold its
        # command, the PUBACK says "no matching subscribers", and it stays queued.
        never = ops.issue("S0003", "resync_state", "op.li", "not there yet")
        command = ops.issue("S0000", "fetch_diagnostics", "op.li", "check")
        _reaches(service, command.message_id, "done")
        assert _row(service, never.message_id).status == "queued"
        row = _row(service, command.message_id)
        assert row.sent_at and row.delivered_at and row.finished_at
        assert row.result == {"software_version": "sim-1"}

        # Away when it is sent: the broker keeps it in the session, it arrives on return.
        sim.drop("S0001")
        away = ops.issue("S0001", "resync_state", "op.li", "while away")
        _reaches(service, away.message_id, "sent")
        time.sleep(1.0)
        assert _row(service, away.message_id).status == "sent"
        sim.resume("S0001")
        _reaches(service, away.message_id, "done")

        # While S0001 is away, S0002 acks S0001's command, signed with its own key (a clone,
        # a bug): refused as an ack for a command never sent to it, with a security alarm. And
        # a `done` whose signature is not the sender's key never reaches ingest at all.
        sim.drop("S0001")
        pending = ops.issue("S0001", "resync_state", "op.li", "for S0001 only")
        _reaches(service, pending.message_id, "sent")
        other = sim.terminals["S0002"]
        foreign = m.CommandAck(
            terminal_id="S0002",
            command_id=pending.message_id,
            command_type=pending.type,
            operation_id=pending.operation_id,
            outcome=m.AckOutcome.DONE,
        )
        forged = foreign.model_copy(update={"message_id": m.new_message_id()})
        body = forged.encode()
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = (signing.SIG, TerminalSigner(pki.new_key()).sign(forged.topic(), body))
        with sim._lock:
            sim._publish(other, foreign, qos=1)
            other.client.publish(forged.topic(), body, qos=1, properties=props)

        def refused() -> list[str]:
            with service.db.transaction() as s:
                return list(s.scalars(select(RejectedMessage.reason)))

        wait_for(lambda: len(refused()) >= 2, 30, "both acks refused")
        assert any("never sent to S0002" in r for r in refused())
        assert any(r.startswith("signature:") for r in refused())
        with service.db.transaction() as s:
            alarmed = list(
                s.scalars(select(AlarmRow.terminal_id).where(AlarmRow.kind == "security"))
            )
        assert set(alarmed) == {"S0002"}
        row = _row(service, pending.message_id)
        assert (row.status, row.delivered_at, row.finished_at) == ("sent", None, None)
        sim.resume("S0001")  # its own answer, when it is back
        _reaches(service, pending.message_id, "done")
        assert sim.commands_refused == 0
    finally:
        sim.stop()
        service.stop()
