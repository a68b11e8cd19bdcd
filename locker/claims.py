"""Pickup in two phases: check the code, then open, with the holder's identity in between.

`check_code` judges a typed code exactly as a one-step pickup always did (lockout, attempt
streak, expiry, out of service) but opens nothing: it hands out a `PickupClaim`. `open_claimed`
opens the claimed compartment, and for a result with a holder (an item whose pickup asks for
an identity check) only when the verified card's applicant digest equals the holder's. A claim
lives in memory only; the journal records that a code was checked, never a state change, so a
power cut between the two phases leaves the result in place and its code valid.

`LockerBank` inherits these methods; they run under the bank's lock and write to its journal
before memory changes, like every other operation.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from locker.attempts import AttemptPolicy, AttemptStreak
from locker.compartment import Compartment, State
from locker.errors import (
    ClaimLapsed,
    CodeExpired,
    CompartmentOutOfService,
    IdentityRequired,
    InvalidTransition,
    TooManyAttempts,
    WrongCode,
    WrongHolder,
)
from locker.journal import LockerJournal
from locker.opening import PICKUP, Opened, Opening

WRONG_CODE_LIMIT = "wrong_code_limit"
# Long enough for a card read and a live face check with its retries; short enough that a
# claim left behind by someone who walked away is not picked up by the next person.
CLAIM_TTL_S = 600.0


@dataclass(frozen=True)
class PickupClaim:
    """A code that was checked and may open its compartment once `open_claimed` agrees."""

    compartment_id: str
    application_no: str
    load_id: str | None
    needs_identity: bool  # the result has a holder: only their verified card opens it
    claimed_at: float
    token: str = field(default_factory=lambda: secrets.token_hex(8), repr=False)


def same_digest(a: str, b: str) -> bool:
    """Constant-time equality of two digests."""
    # compare_digest on bytes: it refuses non-ASCII str, and digests may be any text.
    return hmac.compare_digest(a.encode(), b.encode())


class CodeClaims:
    """The bank's keypad half: codes, attempt limits, claims and the holder check."""

    # Provided by LockerBank, with _alarm, _open_for_pickup and the journal helpers.
    _journal: LockerJournal
    _clock: Callable[[], float]
    _slots: dict[str, Compartment]
    _openings: dict[str, Opening]
    _streak: AttemptStreak
    _policy: AttemptPolicy
    _code_digest: Callable[[str], str]
    _mutex: Any
    _claim: PickupClaim | None
    _claim_digest: str | None

    def pickup(self, code: str) -> Opened:
        """Open the compartment whose result matches ``code``; see docs/locker.md.

        A result with a holder is not opened by its code alone: IdentityRequired, and the
        caller goes through `check_code` and `open_claimed` with the holder's digest.
        """
        with self._mutex:
            claim = self.check_code(code)
            if claim.needs_identity:
                self.release_claim(claim)
                raise IdentityRequired(claim.compartment_id)
            return self.open_claimed(claim)

    def check_code(self, code: str) -> PickupClaim:
        """Judge a typed code and claim its compartment without opening it.

        Raises what a one-step pickup raises (TooManyAttempts, WrongCode, CodeExpired,
        CompartmentOutOfService, InvalidTransition). A new claim replaces any earlier one: the
        terminal has one keypad.
        """
        with self._mutex:
            now = self._clock()
            if self._streak.expire_if_idle(self._policy, now):
                self._journal.append_attempts(self._streak.to_record(), now)
            wait = self._streak.remaining(self._policy, now)
            if wait > 0:
                # Refuse before hashing: during a lockout no code is checked at all.
                raise TooManyAttempts(wait)
            digest = self._code_digest(code)
            match: Compartment | None = None
            # Compare against every candidate, without stopping early, so timing does
            # not reveal how many results are waiting or where a code matched.
            for slot in self._slots.values():
                waiting = (
                    slot.state in (State.HOLDING_RESULT, State.OUT_OF_SERVICE)
                    and slot.code_digest is not None
                )
                if waiting and same_digest(slot.code_digest or "", digest) and match is None:
                    match = slot
            if match is None:
                raise self._wrong_code(now)
            if match.state == State.OUT_OF_SERVICE:
                # The right code, but the door is jammed: not a wrong attempt, and no pulse.
                raise CompartmentOutOfService(match.id)
            pending = self._openings.get(match.id)
            if pending is not None and pending.purpose == PICKUP:
                raise InvalidTransition(
                    f"Compartment {match.id} was just opened; say whether its door opened."
                )
            if match.code_expires_at is not None and now >= match.code_expires_at:
                raise CodeExpired()
            claim = PickupClaim(
                match.id,
                match.application_no or "",
                match.load_id,
                needs_identity=match.holder_ref is not None,
                claimed_at=now,
            )
            # Audit only (no "state"): a replay after a power cut finds no claim to resume.
            self._journal.append(
                "code_checked",
                match.id,
                {"load_id": match.load_id, "needs_identity": claim.needs_identity},
                now,
            )
            self._claim, self._claim_digest = claim, match.code_digest
            return claim

    def open_claimed(self, claim: PickupClaim, holder_ref: str | None = None) -> Opened:
        """Open the claimed compartment; for a result with a holder, only for that holder.

        ``holder_ref`` is the applicant digest of the card whose live face check passed. A
        different one raises WrongHolder, counts as a wrong attempt and ends the claim; a
        missing one raises IdentityRequired and keeps it. ClaimLapsed: type the code again.
        """
        with self._mutex:
            now = self._clock()
            slot = self._claimed_slot(claim, now)
            if slot.holder_ref is not None:
                if holder_ref is None:
                    raise IdentityRequired(slot.id)
                if not same_digest(slot.holder_ref, holder_ref):
                    self._end_claim("wrong_holder", now)
                    attempts_left, delay = self._count_wrong(now)
                    raise WrongHolder(attempts_left, delay)
            self._claim = self._claim_digest = None
            # The streak ends only when something opens: a stolen code tried with one card
            # after another keeps counting.
            if self._streak.count:
                self._streak.reset()
                self._journal.append_attempts(self._streak.to_record(), now)
            return self._open_for_pickup(slot, now)

    def release_claim(self, claim: PickupClaim) -> None:
        """The citizen gave up before anything opened: the result and its code stay as they are."""
        with self._mutex:
            if self._claim is not None and self._claim.token == claim.token:
                self._end_claim("claim_released", self._clock())

    def _claimed_slot(self, claim: PickupClaim, now: float) -> Compartment:
        current = self._claim
        if current is None or not same_digest(current.token, claim.token):
            raise ClaimLapsed()
        if now - current.claimed_at > CLAIM_TTL_S or now < current.claimed_at:
            self._end_claim("claim_lapsed", now)
            raise ClaimLapsed()
        slot = self._slots[current.compartment_id]
        if slot.state == State.OUT_OF_SERVICE:
            self._end_claim("claim_lapsed", now)
            raise CompartmentOutOfService(slot.id)
        unchanged = (
            slot.state == State.HOLDING_RESULT
            and slot.load_id == current.load_id
            and slot.code_digest is not None
            and same_digest(slot.code_digest, self._claim_digest or "")
        )
        if not unchanged:
            # Staff withdrew the result or rotated its code while the citizen was at the reader.
            self._end_claim("claim_lapsed", now)
            raise ClaimLapsed()
        return slot

    def _end_claim(self, event: str, now: float) -> None:
        claim, self._claim, self._claim_digest = self._claim, None, None
        if claim is not None:
            self._journal.append(event, claim.compartment_id, {"load_id": claim.load_id}, now)

    def _wrong_code(self, now: float) -> WrongCode:
        attempts_left, delay = self._count_wrong(now)
        return WrongCode(attempts_left, delay)

    def _count_wrong(self, now: float) -> tuple[int, float]:
        delay, alarm = self._streak.register_wrong(self._policy, now)
        self._journal.append_attempts(self._streak.to_record(), now)
        if alarm:
            self._alarm(
                WRONG_CODE_LIMIT,
                None,
                f"{self._streak.count} wrong pickup codes or holders in a row at this keypad",
            )
        return self._streak.attempts_left(self._policy), delay

    # Provided by LockerBank.
    def _alarm(self, kind: str, compartment_id: str | None, detail: str) -> None:
        raise NotImplementedError

    def _open_for_pickup(self, slot: Compartment, now: float) -> Opened:
        raise NotImplementedError
