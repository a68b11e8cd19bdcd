"""Alarms with a life: raised, repeats folded, acknowledged, cleared, each step audited.

An alarm is one row per (terminal, operation id). Its states are `open`, `acknowledged` and
`cleared`. A repeat of a condition that already has a live alarm (same terminal, kind and
compartment) is folded into it (`occurrences` counts them); a condition that comes back within
the flap window after its alarm was cleared reopens that alarm instead of raising a new one, so
a flapping terminal raises one alarm, not fifty. The on-duty operator is told of a new alarm
through the notification outbox, never per repeat: the first new alarm at once, and those
raised within `texted_every` of a text together in the next one ("T0003等12台"), so an outage
that takes the whole fleet offline is one SMS every few minutes, not one per terminal. Every
step is written to `alarm_events` with who did it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .models import AlarmEvent, AlarmRow
from .notifications.outbox import enqueue_together, first_and_count
from .notifications.templates import Kind

log = logging.getLogger(__name__)

# The words an operator's SMS uses for each kind (template variables stay short).
KIND_WORDS: dict[str, str] = {
    m.AlarmKind.WRONG_CODE_LIMIT: "取件码错误次数过多",
    m.AlarmKind.LOCK_FAULT: "锁控故障",
    m.AlarmKind.DOOR_FORCED: "柜门被强行打开",
    m.AlarmKind.DOOR_LEFT_OPEN: "柜门未关",
    m.AlarmKind.DEVICE_FAULT: "设备故障",
    m.AlarmKind.LOW_PAPER: "打印纸不足",
    m.AlarmKind.OPENING_UNCONFIRMED: "开门未确认",
    m.AlarmKind.DEPOSIT_ABANDONED: "原件遗留柜中",
    m.AlarmKind.SECURITY: "安全告警",
    m.AlarmKind.OFFLINE: "离线",
    m.AlarmKind.DISK_NEARLY_FULL: "磁盘将满",
    m.AlarmKind.CLOCK_OFF: "时钟偏差过大",
    m.AlarmKind.BACKLOG_GROWING: "待上传积压增长",
    m.AlarmKind.UPDATE_FAILED: "软件更新失败",
}


class AlarmState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


LIVE = (AlarmState.OPEN.value, AlarmState.ACKNOWLEDGED.value)


class AlarmNotFound(LookupError):
    pass


class AlarmAlreadyCleared(ValueError):
    pass


@dataclass(frozen=True)
class AlarmSettings:
    # A condition back within this long after its alarm was cleared reopens that alarm.
    flap_window: timedelta = timedelta(minutes=30)
    # Where the on-duty operator's SMS goes; None: nobody is texted (the console still shows).
    on_duty_phone: str | None = None
    # New alarms within this long of the last text wait and go together in the next one.
    texted_every: timedelta = timedelta(minutes=10)


def _event(
    session: Session, alarm: AlarmRow, action: str, actor: str, note: str, now: datetime
) -> None:
    session.add(
        AlarmEvent(
            terminal_id=alarm.terminal_id,
            operation_id=alarm.operation_id,
            action=action,
            actor=actor[:80],
            note=note[:500],
            at=now,
        )
    )


class Alarms:
    """The alarm book: every raise, fold, acknowledgement and clearance goes through here."""

    def __init__(self, settings: AlarmSettings | None = None):
        self.settings = settings or AlarmSettings()

    def _live(
        self,
        session: Session,
        terminal_id: str,
        kind: str,
        compartment_id: str | None,
        source: str | None = None,
    ) -> AlarmRow | None:
        return session.scalar(
            select(AlarmRow)
            .where(
                AlarmRow.terminal_id == terminal_id,
                AlarmRow.kind == kind,
                AlarmRow.compartment_id.is_(None)
                if compartment_id is None
                else AlarmRow.compartment_id == compartment_id,
                AlarmRow.source.is_(None) if source is None else AlarmRow.source == source,
                AlarmRow.state.in_(LIVE),
            )
            .order_by(AlarmRow.raised_at.desc())
            .limit(1)
        )

    def _recently_cleared(
        self,
        session: Session,
        terminal_id: str,
        kind: str,
        compartment_id: str | None,
        now: datetime,
        source: str | None = None,
    ) -> AlarmRow | None:
        return session.scalar(
            select(AlarmRow)
            .where(
                AlarmRow.terminal_id == terminal_id,
                AlarmRow.kind == kind,
                AlarmRow.compartment_id.is_(None)
                if compartment_id is None
                else AlarmRow.compartment_id == compartment_id,
                AlarmRow.source.is_(None) if source is None else AlarmRow.source == source,
                AlarmRow.state == AlarmState.CLEARED.value,
                AlarmRow.cleared_at >= now - self.settings.flap_window,
            )
            .order_by(AlarmRow.cleared_at.desc())
            .limit(1)
        )

    def raise_alarm(
        self,
        session: Session,
        terminal_id: str,
        kind: m.AlarmKind,
        severity: m.Severity,
        detail: str,
        now: datetime,
        *,
        actor: str,
        compartment_id: str | None = None,
        operation_id: str | None = None,
        raised_at: datetime | None = None,
        fold: bool = True,
        source: str | None = None,
    ) -> tuple[AlarmRow, str]:
        """Raise, fold into the live alarm, or reopen one cleared moments ago; (row, action).

        `fold=False` keeps one alarm per operation id (security alarms: each refused message
        is evidence of its own).
        """
        if operation_id is not None:
            same = session.get(AlarmRow, (terminal_id, operation_id))
            if same is not None:
                return same, "duplicate"
        live = (
            self._live(session, terminal_id, kind.value, compartment_id, source) if fold else None
        )
        if live is not None:
            live.occurrences += 1
            live.last_raised_at = now
            live.detail = detail[:2000]  # the latest word on it
            _event(session, live, "repeated", actor, detail, now)
            return live, "repeated"
        cleared = (
            self._recently_cleared(session, terminal_id, kind.value, compartment_id, now, source)
            if fold
            else None
        )
        if cleared is not None:
            cleared.state = AlarmState.OPEN.value
            cleared.occurrences += 1
            cleared.last_raised_at = now
            cleared.detail = detail[:2000]
            _event(session, cleared, "reopened", actor, detail, now)
            return cleared, "reopened"
        row = AlarmRow(
            terminal_id=terminal_id,
            operation_id=operation_id or f"{kind.value}-{secrets.token_hex(8)}",
            kind=kind.value,
            severity=severity.value,
            compartment_id=compartment_id,
            source=source,
            detail=detail[:2000],
            raised_at=raised_at or now,
            received_at=now,
            state=AlarmState.OPEN.value,
            occurrences=1,
            last_raised_at=now,
        )
        session.add(row)
        session.flush()
        _event(session, row, "raised", actor, detail, now)
        self._notify(session, row, now)
        log.warning(
            "alarm %s (%s) on terminal %s, compartment %s",
            row.kind,
            row.severity,
            terminal_id,
            compartment_id or "-",
        )
        return row, "raised"

    def _notify(self, session: Session, row: AlarmRow, now: datetime) -> None:
        """Text the on-duty operator: at once, or with the other alarms of the next text."""
        phone = self.settings.on_duty_phone
        if not phone:
            return

        def summary(since: datetime) -> dict[str, str]:
            raised = session.execute(
                select(AlarmRow.terminal_id, AlarmRow.kind)
                .where(AlarmRow.received_at >= since)
                .order_by(AlarmRow.received_at)
            ).all() or [(row.terminal_id, row.kind)]
            return {
                "terminal": first_and_count([t[:35] for t, _ in raised], "台"),
                "kind": first_and_count([KIND_WORDS.get(k, k) for _, k in raised], "类"),
            }

        joined = enqueue_together(
            session,
            Kind.FLEET_ALARM,
            phone,
            summary,
            now=now,
            every=self.settings.texted_every,
            dedupe_key=f"alarm:{row.terminal_id}:{row.operation_id}"[:128],
        )
        note = "in the on-duty operator's next text" if joined else "on-duty operator texted"
        _event(session, row, "notified", "backend", note, now)

    def condition_ended(
        self,
        session: Session,
        terminal_id: str,
        kind: m.AlarmKind,
        now: datetime,
        *,
        actor: str,
        note: str,
        compartment_id: str | None = None,
        source: str | None = None,
    ) -> AlarmRow | None:
        """The condition behind a live alarm is over (said by the terminal or the backend)."""
        live = self._live(session, terminal_id, kind.value, compartment_id, source)
        if live is None:
            return None
        live.state, live.cleared_by, live.cleared_at = AlarmState.CLEARED.value, actor, now
        _event(session, live, "cleared", actor, note, now)
        return live

    def get(self, session: Session, terminal_id: str, operation_id: str) -> AlarmRow:
        row = session.get(AlarmRow, (terminal_id, operation_id))
        if row is None:
            raise AlarmNotFound(f"no alarm {operation_id} on terminal {terminal_id}")
        return row

    def acknowledge(
        self,
        session: Session,
        terminal_id: str,
        operation_id: str,
        who: str,
        note: str,
        now: datetime,
    ) -> AlarmRow:
        """An operator has seen it and is on it; acknowledging twice changes nothing."""
        row = self.get(session, terminal_id, operation_id)
        if row.state == AlarmState.CLEARED.value:
            raise AlarmAlreadyCleared(f"alarm {operation_id} was cleared by {row.cleared_by}")
        if row.state == AlarmState.OPEN.value:
            row.state, row.acknowledged_by, row.acknowledged_at = (
                AlarmState.ACKNOWLEDGED.value,
                who,
                now,
            )
            _event(session, row, "acknowledged", who, note, now)
        return row

    def clear(
        self,
        session: Session,
        terminal_id: str,
        operation_id: str,
        who: str,
        note: str,
        now: datetime,
    ) -> AlarmRow:
        """An operator closes it (the reason is required and kept)."""
        if not note.strip():
            raise ValueError("say why the alarm is cleared")
        row = self.get(session, terminal_id, operation_id)
        if row.state == AlarmState.CLEARED.value:
            raise AlarmAlreadyCleared(f"alarm {operation_id} was cleared by {row.cleared_by}")
        row.state, row.cleared_by, row.cleared_at = AlarmState.CLEARED.value, who, now
        _event(session, row, "cleared", who, note, now)
        return row


def alarm_view(row: AlarmRow) -> dict[str, Any]:
    return {
        "terminal_id": row.terminal_id,
        "operation_id": row.operation_id,
        "kind": row.kind,
        "severity": row.severity,
        "compartment_id": row.compartment_id,
        "source": row.source,
        "detail": row.detail,
        "state": row.state,
        "occurrences": row.occurrences,
        "raised_at": row.raised_at.isoformat(),
        "last_raised_at": row.last_raised_at.isoformat() if row.last_raised_at else None,
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "cleared_by": row.cleared_by,
        "cleared_at": row.cleared_at.isoformat() if row.cleared_at else None,
    }


def list_alarms(
    session: Session, state: str | None = None, terminal_id: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    query = select(AlarmRow).order_by(AlarmRow.raised_at.desc()).limit(limit)
    if state == "live":
        query = query.where(AlarmRow.state.in_(LIVE))
    elif state is not None:
        query = query.where(AlarmRow.state == state)
    if terminal_id is not None:
        query = query.where(AlarmRow.terminal_id == terminal_id)
    return [alarm_view(r) for r in session.scalars(query)]


def alarm_trail(session: Session, terminal_id: str, operation_id: str) -> list[dict[str, Any]]:
    if session.get(AlarmRow, (terminal_id, operation_id)) is None:
        raise AlarmNotFound(f"no alarm {operation_id} on terminal {terminal_id}")
    rows = session.scalars(
        select(AlarmEvent)
        .where(AlarmEvent.terminal_id == terminal_id, AlarmEvent.operation_id == operation_id)
        .order_by(AlarmEvent.id)
    )
    return [
        {"action": e.action, "actor": e.actor, "note": e.note, "at": e.at.isoformat()} for e in rows
    ]
