"""The door opener: pulse a lock, watch the door, pulse once more, and the answers awaited.

`DoorOpener` drives the boards and the door supervisor and journals what the doors did; it
changes no compartment. It tells the `LockerBank` what happened (a DoorCheck, DoorStayedShut,
LockerFault, or OpeningUnconfirmed when the door may have opened) and the bank decides what that
means for the compartment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from devices.lock.port import LockFault
from locker.boards import BoardSet
from locker.compartment import Compartment
from locker.errors import InvalidTransition, LockerFault, OpeningUnconfirmed
from locker.journal import LockerJournal
from locker.supervision import DoorState, DoorSupervisor

LOCK_FAULT = "lock_fault"
OPENING_UNCONFIRMED = "opening_unconfirmed"
PICKUP = "pickup"
JAMMED = "door did not open after two unlock pulses (jammed?)"
# A deposit left behind when its session ended unsubmitted (`LockerBank.abandon_deposit`).
DEPOSIT_ABANDONED = "deposit_abandoned"


class DoorCheck(StrEnum):
    """How an opening was (or was not yet) confirmed."""

    CONFIRMED = "confirmed"  # the door sensor saw it open
    CITIZEN = "confirmed_by_citizen"  # no sensor; the person at the door said it opened
    UNSENSED = "unsensed"  # no sensor: ask the person at the door
    SENSOR_FAILED = "sensor_failed"  # the sensor did not answer: ask the person at the door

    @property
    def awaiting(self) -> bool:
        """Whether somebody must still say if the door opened."""
        return self in (DoorCheck.UNSENSED, DoorCheck.SENSOR_FAILED)


@dataclass
class Opening:
    """An opening pulsed but not yet confirmed by a person."""

    purpose: str  # "pickup", or why the door was opened ("deposit", "technician open", ...)
    pulses: int = 1


@dataclass(frozen=True)
class LockerAlarm:
    """Something an operator must look at."""

    kind: str  # wrong_code_limit, lock_fault, opening_unconfirmed, door_forced, door_left_open,
    # device_fault
    compartment_id: str | None
    detail: str


@dataclass(frozen=True)
class Opened:
    """A pickup's opening: which compartment, for which application, and how it was confirmed.

    Only a confirmed opening (``door`` CONFIRMED or CITIZEN) is a pickup; an awaiting one is
    still HOLDING_RESULT until `confirm_opening` or `report_not_opened`.
    """

    compartment_id: str
    application_no: str
    load_id: str | None
    door: DoorCheck = DoorCheck.CONFIRMED

    @property
    def confirmed(self) -> bool:
        """Whether the result counts as picked up."""
        return not self.door.awaiting


class DoorStayedShut(Exception):
    """Two pulses and the door stayed shut; the bank takes the compartment out of service."""


class DoorOpener:
    """Pulse, watch the door, retry once, give up; and the openings awaiting a person's answer."""

    def __init__(
        self,
        boards: BoardSet,
        doors: DoorSupervisor,
        journal: LockerJournal,
        *,
        clock: Callable[[], float],
        alarm: Callable[[str, str | None, str], None],
        pulse_ms: int,
    ) -> None:
        self._boards = boards
        self._doors = doors
        self._journal = journal
        self._clock = clock
        self._alarm = alarm
        self._pulse_ms = pulse_ms
        self._openings: dict[str, Opening] = {}

    def awaiting_answer(self) -> list[str]:
        """Compartments pulsed without a sensor whose opening nobody has confirmed yet."""
        return sorted(self._openings)

    def awaiting_pickups(self) -> set[str]:
        """Compartments whose pickup was pulsed and awaits the citizen's answer."""
        return {cid for cid, o in self._openings.items() if o.purpose == PICKUP}

    def purpose_awaiting(self, compartment_id: str) -> str:
        """Why the awaited opening was made; InvalidTransition if none awaits an answer."""
        opening = self._openings.get(compartment_id)
        if opening is None:
            raise InvalidTransition(f"No opening of compartment {compartment_id} awaits an answer.")
        return opening.purpose

    def forget(self, compartment_id: str) -> None:
        """Drop an awaited answer: a new opening of the same door supersedes it."""
        self._openings.pop(compartment_id, None)

    def doors_after_restart(self, pickups: list[str], opens: list[str]) -> dict[str, DoorState]:
        """Read the doors once at start; journal interrupted openings; see docs/locker.md."""
        for cid in [*pickups, *opens]:
            self._doors.expect(cid)  # an interrupted command's door is not a forced door
        # The first read: any other open door was opened by nobody's command.
        doors = self._doors.poll()
        for cid in opens:
            self._journal.append(
                "door_outcome", cid, {"door": doors[cid].value, "at_restart": True}, self._clock()
            )
            self._doors.settle(cid)
        for cid in pickups:
            self._doors.settle(cid)
        return doors

    def open(self, slot: Compartment, purpose: str) -> DoorCheck:
        """Pulse, watch the door, pulse once more if it stays shut, then give up.

        Raises DoorStayedShut after two pulses with the door seen shut. When the board fails,
        LockerFault if the door's sensor saw it stay shut, OpeningUnconfirmed if no sensor could.
        """
        self._doors.expect(slot.id)
        settle = True
        try:
            for attempt in (1, 2):
                try:
                    self.pulse(slot)
                except LockerFault as fault:
                    # The board may have pulsed before it failed (a cable pulled mid-answer):
                    # only a sensor that still answers can tell, given the time a pulse that
                    # did go through needs to open the door.
                    door = self._doors.wait_open(slot.id, quiet=True)
                    if door in (DoorState.UNSENSED, DoorState.UNKNOWN):
                        raise OpeningUnconfirmed(slot.id, fault.detail) from fault
                    if door == DoorState.CLOSED:
                        raise
                    self._journal.append(
                        "door_confirmed",
                        slot.id,
                        {"by": "sensor", "after_fault": True},
                        self._clock(),
                    )
                    return DoorCheck.CONFIRMED
                door = self._doors.wait_open(slot.id)
                if door == DoorState.OPEN:
                    return DoorCheck.CONFIRMED
                if door in (DoorState.UNSENSED, DoorState.UNKNOWN):
                    settle = False  # the door may still open while the person answers
                    self._openings[slot.id] = Opening(purpose, pulses=attempt)
                    return (
                        DoorCheck.UNSENSED
                        if door == DoorState.UNSENSED
                        else DoorCheck.SENSOR_FAILED
                    )
                self._journal.append(
                    "door_not_opened", slot.id, {"by": "sensor", "pulses": attempt}, self._clock()
                )
            raise DoorStayedShut(slot.id)
        finally:
            if settle:
                self._doors.settle(slot.id)

    def confirmed(self, compartment_id: str) -> str:
        """The person at an unsensed door says it opened; return the opening's purpose."""
        opening = self._openings.pop(compartment_id, None)
        if opening is None:
            raise InvalidTransition(f"No opening of compartment {compartment_id} awaits an answer.")
        self._doors.settle(compartment_id)
        self._journal.append(
            "door_confirmed",
            compartment_id,
            {"by": "citizen", "purpose": opening.purpose},
            self._clock(),
        )
        return opening.purpose

    def not_opened(self, slot: Compartment) -> DoorCheck:
        """The person says the door did not open: pulse once more; DoorStayedShut the second time.

        A board that fails on that pulse ends the awaited opening with OpeningUnconfirmed: the
        first pulse went through and only the person's word says that door stayed shut.
        """
        opening = self._openings.get(slot.id)
        if opening is None:
            raise InvalidTransition(f"No opening of compartment {slot.id} awaits an answer.")
        self._journal.append(
            "door_not_opened",
            slot.id,
            {"by": "citizen", "pulses": opening.pulses},
            self._clock(),
        )
        if opening.pulses >= 2:
            del self._openings[slot.id]
            self._doors.settle(slot.id)
            raise DoorStayedShut(slot.id)
        opening.pulses += 1
        try:
            self.pulse(slot)
        except LockerFault as fault:
            del self._openings[slot.id]
            self._doors.settle(slot.id)
            raise OpeningUnconfirmed(slot.id, fault.detail) from fault
        return DoorCheck.UNSENSED

    def abandon(self, compartment_id: str) -> None:
        """Nobody answered whether the door opened: journal it, alarm if it was a pickup."""
        opening = self._openings.pop(compartment_id, None)
        if opening is None:
            return
        self._doors.settle(compartment_id)
        self._journal.append(
            "door_unanswered", compartment_id, {"purpose": opening.purpose}, self._clock()
        )
        if opening.purpose == PICKUP:
            self._alarm(
                OPENING_UNCONFIRMED,
                compartment_id,
                "nobody said whether the door opened for a pickup; check whether "
                "the compartment was emptied",
            )

    def pulse(self, slot: Compartment) -> None:
        """One unlock pulse; a refusing board is journalled, alarmed and raised as LockerFault."""
        try:
            self._boards.unlock(slot.spec, slot.spec.pulse_ms or self._pulse_ms)
        except LockFault as exc:
            self._journal.append("lock_fault", slot.id, {"detail": str(exc)}, self._clock())
            self._alarm(LOCK_FAULT, slot.id, str(exc))
            raise LockerFault(slot.id, str(exc)) from exc
