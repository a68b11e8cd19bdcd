"""The progress query (查询办理进度): ask the backend, and fall back on what this terminal knows.

The citizen gives the application number and the last 4 digits of the phone number given at
submission. One `request.application_status` goes out; the answer, or its absence, becomes a
`Progress` the screen shows: the backend's state when it answered, otherwise an honest "the
centre cannot be reached, try again later" and nothing else.

Only the backend checks the phone tail and limits guessing (per number and per terminal, ADR
0005). So when it does not answer, this terminal shows nothing of its own record of the
number: that would answer anyone at the kiosk, for any number (they are sequential), with
whatever tail, which service was applied for here and when. The applicant loses nothing by
it: the receipt and the SMS already say what that record would.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cloud_bridge.contract import messages as m
from cloud_bridge.request_reply import RequestReply

_TAIL = re.compile(r"^[0-9]{4}$")
_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{5,63}$")


class BadQuery(ValueError):
    """The citizen typed something that cannot be an application number or a phone tail."""

    def __init__(self, field_name: str):
        super().__init__(f"invalid {field_name}")
        self.field = field_name  # "number" or "tail": which entry to ask again


def normalise_number(typed: str) -> str:
    """AHT0001202611210001 -> AH-T0001-20261121-0001, as application numbers are printed."""
    typed = typed.strip().upper()
    if typed.startswith("AH") and "-" not in typed and len(typed) > 14:
        body = typed[2:]
        return f"AH-{body[:-12]}-{body[-12:-4]}-{body[-4:]}"
    return typed


def check_number(typed: str) -> str:
    """The application number as printed, or BadQuery("number") if it cannot be one."""
    number = normalise_number(typed)
    if not _NUMBER.fullmatch(number):
        raise BadQuery("number")
    return number


@dataclass(frozen=True)
class Supplement:
    """A material tolerated missing at submission (容缺), and the last day to bring it."""

    material_code: str
    due_on: date


@dataclass(frozen=True)
class Requested:
    """A material staff asked for in a supplement request (补正), and why (a reason code)."""

    material_code: str
    reason: str


@dataclass(frozen=True)
class Progress:
    """What the citizen is shown; `reached` False means the backend did not answer."""

    application_no: str
    reached: bool
    found: bool
    state: str | None = None  # a `CitizenState` value
    since: datetime | None = None
    item_code: str | None = None
    submitted_on: date | None = None
    promised_by: date | None = None
    supplements: tuple[Supplement, ...] = ()
    requested: tuple[Requested, ...] = ()
    pickup_terminal_id: str | None = None


class ProgressLookup:
    """Asks `request.application_status` over the terminal's shared `RequestReply`."""

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
        self.answered = 0
        self.unanswered = 0

    def ask(self, typed_number: str, phone_tail: str) -> Progress:
        """The progress of an application; BadQuery for a number or tail that cannot be one."""
        number = check_number(typed_number)
        if not _TAIL.fullmatch(phone_tail):
            raise BadQuery("tail")
        query = m.ApplicationStatusQuery(
            terminal_id=self.terminal_id,
            operation_id="STATUS-" + secrets.token_hex(6),
            application_no=number,
            phone_tail=phone_tail,
            expires_at=self.clock() + timedelta(seconds=self.timeout_s),
        )
        answer = self.replies.ask(query, m.ApplicationStatus, self.timeout_s)
        if answer is None:
            # Nothing from this terminal's own record: the tail was checked by nobody.
            self.unanswered += 1
            return Progress(number, reached=False, found=False)
        self.answered += 1
        return Progress(
            application_no=number,
            reached=True,
            found=answer.found,
            state=answer.state.value if answer.state else None,
            since=answer.since,
            item_code=answer.item_code,
            submitted_on=answer.submitted_on,
            promised_by=answer.promised_by,
            supplements=tuple(Supplement(x.material_code, x.due_on) for x in answer.supplements),
            requested=tuple(Requested(x.material_code, x.reason) for x in answer.requested),
            pickup_terminal_id=answer.pickup_terminal_id,
        )
