"""One handler per upstream message type; each is idempotent by its business key."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.application_no import made_by

from . import commands
from .alarms import Alarms
from .alarms_health import HealthAlarms, judge_update
from .blobs import CHUNKED_BLOBS, VERIFIED_BLOBS, BlobIntake, BlobLimits, BlobStore
from .effects import AfterCommit
from .flushing import insert, insert_row
from .models import (
    Application,
    Blob,
    CommandRow,
    LoadOperation,
    Material,
    Terminal,
    WorkflowHistory,
    utcnow,
)
from .outcomes import DUPLICATE, STORED, Applied, Conflict, NotYet, Refused
from .presence import Presence
from .reuse import MaterialsOnFile
from .rollouts import record_outcome as _record_rollout_outcome
from .terminal_sign_in import staff_actor
from .workflow import LoadStatus, State, Workflow, WorkflowSettings

log = logging.getLogger(__name__)

Handler = Callable[[Session, m.Message, Terminal, AfterCommit], Applied]
# session.info key: application numbers the caller has just looked up and found absent in this
# transaction (ingest does so for a whole batch in one query), so no handler asks again.
NEW_APPLICATIONS = "new_applications"


class UpstreamHandlers:
    """Applies one decoded message inside the caller's savepoint; raises Refused to refuse it."""

    def __init__(
        self,
        blobs: BlobStore,
        settings: WorkflowSettings,
        reuse: MaterialsOnFile,
        clock: Callable[[], datetime] = utcnow,
        alarms: Alarms | None = None,
        presence: Presence | None = None,
        blob_limits: BlobLimits | None = None,
    ):
        self.settings, self.clock, self.reuse = settings, clock, reuse
        self.alarms = alarms or Alarms()
        self.presence = presence or Presence(self.alarms, clock=clock)
        self.health = HealthAlarms(self.alarms)
        self._blob_intake = BlobIntake(blobs, clock, blob_limits)

    def by_type(self) -> dict[type[m.Message], Handler]:
        """The handler of each upstream message type."""
        return {
            m.Status: self.presence.on_status,
            m.Telemetry: self._telemetry,
            m.ApplicationSubmitted: self._application_submitted,
            m.MaterialsDeposited: self._materials_deposited,
            m.ResultLoaded: self._result_loaded,
            m.ResultPickedUp: self._result_picked_up,
            m.Alarm: self._alarm,
            m.BlobChunk: self._blob_chunk,
            m.CommandAck: self._command_ack,
            m.SoftwareUpdated: self._software_updated,
        }  # type: ignore[dict-item]

    def _workflow(self, session: Session, after: AfterCommit) -> Workflow:
        return Workflow(session, after, self.settings, self.clock)

    # ------------------------------------------------------------ handlers

    def _telemetry(
        self, session: Session, msg: m.Telemetry, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        # Arrival order, as for statuses: a terminal whose clock jumped must not have its
        # reports ignored (its clock is one of the things they report on).
        self.health.judge(session, terminal.id, msg, terminal.telemetry, self.clock())
        terminal.telemetry = msg.model_dump(
            mode="json", exclude={"schema_version", "type", "message_id", "terminal_id"}
        )
        terminal.telemetry_sent_at = msg.sent_at
        terminal.last_seen_at = max(filter(None, (terminal.last_seen_at, msg.sent_at)))
        self.presence.on_heard(terminal)
        return Applied(STORED)

    def _application_submitted(
        self, session: Session, msg: m.ApplicationSubmitted, terminal: Terminal, after: AfterCommit
    ) -> Applied:
        if not made_by(msg.application_no, terminal.id):
            raise Conflict(f"{msg.application_no} is not an application number {terminal.id} makes")
        new = session.info.get(NEW_APPLICATIONS, set())
        if msg.application_no in new:
            new.discard(msg.application_no)  # a second submission in the batch looks it up
            existing = None
        else:
            existing = session.get(Application, msg.application_no)
        if existing is not None:
            if existing.terminal_id != terminal.id:
                raise Conflict(f"application {msg.application_no} belongs to another terminal")
            if not _same_submission(session, existing, msg):
                raise Conflict(f"application number {msg.application_no} reused with other content")
            return Applied(DUPLICATE)
        a = msg.applicant
        app = Application(
            application_no=msg.application_no,
            terminal_id=terminal.id,
            item_code=msg.item_code,
            applicant_name=a.name,
            id_document_type=a.id_document_type.value,
            id_number=a.id_number,
            phone=a.phone,
            identity=msg.identity.model_dump(mode="json"),
            status=State.SUBMITTED,
            deposit_expected=msg.deposit_expected,
            submitted_at=msg.submitted_at,
            received_at=self.clock(),
        )
        insert(session, app)  # no object in the session while a batch is applied together
        hashes = {x.sha256 for x in msg.materials}
        known = session.info.get(VERIFIED_BLOBS)
        if known is None:
            verified, ask = set(), hashes
        else:  # a statement per submission cost more than the rest of the handler
            verified, ask = hashes & known, hashes & session.info.get(CHUNKED_BLOBS, set())
        if ask:
            query = select(Blob.sha256).where(Blob.sha256.in_(ask), Blob.verified.is_(True))
            verified |= set(session.scalars(query))
        # Not flushed here: ingest flushes the application before the rows pointing at it.
        self.reuse.record_submission(session, app, msg, verified)
        self._workflow(session, after).submitted(app)
        insert_row(
            session,
            WorkflowHistory,
            application_no=msg.application_no,
            from_state=None,
            to_state=State.SUBMITTED,
            actor=f"terminal:{terminal.id}",
            note=f"item {msg.item_code}, identity {msg.identity.method.value}",
            at=self.clock(),
        )
        return Applied(STORED)

    def _application_of(self, session: Session, no: str, terminal: Terminal) -> Application:
        app = session.get(Application, no)
        if app is None:
            raise NotYet(f"no application {no} from terminal {terminal.id}")
        if app.terminal_id != terminal.id:
            raise Refused(f"no application {no} from terminal {terminal.id}")
        return app

    def _materials_deposited(
        self, session: Session, msg: m.MaterialsDeposited, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        app = self._application_of(session, msg.application_no, terminal)
        if app.deposit_compartment_id is not None:
            return Applied(DUPLICATE)
        app.deposit_compartment_id, app.deposited_at = msg.compartment_id, msg.deposited_at
        session.add(
            WorkflowHistory(
                application_no=app.application_no,
                from_state=app.status,
                to_state=app.status,
                actor=f"terminal:{terminal.id}",
                note=f"originals deposited in {msg.compartment_id}",
                at=self.clock(),
            )
        )
        return Applied(STORED)

    def _load_of(
        self, session: Session, msg: m.ResultLoaded | m.ResultPickedUp, terminal: Terminal
    ) -> LoadOperation | None:
        load = session.get(LoadOperation, msg.load_id)
        if load is not None and (
            load.terminal_id != terminal.id or load.application_no != msg.application_no
        ):
            raise Refused(f"load {msg.load_id} is not for this terminal and application")
        return load

    def _result_loaded(
        self, session: Session, msg: m.ResultLoaded, terminal: Terminal, after: AfterCommit
    ) -> Applied:
        load = self._load_of(session, msg, terminal)
        if load is None:
            # Loaded in terminal service mode, without a LoadResult command from us.
            self._application_of(session, msg.application_no, terminal)
            load = LoadOperation(
                load_id=msg.load_id,
                application_no=msg.application_no,
                terminal_id=terminal.id,
                status=LoadStatus.RESERVED,
            )
            session.add(load)
        elif load.status in (LoadStatus.LOADED, LoadStatus.PICKED_UP, LoadStatus.WITHDRAWN):
            return Applied(DUPLICATE)
        actor = staff_actor(session, terminal.id, msg.staff_sign_in, self.clock())
        self._workflow(session, after).result_loaded(load, msg.compartment_id, actor)
        return Applied(STORED)

    def _result_picked_up(
        self, session: Session, msg: m.ResultPickedUp, terminal: Terminal, after: AfterCommit
    ) -> Applied:
        load = self._load_of(session, msg, terminal)
        if load is None:
            raise Refused(f"unknown load {msg.load_id}")
        if load.status == LoadStatus.PICKED_UP:
            return Applied(DUPLICATE)
        self._workflow(session, after).picked_up(load, f"terminal:{terminal.id}")
        return Applied(STORED)

    def _alarm(
        self, session: Session, msg: m.Alarm, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        # A repeat of a live alarm (same kind and compartment) is folded into it.
        _row, action = self.alarms.raise_alarm(
            session,
            terminal.id,
            msg.kind,
            msg.severity,
            msg.detail,
            self.clock(),
            actor=f"terminal:{terminal.id}",
            compartment_id=msg.compartment_id,
            operation_id=msg.operation_id,
            raised_at=msg.raised_at,
        )
        return Applied(DUPLICATE if action == "duplicate" else STORED)

    def _blob_chunk(
        self, session: Session, msg: m.BlobChunk, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        return self._blob_intake.accept(session, msg)

    def _software_updated(
        self, session: Session, msg: m.SoftwareUpdated, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        # The outcome of a rollout's update on this terminal; the rollout judges it on its tick.
        if not _record_rollout_outcome(session, terminal.id, msg, self.clock()):
            log.info("software update outcome from %s for no rollout: %s", terminal.id, msg.detail)
        judge_update(self.alarms, session, terminal.id, msg, self.clock())  # update_failed
        return Applied(STORED)

    def _command_ack(
        self, session: Session, msg: m.CommandAck, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        row = session.get(CommandRow, msg.command_id)
        if row is None or row.terminal_id != terminal.id:
            raise Conflict(f"ack for command {msg.command_id}, never sent to {terminal.id}")
        if not commands.apply_ack(row, msg, self.clock()):
            return Applied(DUPLICATE)  # a repeated or late ack, folded into what is recorded
        if msg.outcome == m.AckOutcome.RECEIVED:
            return Applied(STORED)
        if row.type == m.type_name(m.LoadResult):
            load = session.get(LoadOperation, row.payload["load_id"])
            if load is not None and load.status == LoadStatus.PENDING:
                if msg.outcome == m.AckOutcome.DONE:
                    load.status = LoadStatus.RESERVED
                    load.compartment_id = msg.result.get("compartment_id") or load.compartment_id
                else:
                    load.status = LoadStatus.FAILED
        return Applied(STORED)


def _same_submission(session: Session, app: Application, msg: m.ApplicationSubmitted) -> bool:
    """Whether a submission under a known number says what the stored one says (a resend)."""
    stored = set(
        session.scalars(
            select(Material.sha256).where(Material.application_no == app.application_no)
        )
    )
    return (
        app.item_code == msg.item_code
        and app.id_number == msg.applicant.id_number
        and app.id_document_type == msg.applicant.id_document_type.value
        and app.phone == msg.applicant.phone
        and app.submitted_at == msg.submitted_at
        and {x.sha256 for x in msg.materials} <= stored
    )
