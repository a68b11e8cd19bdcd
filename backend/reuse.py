"""Materials on file (材料复用) and materials owed later (容缺).

- `answer()` tells a terminal which materials the backend holds for the applicant named by a
  keyed digest: verified files of applications staff accepted, still valid, one per code. Every
  question by applicant key is audited in `ReuseQueryLog`, and a terminal that asked too many
  within the hour is not answered (`KeyQuestionLimit`, shared with owing applications and
  supplements proven by card).
- `record_submission()` runs when an application arrives: it gives each reusable new file an
  opaque reference, links each reused material to the file already held (the same blob, never
  a copy, and only for the same applicant), and turns tolerated materials into supplements due
  on a working day counted with the holiday calendar.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.contract import applicant_ref
from cloud_bridge.contract import messages as m

from .db import Database
from .flushing import insert_row
from .models import (
    Application,
    BackendKey,
    Material,
    MaterialSupplement,
    ReuseQueryLog,
    utcnow,
)
from .workdays import BEIJING, CN_OFFICIAL, WorkingDayCalendar
from .workflow import State

log = logging.getLogger(__name__)

# Staff accepted the application the file came with, and did not turn it down since.
REUSABLE_STATES = frozenset(
    {
        State.ACCEPTED,
        State.UNDER_REVIEW,
        State.APPROVED,
        State.RESULT_LOADED,
        State.PICKED_UP,
        State.RETURNED,
    }
)
APPLICANT_KEY = "applicant"
TOLERATED = "tolerated"
REUSE_INVALID = "reuse_invalid"


def new_reference() -> str:
    """An opaque, unguessable handle for a held material."""
    return "MAT-" + secrets.token_hex(8)


def load_or_create_applicant_key(db: Database) -> bytes:
    """The fleet's applicant key kept in the database; made once, on first start."""
    with db.transaction() as session:
        row = session.get(BackendKey, APPLICANT_KEY)
        if row is None:
            row = BackendKey(name=APPLICANT_KEY, value=secrets.token_bytes(32))
            session.add(row)
        return bytes(row.value)


@dataclass(frozen=True)
class KeyQuestionLimit:
    """How many questions naming a citizen by applicant key one terminal may ask in `window`.

    Materials on file, owing applications and supplements proven by card all take the digest
    every terminal can make for any ID number, so they count together, whatever their operation
    ids say: a kiosk serves a few citizens an hour, a stolen key walking ID numbers asks many
    more. Counted from `ReuseQueryLog`, throttled questions included, so a walker stays out.
    """

    max_per_terminal: int = 60
    window: timedelta = timedelta(hours=1)

    def refused(
        self, session: Session, terminal_id: str, operation_id: str, ref: str, now: datetime
    ) -> bool:
        """Whether the terminal is past its budget: then the question is not answered, and is
        audited as such (`offered` -1) up to twice the budget a window. Those rows keep it out
        while it goes on asking; past them nothing more is written, or a stolen certificate
        asking at broker speed would grow the log without bound. The first refused warns."""
        asked = (
            session.scalar(
                select(func.count())
                .select_from(ReuseQueryLog)
                .where(
                    ReuseQueryLog.terminal_id == terminal_id,
                    ReuseQueryLog.at > now - self.window,
                )
            )
            or 0
        )
        if asked < self.max_per_terminal:
            return False
        if asked == self.max_per_terminal:
            log.warning(
                "terminal %s asked %d questions by applicant key within %s; it is not answered"
                " until they age out (someone may be walking ID numbers)",
                terminal_id,
                asked,
                self.window,
            )
        if asked < 2 * self.max_per_terminal:
            audit_question(session, terminal_id, operation_id, ref, -1, now)
        return True


def audit_question(
    session: Session,
    terminal_id: str,
    operation_id: str,
    applicant_ref: str,
    offered: int,
    now: datetime,
) -> None:
    """A row of the PIPL log of lookups by applicant key; `offered` -1: not answered."""
    session.add(
        ReuseQueryLog(
            terminal_id=terminal_id,
            operation_id=operation_id,
            applicant_ref=applicant_ref,
            offered=offered,
            at=now,
        )
    )


@dataclass(frozen=True)
class ReuseSettings:
    """How reuse and supplements are decided."""

    applicant_key: bytes
    calendar: WorkingDayCalendar = CN_OFFICIAL
    # Working days to supply a material whose reuse reference the backend could not honour.
    invalid_reuse_days: int = 5
    limit: KeyQuestionLimit = KeyQuestionLimit()


