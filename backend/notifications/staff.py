"""Notifications to staff: in the console, and by SMS and e-mail as each person chooses.

Each notice names a kind from a fixed list, a case, a colour and the step whose deadline raised
it; the console words it from its catalogs, the SMS from a registered template (through the
notifications outbox, retried until the provider takes it) and the e-mail from fixed wording
(the `staff_emails` outbox, retried until the SMTP server takes it: notifications/email.py).
Never free text. A notice stays in the console until its reader marks it read; SMS and e-mail
go at most once per person, case, step, level and colour (their dedupe keys), and warnings that
come within `TEXTED_EVERY` of a person's last text go together in one SMS.

Security notices (`SECURITY_KINDS`) tell the admins, in the console only, that a person viewed
far more personal data within an hour than a working pace needs (backend/staff.py ViewLimits):
they name that person, and the case whose view passed the signal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..auth.roles import Permission, permissions_of
from ..console.deadlines import SEVERITY
from ..models import StaffAccount, StaffEmail, StaffNotice
from . import outbox
from .templates import Kind

KINDS = ("escalation.clerk", "escalation.supervisor")
# A person's views of applicants in full, or of scans, passed the hourly signal.
SECURITY_KINDS = ("audit.unmasked", "audit.scans")
SHOWN = 50  # the newest notices a person sees
CHANNELS = ("sms", "email")  # besides the console, which everyone has
# What ChannelError.key may be: each is worded in the console's catalogs (notices.bad.*).
CHANNEL_ERRORS = ("channels", "phone", "email", "sms_needs_phone", "email_needs_address")
_SMS_KIND = {"escalation.clerk": Kind.STAFF_DEADLINE, "escalation.supervisor": Kind.STAFF_SUPERVISE}
# The words an SMS variable carries: the step (None: the whole case) and the colour.
STEP_WORDS = {
    None: "办结",
    "accept": "受理",
    "review": "审核",
    "decide": "决定",
    "result": "制证出件",
}
COLOUR_WORDS = {"blue": "临近", "yellow": "已超1个工作日", "red": "已超2个工作日"}
# A person's first warning goes at once; those within this long of a text go together in the
# next one ("申请AH-…等30件"): a morning's deadlines were thirty texts in a row.
TEXTED_EVERY = timedelta(minutes=10)


def notify(
    session: Session,
    staff_ids: Iterable[int],
    kind: str,
    application_no: str,
    colour: str,
    now: datetime,
    step: str | None = None,
) -> int:
    """One notice for each person, in the caller's transaction; the number written.

    `step` names the case's step whose deadline raised it (None: the whole case).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown staff notice kind {kind!r}")
    ids = sorted(set(staff_ids))
    for staff_id in ids:
        session.add(
            StaffNotice(
                staff_id=staff_id,
                kind=kind,
                application_no=application_no,
                colour=colour,
                step=step,
                created_at=now,
            )
        )
    if ids:
        people = session.scalars(select(StaffAccount).where(StaffAccount.id.in_(ids))).all()
        for person in people:
            _by_channel(session, person, kind, application_no, colour, step, now)
    return len(ids)


def notify_security(
    session: Session,
    kind: str,
    about_staff_id: int,
    application_no: str,
    now: datetime,
    since: datetime,
) -> bool:
    """A console notice to each active person who reads the view audit (admins), unless one of
    this kind about this person was written since `since`; whether it is a new signal.

    In the caller's transaction; no SMS or e-mail (no template names a person's views).
    """
    if kind not in SECURITY_KINDS:
        raise ValueError(f"unknown security notice kind {kind!r}")
    told = session.scalar(
        select(StaffNotice.id)
        .where(
            StaffNotice.kind == kind,
            StaffNotice.about_staff_id == about_staff_id,
            StaffNotice.created_at > since,
        )
        .limit(1)
    )
    if told is not None:
        return False
    for person in session.scalars(
        select(StaffAccount).where(StaffAccount.disabled_at.is_(None)).order_by(StaffAccount.id)
    ):
        if Permission.READ_VIEW_AUDIT in permissions_of(list(person.roles)):
            session.add(
                StaffNotice(
                    staff_id=person.id,
                    kind=kind,
                    application_no=application_no,
                    colour="red",
                    about_staff_id=about_staff_id,
                    created_at=now,
                )
            )
    return True


