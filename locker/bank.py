"""The locker bank: allocation, deposits, result loads, pickup by code, doors, and alarms.

The bank composes its parts, each built here with its dependencies named: the compartments
as journalled (`CompartmentRecords`), the keypad that judges codes and holders (`Keypad`),
and the door opener that pulses and watches (`DoorOpener`). The keypad and the opener return
decisions; only the bank changes a compartment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from devices.lock.port import LockPort
from locker.attempts import AttemptPolicy
from locker.boards import BoardSet
from locker.compartment import Compartment, State
from locker.config import SupervisionSettings
from locker.errors import (
    CompartmentWithheld,
    DoorJammed,
    DoorStillOpen,
    IdentityRequired,
    LockerFault,
    OpeningUnconfirmed,
)
from locker.journal import DOOR_OPENING, OPENING, LockerJournal
from locker.keypad import WRONG_CODE_LIMIT, Keypad, PickupClaim, TailDigest
from locker.layout import CompartmentSpec, Size
from locker.opening import (
    DEPOSIT_ABANDONED,
    JAMMED,
    LOCK_FAULT,
    OPENING_UNCONFIRMED,
    PICKUP,
    DoorCheck,
    DoorOpener,
    DoorStayedShut,
    LockerAlarm,
    Opened,
)
from locker.records import CompartmentRecords
from locker.supervision import DoorState, DoorSupervisor

__all__ = [
    "WRONG_CODE_LIMIT",
    "AttemptPolicy",
    "DoorCheck",
    "LockerAlarm",
    "LockerBank",
    "Opened",
    "PickupClaim",
]

log = logging.getLogger(__name__)


class LockerBank:
    """All compartments of one terminal, journalled, driving its lock boards.

    Every change is written to the journal before memory changes, so a failed write
    leaves the bank as it was. One re-entrant lock serialises callers (kiosk flow,
    backend commands), including the lock pulse and the wait for the door, so no two
    callers open the same compartment for two different people.
    """

    def __init__(
        self,
        layout: list[CompartmentSpec],
        journal: LockerJournal,
        lock: LockPort | BoardSet,
        *,
        code_digest: Callable[[str], str],
        tail_digest: TailDigest | None = None,
        clock: Callable[[], float] = time.time,
        on_alarm: Callable[[LockerAlarm], None] = lambda a: None,
        policy: AttemptPolicy = AttemptPolicy(),  # noqa: B008 - frozen, so sharing is safe
        pulse_ms: int | None = None,
        supervision: SupervisionSettings = SupervisionSettings(),  # noqa: B008 - frozen
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._journal = journal
        self.boards = lock if isinstance(lock, BoardSet) else BoardSet.single(lock)
        self.boards.check(layout)
        self._clock = clock
        self._on_alarm = on_alarm
        self._mutex = threading.RLock()
        self._records = CompartmentRecords(layout, journal, clock)
        self._slots = self._records.slots
        self._withheld: set[str] = set()  # held compartments whose door opens for no code
        self.doors = DoorSupervisor(
            layout,
            self.boards,
            settings=supervision,
            monotonic=monotonic,
            sleep=sleep,
            on_alarm=self._alarm,
        )
        self.keypad = Keypad(
            journal,
            code_digest=code_digest,
            tail_digest=tail_digest,
            policy=policy,
            alarm=self._alarm,
            lock_code=self._records.lock_code,
        )
        self.opener = DoorOpener(
            self.boards,
            self.doors,
            journal,
            clock=clock,
            alarm=self._alarm,
            pulse_ms=supervision.pulse_ms if pulse_ms is None else pulse_ms,
        )
        self._restore()

    # ---- restart -------------------------------------------------------------------

    def _restore(self) -> None:
        state = self._journal.replay()
        self._records.restore(state)
        self.keypad.restore(state.attempts)
        pickups = sorted(
            cid
            for cid, event in state.last_event.items()
            if event == OPENING and cid in self._slots
        )
        opens = sorted(cid for cid in state.pending_door_openings if cid in self._slots)
        self._reconcile(pickups, opens)

    def _reconcile(self, pickups: list[str], opens: list[str]) -> None:
        """Settle pickups a crash interrupted, by their doors as they stand now."""
        doors = self.opener.doors_after_restart(pickups, opens)
        for cid in pickups:
            if doors[cid] == DoorState.OPEN:
                # The door stands open after the pulse: the pickup happened.
                self._journal.append(
                    "door_confirmed", cid, {"by": "sensor", "at_restart": True}, self._clock()
                )
                self._records.picked_up(self._slots[cid])
                continue
            # Shut, unsensed or unread: the door may have opened and been closed again, or
            # never opened. Keeping the result (and its code) loses nothing; staff look.
            self._records.unconfirmed.add(cid)
            self._alarm(
                OPENING_UNCONFIRMED,
                cid,
                f"a pickup was interrupted (door {doors[cid].value} at restart); "
                "check whether the compartment was emptied",
            )

    # ---- deposits --------------------------------------------------------------------

    def reserve_for_deposit(self, application_no: str, size: Size) -> Compartment:
        """Reserve the smallest free compartment that fits, for a citizen's paper originals."""
        with self._mutex:
            return self._records.reserve_for_deposit(application_no, size)

    def open(self, compartment_id: str, *, reason: str = "service") -> DoorCheck:
        """Open a compartment's door (deposit, staff service, technician); state does not change.

        Returns CONFIRMED when the sensor saw the door open, or UNSENSED/SENSOR_FAILED when
        the person at the door must say (`confirm_opening` / `report_not_opened`). A door
        that stays shut after two pulses puts the compartment out of service: DoorJammed.
        """
        with self._mutex:
            slot = self._records.get(compartment_id)
            self.opener.forget(slot.id)
            # Intent first: a restart that finds no outcome compares with the door.
            self._journal.append(DOOR_OPENING, slot.id, {"reason": reason}, self._clock())
            check = self._open_door(slot, reason)
            self._journal.append(
                "door_pulsed",
                slot.id,
                {
                    "board": slot.spec.board,
                    "channel": slot.spec.channel,
                    "reason": reason,
                    "door": check.value,
                },
                self._clock(),
            )
            return check

    def confirm_deposit(self, compartment_id: str) -> Compartment:
        """The citizen closed the door on their originals: RESERVED(deposit) -> HOLDING_DEPOSIT.

        A sensed door must read shut first (DoorStillOpen), see `_require_shut`.
        """
        with self._mutex:
            self._require_shut(self._records.get(compartment_id), "deposit")
            return self._records.confirm_deposit(compartment_id)

    def abandon_deposit(self, compartment_id: str, why: str) -> Compartment:
        """A deposit's session ended before submit with nobody at the door (the citizen walked
        away, the kiosk failed or stopped): keep the compartment for staff; nothing opens.

        RESERVED or HOLDING_DEPOSIT for a deposit becomes an abandoned HOLDING_DEPOSIT: never
        allocated, the would-be application kept as `abandoned_application_no` (journalled as
        `deposit_abandoned`), `application_no` cleared since no application exists. A door
        question still pending is closed as unanswered. An alarm (`DEPOSIT_ABANDONED`) asks staff
        to collect the papers in service mode, which opens the door and releases it. `why` (idle,
        fatal, stop, ...) goes into the alarm. Again for the same compartment: no change.
        """
        with self._mutex:
            slot = self._records.get(compartment_id)
            if slot.abandoned_application_no is not None:
                return replace(slot)
            confirmed = slot.state == State.HOLDING_DEPOSIT
            unanswered = slot.id in self.opener.awaiting_answer()
            new = self._records.abandon_deposit(slot.id)
            self.opener.abandon(slot.id)
            number = new.abandoned_application_no or "unknown"
            if confirmed:
                what = "originals were deposited and the door confirmed shut; it was not reopened"
            else:
                what = (
                    "the door was opened for the originals, but the deposit was never confirmed"
                    + (" (nobody said whether the door opened)" if unanswered else "")
                    + "; papers may be inside and the door may stand open"
                )
            self._alarm(
                DEPOSIT_ABANDONED,
                slot.id,
                f"deposit abandoned ({why}): {what}; application {number} was never submitted. "
                "The compartment takes no new deposit until staff collect the papers in "
                "service mode and keep them for the citizen.",
            )
            return new

    def release(self, compartment_id: str) -> Compartment:
        """Staff emptied the compartment or a reservation was cancelled: back to EMPTY."""
        with self._mutex:
            return self._records.release(compartment_id)

    # ---- results -------------------------------------------------------------------

    def reserve_for_result(
        self, load_id: str, application_no: str, size: Size, holder_ref: str | None = None
    ) -> Compartment:
        """Reserve a compartment for a result; the same load_id always gets the same one.

        With ``holder_ref`` (the applicant digest) the result opens only for that holder's
        verified card (`open_claimed`); without it the code alone opens it.
        """
        with self._mutex:
            return self._records.reserve_for_result(load_id, application_no, size, holder_ref)

    def confirm_result_loaded(self, load_id: str) -> Compartment:
        """Staff closed the door on the result: RESERVED(result) -> HOLDING_RESULT.

        A sensed door must read shut first (DoorStillOpen), see `_require_shut`.
        """
        with self._mutex:
            self._require_shut(self._records.require_load(load_id), "result loaded")
            return self._records.confirm_result_loaded(load_id)

    def set_pickup_code(
        self, load_id: str, digest: str, expires_at: float, tail_digest: str | None = None
    ) -> Compartment:
        """Set or rotate the pickup code's digest; an earlier digest stops working.

        With ``tail_digest`` (the keyed digest of the applicant's phone tail, ADR 0011) the
        code opens only together with that tail. Only a new code unlocks a locked one.
        """
        with self._mutex:
            if tail_digest is not None and not self.keypad.checks_tails:
                raise ValueError("this keypad has no phone-tail digest to check a tail with")
            return self._records.set_pickup_code(load_id, digest, expires_at, tail_digest)

    def withdraw_result(self, load_id: str) -> Compartment:
        """Staff take the result back: its code stops working; it stays until released."""
        with self._mutex:
            return self._records.withdraw_result(load_id)

    # ---- pickup --------------------------------------------------------------------

    def pickup(self, code: str, phone_tail: str | None = None) -> Opened:
        """Open the compartment whose result matches ``code``; see docs/locker.md.

        A result with a holder is not opened by its code alone: IdentityRequired, and the
        caller goes through `check_code` and `open_claimed` with the holder's digest.
        """
        with self._mutex:
            claim = self.check_code(code, phone_tail)
            if claim.needs_identity:
                self.release_claim(claim)
                raise IdentityRequired(claim.compartment_id)
            return self.open_claimed(claim)

    def check_code(self, code: str, phone_tail: str | None = None) -> PickupClaim:
        """Judge a typed code and claim its compartment without opening it (`Keypad.check`).

        The right code for a compartment an operator locked raises CompartmentWithheld: it
        is not a wrong attempt, and nothing is claimed.
        """
        with self._mutex:
            claim = self.keypad.check(
                code,
                list(self._slots.values()),
                self._clock(),
                phone_tail=phone_tail,
                awaiting_answer=self.opener.awaiting_pickups(),
            )
            self._refuse_if_withheld(claim)
            return claim

    def open_claimed(self, claim: PickupClaim, holder_ref: str | None = None) -> Opened:
        """Open the claimed compartment once the keypad admits it (`Keypad.admit`)."""
        with self._mutex:
            self._refuse_if_withheld(claim)  # locked while the citizen was at the card reader
            now = self._clock()
            slot = self.keypad.admit(claim, self._slots, holder_ref, now)
            return self._open_for_pickup(slot, now)

    def release_claim(self, claim: PickupClaim) -> None:
        """The citizen gave up before anything opened: the result and its code stay as they are."""
        with self._mutex:
            self.keypad.release(claim, self._clock())

    def _open_for_pickup(self, slot: Compartment, now: float) -> Opened:
        # Intent first: if we crash after the pulse, the restart knows a pickup was under
        # way and compares with the door instead of guessing.
        self._journal.append_compartment(OPENING, slot.id, slot.to_record(), now)
        earlier = slot.id in self._records.unconfirmed  # an opening nobody could confirm yet
        self._records.unconfirmed.add(slot.id)
        try:
            check = self._open_door(slot, PICKUP)
        except DoorJammed:
            raise  # already out of service, with its contents on record
        except OpeningUnconfirmed:
            self._pickup_unconfirmed(slot)
            raise
        except LockerFault:
            # Its sensor saw the door stay shut this time; an earlier opening stays unconfirmed.
            if not earlier:
                self._opening_failed(slot)
            raise
        opened = Opened(slot.id, slot.application_no or "", slot.load_id, check)
        if check.awaiting:
            return opened  # HOLDING_RESULT until the citizen says whether the door opened
        self._records.picked_up(slot)
        return opened

    # ---- doors ---------------------------------------------------------------------

    def confirm_opening(self, compartment_id: str) -> Opened | None:
        """The person at an unsensed door says it opened; a pickup becomes picked up."""
        with self._mutex:
            slot = self._records.get(compartment_id)
            if self.opener.confirmed(slot.id) != PICKUP:
                return None
            opened = Opened(slot.id, slot.application_no or "", slot.load_id, DoorCheck.CITIZEN)
            self._records.picked_up(slot)
            return opened

    def report_not_opened(self, compartment_id: str) -> DoorCheck:
        """The person says the door did not open: pulse once more, then out of service.

        A board that fails on that pulse leaves a pickup unconfirmed (OpeningUnconfirmed): the
        first pulse went through, and only the person's word says the door stayed shut.
        """
        with self._mutex:
            slot = self._records.get(compartment_id)
            purpose = self.opener.purpose_awaiting(slot.id)
            try:
                return self.opener.not_opened(slot)
            except DoorStayedShut:
                # Only the person's word says so: flag it, a "No" twice is all it takes.
                raise self._jammed(
                    slot,
                    f"no sensor saw it: the person at the door ({purpose}) answered twice that "
                    "it did not open, so it may have opened; check the door and what is inside",
                ) from None
            except OpeningUnconfirmed:
                if purpose == PICKUP:
                    self._pickup_unconfirmed(slot)
                raise

    def abandon_opening(self, compartment_id: str) -> None:
        """Nobody answered whether the door opened: keep the contents, alarm if a pickup."""
        with self._mutex:
            self.opener.abandon(compartment_id)

    def awaiting_answer(self) -> list[str]:
        """Compartments pulsed without a sensor whose opening nobody has confirmed yet."""
        with self._mutex:
            return self.opener.awaiting_answer()

    # ---- operations ----------------------------------------------------------------

    def hold(self, compartment_id: str, *, locked: bool) -> None:
        """An operator took a compartment out of service: no new deposit or result goes in;
        `locked`: its door opens for no code either. Its contents and state stay as they are."""
        with self._mutex:
            self._records.get(compartment_id)  # UnknownCompartment for an id not in the layout
            if self.held().get(compartment_id) == locked:
                return
            self._journal.append("operator_hold", compartment_id, {"locked": locked}, self._clock())
            self._records.held.add(compartment_id)
            if locked:
                self._withheld.add(compartment_id)
            else:
                self._withheld.discard(compartment_id)

    def unhold(self, compartment_id: str) -> None:
        """Back in service: the compartment is allocated and opened by its code again."""
        with self._mutex:
            self._records.get(compartment_id)
            if compartment_id not in self._records.held:
                return
            self._journal.append("operator_unhold", compartment_id, {}, self._clock())
            self._records.held.discard(compartment_id)
            self._withheld.discard(compartment_id)

    def held(self) -> dict[str, bool]:
        """The compartments an operator holds, each with whether its door is locked too."""
        with self._mutex:
            return {cid: cid in self._withheld for cid in sorted(self._records.held)}

    def _refuse_if_withheld(self, claim: PickupClaim) -> None:
        if claim.compartment_id in self._withheld:
            self.keypad.release(claim, self._clock())
            raise CompartmentWithheld(claim.compartment_id)

    def mark_out_of_service(self, compartment_id: str, reason: str) -> Compartment:
        """Take a compartment out of allocation and pickup; its contents stay recorded."""
        with self._mutex:
            return self._records.mark_out_of_service(compartment_id, reason)

    def compartments(self) -> list[Compartment]:
        """Copies of every compartment, in layout order."""
        with self._mutex:
            return [replace(slot) for slot in self._slots.values()]

    def summary(self) -> dict[str, int]:
        """Counts by state plus expired codes, for telemetry; no codes or application numbers."""
        with self._mutex:
            now = self._clock()
            counts = {state.value: 0 for state in State}
            for slot in self._slots.values():
                counts[slot.state.value] += 1
            counts["expired_codes"] = sum(
                1
                for s in self._slots.values()
                if s.state == State.HOLDING_RESULT
                and s.code_expires_at is not None
                and now >= s.code_expires_at
            )
            awaiting = set(self.opener.awaiting_answer())
            counts["unconfirmed_openings"] = len(self._records.unconfirmed - awaiting)
            return counts

    def lockout_remaining(self) -> float:
        """Seconds until the keypad accepts codes again (0 if not locked out)."""
        with self._mutex:
            return self.keypad.lockout_remaining(self._clock())

    def wrong_code_streak(self) -> int:
        """Consecutive wrong codes entered at this keypad."""
        with self._mutex:
            return self.keypad.streak.count

    def unconfirmed_openings(self) -> list[str]:
        """Compartments whose pickup nobody could confirm (a crash, no answer, a board failing
        after the pulse); staff must check them."""
        with self._mutex:
            return sorted(self._records.unconfirmed)

    # ---- internals -----------------------------------------------------------------

    def _require_shut(self, slot: Compartment, purpose: str) -> None:
        """A person says the door is shut on what they put in: a sensed door must read so within
        `close_confirm_s`. Taken as closed while open, a result was announced by SMS with its
        door ajar (anyone could take it), and the pickup pulsed a door that stood open."""
        if slot.state != State.RESERVED:
            return  # confirmed already, or refused by the records as it stands
        if self.doors.wait_shut(slot.id) == DoorState.OPEN:
            self._journal.append("door_still_open", slot.id, {"purpose": purpose}, self._clock())
            raise DoorStillOpen(slot.id)

    def _open_door(self, slot: Compartment, purpose: str) -> DoorCheck:
        try:
            return self.opener.open(slot, purpose)
        except DoorStayedShut:
            raise self._jammed(slot) from None

    def _opening_failed(self, slot: Compartment) -> None:
        """The board failed and the door was seen shut: nothing can have been taken."""
        self._journal.append_compartment("opening_failed", slot.id, slot.to_record(), self._clock())
        self._records.unconfirmed.discard(slot.id)

    def _pickup_unconfirmed(self, slot: Compartment) -> None:
        """The board failed after a pulse may have opened the door, as for an unanswered
        question: the result and its `opening` record stay (a restart compares with the door),
        it stays in `unconfirmed_openings`, and staff check whether it was emptied."""
        self._alarm(
            OPENING_UNCONFIRMED,
            slot.id,
            "the lock board failed after an unlock pulse for a pickup; check whether the "
            "compartment was emptied",
        )

    def _jammed(self, slot: Compartment, why: str | None = None) -> DoorJammed:
        holds = slot.state in (State.HOLDING_RESULT, State.HOLDING_DEPOSIT)
        self._records.commit(
            "out_of_service",
            replace(slot, state=State.OUT_OF_SERVICE, out_of_service_reason=JAMMED),
        )
        detail = f"{JAMMED}; compartment taken out of service"
        self._alarm(LOCK_FAULT, slot.id, f"{detail}; {why}" if why else detail)
        return DoorJammed(slot.id, holds)

    def _alarm(self, kind: str, compartment_id: str | None, detail: str) -> None:
        alarm = LockerAlarm(kind, compartment_id, detail)
        self._journal.append(
            "alarm", compartment_id, {"kind": kind, "detail": detail}, self._clock()
        )
        try:
            self._on_alarm(alarm)
        except Exception:
            # A broken alarm sink must not turn a refused code into an opened door or vice versa.
            log.exception("alarm handler failed for %s on %s", kind, compartment_id)
