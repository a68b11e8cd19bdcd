"""Which applications of a citizen still owe materials (补交材料 with the ID card).

A terminal asks `request.owing_applications` after the citizen's card was read and their live
face matched its photo. The applicant is named by the keyed digest of the card
(`applicant_ref`), as in materials reuse: the backend looks up the digest it keeps with every
application, and the clear ID number never travels.

The answer is bounded and says no more than the kiosk shows: at most
`MAX_OWING_APPLICATIONS` open applications that owe something, the earliest due first, each
with its item, state, submission day and what it owes (materials tolerated missing with their
last day, materials a staff supplement request asks for with the reason); never the name, the
ID number or the phone. A closed application (refused, picked up, returned, erased) owes
nothing. A different person's card gets an empty list, which says nothing about anyone.

Every question is audited in `ReuseQueryLog` (the PIPL log of lookups by applicant key; these
rows' operation ids start `OWING-`, and `offered` counts the applications listed). A terminal
that asks more than `max_per_terminal` times an hour is not answered until its questions age
out: a kiosk serves a few citizens an hour, a stolen key walking ID numbers many more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .models import (
    Application,
    MaterialSupplement,
    RequestedMaterial,
    ReuseQueryLog,
    utcnow,
)
from .progress import CITIZEN_STATE
from .workdays import BEIJING
from .workflow import State

log = logging.getLogger(__name__)

OPERATION_PREFIX = "OWING-"
# A case in one of these states takes nothing more: its materials can no longer change it.
CLOSED_STATES = frozenset({State.REJECTED, State.PICKED_UP, State.RETURNED})


@dataclass(frozen=True)
class OwingSettings:
    max_per_terminal: int = 60
    window: timedelta = timedelta(hours=1)


class OwingApplications:
    """The backend's side of `request.owing_applications`."""

    def __init__(
        self, settings: OwingSettings | None = None, clock: Callable[[], datetime] = utcnow
    ):
        self.settings = settings or OwingSettings()
        self.clock = clock

    def answer(
        self, session: Session, query: m.OwingApplicationsQuery
    ) -> m.OwingApplications | None:
        """The response to publish, or None for an expired question or a throttled terminal."""
        now = self.clock()
        if query.expired(now):
            log.info("owing-applications request %s expired before it was read", query.message_id)
            return None
        if not query.operation_id.startswith(OPERATION_PREFIX):
            log.warning(
                "owing-applications request from %s with operation id %r refused",
                query.terminal_id,
                query.operation_id[:40],
            )
            return None
        asked = self._asked(session, query.terminal_id, now)
        if asked >= self.settings.max_per_terminal:
            if asked == self.settings.max_per_terminal:
                log.warning(
                    "terminal %s asked for %d applicants' owing applications within %s; it is"
                    " not answered until they age out (someone may be walking ID numbers)",
                    query.terminal_id,
                    asked,
                    self.settings.window,
                )
            self._audit(session, query, -1, now)
            return None
        listed, more = self._owing(session, query.applicant_ref)
        self._audit(session, query, len(listed), now)
        log.info(
            "owing applications for %s… asked by %s: %d listed%s",
            query.applicant_ref[:8],
            query.terminal_id,
            len(listed),
            " (more owe)" if more else "",
        )
        return m.OwingApplications(
            terminal_id=query.terminal_id,
            operation_id=query.operation_id,
            request_id=query.message_id,
            applications=listed,
            more=more,
            expires_at=query.expires_at,
        )

    def _owing(self, session: Session, ref: str) -> tuple[list[m.OwingApplication], bool]:
        apps = session.scalars(
            select(Application).where(
                Application.applicant_ref == ref,
                Application.status.not_in([s.value for s in CLOSED_STATES]),
                Application.personal_data_erased_at.is_(None),
            )
        ).all()
        if not apps:
            return [], False
        numbers = [a.application_no for a in apps]
        owed: dict[str, list[MaterialSupplement]] = {}
        for row in session.scalars(
            select(MaterialSupplement)
            .where(
                MaterialSupplement.application_no.in_(numbers),
                MaterialSupplement.supplied_at.is_(None),
            )
            .order_by(MaterialSupplement.due_on, MaterialSupplement.material_code)
        ):
            owed.setdefault(row.application_no, []).append(row)
        # Staff's requested materials are owed only while the case waits for them.
        waiting = [a.application_no for a in apps if a.status == State.SUPPLEMENT_REQUESTED]
        requested: dict[str, list[RequestedMaterial]] = {}
        for row in session.scalars(
            select(RequestedMaterial)
            .where(
                RequestedMaterial.application_no.in_(waiting),
                RequestedMaterial.supplied_at.is_(None),
                RequestedMaterial.closed_at.is_(None),
            )
            .order_by(RequestedMaterial.id)
        ):
            requested.setdefault(row.application_no, []).append(row)
        owing = [a for a in apps if a.application_no in owed or a.application_no in requested]

        def urgency(app: Application) -> tuple:
            # A staff request first (the case's clock stands still), then the earliest due day.
            first_due = min((x.due_on for x in owed.get(app.application_no, [])), default=None)
            day = first_due or app.submitted_at.astimezone(BEIJING).date()
            return (app.application_no not in requested, day, app.application_no)

        owing.sort(key=urgency)
        limit = m.MAX_OWING_APPLICATIONS
        listed = [
            m.OwingApplication(
                application_no=app.application_no,
                item_code=app.item_code,
                state=CITIZEN_STATE[State(app.status)],
                submitted_on=app.submitted_at.astimezone(BEIJING).date(),
                supplements=[
                    m.SupplementDue(material_code=x.material_code, due_on=x.due_on)
                    for x in owed.get(app.application_no, [])
                ],
                requested=[
                    m.RequestedMaterial(material_code=x.material_code, reason=x.reason)
                    for x in requested.get(app.application_no, [])
                ],
            )
            for app in owing[:limit]
        ]
        return listed, len(owing) > limit

    def _asked(self, session: Session, terminal_id: str, now: datetime) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(ReuseQueryLog)
                .where(
                    ReuseQueryLog.terminal_id == terminal_id,
                    ReuseQueryLog.operation_id.startswith(OPERATION_PREFIX),
                    ReuseQueryLog.at > now - self.settings.window,
                )
            )
            or 0
        )

    @staticmethod
    def _audit(session: Session, query: m.OwingApplicationsQuery, listed: int, now) -> None:
        # `offered` -1: not answered (throttled); otherwise how many applications were listed.
        session.add(
            ReuseQueryLog(
                terminal_id=query.terminal_id,
                operation_id=query.operation_id,
                applicant_ref=query.applicant_ref,
                offered=listed,
                at=now,
            )
        )
