"""Result pickup: the citizen types the SMS code, the right compartment opens, the backend hears.

Wrong codes are the locker's business (attempt limits, growing delay, alarm); this flow turns
each refusal into words for the citizen and reports a confirmed opening through the outbox.

A result counts as picked up only once its door was seen open: by the door sensor, or, for a
compartment without one, by the citizen answering "Did the door open?" (step CONFIRM_DOOR:
Yes -> picked up; No -> one more pulse, and a second No -> out of service plus an alarm).
A door that stays shut ends in OUT_OF_SERVICE: nothing is marked picked up and staff are
alerted to hand the documents over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cloud_bridge.contract import messages as m
from locker.bank import Opened
from locker.errors import (
    CodeExpired,
    CompartmentOutOfService,
    DoorJammed,
    LockerError,
    LockerFault,
    TooManyAttempts,
    WrongCode,
)
from terminal.flows.session import FlowError, TerminalParts, WrongStep


class PickupStep(StrEnum):
    ENTER_CODE = "enter_code"
    CONFIRM_DOOR = "confirm_door"  # the UI asks "Did the door open? Yes / No"
    OPEN = "open"
    DONE = "done"
    OUT_OF_SERVICE = "out_of_service"  # the door stayed shut; staff will contact the citizen


FAULT_TEXT = (
    "The compartment could not be opened. Staff have been alerted; your result is safe inside."
)


class PickupRefused(FlowError):
    """A code was refused; `reason` is wrong, locked_out, expired, fault, jammed, out_of_service."""

    def __init__(self, reason: str, text: str, retry_after_s: float = 0.0):
        super().__init__(text)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class PickupFlow:
    """One pickup at the keypad."""

    parts: TerminalParts
    step: PickupStep = PickupStep.ENTER_CODE
    opened: Opened | None = None

    def enter_code(self, code: str) -> Opened:
        """Check the code; on success the compartment is open and the backend is told."""
        if self.step != PickupStep.ENTER_CODE:
            raise WrongStep(f"cannot enter a code at step {self.step}")
        code = code.strip()
        if not code.isdigit():
            raise PickupRefused("wrong", "Please type the digits of the code from your SMS.")
        try:
            opened = self.parts.locker.pickup(code)
        except TooManyAttempts as exc:
            raise PickupRefused("locked_out", str(exc), exc.retry_after_s) from exc
        except WrongCode as exc:
            raise PickupRefused("wrong", str(exc), exc.retry_after) from exc
        except CodeExpired as exc:
            raise PickupRefused("expired", str(exc)) from exc
        except DoorJammed as exc:
            self.step = PickupStep.OUT_OF_SERVICE
            raise PickupRefused("jammed", str(exc)) from exc
        except CompartmentOutOfService as exc:
            raise PickupRefused("out_of_service", str(exc)) from exc
        except LockerFault as exc:
            raise PickupRefused("fault", FAULT_TEXT) from exc
        except LockerError as exc:
            raise PickupRefused("fault", str(exc)) from exc
        self.opened = opened
        if not opened.confirmed:
            self.step = PickupStep.CONFIRM_DOOR
            return opened
        self.report(opened)
        self.step = PickupStep.OPEN
        return opened

    def door_opened(self, yes: bool) -> Opened:
        """The citizen's answer to "Did the door open?" for a compartment without a sensor.

        Yes: the result is picked up. No: the lock is pulsed once more and the question is
        asked again; a second No takes the compartment out of service (PickupRefused jammed).
        """
        if self.step != PickupStep.CONFIRM_DOOR:
            raise WrongStep(f"no door question at step {self.step}")
        assert self.opened is not None
        locker, cid = self.parts.locker, self.opened.compartment_id
        try:
            if yes:
                confirmed = locker.confirm_opening(cid)
                assert confirmed is not None
                self.opened = confirmed
                self.report(confirmed)
                self.step = PickupStep.OPEN
                return confirmed
            locker.report_not_opened(cid)
        except DoorJammed as exc:
            self.step = PickupStep.OUT_OF_SERVICE
            raise PickupRefused("jammed", str(exc)) from exc
        except LockerFault as exc:
            self.step = PickupStep.ENTER_CODE  # nothing opened; the code still works
            raise PickupRefused("fault", FAULT_TEXT) from exc
        return self.opened

    def abandon(self) -> None:
        """The citizen left without answering: the result stays on record, staff are alerted."""
        if self.step == PickupStep.CONFIRM_DOOR and self.opened is not None:
            self.parts.locker.abandon_opening(self.opened.compartment_id)
        self.step = PickupStep.DONE

    def report(self, opened: Opened, at: datetime | None = None) -> bool:
        """Queue the picked-up event, once per load; False if it was reported before."""
        p = self.parts
        if not opened.load_id or p.store.pickup_reported(opened.load_id):
            return False
        now = at or p.clock()
        with p.outbox.transaction() as tx:
            p.store.record_pickup_reported(tx, opened.load_id, now)
            tx.add(
                m.ResultPickedUp(
                    terminal_id=p.terminal_id,
                    operation_id=opened.load_id,
                    load_id=opened.load_id,
                    application_no=opened.application_no,
                    compartment_id=opened.compartment_id,
                    picked_up_at=now,
                )
            )
        return True

    def door_closed(self) -> None:
        """The citizen took the documents and closed the door."""
        if self.step != PickupStep.OPEN:
            raise WrongStep("no compartment is open")
        self.step = PickupStep.DONE
