"""What a committed transaction still has to do outside the database: publish, wake the SMS."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cloud_bridge.contract.messages import Message

from .commands import CommandPublisher
from .sms import SmsSender

log = logging.getLogger(__name__)


@dataclass
class AfterCommit:
    """Commands gathered inside a transaction, published only once it has committed."""

    commands: list[Message] = field(default_factory=list)
    notified: int = 0  # messages the transaction put in the notification outbox
    responses: list[Message] = field(default_factory=list)  # answers to requests, not stored

    def extend(self, other: AfterCommit) -> None:
        self.commands.extend(other.commands)
        self.notified += other.notified
        self.responses.extend(other.responses)

    def deliver(self, publisher: CommandPublisher, sender: SmsSender) -> None:
        """Publish responses and commands, then wake the SMS sender; a failure is logged."""
        for response in self.responses:  # a citizen is waiting at the terminal for these
            try:
                publisher.publish(response)
            except Exception:
                log.exception("publishing response %s failed", response.message_id)
        for command in self.commands:
            try:
                publisher.publish(command)
            except Exception:
                # The row stays queued; resend_open() publishes it again later.
                log.exception("publishing command %s failed", command.message_id)
        if self.notified:
            # The messages are already durable in the outbox; this only saves the poll delay.
            sender.wake()