class MaterialsOnFile:
    """The backend's side of reuse and of tolerated-missing materials."""

    def __init__(self, settings: ReuseSettings, clock: Callable[[], datetime] = utcnow):
        self.settings, self.clock = settings, clock

    def applicant_ref(self, document_type: str, number: str) -> str:
        return applicant_ref.digest(self.settings.applicant_key, document_type, number)

    # ------------------------------------------------------------ the question

    def answer(self, session: Session, query: m.MaterialsOnFileQuery) -> m.MaterialsOnFile | None:
        """The response to publish, or None for an expired request or a throttled terminal."""
        now = self.clock()
        if query.expired(now):
            log.info("materials-on-file request %s expired before it was read", query.message_id)
            return None
        limit = self.settings.limit
        if limit.refused(session, query.terminal_id, query.operation_id, query.applicant_ref, now):
            # No answer, as for an owing question: the terminal offers nothing, the citizen scans.
            return None
        today = now.astimezone(BEIJING).date()
        rows = session.execute(
            select(Material, Application)
            .join(Application, Material.application_no == Application.application_no)
            .where(
                Application.applicant_ref == query.applicant_ref,
                Application.status.in_([s.value for s in REUSABLE_STATES]),
                Material.material_code.in_(query.material_codes),
                Material.reference.is_not(None),
                Material.verified.is_(True),
                Material.valid_until >= today,
            )
        ).all()
        best: dict[str, tuple[Material, Application]] = {}
        for material, app in rows:
            held = best.get(material.material_code)
            rank = (material.valid_until, app.submitted_at)
            if held is None or rank > (held[0].valid_until, held[1].submitted_at):
                best[material.material_code] = (material, app)
        offered = [
            m.OnFileMaterial(
                material_code=material.material_code,
                reference=material.reference,
                content_type=material.content_type,
                pages=material.pages,
                valid_until=material.valid_until,
                captured_on=app.submitted_at.astimezone(BEIJING).date(),
            )
            for material, app in sorted(best.values(), key=lambda x: x[0].material_code)
        ]
        audit_question(
            session, query.terminal_id, query.operation_id, query.applicant_ref, len(offered), now
        )
        log.info(
            "materials on file for %s… asked by %s: %d offered",
            query.applicant_ref[:8],
            query.terminal_id,
            len(offered),
        )
        return m.MaterialsOnFile(
            terminal_id=query.terminal_id,
            operation_id=query.operation_id,
            request_id=query.message_id,
            materials=offered,
            expires_at=query.expires_at,
        )

    # ------------------------------------------------------------ the submission

    def record_submission(
        self,
        session: Session,
        app: Application,
        msg: m.ApplicationSubmitted,
        verified: set[str],
    ) -> None:
        """References for new files, links for reused ones, supplements for what is owed.

        `verified` holds the SHA-256 of the submitted files the blob store already verified.
        """
        app.applicant_ref = self.applicant_ref(app.id_document_type, app.id_number)
        day = msg.submitted_at.astimezone(BEIJING).date()
        for ref in msg.materials:
            # No object while ingest applies a batch together (backend/flushing.py).
            insert_row(
                session,
                Material,
                application_no=app.application_no,
                material_code=ref.material_code,
                sha256=ref.sha256,
                size=ref.size,
                content_type=ref.content_type,
                pages=ref.pages,
                verified=ref.sha256 in verified,
                reference=new_reference() if ref.valid_until else None,
                valid_until=ref.valid_until,
            )
        for reused in msg.reused_materials:
            problem = self._link(session, app, reused, day)
            if problem:
                log.warning(
                    "reused %s on %s not linked: %s",
                    reused.material_code,
                    app.application_no,
                    problem,
                )
                self._owe(
                    session,
                    app,
                    reused.material_code,
                    REUSE_INVALID,
                    msg.submitted_at,
                    note=problem,
                )
        for tolerated in msg.tolerated_missing:
            self._owe(
                session,
                app,
                tolerated.material_code,
                TOLERATED,
                msg.submitted_at,
                tolerated.working_days,
            )

    def _link(
        self, session: Session, app: Application, reused: m.ReusedMaterial, day: date
    ) -> str | None:
        source = session.scalar(select(Material).where(Material.reference == reused.reference))
        if source is None:
            return "unknown reference"
        owner = session.get(Application, source.application_no)
        # The clear numbers are compared, not digests: the backend holds both, and a digest
        # made with a rotated key must never link another person's file.
        if owner is None or (owner.id_document_type, owner.id_number) != (
            app.id_document_type,
            app.id_number,
        ):
            return "reference belongs to another applicant"
        if source.material_code != reused.material_code:
            return "reference is for another material"
        if owner.status not in REUSABLE_STATES:
            return f"source application is {owner.status}"
        if not source.verified:
            return "source file is not verified"
        if source.valid_until is None or source.valid_until < day:
            return "material no longer valid"
        session.add(
            Material(
                application_no=app.application_no,
                material_code=reused.material_code,
                sha256=source.sha256,
                size=source.size,
                content_type=source.content_type,
                pages=source.pages,
                verified=True,
                reference=None,
                valid_until=source.valid_until,
                reused_from=source.id,
            )
        )
        return None

    def _owe(
        self,
        session: Session,
        app: Application,
        material_code: str,
        reason: str,
        submitted_at: datetime,
        working_days: int | None = None,
        note: str = "",
    ) -> MaterialSupplement:
        days = working_days or self.settings.invalid_reuse_days
        due = self.settings.calendar.due_date(submitted_at, days)
        row = MaterialSupplement(
            application_no=app.application_no,
            material_code=material_code,
            reason=reason,
            working_days=days,
            due_on=due,
            calendar_covered=self.settings.calendar.covers(due),
            note=note[:200],
            created_at=self.clock(),
        )
        session.add(row)
        if not row.calendar_covered:
            log.warning(
                "no holiday table for %d: %s due date counts weekends only", due.year, reason
            )
        return row
