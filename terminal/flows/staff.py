"""Staff service mode: sign in with a one-time code, load results, collect deposited originals.

There is no shared PIN. A staff member asks the console for a one-time code, types it here,
and the backend answers who they are (`request.staff_sign_in`). What they then do at the
terminal is reported under that sign-in, so the backend records the person, not the kiosk.
Offline, nobody signs in: the backend alone can say who a code belongs to.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud_bridge.contract import messages as m
from cloud_bridge.request_reply import RequestReply
from locker.compartment import Compartment, State
from locker.errors import DoorStillOpen, LockerError
from terminal.flows.session import FlowError, TerminalParts

CODE = re.compile(r"^[0-9]{8}$")


@dataclass(frozen=True)
class StaffMember:
    """Who signed in, as the backend said; `sign_in` names that sign-in in later reports."""

    username: str
    display_name: str
    sign_in: str


class SignInRefused(Exception):
    """Not signed in; `reason` is bad_code (malformed), refused (the backend said no), offline."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StaffSignInLookup:
    """Asks `request.staff_sign_in` over the terminal's shared `RequestReply`."""

    def __init__(
        self,
        terminal_id: str,
        replies: RequestReply,
        *,
        clock: Callable[[], datetime] = m.utcnow,
        timeout_s: float = 5.0,
    ):
        self.terminal_id, self.replies = terminal_id, replies
        self.clock, self.timeout_s = clock, timeout_s

    def sign_in(self, typed: str) -> StaffMember:
        """The staff member whose code this is, or SignInRefused."""
        code = typed.strip()
        if not CODE.fullmatch(code):
            raise SignInRefused("bad_code")  # never sent: it cannot be a code
        query = m.StaffSignInQuery(
            terminal_id=self.terminal_id,
            operation_id="STAFF-" + secrets.token_hex(8),
            code=code,
            expires_at=self.clock() + timedelta(seconds=self.timeout_s),
        )
        answer = self.replies.ask(query, m.StaffSignIn, self.timeout_s)
        if answer is None:
            raise SignInRefused("offline")
        if not answer.accepted or not answer.username:
            raise SignInRefused("refused")
        return StaffMember(answer.username, answer.display_name or "", query.operation_id)


class StaffServiceFlow:
    """What a clerk or courier does at the terminal with a staff credential."""

    def __init__(self, parts: TerminalParts, member: StaffMember):
        self.parts = parts
        self.member = member

    def pending_loads(self) -> list[Compartment]:
        """Compartments reserved for results the backend asked to load."""
        return [
            c for c in self.parts.locker.compartments() if c.state == State.RESERVED and c.load_id
        ]

    def open_for_load(self, load_id: str) -> str:
        """Open the compartment reserved for this load so the result can go in."""
        slot = next((c for c in self.pending_loads() if c.load_id == load_id), None)
        if slot is None:
            raise FlowError("staff.error.no_load", load_id=load_id)
        try:
            self.parts.locker.open(slot.id, reason="staff load")
        except LockerError as exc:
            raise FlowError("staff.error.not_opened", kind=type(exc).__name__) from exc
        return slot.id

    def confirm_loaded(self, load_id: str) -> Compartment:
        """The result is inside and the door is shut: tell the backend, which sends the code."""
        p = self.parts
        self._door_seen_open(load_id)
        try:
            slot = p.locker.confirm_result_loaded(load_id)
        except DoorStillOpen as exc:
            # No code goes out for a result behind a door that stands open.
            raise FlowError("staff.error.still_open", compartment=exc.compartment_id) from exc
        assert slot.application_no
        p.outbox.put(
            m.ResultLoaded(
                terminal_id=p.terminal_id,
                operation_id=load_id,
                load_id=load_id,
                application_no=slot.application_no,
                compartment_id=slot.id,
                loaded_at=p.clock(),
                staff_sign_in=self.member.sign_in,
            )
        )
        return slot

    def load_all_pending(self) -> list[Compartment]:
        """Open, fill and close every pending load in turn (what a courier does)."""
        done = []
        for slot in self.pending_loads():
            assert slot.load_id
            self.open_for_load(slot.load_id)
            done.append(self.confirm_loaded(slot.load_id))
        return done

    def deposits(self) -> list[Compartment]:
        return [c for c in self.parts.locker.compartments() if c.state == State.HOLDING_DEPOSIT]

    def collect_deposit(self, compartment_id: str) -> None:
        """Open a compartment holding originals, mark it empty and report who collected them."""
        p = self.parts
        slot = next((c for c in self.deposits() if c.id == compartment_id), None)
        if slot is None:
            raise FlowError("staff.error.no_originals", compartment=compartment_id)
        try:
            p.locker.open(compartment_id, reason="staff collect")
        except LockerError as exc:
            raise FlowError("staff.error.not_opened", kind=type(exc).__name__) from exc
        self._door_seen_open(compartment_id)
        if slot.application_no:  # reported before the slot is freed: a crash repeats, never loses
            p.outbox.put(
                m.DepositCollected(
                    terminal_id=p.terminal_id,
                    operation_id=f"{slot.application_no}#collected",
                    application_no=slot.application_no,
                    compartment_id=compartment_id,
                    collected_at=p.clock(),
                    staff_sign_in=self.member.sign_in,
                )
            )
        p.locker.release(compartment_id)

    def _door_seen_open(self, key: str) -> None:
        """Staff confirming the work is done also confirms an unsensed door opened."""
        locker = self.parts.locker
        cid = next((c.id for c in locker.compartments() if key in (c.id, c.load_id)), None)
        if cid is not None and cid in locker.awaiting_answer():
            locker.confirm_opening(cid)
