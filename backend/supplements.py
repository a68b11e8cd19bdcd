"""Materials brought later (容缺) at any terminal: attached to the same application, audited.

The citizen found the application at a kiosk with its number and the phone number's last 4
digits (`request.application_status`, whose `supplements` say what is owed), then scanned or
imported what is owed. `event.supplement_provided` carries the files (as blob chunks) and the
tail again: the backend checks the tail as a progress query does and within its limits (a wrong
one is a guess against the number, every miss counts against the terminal), and takes only
materials the application still owes. A supplement proven by the ID card instead (found with
`request.owing_applications`) is a question by applicant key, audited and limited per terminal
with those (`reuse.KeyQuestionLimit`). Until the proof holds, every refusal gives the same
reason: the receipt tells a stranger nothing of the number (ADR 0005).

A supplement request (补正) that named materials is answered the same way: its materials are
taken too, and once every one of them has arrived the case goes back to review with its clock
running again, by itself (audited in the history; staff can still resume by hand).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from . import supplement_requests
from .blobs import hold_files
from .effects import AfterCommit
from .models import (
    Application,
    Material,
    MaterialSupplement,
    Terminal,
    WorkflowHistory,
    utcnow,
)
from .outcomes import REJECTED, STORED, Applied, Refused
from .owing import CLOSED_STATES
from .progress import ApplicationProgress
from .reuse import KeyQuestionLimit, audit_question
from .workflow import State, Workflow, WorkflowSettings


class Supplements:
    """Handles `event.supplement_provided`; idempotent by message id (ingest's dedupe)."""

    def __init__(
        self,
        progress: ApplicationProgress,
        clock: Callable[[], datetime] = utcnow,
        settings: WorkflowSettings | None = None,
        key_limit: KeyQuestionLimit | None = None,
    ):
        self.progress, self.clock = progress, clock
        self.settings = settings or WorkflowSettings(calendar=progress.settings.calendar)
        self.key_limit = key_limit or KeyQuestionLimit()

    def record(
        self, session: Session, msg: m.SupplementProvided, terminal: Terminal, after: AfterCommit
    ) -> Applied:
        now = self.clock()
        codes = [x.material_code for x in msg.materials]
        if len(set(codes)) != len(codes):
            raise Refused("a material is given twice")
        # From here on REJECTED, not Refused: it keeps the audit rows that count guesses and
        # misses, which a refusal's rollback would drop.
        if msg.applicant_ref is not None:
            app = self._by_card(session, msg, terminal, now)
            if app is None:
                return Applied(
                    REJECTED, f"the card read is not the applicant of {msg.application_no}"
                )
        else:
            assert msg.phone_tail is not None  # the contract asks for one proof or the other
            app = self.progress.find(
                session, terminal.id, msg.operation_id, msg.application_no, msg.phone_tail, now
            )
            if app is None:
                return Applied(
                    REJECTED, f"application {msg.application_no} not found with that phone tail"
                )
        # Proven: what the citizen may learn at a kiosk anyway can be said.
        if app.status in CLOSED_STATES or app.personal_data_erased_at is not None:
            return Applied(
                REJECTED, f"application {app.application_no} is {app.status}: it takes nothing"
            )
        owed = {
            row.material_code: row
            for row in session.scalars(
                select(MaterialSupplement).where(
                    MaterialSupplement.application_no == app.application_no,
                    MaterialSupplement.supplied_at.is_(None),
                )
            )
        }
        requested: dict[str, list] = {}
        if app.status == State.SUPPLEMENT_REQUESTED:
            for row in supplement_requests.open_rows(session, app.application_no):
                requested.setdefault(row.material_code, []).append(row)
        not_owed = [c for c in codes if c not in owed and c not in requested]
        if not_owed:
            return Applied(
                REJECTED,
                f"application {app.application_no} does not owe {', '.join(sorted(not_owed))}",
            )
        verified = hold_files(session, {x.sha256: (x.size, 0) for x in msg.materials})
        for ref in msg.materials:
            session.add(
                Material(
                    application_no=app.application_no,
                    material_code=ref.material_code,
                    sha256=ref.sha256,
                    size=ref.size,
                    content_type=ref.content_type,
                    pages=ref.pages,
                    verified=ref.sha256 in verified,
                    valid_until=ref.valid_until,
                )
            )
            if ref.material_code in owed:
                owed[ref.material_code].supplied_at = now
            for row in requested.get(ref.material_code, []):
                row.supplied_at = now
        session.add(
            WorkflowHistory(
                application_no=app.application_no,
                from_state=app.status,
                to_state=app.status,
                actor=f"terminal:{terminal.id}",
                note=f"supplement received: {', '.join(codes)}"
                + (" (ID card and face)" if msg.applicant_ref else ""),
                at=now,
            )
        )
        logging.getLogger(__name__).info(
            "application %s: %d owed material(s) supplied at %s",
            app.application_no,
            len(codes),
            terminal.id,
        )
        if requested and not supplement_requests.open_rows(session, app.application_no):
            stopped = Workflow(session, after, self.settings, self.clock).resume_after_supplement(
                app, f"terminal:{terminal.id}"
            )
            logging.getLogger(__name__).info(
                "application %s: every requested material arrived, back to review"
                " (%d working days not counted)",
                app.application_no,
                stopped,
            )
        return Applied(STORED)

    def _by_card(
        self, session: Session, msg: m.SupplementProvided, terminal: Terminal, now: datetime
    ) -> Application | None:
        """The application when the card read (with the live face) is its applicant's, or None.

        A question by applicant key like `request.owing_applications`, in the same audit and
        budget: otherwise a stolen key could walk ID numbers against an application's number.
        `offered` is 1 when the card was the applicant's, 0 when not, -1 when not answered.
        """
        assert msg.applicant_ref is not None
        if self.key_limit.refused(session, terminal.id, msg.operation_id, msg.applicant_ref, now):
            return None
        app = session.get(Application, msg.application_no)
        # An erased application keeps no reference: no card is its applicant's any more.
        proven = app is not None and hmac.compare_digest(
            (app.applicant_ref or "").encode(), msg.applicant_ref.encode()
        )
        audit_question(session, terminal.id, msg.operation_id, msg.applicant_ref, int(proven), now)
        return app if proven else None
