"""Tables of the notification outbox: messages, delivery reports and the cluster job lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, utcnow


class NotificationState:
    QUEUED = "queued"  # waiting for its turn, a rate limit or a retry
    SENDING = "sending"  # handed to the provider, answer not yet recorded
    ACCEPTED = "accepted"  # the provider took it (BizId known)
    DELIVERED = "delivered"  # the handset's delivery report says received
    UNDELIVERED = "undelivered"  # the delivery report says it failed
    DEAD = "dead"  # given up: staff must reach the citizen another way
    # Never sent, and nothing to follow up: a newer pickup code replaced it, or its result was
    # withdrawn, while it waited (backend/workflow.py); its sealed values erased.
    SUPERSEDED = "superseded"

    WAITING = (QUEUED, SENDING)


class NotificationRow(Base):
    """One SMS to an applicant, written in the transaction of the change that causes it."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_state_due", "state", "next_attempt_at"),
        Index("ix_notifications_phone_sent", "phone", "kind", "accepted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    out_id: Mapped[str] = mapped_column(String(32), unique=True)  # the provider's OutId
    # Set for scheduled reminders so that a job run twice still queues one message.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    application_no: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(16), index=True)
    template_code: Mapped[str | None] = mapped_column(String(32))  # the provider's, once sent
    params: Mapped[dict[str, Any]]  # the template variables that are not secret
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # secret ones, AES-GCM
    secret_names: Mapped[str] = mapped_column(String(64), default="")  # e.g. "code"
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    attempted_at: Mapped[datetime | None]
    # give_up_after counts from here: a message that waited behind its number's queue still
    # gets its day of tries.
    first_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(200), default="")
    provider: Mapped[str | None] = mapped_column(String(16))
    biz_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]


class DeliveryReportRow(Base):
    """What the provider said about one accepted message's delivery to the handset."""

    __tablename__ = "notification_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # delivered | undelivered | pending
    err_code: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobLease(Base):
    """Which backend worker runs the cluster-wide jobs (dispatch, reminders) until when."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
