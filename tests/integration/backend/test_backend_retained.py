"""Retained messages at the backend: a terminal's status, and nothing else it retained."""

from __future__ import annotations

import pytest
from backend_integration_factories import TERMINAL, submission, wait_for
from sqlalchemy import select

from backend.models import Application, Terminal
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from cloud_bridge.contract.schema import examples

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("shared_group", [None, topics.SHARED_GROUP])
def test_a_new_subscription_gets_the_retained_status_and_no_other_retained_message(
    make_service, terminal, shared_group
):
    # A stolen certificate may retain on any of its terminal's upstream topics: the broker then
    # hands it to each backend subscription made afterwards, a signed event taken as just sent.
    retained = submission("AH-T0001-20261120-0001")
    terminal.publish_raw(retained.topic(), retained.encode(), retain=True)
    status = examples()["status"].model_copy(update={"message_id": m.new_message_id()})
    terminal.publish_raw(status.topic(), status.encode(), retain=True)

    service = make_service(shared_group)

    def last_status():
        with service.db.transaction() as s:
            return s.scalar(select(Terminal.last_status).where(Terminal.id == TERMINAL))

    wait_for(last_status, what="the retained status")
    assert last_status() == m.TerminalState.ONLINE.value
    live = submission("AH-T0001-20261120-0002")
    terminal.send(live)
    # Retained messages come with the SUBACK, before the live event, and ingest keeps the order.
    terminal.receipts_covering({live.message_id})
    with service.db.transaction() as s:
        assert s.scalars(select(Application.application_no)).all() == [live.application_no]
