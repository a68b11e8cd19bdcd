"""The terminal's keypad: typed codes, wrong-attempt limits, and claims awaiting a holder.

Pickup runs in two phases. `Keypad.check` judges a typed code (lockout, budgets, expiry, out
of service, a locked code) and returns a `PickupClaim` without opening anything; with the
second factor a code opens only together with the applicant's phone tail (ADR 0011).
`Keypad.admit` decides whether a claim may open its compartment: for a result with a holder
(an item whose pickup asks for an identity check) only when the verified card's applicant
digest equals the holder's. The keypad opens no door; it returns its decision and the
`LockerBank` acts on it. A claim lives in memory only; the journal records that a code was
checked, never a state change, so a power cut between the phases loses nothing.

The keypad is not thread-safe on its own: the bank calls it under its lock.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from locker.attempts import AttemptBudgets, AttemptPolicy, AttemptStreak
from locker.compartment import Compartment, State
from locker.errors import (
    ClaimLapsed,
    CodeExpired,
    CodeLocked,
    CompartmentOutOfService,
    IdentityRequired,
    InvalidTransition,
    TooManyAttempts,
    WrongCode,
    WrongHolder,
)
from locker.journal import LockerJournal

WRONG_CODE_LIMIT = "wrong_code_limit"
# Long enough for a card read and a live face check with its retries; short enough that a
# claim left behind by someone who walked away is not picked up by the next person.
CLAIM_TTL_S = 600.0

AlarmSink = Callable[[str, str | None, str], None]  # kind, compartment id, detail
TailDigest = Callable[[str, str], str]  # (load id, the phone's last four digits) -> digest


@dataclass(frozen=True)
class PickupClaim:
    """A code that was checked and may open its compartment once the keypad admits it."""

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


class Keypad:
    """Judges codes and holders against the compartments it is shown; opens nothing itself.

    Its decisions that change a compartment go through ``lock_code`` (the bank journals the
    lock); everything else it returns or raises.
    """

    def __init__(
        self,
        journal: LockerJournal,
        *,
        code_digest: Callable[[str], str],
        policy: AttemptPolicy,
        alarm: AlarmSink,
        lock_code: Callable[[str], None],
        tail_digest: TailDigest | None = None,
    ) -> None:
        self._journal = journal
        self._code_digest = code_digest
        self._tail_digest = tail_digest
        self._policy = policy
        self._alarm = alarm
        self._lock_code = lock_code
        self.streak = AttemptStreak()
        self.budgets = AttemptBudgets()
        self._claim: PickupClaim | None = None
        self._claim_digest: str | None = None

    @property
    def checks_tails(self) -> bool:
        """Whether this keypad can check a phone tail (the wiring gave it the digest)."""
        return self._tail_digest is not None

    def restore(self, record: dict | None) -> None:
        """Take up the streak and budgets the journal last recorded; a restart resets neither."""
        if record is not None:
            self.streak = AttemptStreak.from_record(record)
            self.budgets = AttemptBudgets.from_record(record)

    def lockout_remaining(self, now: float) -> float:
        """Seconds until the keypad accepts codes again (0 if not locked out)."""
        return max(
            self.streak.remaining(self._policy, now), self.budgets.terminal_wait(self._policy, now)
        )

    def check(
        self,
        code: str,
        slots: Collection[Compartment],
        now: float,
        *,
        phone_tail: str | None = None,
        awaiting_answer: Collection[str] = (),
    ) -> PickupClaim:
        """Judge a typed code (and phone tail) and claim its compartment; raise the refusal.

        Raises TooManyAttempts, WrongCode, CodeLocked, CodeExpired, CompartmentOutOfService or
        InvalidTransition (its pickup was just pulsed and awaits an answer in
        ``awaiting_answer``). A new claim replaces any earlier one: the terminal has one keypad.
        """
        if self.streak.expire_if_idle(self._policy, now):
            self._journal_attempts(now)
        wait = self.lockout_remaining(now)
        if wait > 0:
            # Refuse before hashing: during a lockout no code is checked at all.
            raise TooManyAttempts(wait)
        digest = self._code_digest(code)
        match: Compartment | None = None
        addressed: list[Compartment] = []
        # Compare against every candidate, without stopping early, so timing does
        # not reveal how many results are waiting or where a code matched.
        for slot in slots:
            waiting = (
                slot.state in (State.HOLDING_RESULT, State.OUT_OF_SERVICE)
                and slot.code_digest is not None
            )
            if not waiting:
                continue
            code_ok = same_digest(slot.code_digest or "", digest)
            tail_ok = self._tail_matches(slot, phone_tail)
            if code_ok and tail_ok and match is None:
                match = slot
            elif code_ok or (tail_ok and slot.tail_digest is not None):
                addressed.append(slot)  # this entry was aimed at it: its budget pays
        if match is None:
            locked = {slot.id for slot in addressed if self._locked(slot, now)}
            # A locked compartment's own budget is spared (nothing to win there), but the
            # streak and the terminal's budget pay: else guesses aimed at it would be free,
            # and each could still open a result that has no phone tail (ADR 0011).
            attempts_left, delay = self._count_wrong(
                now, [slot for slot in addressed if slot.id not in locked]
            )
            if locked:
                raise CodeLocked()
            raise WrongCode(attempts_left, delay)
        if self._locked(match, now):
            raise CodeLocked()
        if match.state == State.OUT_OF_SERVICE:
            # The right code, but the door is jammed: not a wrong attempt, and no pulse.
            raise CompartmentOutOfService(match.id)
        if match.id in awaiting_answer:
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

    def _locked(self, slot: Compartment, now: float) -> bool:
        self.budgets.prune(self._policy, now)
        return slot.code_locked or self.budgets.compartment_closed(self._policy, slot.id)

    def _tail_matches(self, slot: Compartment, phone_tail: str | None) -> bool:
        if slot.tail_digest is None:
            return True  # the code alone opens it
        if phone_tail is None or self._tail_digest is None:
            return False
        typed = self._tail_digest(slot.load_id or "", phone_tail)
        return same_digest(slot.tail_digest, typed)

    def admit(
        self,
        claim: PickupClaim,
        slots: Mapping[str, Compartment],
        holder_ref: str | None,
        now: float,
    ) -> Compartment:
        """Decide that a claim opens its compartment, and return that compartment.

        ``holder_ref`` is the applicant digest of the card whose live face check passed. A
        different one raises WrongHolder, counts as a wrong attempt and ends the claim; a
        missing one raises IdentityRequired and keeps it. ClaimLapsed: type the code again.
        """
        slot = self._claimed_slot(claim, slots, now)
        if slot.holder_ref is not None:
            if holder_ref is None:
                raise IdentityRequired(slot.id)
            if not same_digest(slot.holder_ref, holder_ref):
                self._end_claim("wrong_holder", now)
                attempts_left, delay = self._count_wrong(now, [slot])
                raise WrongHolder(attempts_left, delay)
        self._claim = self._claim_digest = None
        # The streak ends only when something opens: a stolen code tried with one card
        # after another keeps counting.
        # The budgets stay: an opening gives an attacker no fresh tries (ADR 0011).
        if self.streak.count:
            self.streak.reset()
            self._journal_attempts(now)
        return slot

    def release(self, claim: PickupClaim, now: float) -> None:
        """The citizen gave up before anything opened: the result and its code stay as they are."""
        if self._claim is not None and self._claim.token == claim.token:
            self._end_claim("claim_released", now)

    def _claimed_slot(
        self, claim: PickupClaim, slots: Mapping[str, Compartment], now: float
    ) -> Compartment:
        current = self._claim
        if current is None or not same_digest(current.token, claim.token):
            raise ClaimLapsed()
        if now - current.claimed_at > CLAIM_TTL_S or now < current.claimed_at:
            self._end_claim("claim_lapsed", now)
            raise ClaimLapsed()
        slot = slots[current.compartment_id]
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

    def _count_wrong(self, now: float, addressed: list[Compartment]) -> tuple[int, float]:
        delay, streak_alarm = self.streak.register_wrong(self._policy, now)
        self.budgets.charge(self._policy, now, [slot.id for slot in addressed])
        terminal_alarm = self.budgets.terminal_alarm_due(self._policy, now)
        self._journal_attempts(now)
        if streak_alarm:
            self._alarm(
                WRONG_CODE_LIMIT,
                None,
                f"{self.streak.count} wrong pickup codes or holders in a row at this keypad",
            )
        if terminal_alarm:
            self._alarm(
                WRONG_CODE_LIMIT,
                None,
                f"{self._policy.terminal_budget} wrong pickup attempts within "
                f"{_hours(self._policy.terminal_window_s)}: the keypad takes no code until "
                "the oldest leaves that window",
            )
        for slot in addressed:
            if self.budgets.compartment_exhausted(self._policy, slot.id) and not slot.code_locked:
                self._lock_code(slot.id)
                closed = self.budgets.compartment_closed(self._policy, slot.id)
                self._alarm(
                    WRONG_CODE_LIMIT,
                    slot.id,
                    f"{len(self.budgets.compartments[slot.id])} wrong attempts at this result "
                    f"within {_hours(self._policy.compartment_window_s)}: its code is locked; "
                    + (
                        "no new code opens it within that window: hand the result over in person"
                        if closed
                        else "re-send the pickup code so the applicant gets a new one"
                    ),
                )
        return self.streak.attempts_left(self._policy), delay

    def _journal_attempts(self, now: float) -> None:
        self._journal.append_attempts({**self.streak.to_record(), **self.budgets.to_record()}, now)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"
