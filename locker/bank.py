"""The locker bank: allocation, deposits, result loads, pickup by code, doors, and alarms."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from devices.lock.port import LockFault, LockPort
from locker.attempts import AttemptPolicy, AttemptStreak
from locker.boards import BoardSet
from locker.claims import WRONG_CODE_LIMIT, CodeClaims, PickupClaim
from locker.claims import same_digest as _same
from locker.compartment import DEPOSIT, RESULT, Compartment, State
from locker.config import SupervisionSettings
from locker.errors import (
    CodeCollision,
    DoorJammed,
    InvalidTransition,
    LayoutError,
    LockerFault,
    NoCompartmentFree,
    UnknownCompartment,
    UnknownLoad,
)
from locker.journal import DOOR_OPENING, OPENING, LockerJournal
from locker.layout import CompartmentSpec, Size
from locker.opening import (
    LOCK_FAULT,
    PICKUP,
    DoorCheck,
    DoorOpenings,
    LockerAlarm,
    Opened,
    Opening,
)
from locker.supervision import DoorSupervisor

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


class LockerBank(CodeClaims, DoorOpenings):
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
        self._code_digest = code_digest
        self._clock = clock
        self._on_alarm = on_alarm
        self._policy = policy
        self._pulse_ms = supervision.pulse_ms if pulse_ms is None else pulse_ms
        self._mutex = threading.RLock()
        self._slots = {spec.id: Compartment(spec=spec) for spec in layout}
        if len(self._slots) != len(layout):
            raise LayoutError("compartment ids in the layout are not unique")
        self._streak = AttemptStreak()
        self._claim: PickupClaim | None = None  # a checked code awaiting its holder's identity
        self._claim_digest: str | None = None
        self._unconfirmed: set[str] = set()
        self._openings: dict[str, Opening] = {}
        self._finished_loads: set[str] = set()
        self.doors = DoorSupervisor(
            layout,
            self.boards,
            settings=supervision,
            monotonic=monotonic,
            sleep=sleep,
            on_alarm=self._alarm,
        )
        self._restore()

    # ---- restart -------------------------------------------------------------------

    def _restore(self) -> None:
        state = self._journal.replay()
        for cid, record in state.compartments.items():
            if cid not in self._slots:
                if record["state"] != State.EMPTY:
                    # Dropping it would forget a citizen's papers or result inside.
                    raise LayoutError(
                        f"compartment {cid} is {record['state']} in the journal but missing "
                        "from the layout; restore it to the layout or release it first"
                    )
                continue
            self._slots[cid] = Compartment.from_record(self._slots[cid].spec, record)
        if state.attempts is not None:
            self._streak = AttemptStreak.from_record(state.attempts)
        active = {c.load_id for c in self._slots.values() if c.load_id}
        self._finished_loads = state.seen_load_ids - active
        pickups = sorted(
            cid
            for cid, event in state.last_event.items()
            if event == OPENING and cid in self._slots
        )
        opens = sorted(cid for cid in state.pending_door_openings if cid in self._slots)
        self._reconcile(pickups, opens)

    # ---- deposits --------------------------------------------------------------------

    def reserve_for_deposit(self, application_no: str, size: Size) -> Compartment:
        """Reserve the smallest free compartment that fits, for a citizen's paper originals."""
        with self._mutex:
            slot = self._allocate(size)
            new = replace(
                slot.cleared(self._clock()),
                state=State.RESERVED,
                application_no=application_no,
                purpose=DEPOSIT,
            )
            return self._commit("reserved_for_deposit", new)

    def open(self, compartment_id: str, *, reason: str = "service") -> DoorCheck:
        """Open a compartment's door (deposit, staff service, technician); state does not change.

        Returns CONFIRMED when the sensor saw the door open, or UNSENSED/SENSOR_FAILED when
        the person at the door must say (`confirm_opening` / `report_not_opened`). A door
        that stays shut after two pulses puts the compartment out of service: DoorJammed.
        """
        with self._mutex:
            slot = self._get(compartment_id)
            self._openings.pop(slot.id, None)
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
        """The citizen closed the door on their originals: RESERVED(deposit) -> HOLDING_DEPOSIT."""
        with self._mutex:
            slot = self._get(compartment_id)
            if slot.state == State.HOLDING_DEPOSIT:
                return replace(slot)
            self._require(slot, State.RESERVED, DEPOSIT, "confirm a deposit")
            return self._commit("deposit_confirmed", replace(slot, state=State.HOLDING_DEPOSIT))

    def release(self, compartment_id: str) -> Compartment:
        """Staff emptied the compartment or a reservation was cancelled: back to EMPTY."""
        with self._mutex:
            slot = self._get(compartment_id)
            if slot.state == State.EMPTY:
                return replace(slot)
            return self._commit("released", slot.cleared(self._clock()))

    # ---- results -------------------------------------------------------------------

    def reserve_for_result(
        self, load_id: str, application_no: str, size: Size, holder_ref: str | None = None
    ) -> Compartment:
        """Reserve a compartment for a result; the same load_id always gets the same one.

        With ``holder_ref`` (the applicant digest) the result opens only for that holder's
        verified card (`open_claimed`); without it the code alone opens it.
        """
        with self._mutex:
            existing = self._by_load(load_id)
            if existing is not None:
                if existing.application_no != application_no:
                    raise InvalidTransition(
                        f"Load {load_id!r} is already reserved for another application."
                    )
                if existing.holder_ref != holder_ref:
                    raise InvalidTransition(
                        f"Load {load_id!r} is already reserved with another pickup policy."
                    )
                return replace(existing)
            if load_id in self._finished_loads:
                # A late duplicate of a finished load must not reserve a second compartment.
                raise InvalidTransition(f"Load {load_id!r} was already completed here.")
            slot = self._allocate(size)
            new = replace(
                slot.cleared(self._clock()),
                state=State.RESERVED,
                application_no=application_no,
                load_id=load_id,
                purpose=RESULT,
                holder_ref=holder_ref,
            )
            return self._commit("reserved_for_result", new)

    def confirm_result_loaded(self, load_id: str) -> Compartment:
        """Staff closed the door on the result: RESERVED(result) -> HOLDING_RESULT."""
        with self._mutex:
            slot = self._require_load(load_id)
            if slot.state == State.HOLDING_RESULT:
                return replace(slot)
            self._require(slot, State.RESERVED, RESULT, "confirm a loaded result")
            return self._commit("result_loaded", replace(slot, state=State.HOLDING_RESULT))

    def set_pickup_code(self, load_id: str, digest: str, expires_at: float) -> Compartment:
        """Set or rotate the pickup code's digest; an earlier digest stops working."""
        with self._mutex:
            slot = self._require_load(load_id)
            if slot.state not in (State.RESERVED, State.HOLDING_RESULT) or slot.withdrawn:
                # After a withdrawal a late duplicate must not bring the code back to life.
                raise InvalidTransition(
                    f"Cannot set a pickup code for load {load_id!r}: compartment {slot.id} is "
                    f"{slot.state}{' (withdrawn)' if slot.withdrawn else ''}."
                )
            if not digest:
                raise ValueError("a pickup code digest must not be empty")
            for other in self._slots.values():
                if (
                    other.id != slot.id
                    and other.code_digest is not None
                    and _same(other.code_digest, digest)
                ):
                    raise CodeCollision(load_id)
            if slot.code_digest == digest and slot.code_expires_at == expires_at:
                return replace(slot)
            new = replace(slot, code_digest=digest, code_expires_at=float(expires_at))
            return self._commit("pickup_code_set", new)

    def withdraw_result(self, load_id: str) -> Compartment:
        """Staff take the result back: its code stops working; it stays until released."""
        with self._mutex:
            slot = self._require_load(load_id)
            if slot.withdrawn:
                return replace(slot)
            new = replace(slot, withdrawn=True, code_digest=None, code_expires_at=None)
            return self._commit("result_withdrawn", new)

    def _open_for_pickup(self, slot: Compartment, now: float) -> Opened:
        # Intent first: if we crash after the pulse, the restart knows a pickup was under
        # way and compares with the door instead of guessing.
        self._journal.append_compartment(OPENING, slot.id, slot.to_record(), now)
        self._unconfirmed.add(slot.id)
        try:
            check = self._open_door(slot, PICKUP)
        except DoorJammed:
            raise  # already out of service, with its contents on record
        except LockerFault:
            self._journal.append_compartment(
                "opening_failed", slot.id, slot.to_record(), self._clock()
            )
            self._unconfirmed.discard(slot.id)
            raise
        opened = Opened(slot.id, slot.application_no or "", slot.load_id, check)
        if check.awaiting:
            return opened  # HOLDING_RESULT until the citizen says whether the door opened
        return self._picked_up(slot, opened)

    def _picked_up(self, slot: Compartment, opened: Opened) -> Opened:
        if slot.load_id:
            self._finished_loads.add(slot.load_id)
        self._commit("picked_up", slot.cleared(self._clock()))
        return opened

    # ---- operations ----------------------------------------------------------------

    def mark_out_of_service(self, compartment_id: str, reason: str) -> Compartment:
        """Take a compartment out of allocation and pickup; its contents stay recorded."""
        with self._mutex:
            slot = self._get(compartment_id)
            new = replace(slot, state=State.OUT_OF_SERVICE, out_of_service_reason=reason)
            return self._commit("out_of_service", new)

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
            counts["unconfirmed_openings"] = len(self._unconfirmed - set(self._openings))
            return counts

    def lockout_remaining(self) -> float:
        """Seconds until the keypad accepts codes again (0 if not locked out)."""
        with self._mutex:
            return self._streak.remaining(self._policy, self._clock())

    def wrong_code_streak(self) -> int:
        """Consecutive wrong codes entered at this keypad."""
        with self._mutex:
            return self._streak.count

    def unconfirmed_openings(self) -> list[str]:
        """Compartments whose pickup was interrupted by a crash; staff must check them."""
        with self._mutex:
            return sorted(self._unconfirmed)

    # ---- internals -----------------------------------------------------------------

    def _allocate(self, size: Size) -> Compartment:
        size = Size(size)
        free = [s for s in self._slots.values() if s.state == State.EMPTY and s.spec.size >= size]
        if not free:
            raise NoCompartmentFree(size.value)
        # Smallest that fits keeps large compartments for large items; layout order breaks ties.
        return min(free, key=lambda s: s.spec.size.rank)

    def _get(self, compartment_id: str) -> Compartment:
        try:
            return self._slots[compartment_id]
        except KeyError:
            raise UnknownCompartment(compartment_id) from None

    def _by_load(self, load_id: str) -> Compartment | None:
        return next((s for s in self._slots.values() if s.load_id == load_id), None)

    def _require_load(self, load_id: str) -> Compartment:
        slot = self._by_load(load_id)
        if slot is None:
            raise UnknownLoad(load_id)
        return slot

    @staticmethod
    def _require(slot: Compartment, state: State, purpose: str, action: str) -> None:
        if slot.state != state or slot.purpose != purpose:
            raise InvalidTransition(
                f"Cannot {action}: compartment {slot.id} is {slot.state}"
                f"{f' for a {slot.purpose}' if slot.purpose else ''}."
            )

    def _commit(self, event: str, new: Compartment) -> Compartment:
        new.updated_at = self._clock()
        self._journal.append_compartment(event, new.id, new.to_record(), new.updated_at)
        self._slots[new.id] = new
        self._unconfirmed.discard(new.id)
        return replace(new)

    def _pulse(self, slot: Compartment) -> None:
        try:
            self.boards.unlock(slot.spec, slot.spec.pulse_ms or self._pulse_ms)
        except LockFault as exc:
            self._journal.append("lock_fault", slot.id, {"detail": str(exc)}, self._clock())
            self._alarm(LOCK_FAULT, slot.id, str(exc))
            raise LockerFault(slot.id, str(exc)) from exc

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
