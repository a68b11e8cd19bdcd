"""A rotated or withdrawn pickup code's SMS still queued is given up, its sealed code erased."""

from __future__ import annotations

import re

from backend_unit_factories import KEY, TERMINAL, submission
from sqlalchemy import select

from backend.notifications.models import NotificationRow, NotificationState
from backend.notifications.outbox import stored_key
from backend.notifications.routes import needs_attention
from backend.notifications.sealing import Sealer
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code

NO = "AH-T0001-20261120-0001"


def _loaded(backend) -> None:
    backend.feed(submission(NO))
    backend.approve(NO)
    load = backend.desk.load_result(NO, TERMINAL, "S", "staff-1")
    backend.feed(
        m.ResultLoaded(
            terminal_id=TERMINAL,
            operation_id=load.load_id,
            load_id=load.load_id,
            application_no=NO,
            compartment_id="A05",
            loaded_at=m.utcnow(),
        )
    )


def _rows(backend, kind: str) -> list[NotificationRow]:
    with backend.db.transaction() as s:
        q = select(NotificationRow).where(NotificationRow.kind == kind)
        return list(s.scalars(q.order_by(NotificationRow.id)))


def test_resend_code_gives_up_the_queued_stale_code_and_keeps_the_newest(backend):
    _loaded(backend)

    backend.desk.resend_code(NO, "staff-1")

    stale, newest = _rows(backend, "pickup_code")
    assert (stale.state, stale.sealed) == (NotificationState.SUPERSEDED, None)
    assert stale.last_error == "superseded by a newer code"
    assert newest.state == NotificationState.QUEUED
    with backend.db.transaction() as s:
        code = Sealer(stored_key(s)).open(newest.out_id, newest.sealed)["code"]
    last = [c for c in backend.publisher.sent if isinstance(c, m.SetPickupCode)][-1]
    assert last.code_digest == pickup_code.digest(KEY, TERMINAL, code)
    assert re.fullmatch(r"\d{6}", code)
    # Other kinds to the same applicant are not touched.
    assert {r.state for r in _rows(backend, "submitted")} == {NotificationState.QUEUED}
    # Nothing for staff to follow up: not on the list of citizens to call.
    with backend.db.reading() as s:
        assert stale.id not in {r["id"] for r in needs_attention(s)}


def test_withdraw_gives_up_the_queued_code_and_queues_returned(backend):
    _loaded(backend)

    backend.desk.withdraw(NO, "staff-1")

    (code_row,) = _rows(backend, "pickup_code")
    assert (code_row.state, code_row.sealed) == (NotificationState.SUPERSEDED, None)
    assert code_row.last_error == "result withdrawn"
    (returned,) = _rows(backend, "returned")
    assert returned.state == NotificationState.QUEUED
