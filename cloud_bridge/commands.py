"""Inbound command dispatch on the terminal: verified, expiry-checked, executed once, in order.

QoS 1 delivers a command at least once, and the backend re-sends open commands after a
restart, so a command id seen before is answered with the acknowledgement recorded the first
time, and its handler does not run again. A new command must carry a sequence number above the
last one applied (kept on disk): an older signed command, held back and released later by a
compromised broker, is refused unanswered. The backend sends a command it still wants again,
with a new sequence number.

A new command is acked twice: `received` as soon as it passed these checks (the backend then
shows it delivered, ADR 0022), and its answer once the handler has run.

A handler registered with `register_signed` is also handed the command as the backend signed
it (`SignedDownstream`), to pass on to a process that checks the signature itself rather than
take the kiosk's word: the root updater (terminal/update_trust.py).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from .contract import messages as m
from .contract.signing import SignedDownstream
from .local_db import LocalDatabase, UnitOfWork
from .outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    """What a handler reports back; `result` travels in the CommandAck."""

    outcome: m.AckOutcome = m.AckOutcome.DONE
    detail: str = ""
    result: dict[str, str] = field(default_factory=dict)


class CommandRejected(Exception):
    """Raised by a handler that refuses a command; the message goes back to the backend."""


C = TypeVar("C", bound=m.Command)
Route = Callable[[m.Command, SignedDownstream | None], CommandResult]


class HandledCommands:
    """The record of commands already applied, and the last sequence number applied.

    A repository on the terminal database; the dispatcher writes it in the unit of work that
    queues the acknowledgement, so a command is either applied, recorded and answered, or none.
    """

    def __init__(self, db: LocalDatabase):
        self.db = db

    def answer(self, command_id: str) -> CommandResult | None:
        """What this command was answered the first time; None if it was never handled."""
        rows = self.db.read(
            "SELECT outcome, detail, result FROM handled_commands WHERE command_id = ?",
            (command_id,),
        )
        if not rows:
            return None
        outcome, detail, result = rows[0]
        return CommandResult(m.AckOutcome(outcome), detail, json.loads(result))

    def last_seq(self) -> int:
        rows = self.db.read("SELECT last_seq FROM command_sequence")
        return int(rows[0][0]) if rows else 0

    def record(
        self,
        uow: UnitOfWork,
        command: m.Command,
        seq: int,
        res: CommandResult,
        at: datetime,
    ) -> None:
        uow.execute(
            "INSERT INTO handled_commands VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                command.message_id,
                m.type_name(type(command)),
                command.operation_id,
                res.outcome.value,
                res.detail,
                json.dumps(res.result),
                at.isoformat(),
            ),
        )
        uow.execute(
            "INSERT INTO command_sequence VALUES (1, ?)"
            " ON CONFLICT(only_row) DO UPDATE SET last_seq = excluded.last_seq",
            (seq,),
        )


class CommandDispatcher:
    """Runs each command's handler at most once and queues its acknowledgement durably."""

    def __init__(
        self,
        outbox: Outbox,
        handled: HandledCommands,
        terminal_id: str,
        clock: Callable[[], datetime] = m.utcnow,
    ):
        self.outbox = outbox
        self.handled = handled
        self.terminal_id = terminal_id
        self.clock = clock
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.duplicates = 0
        self.stale = 0

    def register(self, command_type: type[C], handler: Callable[[C], CommandResult]) -> None:
        """Route one command type to its handler, which is called with that type only."""
        self._route(command_type, lambda command, _signed: handler(command))

    def register_signed(
        self, command_type: type[C], handler: Callable[[C, SignedDownstream], CommandResult]
    ) -> None:
        """Route one command type to a handler that is also handed the signed message; a
        command dispatched without it (not from the link) is refused."""

        def route(command: C, signed: SignedDownstream | None) -> CommandResult:
            if signed is None:
                raise CommandRejected("the backend's signature did not come with the command")
            return handler(command, signed)

        self._route(command_type, route)

    def _route(
        self, command_type: type[C], handler: Callable[[C, SignedDownstream | None], CommandResult]
    ) -> None:
        if not (isinstance(command_type, type) and issubclass(command_type, m.Command)):
            raise TypeError(f"{command_type!r} is not a command of the contract")

        def route(command: m.Command, signed: SignedDownstream | None) -> CommandResult:
            if not isinstance(command, command_type):  # routed by its type name: cannot happen
                raise CommandRejected(f"{m.type_name(type(command))} is not {command_type}")
            return handler(command, signed)

        self._routes[m.type_name(command_type)] = route

    def dispatch(
        self, command: m.Command, seq: int, signed: SignedDownstream | None = None
    ) -> m.CommandAck | None:
        """Execute once and acknowledge one signed command; None when its `seq` is stale.
        `signed` is the message as it arrived, for a handler registered with it."""
        with self._lock:
            return self._dispatch(command, seq, signed)

    def last_seq(self) -> int:
        return self.handled.last_seq()

    def _dispatch(
        self, command: m.Command, seq: int, signed: SignedDownstream | None
    ) -> m.CommandAck | None:
        ctype = m.type_name(type(command))
        operation_id = command.operation_id
        seen = self.handled.answer(command.message_id)
        if seen is not None:
            self.duplicates += 1
            log.info("duplicate command %s (%s) answered again", command.message_id, ctype)
            # A fresh ack message with the recorded answer: the first one may have been lost.
            ack = self._ack(command, seen)
            self.outbox.put(ack)
            return ack
        if seq <= self.last_seq():
            self.stale += 1
            log.warning(
                "command %s (%s) refused: sequence %d, last applied %d",
                command.message_id,
                ctype,
                seq,
                self.last_seq(),
            )
            return None

        if command.terminal_id != self.terminal_id:
            res = CommandResult(m.AckOutcome.REJECTED, "command addressed to another terminal")
        else:
            # Verified (signature, sequence) and new: said at once, before it runs, so the
            # backend shows it delivered while a long handler (a bundle, a restart) works. A
            # crash before the answer is recorded brings the command again: said twice, folded.
            self.outbox.put(self._ack(command, CommandResult(m.AckOutcome.RECEIVED)))
            res = self._run(command, ctype, signed)
        ack = self._ack(command, res)
        with self.outbox.db.unit_of_work() as uow:
            self.handled.record(uow, command, seq, res, self.clock())
            self.outbox.add(uow, ack)
        log.info("command %s (%s, op %s): %s", command.message_id, ctype, operation_id, res.outcome)
        return ack

    def _run(
        self, command: m.Command, ctype: str, signed: SignedDownstream | None
    ) -> CommandResult:
        if command.expired(self.clock()):
            return CommandResult(m.AckOutcome.EXPIRED, "command expired before it arrived")
        if ctype not in self._routes:
            return CommandResult(m.AckOutcome.REJECTED, f"terminal does not support {ctype}")
        try:
            return self._routes[ctype](command, signed)
        except CommandRejected as exc:
            return CommandResult(m.AckOutcome.REJECTED, str(exc))
        except Exception as exc:  # a handler bug must not kill the link thread
            log.exception("command %s (%s) failed", command.message_id, ctype)
            return CommandResult(m.AckOutcome.REJECTED, f"terminal error: {type(exc).__name__}")

    def _ack(self, command: m.Command, res: CommandResult) -> m.CommandAck:
        return m.CommandAck(
            terminal_id=self.terminal_id,
            command_id=command.message_id,
            command_type=m.type_name(type(command)),
            operation_id=command.operation_id,
            outcome=res.outcome,
            detail=res.detail[:500],
            result=res.result,
        )
