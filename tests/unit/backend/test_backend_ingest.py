"""Ingest of upstream messages: build state, dedupe, refuse bad input and keep going."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from backend_unit_factories import TERMINAL, submission
from sqlalchemy import func, select

from backend.models import (
    AlarmRow,
    Application,
    IngestCounter,
    Material,
    ProcessedMessage,
    RejectedMessage,
    ServiceRating,
    Terminal,
    WorkflowHistory,
)
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

NO = "AH-T0001-20261120-0001"


def test_canonical_submission_builds_a_submitted_application_with_materials(backend, canonical):
    event = canonical["event.application_submitted"]

    result = backend.feed(event)

    assert result.stored == 1
    assert result.receipts == {
        TERMINAL: [m.ReceiptItem(message_id=event.message_id, outcome="stored")]
    }
    app = backend.application(NO)
    assert (app.status, app.applicant_name, app.phone) == ("submitted", "张三", "13800138000")
    assert app.identity["verified"] is True
    with backend.db.transaction() as s:
        materials = list(s.scalars(select(Material)))
        history = list(s.scalars(select(WorkflowHistory)))
    assert [(x.material_code, x.verified) for x in materials] == [("household-register", False)]
    assert [(h.from_state, h.to_state) for h in history] == [(None, "submitted")]


def test_redelivered_message_is_answered_duplicate_and_changes_nothing(backend, canonical):
    event = canonical["event.application_submitted"]
    backend.feed(event)

    again = backend.feed(event)

    assert again.duplicate == 1 and again.stored == 0
    assert again.receipts[TERMINAL][0].outcome == m.ReceiptOutcome.DUPLICATE
    assert backend.count(Application) == 1
    assert backend.count(Material) == 1
    assert backend.count(WorkflowHistory) == 1


def test_same_submission_under_a_new_message_id_is_a_duplicate(backend):
    first = submission(NO)
    retry = submission(NO)
    assert first.message_id != retry.message_id

    result = backend.feed(first, retry)

    assert [i.outcome for i in result.receipts[TERMINAL]] == ["stored", "duplicate"]
    assert backend.count(Application) == 1
    assert backend.count(Material) == 1
    assert backend.count(ProcessedMessage) == 2


def test_same_message_twice_in_one_batch_is_stored_once(backend):
    event = submission(NO)

    result = backend.feed(event, event)

    assert (result.stored, result.duplicate) == (1, 1)
    assert backend.count(Application) == 1


def test_message_from_an_unregistered_terminal_is_refused(backend):
    event = submission("AH-T0009-20261120-0001", terminal_id="T0009")

    result = backend.feed(event)

    assert result.rejected == 1
    item = result.receipts["T0009"][0]
    assert item.outcome == "rejected" and "not registered" in item.reason
    assert backend.count(Application) == 0


def test_status_and_telemetry_update_the_terminal(backend, canonical):
    backend.feed(canonical["status"], canonical["telemetry"])

    with backend.db.transaction() as s:
        terminal = s.get(Terminal, TERMINAL)
    assert terminal.last_status == "online"
    assert terminal.telemetry["outbox_backlog"] == 0
    assert terminal.telemetry["compartments"]["empty"] == 6
    assert terminal.last_seen_at == canonical["telemetry"].sent_at


def test_last_will_marks_the_terminal_offline(backend, canonical):
    online = canonical["status"]
    will = online.model_copy(
        update={"message_id": m.new_message_id(), "state": m.TerminalState.OFFLINE}
    )

    backend.feed(online)
    backend.feed(will)

    with backend.db.transaction() as s:
        assert s.get(Terminal, TERMINAL).last_status == "offline"


def test_alarm_is_stored_once_per_operation_id(backend, canonical, caplog):
    alarm = canonical["event.alarm"]
    resent = alarm.model_copy(update={"message_id": m.new_message_id()})

    with caplog.at_level("WARNING", logger="backend.handlers"):
        result = backend.feed(alarm, resent)

    assert [i.outcome for i in result.receipts[TERMINAL]] == ["stored", "duplicate"]
    assert backend.count(AlarmRow) == 1
    assert any("wrong_code_limit" in r.getMessage() for r in caplog.records)


def test_deposit_is_recorded_once(backend, canonical):
    backend.feed(canonical["event.application_submitted"])
    deposit = canonical["event.materials_deposited"]
    resent = deposit.model_copy(update={"message_id": m.new_message_id()})

    result = backend.feed(deposit, resent)

    assert [i.outcome for i in result.receipts[TERMINAL]] == ["stored", "duplicate"]
    assert backend.application(NO).deposit_compartment_id == "A03"


def _event_topic() -> str:
    return topics.event(TERMINAL, "application_submitted")


BAD_INPUTS = {
    "malformed json": lambda: (_event_topic(), b'{"type": "event.application_submitted", '),
    "wrong schema": lambda: (
        _event_topic(),
        json.dumps({**json.loads(submission("AH-BAD-0001").encode()), "item_code": 7}).encode(),
    ),
    "oversized": lambda: (_event_topic(), b" " * (m.MAX_MESSAGE_BYTES + 1)),
    "terminal mismatch": lambda: (
        topics.event("T0002", "application_submitted"),
        submission("AH-BAD-0002").encode(),
    ),
    "not our topic": lambda: ("allhours/v1/other/x", submission("AH-BAD-0003").encode()),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_counted_stored_and_the_next_message_still_lands(backend, kind):
    topic, payload = BAD_INPUTS[kind]()
    good = submission(NO)

    result = backend.feed((topic, payload), good)

    assert (result.rejected, result.stored) == (1, 1)
    assert backend.application(NO).status == "submitted"
    with backend.db.transaction() as s:
        rejected = list(s.scalars(select(RejectedMessage)))
        counters = {c.name: c.value for c in s.scalars(select(IngestCounter))}
    assert len(rejected) == 1 and rejected[0].size == len(payload)
    assert counters == {"stored": 1, "rejected": 1}
    # Nothing of the payload is kept: the applicant's ID number must not be in the reason.
    assert "11010519491231002X" not in rejected[0].reason


def test_rejected_payload_with_a_readable_message_id_gets_a_rejected_receipt(backend):
    bad = json.loads(submission("AH-BAD-0001").encode())
    bad["applicant"]["phone"] = "not a phone"

    result = backend.feed((_event_topic(), json.dumps(bad).encode()))

    assert result.receipts[TERMINAL] == [
        m.ReceiptItem(
            message_id=bad["message_id"],
            outcome="rejected",
            reason=result.receipts[TERMINAL][0].reason,
        )
    ]
    assert "applicant.phone" in result.receipts[TERMINAL][0].reason


def test_application_number_of_another_terminal_is_refused(backend):
    backend.ingest.register_terminal("T0002", b"k" * 32)
    backend.feed(submission(NO))

    result = backend.feed(submission(NO, terminal_id="T0002"))

    assert result.rejected == 1
    assert backend.application(NO).terminal_id == TERMINAL


def test_another_terminals_next_number_sent_first_is_refused_and_the_real_one_stored(backend):
    # Numbers are predictable (AH-{terminal}-{day}-{n}): T0002 sends T0001's next one first.
    # It was stored as T0002's; T0001's real submission was then refused, the citizen's
    # application lost, and the security alarm raised on T0001.
    backend.ingest.register_terminal("T0002", b"k" * 32)

    squat = backend.feed(submission(NO, terminal_id="T0002"))
    real = backend.feed(submission(NO))

    assert squat.rejected == 1 and "not an application number T0002 makes" in (
        squat.receipts["T0002"][0].reason
    )
    assert real.stored == 1 and backend.application(NO).terminal_id == TERMINAL
    with backend.db.reading() as s:
        alarmed = {a.terminal_id for a in s.scalars(select(AlarmRow))}
    assert alarmed == {"T0002"}


def test_a_terminal_whose_id_begins_anothers_does_not_own_its_numbers(backend):
    # Terminal "T" makes AH-T-…; T-01's numbers, AH-T-01-…, begin with that too.
    for terminal in ("T", "T-01"):
        backend.ingest.register_terminal(terminal, b"k" * 32)
    theirs = "AH-T-01-20261120-0001"

    squat = backend.feed(submission(theirs, terminal_id="T"))
    real = backend.feed(submission(theirs, terminal_id="T-01"))
    own = backend.feed(submission("AH-T-20261120-0001", terminal_id="T"))

    assert "not an application number T makes" in squat.receipts["T"][0].reason
    assert (squat.rejected, real.stored, own.stored) == (1, 1, 1)
    assert backend.application(theirs).terminal_id == "T-01"


def test_a_rating_from_another_terminal_than_the_submissions_is_refused(backend):
    backend.ingest.register_terminal("T0002", b"k" * 32)
    rating = {"application_no": NO, "operation_id": f"{NO}#rating", "rated_at": m.utcnow()}

    squat = backend.feed(m.ServiceRated(terminal_id="T0002", score=1, **rating))
    real = backend.feed(m.ServiceRated(terminal_id=TERMINAL, score=5, **rating))

    assert (squat.rejected, real.stored) == (1, 1)
    with backend.db.reading() as s:
        assert [(r.terminal_id, r.score) for r in s.scalars(select(ServiceRating))] == [
            (TERMINAL, 5)
        ]


def test_a_redelivered_old_status_does_not_undo_a_newer_one(backend, canonical):
    online = canonical["status"]
    will = online.model_copy(
        update={"message_id": m.new_message_id(), "state": m.TerminalState.OFFLINE}
    )
    backend.feed(online, will)

    result = backend.feed(online)

    assert result.duplicate == 1
    with backend.db.transaction() as s:
        assert s.get(Terminal, TERMINAL).last_status == "offline"


def test_a_terminal_sending_junk_has_a_thousand_refusals_an_hour_recorded(backend, caplog):
    # Each refused message was a row and a log line: a stolen certificate sending junk as fast
    # as the broker takes it (thousands a second) filled the table and the log for 30 days.
    junk = topics.terminal_topic(TERMINAL, topics.TELEMETRY)
    for first in range(0, 1003, 100):
        backend.feed(*[(junk, b'{"junk": %d}' % n) for n in range(first, min(first + 100, 1003))])
    backend.feed((topics.terminal_topic("T0002", topics.TELEMETRY), b"{"))

    with backend.db.transaction() as s:
        rows = list(s.scalars(select(RejectedMessage).order_by(RejectedMessage.id)))
        counters = {c.name: c.value for c in s.scalars(select(IngestCounter))}
    mine = [r for r in rows if r.terminal_id == TERMINAL]
    assert len(mine) == 1001  # a thousand, then one saying the rest are counted only
    assert mine[-1].reason.startswith("1000 refused messages within the hour: more from this")
    assert [r.terminal_id for r in rows if r.terminal_id != TERMINAL] == ["T0002"]
    assert counters["rejected"] == 1004  # every one counted
    said = [r for r in caplog.records if "refused messages within the hour" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "ERROR"

    with backend.db.transaction() as s:  # an hour on
        for row in s.scalars(select(RejectedMessage)):
            row.received_at -= timedelta(minutes=61)
    backend.feed((junk, b"{"))
    with backend.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RejectedMessage)) == 1003
