"""Materials brought later (容缺) at any terminal: attached to the same application, audited.

The citizen found the application at a kiosk with its number and the phone number's last 4
digits (`request.application_status`, whose `supplements` say what is owed), then scanned or
imported what is owed. `event.supplement_provided` carries the files (as blob chunks) and the
tail again: the backend checks the tail as a progress query does, counting a wrong one against
the number's guesses, and takes only materials the application still owes.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .effects import AfterCommit
from .models import (
    Application,
    Blob,
    Material,
    MaterialSupplement,
    StatusQueryLog,
    Terminal,
    WorkflowHistory,
    utcnow,
)
from .outcomes import REJECTED, STORED, Applied, Refused
from .progress import LOCKED, WRONG_TAIL, ApplicationProgress


class Supplements:
    """Handles `event.supplement_provided`; idempotent by message id (ingest's dedupe)."""

    def __init__(self, progress: ApplicationProgress, clock: Callable[[], datetime] = utcnow):
        self.progress, self.clock = progress, clock

    def record(
        self, session: Session, msg: m.SupplementProvided, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        now = self.clock()
        app = session.get(Application, msg.application_no)
        if app is None:
            raise Refused(f"no application {msg.application_no}")
        limits = self.progress.settings
        # A wrong tail counts against the number as in a progress query; REJECTED (not Refused)
        # keeps that count, which a refusal's rollback would drop.
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
        not_owed = [c for c in codes if c not in owed]
        if not_owed:
            raise Refused(
                f"application {app.application_no} does not owe {', '.join(sorted(not_owed))}"
            )
        hashes = [x.sha256 for x in msg.materials]
        verified = set(
            session.scalars(select(Blob.sha256).where(Blob.sha256.in_(hashes), Blob.verified))
        )
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
            owed[ref.material_code].supplied_at = now
        session.add(
            WorkflowHistory(
                application_no=app.application_no,
                from_state=app.status,
                to_state=app.status,
                actor=f"terminal:{terminal.id}",
                note=f"supplement received: {', '.join(codes)}",
                at=now,
            )
        )
        logging.getLogger(__name__).info(
            "application %s: %d owed material(s) supplied at %s",
            app.application_no,
            len(codes),
            terminal.id,
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
