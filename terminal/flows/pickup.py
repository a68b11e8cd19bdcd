"""Result pickup: the citizen types the SMS code, the right compartment opens, the backend hears.

Wrong codes are the locker's business (attempt limits, growing delay, alarm); this flow turns
each refusal into words for the citizen and reports a successful opening through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cloud_bridge.contract import messages as m
from locker.bank import Opened
from locker.errors import CodeExpired, LockerError, LockerFault, TooManyAttempts, WrongCode
from terminal.flows.session import FlowError, TerminalParts, WrongStep


class PickupStep(StrEnum):
    ENTER_CODE = "enter_code"
    OPEN = "open"
    DONE = "done"


class PickupRefused(FlowError):
    """A code was refused; `reason` is one of wrong, locked_out, expired, fault."""

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
        except LockerFault as exc:
            raise PickupRefused(
                "fault",
                "The compartment could not be opened. Staff have been alerted; "
                "your result is safe inside.",
            ) from exc
        except LockerError as exc:
            raise PickupRefused("fault", str(exc)) from exc
        self.report(opened)
        self.opened = opened
        self.step = PickupStep.OPEN
        return opened

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

    def door_closed(self) -> None:
        """The citizen took the documents and closed the door."""
        if self.step != PickupStep.OPEN:
            raise WrongStep("no compartment is open")
        self.step = PickupStep.DONE
