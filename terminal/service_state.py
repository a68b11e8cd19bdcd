"""What operators took out of service on this terminal: the whole of it, or compartments.

An operator's `command.out_of_service` / `command.back_in_service` (docs/fleet-operations.md,
ADR 0023) lands here. The holds are kept in the terminal database (`service_holds`), so a
restarted kiosk comes back as the operator left it, and read from memory by the kiosk, the
locker and the telemetry.

- The whole terminal, `closed`: no new submission, supplement, deposit or result load; pickups
  of results already inside go on while the locker is safe (every lock board answering).
- The whole terminal, `locked`: nothing goes in or out; the kiosk sends citizens to the counter.
- One compartment, `closed`: never given to a new deposit or result; a result inside can still
  be picked up with its code.
- One compartment, `locked`: as closed, and its door opens for no code (the citizen is sent to
  the counter).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from cloud_bridge.contract import messages as m
from cloud_bridge.local_db import LocalDatabase

WHOLE_TERMINAL = "*"


class TerminalOutOfService(Exception):
    """A flow was asked for that the terminal's out-of-service does not allow now."""


@dataclass(frozen=True)
class Hold:
    """One out-of-service as the operator set it."""

    hold: m.ServiceHold
    reason: m.ServiceReason
    note: str
    since: datetime
    command_id: str

    @property
    def locked(self) -> bool:
        return self.hold == m.ServiceHold.LOCKED

    def entry(self) -> m.ServiceEntry:
        return m.ServiceEntry(
            hold=self.hold,
            reason=self.reason,
            note=self.note,
            since=self.since,
            command_id=self.command_id,
        )


class ServiceHolds:
    """The holds on disk and in memory; the kiosk thread reads, the link thread writes."""

    def __init__(self, db: LocalDatabase):
        self.db = db
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {
            scope: Hold(
                m.ServiceHold(hold),
                m.ServiceReason(reason),
                note,
                datetime.fromisoformat(since),
                command_id,
            )
            for scope, hold, reason, note, since, command_id in db.read(
                "SELECT scope, hold, reason, note, since, command_id FROM service_holds"
            )
        }

    def terminal(self) -> Hold | None:
        """The whole terminal's hold, or None when it is in service."""
        with self._lock:
            return self._holds.get(WHOLE_TERMINAL)

    def compartments(self) -> dict[str, Hold]:
        """The compartments held one by one, by id."""
        with self._lock:
            return {k: v for k, v in self._holds.items() if k != WHOLE_TERMINAL}

    def put(self, compartment_id: str | None, hold: Hold) -> None:
        """Set (or replace) the hold of the whole terminal (None) or of one compartment."""
        scope = compartment_id or WHOLE_TERMINAL
        with self.db.unit_of_work() as uow:
            uow.execute(
                "INSERT INTO service_holds VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(scope) DO UPDATE"
                " SET hold = excluded.hold, reason = excluded.reason, note = excluded.note,"
                " since = excluded.since, command_id = excluded.command_id",
                (
                    scope,
                    hold.hold.value,
                    hold.reason.value,
                    hold.note,
                    hold.since.isoformat(),
                    hold.command_id,
                ),
            )
        with self._lock:
            self._holds[scope] = hold

    def remove(self, compartment_id: str | None) -> Hold | None:
        """Back in service; the hold it had, or None if it had none."""
        scope = compartment_id or WHOLE_TERMINAL
        with self.db.unit_of_work() as uow:
            uow.execute("DELETE FROM service_holds WHERE scope = ?", (scope,))
        with self._lock:
            return self._holds.pop(scope, None)

    def state(self) -> m.ServiceState:
        """What telemetry reports."""
        whole = self.terminal()
        return m.ServiceState(
            terminal=whole.entry() if whole else None,
            compartments={cid: h.entry() for cid, h in sorted(self.compartments().items())},
        )
