"""Out of service over the real broker: only the backend's signature takes a terminal out of
service; a forged or unsigned command changes nothing, gets no ack and raises a security alarm."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from terminal_integration_parts import TERMINAL, acks_for, wait_online

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from cloud_bridge.contract.signing import BackendSigner

pytestmark = pytest.mark.broker

ATTACKER = BackendSigner(ed25519.Ed25519PrivateKey.generate())


def _out(**fields) -> m.OutOfService:
    return m.OutOfService(
        terminal_id=TERMINAL,
        operation_id=f"OPS-{m.new_message_id()[:12]}",
        expires_at=m.utcnow() + timedelta(minutes=5),
        reason=m.ServiceReason.SECURITY,
        hold=m.ServiceHold.LOCKED,
        **fields,
    )


def _security_alarms(node) -> list[m.Alarm]:
    rows = node.db.read("SELECT payload FROM outbox WHERE kind = 'message'")
    found = [m.decode(p) for (p,) in rows]
    return [a for a in found if isinstance(a, m.Alarm) and a.kind == m.AlarmKind.SECURITY]


def test_a_forged_or_unsigned_out_of_service_does_nothing(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)

    forged = _out()
    backend.publish(topics.commands(TERMINAL), forged.encode(), signer=ATTACKER)
    unsigned = _out(compartment_id="A01")
    backend.publish(topics.commands(TERMINAL), unsigned.encode(), unsigned=True)
    assert backend.wait_for(lambda: node.link.forged == 2)
    assert node.out_of_service() is None and node.locker.held() == {}
    assert acks_for(backend, forged) == [] and acks_for(backend, unsigned) == []
    assert backend.wait_for(lambda: _security_alarms(node))

    genuine = _out()
    backend.command(genuine)
    assert backend.wait_for(lambda: acks_for(backend, genuine))
    assert acks_for(backend, genuine)[0].outcome == m.AckOutcome.DONE
    assert node.out_of_service() is not None and not node.pickups_open()
