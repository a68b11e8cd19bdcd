"""The SMS ports: a provider that takes template messages, and the sender woken after commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from .notifications.templates import TemplateTable


class SmsSender(Protocol):
    """Drains the notification outbox; `wake()` after a commit that queued messages."""

    def wake(self) -> None: ...


class HeldSms:
    """No sender in this process: queued messages wait in the outbox for one that has it."""

    def wake(self) -> None:
        """Nothing to wake; the rows stay queued."""


class Action(StrEnum):
    """What a refusal means for the message."""

    RETRY = "retry"  # transient: try again after a backoff
    GIVE_UP = "give_up"  # this message can never go (e.g. not a mobile number)
    ALARM = "alarm"  # our configuration or account is wrong: hold, retry slowly, tell operators


@dataclass(frozen=True)
class SmsRequest:
    """One template message: the number, the registered template and its variables."""

    phone: str
    template_code: str
    params: dict[str, str] = field(repr=False)  # may hold a pickup code
    out_id: str = ""


@dataclass(frozen=True)
class Accepted:
    """The provider took the message."""

    biz_id: str


@dataclass(frozen=True)
class DeliveryReport:
    """The handset delivery outcome the provider reports for one accepted message."""

    status: str  # delivered | undelivered | pending
    err_code: str
    received_at: datetime | None


class ProviderRefused(Exception):
    """The provider answered with an error code; `action` says what to do about it."""

    def __init__(self, code: str, message: str, action: Action):
        super().__init__(f"{code}: {message}"[:200])
        self.code, self.action = code, action


class ProviderUnreachable(Exception):
    """No answer (down, timeout, 5xx). `maybe_sent`: it may have taken the message anyway."""

    def __init__(self, detail: str, maybe_sent: bool):
        super().__init__(detail[:200])
        self.maybe_sent = maybe_sent


class SmsProvider(Protocol):
    """A provider's API, e.g. Alibaba Cloud SMS (SendSms, QuerySendDetails)."""

    name: str
    table: TemplateTable

    def send(self, request: SmsRequest) -> Accepted: ...

    def lookup(self, phone: str, out_id: str, sent_on: date) -> DeliveryReport | None:
        """What the provider knows of the message `out_id`; None if it never took it."""
        ...
