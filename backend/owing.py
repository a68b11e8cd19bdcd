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
that asked `max_per_terminal` questions by applicant key within the hour (these, materials on
file and supplements proven by card together, `reuse.KeyQuestionLimit`) is not answered until
they age out: a kiosk serves a few citizens an hour, a stolen key walking ID numbers many more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .models import (
    Application,
    MaterialSupplement,
    RequestedMaterial,
    utcnow,
)
from .progress import CITIZEN_STATE
from .reuse import KeyQuestionLimit, audit_question
from .workdays import BEIJING
from .workflow import State

log = logging.getLogger(__name__)

OPERATION_PREFIX = "OWING-"
# A case in one of these states takes nothing more: its materials can no longer change it.
CLOSED_STATES = frozenset({State.REJECTED, State.PICKED_UP, State.RETURNED})


class OwingApplications:
    """The backend's side of `request.owing_applications`."""

    def __init__(
        self, limit: KeyQuestionLimit | None = None, clock: Callable[[], datetime] = utcnow
    ):
        self.limit = limit or KeyQuestionLimit()
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
        if self.limit.refused(
            session, query.terminal_id, query.operation_id, query.applicant_ref, now
        ):
            return None
        listed, more = self._owing(session, query.applicant_ref)
        audit_question(
            session, query.terminal_id, query.operation_id, query.applicant_ref, len(listed), now
        )
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
