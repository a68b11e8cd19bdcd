"""Staff sign-in at a terminal with one-time codes: who may get one, and every way one fails.

The backend's own Ingest answers `request.staff_sign_in` as it does over MQTT; the codes come
from `TerminalSignIns.issue`, as the console's routes call it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backend_unit_factories import KEY, TERMINAL, RecordingPublisher
from backend_unit_factories import submission as canonical_submission
from sqlalchemy import select

from backend.auth.accounts import Accounts
from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest
from backend.models import (
    DepositCollection,
    TerminalSignIn,
    TerminalSignInCode,
    WorkflowHistory,
)
from backend.sms import HeldSms
from backend.terminal_service import originals_waiting
from backend.terminal_sign_in import CodeRefused, staff_actor
from cloud_bridge.contract import messages as m

OTHER = "T0002"
NO = "AH-T0001-20261120-0001"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Site:
    def __init__(self, tmp_path: Path):
        self.clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
        self.db = Database(f"sqlite:///{tmp_path / 'sign_in.db'}")
        self.db.migrate()
        self.publisher = RecordingPublisher()
        self.ingest = Ingest(
            self.db, BlobStore(tmp_path / "blobs"), HeldSms(), self.publisher, clock=self.clock
        )
        self.ingest.register_terminal(TERMINAL, KEY)
        self.ingest.register_terminal(OTHER, KEY)
        self.accounts = Accounts(self.db)
        self.clerk, _ = self.accounts.add(
            "clerk.wang",
            ["clerk"],
            password="Night-Shift-2026",
            display_name="王芳",
            must_change_password=False,
        )
        self.operator, _ = self.accounts.add(
            "ops.zhao", ["operator"], password="Night-Shift-2026", must_change_password=False
        )

    def code(self, staff_id: int | None = None, terminal: str | None = None) -> str:
        with self.db.transaction() as s:
            return self.ingest.sign_ins.issue(s, staff_id or self.clerk.id, terminal).code

    def ask(self, code: str, terminal: str = TERMINAL) -> m.StaffSignIn:
        query = m.StaffSignInQuery(
            terminal_id=terminal,
            operation_id="STAFF-" + m.new_message_id()[:12],
            code=code,
            expires_at=self.clock() + timedelta(seconds=5),
        )
        before = len(self.publisher.sent)
        result = self.ingest.handle_batch([(query.topic(), query.encode())])
        assert not result.receipts, "a request gets no receipt"
        [answer] = self.publisher.sent[before:]
        assert isinstance(answer, m.StaffSignIn)
        assert (answer.operation_id, answer.request_id) == (query.operation_id, query.message_id)
        return answer

    def outcomes(self) -> list[str]:
        with self.db.transaction() as s:
            return list(s.scalars(select(TerminalSignIn.outcome).order_by(TerminalSignIn.id)))

    def feed(self, *messages: m.Message):
        return self.ingest.handle_batch([(x.topic(), x.encode()) for x in messages])


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    yield s
    s.db.dispose()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**8:08d}"


def test_a_code_signs_its_owner_in_once_and_only_its_digest_is_kept(site):
    code = site.code()
    answer = site.ask(code)
    assert answer.accepted and answer.username == "clerk.wang" and answer.display_name == "王芳"
    again = site.ask(code)
    assert not again.accepted and again.username is None  # single use
    assert site.outcomes() == ["accepted", "wrong"]
    with site.db.transaction() as s:
        [row] = s.scalars(select(TerminalSignInCode)).all()
        assert code not in row.code_digest and len(row.code_digest) == 64
        assert row.used_by_terminal == TERMINAL


def test_an_expired_code_and_a_wrong_code_are_refused_alike(site):
    code = site.code()
    assert not site.ask(wrong(code)).accepted
    site.clock.now += timedelta(minutes=5, seconds=1)
    refused = site.ask(code)
    assert not refused.accepted and refused.username is None
    assert site.outcomes() == ["wrong", "wrong"]


def test_a_code_for_one_terminal_does_not_open_another_and_stays_usable(site):
    code = site.code(terminal=TERMINAL)
    assert not site.ask(code, terminal=OTHER).accepted
    assert site.ask(code, terminal=TERMINAL).accepted


def test_only_roles_with_terminal_service_get_a_code_and_a_demoted_account_cannot_use_one(site):
    with site.db.transaction() as s, pytest.raises(CodeRefused, match="role"):
        site.ingest.sign_ins.issue(s, site.operator.id, None)
    with site.db.transaction() as s, pytest.raises(CodeRefused, match="terminal"):
        site.ingest.sign_ins.issue(s, site.clerk.id, "T9999")
    code = site.code()
    site.accounts.disable("clerk.wang")
    assert not site.ask(code).accepted
    assert site.outcomes() == ["not_allowed"]


def test_guessing_is_throttled_per_terminal_without_locking_staff_out(site):
    limit = site.ingest.sign_ins.settings.max_misses
    any_terminal = site.code()
    for n in range(limit):
        guess = f"{n:08d}" if f"{n:08d}" != any_terminal else wrong(any_terminal)
        assert not site.ask(guess).accepted
    # This terminal no longer checks codes valid anywhere: the guesser learns nothing more.
    assert not site.ask(any_terminal).accepted
    assert site.outcomes()[-1] == "throttled"
    # The code was not spent, and another terminal is not affected.
    assert site.ask(any_terminal, terminal=OTHER).accepted
    # A code issued for this very terminal still signs staff in here.
    bound = site.code(terminal=TERMINAL)
    assert site.ask(bound).accepted
    # Once the misses age out, the terminal checks every code again.
    site.clock.now += site.ingest.sign_ins.settings.window
    assert site.ask(site.code()).accepted


def test_each_person_holds_a_bounded_number_of_live_codes(site):
    most = site.ingest.sign_ins.settings.max_live_codes_per_staff
    codes = [site.code() for _ in range(most + 2)]
    assert not site.ask(codes[0]).accepted and not site.ask(codes[1]).accepted
    assert site.ask(codes[-1]).accepted


def test_what_staff_do_is_recorded_under_their_sign_in_and_originals_leave_the_waiting_list(site):
    site.feed(canonical_submission(NO, reused_materials=[], deposit_expected=True))
    deposited = m.MaterialsDeposited(
        terminal_id=TERMINAL,
        operation_id=f"{NO}#deposit",
        application_no=NO,
        compartment_id="A02",
        deposited_at=site.clock(),
    )
    site.feed(deposited)
    with site.db.transaction() as s:
        assert [(r["terminal_id"], r["compartment_id"]) for r in originals_waiting(s)] == [
            (TERMINAL, "A02")
        ]
    code = site.code()
    query_id = "STAFF-signed-in-1"
    query = m.StaffSignInQuery(
        terminal_id=TERMINAL,
        operation_id=query_id,
        code=code,
        expires_at=site.clock() + timedelta(seconds=5),
    )
    site.feed(query)

    def collected(sign_in: str, compartment: str = "A02", at_terminal: str = TERMINAL):
        return m.DepositCollected(
            terminal_id=at_terminal,
            operation_id=f"{NO}#collected",
            application_no=NO,
            compartment_id=compartment,
            collected_at=site.clock(),
            staff_sign_in=sign_in,
        )

    # Not this application's compartment, or another terminal: refused, nothing recorded.
    assert site.feed(collected(query_id, compartment="A03")).rejected == 1
    assert site.feed(collected(query_id, at_terminal=OTHER)).rejected == 1
    assert site.feed(collected(query_id)).stored == 1
    site.clock.now += timedelta(minutes=1)
    assert site.feed(collected(query_id)).duplicate == 1  # a resend, or a repeat after a crash
    with site.db.transaction() as s:
        assert originals_waiting(s) == []
        [row] = s.scalars(select(DepositCollection)).all()
        assert row.collected_by == f"clerk.wang@terminal:{TERMINAL}"
        notes = [
            (h.actor, h.note)
            for h in s.scalars(select(WorkflowHistory).where(WorkflowHistory.application_no == NO))
        ]
        assert (f"clerk.wang@terminal:{TERMINAL}", "originals collected from A02") in notes
        # A sign-in the backend never accepted, or one at another terminal, names nobody.
        assert staff_actor(s, TERMINAL, "STAFF-made-up", site.clock()) == f"terminal:{TERMINAL}"
        assert staff_actor(s, OTHER, query_id, site.clock()) == f"terminal:{OTHER}"
