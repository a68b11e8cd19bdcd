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

    def extend(self, other: AfterCommit) -> None:
        self.commands.extend(other.commands)
        self.sms.extend(other.sms)

    def deliver(self, publisher: CommandPublisher, sender: SmsSender) -> None:
        """Publish the commands, then send the SMS; a failure is logged, the rest still goes."""
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
