"""What a committed transaction still has to do outside the database: publish, send SMS."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cloud_bridge.contract.messages import Message, mask_phone

from .commands import CommandPublisher
from .sms import SmsSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str
    kind: str


@dataclass
class AfterCommit:
    """Commands and SMS gathered inside a transaction, delivered only once it has committed."""

    commands: list[Message] = field(default_factory=list)
    sms: list[Sms] = field(default_factory=list)
    responses: list[Message] = field(default_factory=list)  # answers to requests, not stored

    def extend(self, other: AfterCommit) -> None:
        self.commands.extend(other.commands)
        self.sms.extend(other.sms)
        self.responses.extend(other.responses)

    def deliver(self, publisher: CommandPublisher, sender: SmsSender) -> None:
        """Publish responses and commands, then send the SMS; a failure is logged, the rest goes."""
        for response in self.responses:  # a citizen is waiting at the terminal for these
            try:
                publisher.publish(response)
            except Exception:
                log.exception("publishing response %s failed", response.message_id)
        for command in self.commands:
            try:
                publisher.publish(command)
            except Exception:
                # The row stays pending; resend_pending() publishes it again later.
                log.exception("publishing command %s failed", command.message_id)
        for sms in self.sms:
            try:
                sender.send(sms.phone, sms.text, sms.kind)
            except Exception:
                log.exception("sms %s to %s failed", sms.kind, mask_phone(sms.phone))
