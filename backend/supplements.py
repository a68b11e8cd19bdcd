"""Materials brought later (容缺) at any terminal: attached to the same application, audited.

The citizen found the application at a kiosk with its number and the phone number's last 4
digits (`request.application_status`, whose `supplements` say what is owed), then scanned or
imported what is owed. `event.supplement_provided` carries the files (as blob chunks) and the
tail again: the backend checks the tail as a progress query does, counting a wrong one against
the number's guesses, and takes only materials the application still owes.

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
    StatusQueryLog,
    Terminal,
    WorkflowHistory,
    utcnow,
)
from .outcomes import REJECTED, STORED, Applied, Refused
from .owing import CLOSED_STATES
from .progress import LOCKED, WRONG_TAIL, ApplicationProgress
from .workflow import State, Workflow, WorkflowSettings


class Supplements:
    """Handles `event.supplement_provided`; idempotent by message id (ingest's dedupe)."""

    def __init__(
        self,
        progress: ApplicationProgress,
        clock: Callable[[], datetime] = utcnow,
        settings: WorkflowSettings | None = None,
    ):
        self.progress, self.clock = progress, clock
        self.settings = settings or WorkflowSettings(calendar=progress.settings.calendar)

    def record(
        self, session: Session, msg: m.SupplementProvided, terminal: Terminal, after: AfterCommit
    ) -> Applied:
        now = self.clock()
        app = session.get(Application, msg.application_no)
        if app is None:
            raise Refused(f"no application {msg.application_no}")
        if app.status in CLOSED_STATES or app.personal_data_erased_at is not None:
            raise Refused(f"application {app.application_no} is {app.status}: it takes nothing")
        if msg.applicant_ref is not None:
            # Card and live face at the terminal: the card must be this application's applicant.
            if not app.applicant_ref or not hmac.compare_digest(
                app.applicant_ref.encode(), msg.applicant_ref.encode()
            ):
                raise Refused(f"the card read is not the applicant of {app.application_no}")
        else:
            assert msg.phone_tail is not None  # the contract asks for one proof or the other
            limits = self.progress.settings
            # A wrong tail counts against the number as in a progress query; REJECTED (not
            # Refused) keeps that count, which a refusal's rollback would drop.
            if self.progress._guesses(session, app.application_no, now) >= limits.max_wrong_tails:
                self._audit(session, msg, terminal, LOCKED, now)
                return Applied(REJECTED, f"application {app.application_no} is locked")
            if not hmac.compare_digest(app.phone[-4:].encode(), msg.phone_tail.encode()):
                self._audit(session, msg, terminal, WRONG_TAIL, now)
                return Applied(REJECTED, f"phone tail does not match {app.application_no}")
        codes = [x.material_code for x in msg.materials]
        if len(set(codes)) != len(codes):
            raise Refused("a material is given twice")
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
            raise Refused(
                f"application {app.application_no} does not owe {', '.join(sorted(not_owed))}"
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

    @staticmethod
    def _audit(
        session: Session, msg: m.SupplementProvided, terminal: Terminal, outcome: str, now
    ) -> None:
        session.add(
            StatusQueryLog(
                terminal_id=terminal.id,
                operation_id=msg.operation_id,
                application_no=msg.application_no,
                outcome=outcome,
                at=now,
            )
        )
