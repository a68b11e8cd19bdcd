"""Result pickup: the citizen types the SMS code and the phone's last four digits, proves who
they are if the item asks, the right compartment opens, the backend hears.

Wrong codes are the locker's business (attempt limits, budgets, a locked code, alarms: ADR
0011); this flow turns each refusal into words for the citizen and reports a confirmed opening
through the outbox. The phone tail is the second factor of a result whose load carries its
digest; the kiosk asks every citizen for it, so the question says nothing about the result.

An item whose pickup asks for an identity check (`ServiceItem.pickup_needs_identity`) has its
holder recorded with the load (`holder_for_load`, ADR 0004). Its code only claims the
compartment (step IDENTITY); the card is read and the live face checked exactly as for a
submission (steps IDENTITY, FACE); then the card's applicant digest must equal the holder's
before anything opens (`open_for_holder`). Another person's card opens nothing and counts like
a wrong code; an unreadable card or a face that does not match may be tried again within the
face check's limits, then the citizen is told to come in office hours, and the code stays valid.

A result counts as picked up only once its door was seen open: by the door sensor, or, for a
compartment without one, by the citizen answering "Did the door open?" (step CONFIRM_DOOR:
Yes -> picked up; No -> one more pulse, and a second No -> out of service plus an alarm).
A door that stays shut ends in OUT_OF_SERVICE: nothing is marked picked up and staff are
alerted to hand the documents over. A lock board that fails after a pulse may have opened the
door is refused as "unconfirmed": the result stays on record and staff check the compartment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from cloud_bridge.contract import applicant_ref
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import ServiceItem
from devices.identity.port import IdentityDocument
from face.check import FaceCheck
from face.decision import FaceDecision
from locker.bank import Opened, PickupClaim
from locker.errors import (
    ClaimLapsed,
    CodeExpired,
    CodeLocked,
    CompartmentOutOfService,
    CompartmentWithheld,
    DoorJammed,
    IdentityRequired,
    LockerError,
    LockerFault,
    OpeningUnconfirmed,
    TooManyAttempts,
    WrongCode,
    WrongHolder,
)
from terminal.flows.identity import IdentitySteps
from terminal.flows.session import FlowError, TerminalParts, WrongStep

log = logging.getLogger(__name__)
T = TypeVar("T")


class PickupStep(StrEnum):
    ENTER_CODE = "enter_code"
    IDENTITY = "identity"  # the code is right; the item asks for the holder's card
    FACE = "face"  # the card is read; the live face check
    VERIFIED = "verified"  # the face matched the card; open_for_holder compares the holder
    STAFF_ASSIST = "staff_assist"  # no more identity tries here: office hours, code still valid
    CONFIRM_DOOR = "confirm_door"  # the UI asks "Did the door open? Yes / No"
    OPEN = "open"
    DONE = "done"
    OUT_OF_SERVICE = "out_of_service"  # the door stayed shut; staff will contact the citizen


class PickupRefused(FlowError):
    """A code (or a holder) was refused; `reason` is one of REASONS, and the citizen's text is
    the catalog's `pickup.refused.<reason>`."""

    REASONS = (
        "wrong",
        "tail",
        "locked_out",
        "code_locked",
        "expired",
        "fault",
        "jammed",
        "unconfirmed",
        "out_of_service",
        "withheld",
        "wrong_holder",
        "lapsed",
        "not_here",
    )

    def __init__(self, reason: str, retry_after_s: float = 0.0):
        if reason not in self.REASONS:
            raise ValueError(f"no such pickup refusal: {reason!r}")
        super().__init__(f"pickup.refused.{reason}", seconds=int(retry_after_s + 0.99))
        self.reason = reason
        self.retry_after_s = retry_after_s


class HolderUnknown(Exception):
    """A load whose pickup needs the holder's identity came without one this terminal can check."""


def holder_for_load(
    catalog: tuple[ServiceItem, ...],
    item_code: str | None,
    holder_ref: str | None,
    *,
    can_check_identity: bool,
) -> str | None:
    """Who may collect a load's result: None for the code alone, else the holder's digest.

    Fail safe (ADR 0004): an item this terminal does not know, or no item at all, is treated
    as one that asks for an identity check. Raises HolderUnknown when the check is needed but
    there is no holder to compare with, or the terminal has no applicant key to compute one.
    """
    item = next((i for i in catalog if i.code == item_code), None) if item_code else None
    if item is not None and not item.pickup_needs_identity:
        return None  # the code alone opens it; the holder's digest is not kept
    what = f"item {item_code}" if item is not None else f"unknown item {item_code or '(none)'}"
    if holder_ref is None:
        raise HolderUnknown(f"{what} is collected with the applicant's ID card; no holder given")
    if not can_check_identity:
        raise HolderUnknown(
            f"{what} needs an identity check and this terminal has no applicant key"
        )
    return holder_ref