def _by_channel(
    session: Session,
    person: StaffAccount,
    kind: str,
    application_no: str,
    colour: str,
    step: str | None,
    now: datetime,
) -> None:
    """The SMS and e-mail this person chose, once per case, step, level and colour."""
    chosen = set(person.notify_by or ())
    once = f"{person.id}:{application_no}:{step or 'case'}:{kind}:{colour}"
    if "sms" in chosen and person.phone:

        def summary(since: datetime) -> dict[str, str]:
            notices = session.execute(
                select(StaffNotice.application_no, StaffNotice.step, StaffNotice.colour)
                .where(
                    StaffNotice.staff_id == person.id,
                    StaffNotice.kind == kind,
                    StaffNotice.created_at >= since,
                )
                .order_by(StaffNotice.id)
            ).all() or [(application_no, step, colour)]
            worst = max((c for _, _, c in notices), key=lambda c: SEVERITY.get(c, 0))  # the worst
            steps = [STEP_WORDS.get(s, STEP_WORDS[None]) for _, s, _ in notices]
            return {
                "no": outbox.first_and_count([n for n, _, _ in notices], "件"),
                "step": outbox.first_and_count(steps, "项"),
                "colour": COLOUR_WORDS.get(worst, worst),
            }

        outbox.enqueue_together(
            session,
            _SMS_KIND[kind],
            person.phone,
            summary,
            now=now,
            every=TEXTED_EVERY,
            dedupe_key=f"staff-sms:{once}",
            application_no=application_no,
        )
    if "email" in chosen and person.email:
        key = f"staff-email:{once}"
        if session.scalar(select(StaffEmail.id).where(StaffEmail.dedupe_key == key)) is None:
            session.add(
                StaffEmail(
                    dedupe_key=key,
                    staff_id=person.id,
                    to_address=person.email,
                    kind=kind,
                    application_no=application_no,
                    colour=colour,
                    step=step,
                    state="queued",
                    next_attempt_at=now,
                    created_at=now,
                )
            )


def set_channels(
    session: Session,
    staff_id: int,
    phone: str | None,
    email: str | None,
    channels: Iterable[str],
) -> None:
    """A person's own choice of channels; ChannelError says what cannot be used."""
    chosen = list(channels)
    if len(chosen) > len(CHANNELS) or len(set(chosen)) != len(chosen):
        raise ChannelError("channels", "each channel at most once")
    if any(c not in CHANNELS for c in chosen):
        raise ChannelError("channels", "SMS or e-mail only")
    if phone and not PHONE.fullmatch(phone):
        raise ChannelError("phone", "6 to 15 digits, an optional leading +")
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise ChannelError("email", "one address such as name@example.gov.cn")
    if "sms" in chosen and not phone:
        raise ChannelError("sms_needs_phone", "SMS needs a phone number")
    if "email" in chosen and not email:
        raise ChannelError("email_needs_address", "e-mail needs an address")
    person = session.get(StaffAccount, staff_id)
    if person is None:
        raise ChannelError("channels", "no such staff member")
    person.phone, person.email = phone or None, email or None
    person.notify_by = sorted(chosen)


class ChannelError(ValueError):
    """A channel choice that cannot be used; `key` names it for the console's catalogs."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


PHONE = re.compile(r"^\+?[0-9]{6,15}$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def unread(session: Session, staff_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(StaffNotice)
            .where(StaffNotice.staff_id == staff_id, StaffNotice.read_at.is_(None))
        )
        or 0
    )


def newest(session: Session, staff_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(StaffNotice, StaffAccount.username)
        .outerjoin(StaffAccount, StaffAccount.id == StaffNotice.about_staff_id)
        .where(StaffNotice.staff_id == staff_id)
        .order_by(StaffNotice.id.desc())
        .limit(SHOWN)
    )
    return [
        {
            "id": n.id,
            "kind": n.kind,
            "application_no": n.application_no,
            "colour": n.colour,
            "step": n.step,
            "about": about,
            "at": n.created_at,
            "read": n.read_at is not None,
        }
        for n, about in rows
    ]


def mark_all_read(session: Session, staff_id: int, now: datetime) -> None:
    session.execute(
        update(StaffNotice)
        .where(StaffNotice.staff_id == staff_id, StaffNotice.read_at.is_(None))
        .values(read_at=now)
    )
