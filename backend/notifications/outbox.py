"""The durable notification outbox: queue in the caller's transaction, list masked for staff."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from privacy import mask_phone

from ..flushing import insert_row
from ..models import BackendKey
from .models import NotificationRow, NotificationState
from .sealing import Sealer, mask_secret
from .templates import SECRET_VARIABLES, Kind, TemplateError, check_params

NOTIFICATION_KEY = "notification"
log = logging.getLogger(__name__)


def stored_key(session: Session) -> bytes:
    """The key kept in the database, made once: for a site that configured no key file."""
    row = session.get(BackendKey, NOTIFICATION_KEY)
    if row is None:
        row = BackendKey(name=NOTIFICATION_KEY, value=secrets.token_bytes(32))
        session.add(row)
        session.flush()
    return bytes(row.value)


def enqueue(
    session: Session,
    kind: Kind,
    phone: str,
    values: dict[str, str],
    *,
    now: datetime,
    application_no: str | None = None,
    key: bytes | None = None,
    dedupe_key: str | None = None,
) -> NotificationRow | None:
    """Queue one message in `session`'s transaction; None if `dedupe_key` was queued before.

    Values that do not fit the template (e.g. an application number longer than a variable may
    be) never block the business change: the row is written `dead`, for staff to follow up.
    """
    if dedupe_key is not None:
        seen = session.scalar(
            select(NotificationRow.id).where(NotificationRow.dedupe_key == dedupe_key)
        )
        if seen is not None:
            return None
    row = NotificationRow(
        **_row(session, kind, phone, values, now, application_no, key), dedupe_key=dedupe_key
    )
    if dedupe_key is None:
        session.add(row)
        return row
    try:
        with session.begin_nested():  # two workers racing on one reminder: one row wins
            session.add(row)
    except IntegrityError:
        return None
    return row


def enqueue_together(
    session: Session,
    kind: Kind,
    phone: str,
    summary: Callable[[datetime], dict[str, str]],
    *,
    now: datetime,
    every: timedelta,
    dedupe_key: str,
    application_no: str | None = None,
) -> bool:
    """Queue a message that may wait and say several things at once; True if it joined one.

    For kinds with no secret variable that come in bursts to one person (a fleet's alarms to
    the on-duty phone, a morning's deadline warnings to a clerk): the first goes at once; the
    next, no sooner than `every` after the last one sent, and whatever comes meanwhile joins
    it. `summary(since)` gives the variables that say everything since `since` (this message
    included). A text the sender has taken meanwhile is not changed: a new one waits instead.
    """
    texts = select(NotificationRow).where(
        NotificationRow.phone == phone, NotificationRow.kind == kind.value
    )
    last = session.scalar(texts.order_by(NotificationRow.id.desc()).limit(1))
    if last is not None and last.state == NotificationState.QUEUED:
        try:
            params = check_params(kind, summary(last.created_at))
        except TemplateError:
            params = None  # a summary that does not fit goes as a text of its own
        join = update(NotificationRow).where(
            NotificationRow.id == last.id, NotificationRow.state == NotificationState.QUEUED
        )
        if params is not None and session.execute(join.values(params=params)).rowcount == 1:
            return True
    text = enqueue(
        session,
        kind,
        phone,
        summary(now),
        now=now,
        application_no=application_no,
        dedupe_key=dedupe_key,
    )
    if text is not None and last is not None:
        texted_at = last.accepted_at or last.attempted_at or last.created_at
        text.next_attempt_at = max(now, texted_at + every)
    return False


def supersede_queued(session: Session, application_no: str, kind: Kind, why: str) -> int:
    """Withdraw `application_no`'s `kind` messages still queued, secrets erased; how many.

    For a message the change in `session`'s transaction made wrong (a pickup code rotated or
    its result withdrawn): it goes `superseded` with `why`, never sent and nothing for staff
    to follow up, and its sealed values are erased in that same transaction. One already
    `sending` is left for reconciliation.
    """
    stale = (
        update(NotificationRow)
        .where(
            NotificationRow.application_no == application_no,
            NotificationRow.kind == kind.value,
            NotificationRow.state == NotificationState.QUEUED,
        )
        .values(state=NotificationState.SUPERSEDED, sealed=None, last_error=why[:200])
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(stale).rowcount


def first_and_count(names: list[str], measure: str) -> str:
    """A template variable naming several things by the first: "T0003", or "T0003等12台"."""
    names = list(dict.fromkeys(names))
    if len(names) == 1:
        return names[0]
    return f"{names[0][:24]}等{len(names)}{measure}"


def notify(
    session: Session,
    kind: Kind,
    phone: str,
    values: dict[str, str],
    *,
    now: datetime,
    application_no: str | None = None,
    key: bytes | None = None,
) -> None:
    """Queue one message as `enqueue` does, for a caller that needs no row back: while ingest
    applies a batch together, no object is made (backend/flushing.py)."""
    insert_row(
        session, NotificationRow, **_row(session, kind, phone, values, now, application_no, key)
    )


def _row(
    session: Session,
    kind: Kind,
    phone: str,
    values: dict[str, str],
    now: datetime,
    application_no: str | None,
    key: bytes | None,
) -> dict[str, Any]:
    """A new row's attributes: parameters checked, secret ones sealed under `key`."""
    unfit = ""
    try:
        params = check_params(kind, values)
    except TemplateError as exc:
        unfit, params = f"not sendable: {exc}"[:200], {}
        log.error("sms %s to %s cannot be sent: %s", kind, mask_phone(phone), exc)
    out_id = secrets.token_hex(16)
    secret = {k: v for k, v in params.items() if k in SECRET_VARIABLES}
    sealed = Sealer(key or stored_key(session)).seal(out_id, secret) if secret else None
    return {
        "out_id": out_id,
        "application_no": application_no,
        "kind": kind.value,
        "phone": phone,
        "params": {k: v for k, v in params.items() if k not in secret},
        "sealed": sealed,
        "secret_names": ",".join(sorted(secret)),
        "state": NotificationState.DEAD if unfit else NotificationState.QUEUED,
        "last_error": unfit,
        "next_attempt_at": now,
        "created_at": now,
    }


def masked(row: NotificationRow) -> dict[str, Any]:
    """A row as staff see it: phone masked, secret variables starred, never the clear code."""
    params = dict(row.params)
    for name in filter(None, row.secret_names.split(",")):
        params[name] = mask_secret("000000")
    return {
        "id": row.id,
        "application_no": row.application_no,
        "kind": row.kind,
        "phone": mask_phone(row.phone),
        "template_code": row.template_code,
        "params": params,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat()
        if row.state in NotificationState.WAITING
        else None,
        "last_error": row.last_error,
        "provider": row.provider,
        "created_at": row.created_at.isoformat(),
        "accepted_at": row.accepted_at.isoformat() if row.accepted_at else None,
        "reported_at": row.reported_at.isoformat() if row.reported_at else None,
    }


def listing(
    session: Session,
    *,
    application_no: str | None = None,
    states: tuple[str, ...] | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Notifications newest first, masked; filtered by application or states."""
    query = select(NotificationRow).order_by(desc(NotificationRow.id)).limit(limit)
    if application_no:
        query = query.where(NotificationRow.application_no == application_no)
    if states:
        query = query.where(NotificationRow.state.in_(states))
    return [masked(r) for r in session.scalars(query)]
