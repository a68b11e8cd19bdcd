"""Staff notices by e-mail: the `staff_emails` outbox, sent over SMTP by the notification worker.

A notice is written in the transaction of the escalation that causes it (notifications/staff.py)
and stays queued until an SMTP server accepts it. A refused or failed send waits and is tried
again (1 minute, doubling up to an hour) for as long as it takes: never dropped. The wording is
fixed (Chinese first, English after); nothing a person typed is in it. Configured from the
environment:

    ALLHOURS_SMTP_HOST           the relay (no e-mail is sent without it; notices wait)
    ALLHOURS_SMTP_PORT           25 unless given
    ALLHOURS_SMTP_FROM           the sender, e.g. allhours@zwfw.example.gov.cn
    ALLHOURS_SMTP_STARTTLS       1: upgrade the connection before sending (and log in)
    ALLHOURS_SMTP_USER           optional log-in, with the password in
    ALLHOURS_SMTP_PASSWORD_FILE  (a file, never the environment itself)
    ALLHOURS_CONSOLE_URL         the console's address the e-mail links to
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from ..db import Database
from ..models import StaffEmail, utcnow
from .staff import COLOUR_WORDS, STEP_WORDS

log = logging.getLogger(__name__)

QUEUED, SENT = "queued", "sent"
BATCH = 50  # e-mails per pass: a backlog drains over passes, the lease renewed in between
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)

_STEP_EN = {
    None: "the whole case",
    "accept": "accept",
    "review": "review",
    "decide": "decision",
    "result": "result",
}
_COLOUR_EN = {
    "blue": "due within 2 working days",
    "yellow": "1 working day overdue",
    "red": "2 or more working days overdue",
}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "allhours@localhost"
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    console_url: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SmtpSettings | None:
        """The settings the environment gives, or None without ALLHOURS_SMTP_HOST."""
        env = dict(os.environ) if env is None else env
        host = env.get("ALLHOURS_SMTP_HOST", "").strip()
        if not host:
            return None
        password = None
        if env.get("ALLHOURS_SMTP_PASSWORD_FILE"):
            password = Path(env["ALLHOURS_SMTP_PASSWORD_FILE"]).read_text().strip()
        return cls(
            host=host,
            port=int(env.get("ALLHOURS_SMTP_PORT", "25")),
            sender=env.get("ALLHOURS_SMTP_FROM", "allhours@localhost"),
            starttls=env.get("ALLHOURS_SMTP_STARTTLS", "") == "1",
            username=env.get("ALLHOURS_SMTP_USER") or None,
            password=password,
            console_url=env.get("ALLHOURS_CONSOLE_URL", "").rstrip("/"),
        )


def compose(row: StaffEmail, settings: SmtpSettings) -> EmailMessage:
    """The e-mail for one notice, in fixed words."""
    step_zh = STEP_WORDS.get(row.step, STEP_WORDS[None])
    colour_zh = COLOUR_WORDS.get(row.colour, row.colour)
    supervise = row.kind == "escalation.supervisor"
    title = "督办提醒" if supervise else "审批提醒"
    subject = f"{title}：申请 {row.application_no} {step_zh}时限{colour_zh}"
    link = (
        f"{settings.console_url}/console/applications/{row.application_no}"
        if settings.console_url
        else f"/console/applications/{row.application_no}"
    )
    zh = f"申请 {row.application_no} 的{step_zh}时限{colour_zh}" + (
        "，预警后无人办理，请督办。" if supervise else "，请尽快办理。"
    )
    en = (
        f"Application {row.application_no}: {_STEP_EN.get(row.step, row.step)} is "
        f"{_COLOUR_EN.get(row.colour, row.colour)}"
        + (", and nobody has acted since the warning." if supervise else ".")
    )
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = row.to_address
    msg["Subject"] = subject
    msg["Message-ID"] = f"<staff-email-{row.id}@allhours>"
    msg.set_content(f"{zh}\n{link}\n\n{en}\n{link}\n")
    return msg


class Mailer:
    """drain(now) sends what is due; the notification worker calls it while it holds the lease."""

    def __init__(
        self, db: Database, settings: SmtpSettings, clock: Callable[[], datetime] = utcnow
    ):
        self.db, self.settings, self.clock = db, settings, clock

    def drain(self, now: datetime | None = None) -> int:
        """Send up to BATCH due e-mails over one connection; the number the server accepted."""
        now = now or self.clock()
        with self.db.reading() as session:  # the lease holder alone sends: no lock needed
            due = session.scalars(
                select(StaffEmail)
                .where(StaffEmail.state == QUEUED, StaffEmail.next_attempt_at <= now)
                .order_by(StaffEmail.next_attempt_at, StaffEmail.id)
                .limit(BATCH)
            ).all()
            messages = [(row.id, compose(row, self.settings)) for row in due]
        if not messages:
            return 0
        results: dict[int, str | None] = {}
        try:
            with self._connect() as smtp:
                for row_id, message in messages:
                    try:
                        smtp.send_message(message)
                        results[row_id] = None
                    except smtplib.SMTPException as exc:
                        results[row_id] = _why(exc)
        except (OSError, smtplib.SMTPException) as exc:
            why = _why(exc)
            for row_id, _ in messages:
                results.setdefault(row_id, why)
        sent = 0
        with self.db.transaction() as session:
            for row_id, error in results.items():
                row = session.get(StaffEmail, row_id)
                if row is None:
                    continue
                row.attempts += 1
                if error is None:
                    row.state, row.sent_at, row.last_error = SENT, now, ""
                    sent += 1
                else:
                    wait = min(FIRST_RETRY * 2 ** (row.attempts - 1), LONGEST_RETRY)
                    row.next_attempt_at, row.last_error = now + wait, error[:200]
        failed = len(results) - sent
        if failed:
            log.warning("staff e-mail: %d not accepted, tried again later", failed)
        return sent

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username and s.password:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _why(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP {exc.smtp_code}"
    return type(exc).__name__
