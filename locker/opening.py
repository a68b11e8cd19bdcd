"""Openings and their confirmation: door checks, retries, jams, and the restart reconciliation.

`LockerBank` inherits these methods; they run under the bank's lock and write to its
journal in the same order as every other change (journal first, then memory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from locker.compartment import Compartment, State
from locker.errors import DoorJammed, InvalidTransition, LockerFault
from locker.journal import LockerJournal
from locker.supervision import DoorState, DoorSupervisor

LOCK_FAULT = "lock_fault"
OPENING_UNCONFIRMED = "opening_unconfirmed"
PICKUP = "pickup"
JAMMED = "door did not open after two unlock pulses (jammed?)"


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


class DoorOpenings:
    """The bank's door half: pulse, watch, retry once, give up; and settle a restart."""

    # Provided by LockerBank, with _get, _pulse, _commit, _alarm and _picked_up.
    doors: DoorSupervisor
    _journal: LockerJournal
    _clock: Callable[[], float]
    _slots: dict[str, Compartment]
    _openings: dict[str, Opening]
    _unconfirmed: set[str]
    _finished_loads: set[str]
    _mutex: Any  # the bank's re-entrant lock

    def _reconcile(self, pickups: list[str], opens: list[str]) -> None:
        """Compare interrupted openings with the doors as they stand now; see docs/locker.md."""
        for cid in [*pickups, *opens]:
            self.doors.expect(cid)  # an interrupted command's door is not a forced door
        # The first read: any other open door was opened by nobody's command.
        doors = self.doors.poll()
        for cid in opens:
            self._journal.append(
                "door_outcome", cid, {"door": doors[cid].value, "at_restart": True}, self._clock()
            )
            self.doors.settle(cid)
        for cid in pickups:
            self.doors.settle(cid)
            slot = self._slots[cid]
            if doors[cid] == DoorState.OPEN:
                # The door stands open after the pulse: the pickup happened.
                self._journal.append(
                    "door_confirmed", cid, {"by": "sensor", "at_restart": True}, self._clock()
                )
                if slot.load_id:
                    self._finished_loads.add(slot.load_id)
                self._commit("picked_up", slot.cleared(self._clock()))
                continue
            # Shut, unsensed or unread: the door may have opened and been closed again, or
            # never opened. Keeping the result (and its code) loses nothing; staff look.
            self._unconfirmed.add(cid)
            self._alarm(
                OPENING_UNCONFIRMED,
                cid,
                f"a pickup was interrupted (door {doors[cid].value} at restart); "
                "check whether the compartment was emptied",
            )

    # ---- doors ---------------------------------------------------------------------

    def confirm_opening(self, compartment_id: str) -> Opened | None:
        """The person at an unsensed door says it opened; a pickup becomes picked up."""
        with self._mutex:
            slot = self._get(compartment_id)
            opening = self._openings.pop(slot.id, None)
            if opening is None:
                raise InvalidTransition(f"No opening of compartment {slot.id} awaits an answer.")
            self.doors.settle(slot.id)
            self._journal.append(
                "door_confirmed",
                slot.id,
                {"by": "citizen", "purpose": opening.purpose},
                self._clock(),
            )
            if opening.purpose != PICKUP:
                return None
            opened = Opened(slot.id, slot.application_no or "", slot.load_id, DoorCheck.CITIZEN)
            return self._picked_up(slot, opened)

    def report_not_opened(self, compartment_id: str) -> DoorCheck:
        """The person says the door did not open: pulse once more, then out of service."""
        with self._mutex:
            slot = self._get(compartment_id)
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
                self.doors.settle(slot.id)
                raise self._jammed(slot)
            opening.pulses += 1
            try:
                self._pulse(slot)
            except LockerFault:
                del self._openings[slot.id]
                self.doors.settle(slot.id)
                if opening.purpose == PICKUP:
                    self._journal.append_compartment(
                        "opening_failed", slot.id, slot.to_record(), self._clock()
                    )
                    self._unconfirmed.discard(slot.id)
                raise
            return DoorCheck.UNSENSED

    def abandon_opening(self, compartment_id: str) -> None:
        """Nobody answered whether the door opened: keep the contents, alarm if a pickup."""
        with self._mutex:
            opening = self._openings.pop(compartment_id, None)
            if opening is None:
                return
            self.doors.settle(compartment_id)
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

    def awaiting_answer(self) -> list[str]:
        """Compartments pulsed without a sensor whose opening nobody has confirmed yet."""
        with self._mutex:
            return sorted(self._openings)

    def _open_door(self, slot: Compartment, purpose: str) -> DoorCheck:
        """Pulse, watch the door, pulse once more if it stays shut, then give up."""
        self.doors.expect(slot.id)
        settle = True
        try:
            for attempt in (1, 2):
                try:
                    self._pulse(slot)
                except LockerFault:
                    # The board may have pulsed before it failed (a cable pulled mid-answer):
                    # a sensor that still answers settles it.
                    if self.doors.wait_open(slot.id, 0, quiet=True) != DoorState.OPEN:
                        raise
                    self._journal.append(
                        "door_confirmed",
                        slot.id,
                        {"by": "sensor", "after_fault": True},
                        self._clock(),
                    )
                    return DoorCheck.CONFIRMED
                door = self.doors.wait_open(slot.id)
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
            raise self._jammed(slot)
        finally:
            if settle:
                self.doors.settle(slot.id)

    def _jammed(self, slot: Compartment) -> DoorJammed:
        holds = slot.state in (State.HOLDING_RESULT, State.HOLDING_DEPOSIT)
        self._commit(
            "out_of_service",
            replace(slot, state=State.OUT_OF_SERVICE, out_of_service_reason=JAMMED),
        )
        self._alarm(LOCK_FAULT, slot.id, f"{JAMMED}; compartment taken out of service")
        return DoorJammed(slot.id, holds)
