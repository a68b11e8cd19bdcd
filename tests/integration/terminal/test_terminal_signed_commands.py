"""Downstream messages the backend did not sign, or signed for another time or place, do nothing.

Each attack of the Trust II threat model (docs/security.md) over the real broker: the terminal's
locker state is unchanged, no ack goes back, and the terminal raises a security alarm.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from terminal_integration_parts import KEY, TERMINAL, _next_seq, acks_for, load_command, wait_online

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code, topics
from cloud_bridge.contract.signing import BackendSigner
from locker.compartment import State
from locker.errors import LockerError
from terminal.flows.staff import StaffMember

# Service mode as a clerk the backend signed in (these tests have no backend to ask).
CLERK = StaffMember("clerk.test", "", "STAFF-test")

pytestmark = pytest.mark.broker

ATTACKER = BackendSigner(ed25519.Ed25519PrivateKey.generate())


def _set_code(code: str, load_id: str = "L-victim") -> m.SetPickupCode:
    return m.SetPickupCode(
        terminal_id=TERMINAL,
        operation_id=f"{load_id}:code:{code}",
        load_id=load_id,
        application_no="AH-T0001-20261120-0001",
        code_digest=pickup_code.digest(KEY, TERMINAL, code),
        code_expires_at=m.utcnow() + timedelta(days=7),
        expires_at=m.utcnow() + timedelta(minutes=5),
    )


def _security_alarms(node) -> list[m.Alarm]:
    rows = node.db.read("SELECT payload FROM outbox WHERE kind = 'message'")
    found = [m.decode(p) for (p,) in rows]
    return [a for a in found if isinstance(a, m.Alarm) and a.kind == m.AlarmKind.SECURITY]


def _armed_and_loaded(node, backend, code: str) -> str:
    """A genuine, signed load and code: returns the compartment holding the result."""
    load = load_command("L-victim")
    backend.command(load)
    assert backend.wait_for(lambda: acks_for(backend, load))
    compartment = acks_for(backend, load)[0].result["compartment_id"]
    node.staff(CLERK).load_all_pending()
    arm = _set_code(code)
    backend.command(arm)
    assert backend.wait_for(lambda: acks_for(backend, arm))
    return compartment


def _state(node) -> list[tuple[str, str, str | None]]:
    return [(c.id, c.state.value, c.code_digest) for c in node.locker.compartments()]


def test_a_command_signed_by_anyone_but_the_backend_is_refused(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    before = _state(node)

    forged = load_command("L-forged")
    backend.publish(topics.commands(TERMINAL), forged.encode(), signer=ATTACKER)
    unsigned = load_command("L-unsigned")
    backend.publish(topics.commands(TERMINAL), unsigned.encode(), unsigned=True)

    assert backend.wait_for(lambda: node.link.forged == 2)
    assert _state(node) == before
    assert acks_for(backend, forged) == [] and acks_for(backend, unsigned) == []
    assert backend.wait_for(lambda: _security_alarms(node))


def test_a_forged_code_for_anothers_result_opens_nothing(start_node, start_backend):
    """The attacker knows a code C of their own and arms it on the victim's result."""
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    compartment = _armed_and_loaded(node, backend, "481516")
    before = _state(node)

    attack = _set_code("123456")
    backend.publish(topics.commands(TERMINAL), attack.encode(), signer=ATTACKER)
    assert backend.wait_for(lambda: node.link.forged == 1)

    assert _state(node) == before
    with pytest.raises(LockerError):
        node.locker.pickup("123456")
    assert [c.state for c in node.locker.compartments() if c.id == compartment] == [
        State.HOLDING_RESULT
    ]
    assert _security_alarms(node)


def test_a_signed_command_replayed_under_a_new_message_id_is_refused(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    genuine = load_command("L-once")
    seq = _next_seq()
    sig = backend.signer.sign(topics.commands(TERMINAL), seq, genuine.encode())
    backend.publish(topics.commands(TERMINAL), genuine.encode(), seq=seq, sig=sig)
    assert backend.wait_for(lambda: acks_for(backend, genuine))
    reserved = _state(node)

    body = json.loads(genuine.encode())
    body["message_id"] = m.new_message_id()
    backend.publish(topics.commands(TERMINAL), json.dumps(body).encode(), seq=seq + 1, sig=sig)

    assert backend.wait_for(lambda: node.link.forged == 1)
    assert _state(node) == reserved


def test_a_rotation_released_out_of_order_does_not_revive_the_old_code(start_node, start_backend):
    """A broker holds back the first rotation and releases it after the second."""
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    _armed_and_loaded(node, backend, "100001")
    first, second = _set_code("200002"), _set_code("300003")
    seq_first, seq_second = _next_seq(), _next_seq()

    backend.publish(topics.commands(TERMINAL), second.encode(), seq=seq_second)
    assert backend.wait_for(lambda: acks_for(backend, second))
    backend.publish(topics.commands(TERMINAL), first.encode(), seq=seq_first)

    assert backend.wait_for(lambda: node.dispatcher.stale == 1)
    assert acks_for(backend, first) == []
    for stale_code in ("100001", "200002"):
        with pytest.raises(LockerError):
            node.locker.check_code(stale_code)
    assert node.locker.check_code("300003")
    assert backend.wait_for(lambda: _security_alarms(node))


def test_a_command_signed_for_another_terminal_is_refused(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    for_t2 = load_command("L-for-T0002").model_copy(update={"terminal_id": "T0002"})
    seq = _next_seq()
    sig = backend.signer.sign(topics.commands("T0002"), seq, for_t2.encode())

    # Moved onto T0001's topic, the signature no longer holds (it covers the topic) ...
    backend.publish(topics.commands(TERMINAL), for_t2.encode(), seq=seq, sig=sig)
    # ... and re-signed for T0001's topic, the payload still names T0002.
    backend.publish(topics.commands(TERMINAL), for_t2.encode())

    assert backend.wait_for(lambda: node.link.forged + node.link.malformed == 2)
    assert [c for c in node.locker.compartments() if c.state != State.EMPTY] == []


def test_unsigned_or_forged_receipts_never_delete_an_outbox_entry(start_node, start_backend):
    backend = start_backend()
    node = start_node()
    wait_online(backend)
    load = load_command("L-receipted")
    backend.command(load)
    assert backend.wait_for(lambda: acks_for(backend, load))
    ids = [a.message_id for a in acks_for(backend, load)]

    def waiting() -> set[str]:
        rows = node.db.read("SELECT message_id FROM outbox")
        return {r[0] for r in rows} & set(ids)

    assert waiting() == set(ids)

    receipt = m.Settlement(
        terminal_id=TERMINAL,
        items=[m.ReceiptItem(message_id=i, outcome=m.ReceiptOutcome.STORED) for i in ids],
    )
    backend.publish(topics.receipts(TERMINAL), receipt.encode(), unsigned=True)
    backend.publish(topics.receipts(TERMINAL), receipt.encode(), signer=ATTACKER)
    assert backend.wait_for(lambda: node.link.forged == 2)
    assert waiting() == set(ids)

    backend.publish(topics.receipts(TERMINAL), receipt.encode())  # the backend's own
    assert backend.wait_for(lambda: waiting() == set())
