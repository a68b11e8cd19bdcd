"""Upstream messages their terminal did not sign are refused before ingest and raise an alarm.

A broker (or anyone who reaches it) can inject a publish on a terminal's topic; without the
terminal's private key it cannot make the signature, so a forged "application submitted" or
"picked up" changes nothing and shows up as a security alarm.
"""

from __future__ import annotations

import json

import pytest
from backend_integration_factories import TERMINAL, submission, wait_for
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from backend.models import AlarmRow, Application, RejectedMessage
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing
from cloud_bridge.contract.signing import TerminalSigner
from provisioning import pki

pytestmark = pytest.mark.broker


def _count(service, model, *where) -> int:
    with service.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _publish_with_sig(terminal, topic: str, payload: bytes, sig: str) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = (signing.SIG, sig)
    terminal.client.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)


def test_an_unsigned_submission_is_refused_and_raises_a_security_alarm(make_service, terminal):
    service = make_service()
    forged = submission("AH-T0001-20261120-0666")

    terminal.publish_raw(forged.topic(), forged.encode(), signed=False)
    genuine = submission("AH-T0001-20261120-0001")
    terminal.send(genuine)

    (item,) = terminal.receipt_items(1)
    assert item.message_id == genuine.message_id  # the forgery gets no receipt at all
    assert _count(service, Application) == 1
    wait_for(lambda: _count(service, AlarmRow, AlarmRow.kind == "security"), what="an alarm")
    assert _count(service, RejectedMessage, RejectedMessage.reason.like("signature:%")) == 1


def test_a_submission_signed_with_another_key_is_refused(make_service, terminal):
    service = make_service()
    forged = submission("AH-T0001-20261120-0667")
    other = TerminalSigner(pki.new_key())  # a key that no certificate of T0001 holds

    _publish_with_sig(terminal, forged.topic(), forged.encode(), other.sign(forged.topic(), b""))
    _publish_with_sig(
        terminal, forged.topic(), forged.encode(), other.sign(forged.topic(), forged.encode())
    )

    wait_for(lambda: service.mqtt.signing.refused == 2, what="both refused")
    wait_for(lambda: _count(service, AlarmRow, AlarmRow.kind == "security"), what="an alarm")
    assert _count(service, Application) == 0


def test_a_signed_pickup_altered_on_the_way_is_refused(make_service, terminal):
    service = make_service()
    genuine = submission("AH-T0001-20261120-0668")
    sig = terminal.signer.sign(genuine.topic(), genuine.encode())
    body = json.loads(genuine.encode())
    body["applicant"]["phone"] = "13900000000"  # someone's own number for the SMS

    _publish_with_sig(terminal, genuine.topic(), json.dumps(body).encode(), sig)

    wait_for(lambda: service.mqtt.signing.refused == 1, what="the altered message refused")
    assert _count(service, Application) == 0
    # The unaltered message with the same signature is the terminal's own, and is stored.
    _publish_with_sig(terminal, genuine.topic(), genuine.encode(), sig)
    (item,) = terminal.receipt_items(1)
    assert (item.message_id, item.outcome) == (genuine.message_id, m.ReceiptOutcome.STORED)


def test_a_terminal_signs_with_a_renewed_key_and_is_still_heard(make_service, terminal, broker):
    make_service()
    first = submission("AH-T0001-20261120-0669")
    terminal.send(first)
    terminal.receipt_items(1)

    # A renewal: a new key and certificate for the same terminal, the old one still valid.
    renewed = broker.client_tls(TERMINAL)
    terminal.signer = TerminalSigner.from_pem(renewed.key_file.read_bytes())
    later = submission("AH-T0001-20261120-0670")
    terminal.send(later)

    (item,) = terminal.receipt_items(1)
    assert (item.message_id, item.outcome) == (later.message_id, m.ReceiptOutcome.STORED)
