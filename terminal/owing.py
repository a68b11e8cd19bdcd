"""Which applications of the citizen at the card reader still owe materials (补交材料).

After the card was read and the live face matched its photo, the kiosk asks the backend with
`request.owing_applications`, naming the applicant by the keyed digest of the card
(`applicant_ref.digest`, the fleet's applicant key, ADR 0003), never by the number. The answer
lists at most a few open applications, each with its item, state and what it owes; no name,
no ID number, no phone. Offline, or no answer in time: `reached` is False and the kiosk says
the centre cannot be reached.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cloud_bridge.contract import messages as m
from cloud_bridge.request_reply import RequestReply
from terminal.progress import Requested, Supplement


@dataclass(frozen=True)
class OwingCase:
    """One application the citizen may bring materials for."""

    application_no: str
    item_code: str
    state: str  # a `CitizenState` value
    submitted_on: date
    supplements: tuple[Supplement, ...]  # tolerated missing (容缺), with the last day
    requested: tuple[Requested, ...]  # asked for by staff (补正), with the reason


@dataclass(frozen=True)
class Owing:
    reached: bool
    cases: tuple[OwingCase, ...] = ()
    more: bool = False  # more applications owe than the answer could list


class OwingLookup:
    """Asks `request.owing_applications` over the terminal's shared `RequestReply`."""

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

    def ask(self, ref: str) -> Owing:
        """The applications of the applicant whose card digest is `ref` that owe materials."""
        query = m.OwingApplicationsQuery(
            terminal_id=self.terminal_id,
            operation_id="OWING-" + secrets.token_hex(6),
            applicant_ref=ref,
            expires_at=self.clock() + timedelta(seconds=self.timeout_s),
        )
        answer = self.replies.ask(query, m.OwingApplications, self.timeout_s)
        if answer is None:
            self.unanswered += 1
            return Owing(reached=False)
        self.answered += 1
        return Owing(
            reached=True,
            cases=tuple(
                OwingCase(
                    application_no=x.application_no,
                    item_code=x.item_code,
                    state=x.state.value,
                    submitted_on=x.submitted_on,
                    supplements=tuple(Supplement(s.material_code, s.due_on) for s in x.supplements),
                    requested=tuple(Requested(r.material_code, r.reason) for r in x.requested),
                )
                for x in answer.applications
            ),
            more=answer.more,
        )
