"""Staff work at terminals as the backend sees it: originals collected, and those still waiting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .effects import AfterCommit
from .models import Application, DepositCollection, Terminal, WorkflowHistory, utcnow
from .outcomes import DUPLICATE, STORED, Applied, Refused
from .terminal_sign_in import staff_actor


class DepositCollections:
    """Handles `event.deposit_collected`: idempotent by application, audited with the person."""

    def __init__(self, clock: Callable[[], datetime] = utcnow):
        self.clock = clock

    def record(
        self, session: Session, msg: m.DepositCollected, terminal: Terminal, _a: AfterCommit
    ) -> Applied:
        app = session.get(Application, msg.application_no)
        if app is None or app.terminal_id != terminal.id:
            raise Refused(f"no application {msg.application_no} from terminal {terminal.id}")
        if app.deposit_compartment_id != msg.compartment_id:
            raise Refused(
                f"application {msg.application_no} has no originals in {msg.compartment_id}"
            )
        done = session.get(DepositCollection, msg.application_no)
        if done is not None:
            # A resend, or a second collection after a restart cut the first short: the first
            # report stands.
            return Applied(DUPLICATE)
        actor = staff_actor(session, terminal.id, msg.staff_sign_in, self.clock())
        session.add(
            DepositCollection(
                application_no=app.application_no,
                terminal_id=terminal.id,
                compartment_id=msg.compartment_id,
                collected_at=msg.collected_at,
                collected_by=actor,
                received_at=self.clock(),
            )
        )
        session.add(
            WorkflowHistory(
                application_no=app.application_no,
                from_state=app.status,
                to_state=app.status,
                actor=actor,
                note=f"originals collected from {msg.compartment_id}",
                at=self.clock(),
            )
        )
        return Applied(STORED)


def originals_waiting(session: Session) -> list[dict[str, Any]]:
    """Deposited originals nobody has collected yet, by terminal and compartment."""
    rows = session.execute(
        select(Application, DepositCollection.application_no)
        .outerjoin(
            DepositCollection, DepositCollection.application_no == Application.application_no
        )
        .where(Application.deposit_compartment_id.is_not(None))
        .where(DepositCollection.application_no.is_(None))
        .order_by(
            Application.terminal_id, Application.deposit_compartment_id, Application.deposited_at
        )
    ).all()
    return [
        {
            "terminal_id": app.terminal_id,
            "compartment_id": app.deposit_compartment_id,
            "application_no": app.application_no,
            "item_code": app.item_code,
            "deposited_at": app.deposited_at,
        }
        for app, _ in rows
    ]


def recently_collected(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The latest collections, with who collected them."""
    return [
        {
            "terminal_id": c.terminal_id,
            "compartment_id": c.compartment_id,
            "application_no": c.application_no,
            "collected_at": c.collected_at,
            "collected_by": c.collected_by,
        }
        for c in session.scalars(
            select(DepositCollection).order_by(DepositCollection.collected_at.desc()).limit(limit)
        )
    ]