@dataclass
class PickupFlow(IdentitySteps):
    """One pickup at the keypad, with the holder's identity check when the item asks for it."""

    IDENTITY_STEP = PickupStep.IDENTITY
    FACE_STEP = PickupStep.FACE
    VERIFIED_STEP = PickupStep.VERIFIED
    STAFF_STEP = PickupStep.STAFF_ASSIST

    parts: TerminalParts
    step: PickupStep = PickupStep.ENTER_CODE
    opened: Opened | None = None
    claim: PickupClaim | None = None
    document: IdentityDocument | None = field(default=None, repr=False)
    face: FaceDecision | None = None
    face_attempts: int = 0
    _face_check: FaceCheck | None = field(default=None, init=False, repr=False)

    @property
    def needs_identity(self) -> bool:
        """Whether the typed code's result waits for the holder's card and face."""
        return self.claim is not None and self.claim.needs_identity

    def enter_code(self, code: str, phone_tail: str | None = None) -> Opened | None:
        """Check the code (with the phone's last four digits); on success the compartment is
        open and the backend is told.

        For a result that needs its holder's identity nothing opens yet: None, and the flow
        is at IDENTITY (read_identity, the face check, then open_for_holder).
        """
        if self.step != PickupStep.ENTER_CODE:
            raise WrongStep(f"cannot enter a code at step {self.step}")
        code = code.strip()
        if not code.isdigit():
            raise PickupRefused("wrong")
        if phone_tail is not None:
            phone_tail = phone_tail.strip()
            if len(phone_tail) != 4 or not (phone_tail.isascii() and phone_tail.isdigit()):
                raise PickupRefused("tail")
        locker = self.parts.locker
        claim = self._locker_call(lambda: locker.check_code(code, phone_tail))
        if claim.needs_identity:
            self.claim = claim
            self.face_attempts = 0
            self.step = PickupStep.IDENTITY
            return None
        return self._opened(self._locker_call(lambda: locker.open_claimed(claim)))

    def open_for_holder(self) -> Opened:
        """After a verified face: open if the card is the holder's, else refuse and forget."""
        self._expect_step(PickupStep.VERIFIED)
        assert self.claim is not None and self.document is not None
        key, claim = self.parts.applicant_key, self.claim
        holder = (
            applicant_ref.digest(key, self.document.document_type, self.document.number)
            if key is not None
            else None
        )
        self.forget_identity()  # the comparison needs nothing more of the card or the face
        self.claim = None  # spent either way: after a refusal the code is typed again
        try:
            if holder is None:  # holder_for_load refuses such loads; a changed set-up lands here
                self.parts.locker.release_claim(claim)
                raise PickupRefused("not_here")
            opened = self._locker_call(lambda: self.parts.locker.open_claimed(claim, holder))
        except PickupRefused:
            if self.step != PickupStep.OUT_OF_SERVICE:
                self.step = PickupStep.ENTER_CODE
            raise
        return self._opened(opened)

    def _give_up_identity(self) -> None:
        """No more identity tries here: nothing opened, the code stays valid for later."""
        if self.claim is not None:
            self.parts.locker.release_claim(self.claim)
            self.claim = None
        self.forget_identity()
        self.step = PickupStep.STAFF_ASSIST

    def _locker_call(self, call: Callable[[], T]) -> T:
        """Run a locker step; turn each refusal into words for the citizen."""
        try:
            return call()
        except TooManyAttempts as exc:
            raise PickupRefused("locked_out", exc.retry_after_s) from exc
        except WrongCode as exc:
            raise PickupRefused("wrong", exc.retry_after) from exc
        except WrongHolder as exc:
            log.warning("pickup refused: the verified card is not the result's holder")
            raise PickupRefused("wrong_holder", exc.retry_after) from exc
        except ClaimLapsed as exc:
            raise PickupRefused("lapsed") from exc
        except CodeLocked as exc:
            log.warning("pickup refused: the code is locked after too many wrong attempts")
            raise PickupRefused("code_locked") from exc
        except CodeExpired as exc:
            raise PickupRefused("expired") from exc
        except DoorJammed as exc:
            self.step = PickupStep.OUT_OF_SERVICE
            raise PickupRefused("jammed") from exc
        except OpeningUnconfirmed as exc:  # the board failed after the pulse: it may be open
            raise PickupRefused("unconfirmed") from exc
        except CompartmentWithheld as exc:  # an operator locked it: the counter hands it over
            raise PickupRefused("withheld") from exc
        except CompartmentOutOfService as exc:
            raise PickupRefused("out_of_service") from exc
        except LockerFault as exc:
            raise PickupRefused("fault") from exc
        except IdentityRequired as exc:  # a holder's result reached without a card: a bug
            raise WrongStep(str(exc)) from exc
        except LockerError as exc:
            raise PickupRefused("fault") from exc

    def _opened(self, opened: Opened) -> Opened:
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
        A board failing on that pulse is PickupRefused unconfirmed: staff check the compartment.
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
            raise PickupRefused("jammed") from exc
        except OpeningUnconfirmed as exc:
            # The first pulse went through: the door may have opened. As for an unanswered
            # question, the result and its code stay and staff check the compartment.
            self.step = PickupStep.ENTER_CODE
            raise PickupRefused("unconfirmed") from exc
        return self.opened

    def abandon(self) -> None:
        """The citizen left: nothing claimed stays claimed, nothing of them stays in memory.

        A door question left unanswered keeps the result on record and alerts staff.
        """
        if self.step == PickupStep.CONFIRM_DOOR and self.opened is not None:
            self.parts.locker.abandon_opening(self.opened.compartment_id)
        if self.claim is not None:
            self.parts.locker.release_claim(self.claim)
            self.claim = None
        self.forget_identity()
        self.step = PickupStep.DONE

    def report(self, opened: Opened, at: datetime | None = None) -> bool:
        """Queue the picked-up event, once per load; False if it was reported before."""
        p = self.parts
        if not opened.load_id or p.store.pickup_reported(opened.load_id):
            return False
        now = at or p.clock()
        with p.db.unit_of_work() as uow:
            p.store.record_pickup_reported(uow, opened.load_id, now)
            p.outbox.add(
                uow,
                m.ResultPickedUp(
                    terminal_id=p.terminal_id,
                    operation_id=opened.load_id,
                    load_id=opened.load_id,
                    application_no=opened.application_no,
                    compartment_id=opened.compartment_id,
                    picked_up_at=now,
                ),
            )
        return True

    def door_closed(self) -> None:
        """The citizen took the documents and closed the door."""
        if self.step != PickupStep.OPEN:
            raise WrongStep("no compartment is open")
        self.step = PickupStep.DONE
