"""The compartments as journalled: their transitions, lookups, allocation, journal-first commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from locker.compartment import DEPOSIT, RESULT, Compartment, State
from locker.errors import (
    CodeCollision,
    InvalidTransition,
    LayoutError,
    NoCompartmentFree,
    UnknownCompartment,
    UnknownLoad,
)
from locker.journal import JournalState, LockerJournal
from locker.keypad import same_digest
from locker.layout import CompartmentSpec, Size


class CompartmentRecords:
    """Every compartment of one bank, changed only by writing the journal first."""

    def __init__(
        self, layout: list[CompartmentSpec], journal: LockerJournal, clock: Callable[[], float]
    ) -> None:
        self._journal = journal
        self._clock = clock
        self.slots = {spec.id: Compartment(spec=spec) for spec in layout}
        if len(self.slots) != len(layout):
            raise LayoutError("compartment ids in the layout are not unique")
        self.finished_loads: set[str] = set()
        # Pickups interrupted by a crash, a door nobody answered for, or a board failing after
        # the pulse: staff must check them.
        self.unconfirmed: set[str] = set()
        # Compartments an operator took out of service: never allocated (terminal.service_state).
        self.held: set[str] = set()

    def restore(self, state: JournalState) -> None:
        """Take up each compartment's latest journal record."""
        for cid, record in state.compartments.items():
            if cid not in self.slots:
                if record["state"] != State.EMPTY:
                    # Dropping it would forget a citizen's papers or result inside.
                    raise LayoutError(
                        f"compartment {cid} is {record['state']} in the journal but missing "
                        "from the layout; restore it to the layout or release it first"
                    )
                continue
            self.slots[cid] = Compartment.from_record(self.slots[cid].spec, record)
        active = {c.load_id for c in self.slots.values() if c.load_id}
        self.finished_loads = state.seen_load_ids - active

    # ---- transitions (the bank calls these under its lock) ----------------------

    def reserve_for_deposit(self, application_no: str, size: Size) -> Compartment:
        """Reserve the smallest free compartment that fits, for a citizen's paper originals."""
        slot = self.allocate(size)
        new = replace(
            slot.cleared(self._clock()),
            state=State.RESERVED,
            application_no=application_no,
            purpose=DEPOSIT,
        )
        return self.commit("reserved_for_deposit", new)

    def confirm_deposit(self, compartment_id: str) -> Compartment:
        """The citizen closed the door on their originals: RESERVED(deposit) -> HOLDING_DEPOSIT."""
        slot = self.get(compartment_id)
        if slot.state == State.HOLDING_DEPOSIT:
            return replace(slot)
        self.require(slot, State.RESERVED, DEPOSIT, "confirm a deposit")
        return self.commit("deposit_confirmed", replace(slot, state=State.HOLDING_DEPOSIT))

    def abandon_deposit(self, compartment_id: str) -> Compartment:
        """Its session ended before submit: RESERVED or HOLDING_DEPOSIT (deposit) -> an abandoned
        HOLDING_DEPOSIT, the would-be application kept as `abandoned_application_no`."""
        slot = self.get(compartment_id)
        if slot.abandoned_application_no is not None:
            return replace(slot)
        if slot.purpose != DEPOSIT or slot.state not in (State.RESERVED, State.HOLDING_DEPOSIT):
            raise InvalidTransition(
                f"Cannot abandon a deposit: compartment {slot.id} is {slot.state}"
                f"{f' for a {slot.purpose}' if slot.purpose else ''}."
            )
        new = replace(
            slot,
            state=State.HOLDING_DEPOSIT,
            application_no=None,
            abandoned_application_no=slot.application_no or "",
        )
        return self.commit("deposit_abandoned", new)

    def release(self, compartment_id: str) -> Compartment:
        """Staff emptied the compartment or a reservation was cancelled: back to EMPTY."""
        slot = self.get(compartment_id)
        if slot.state == State.EMPTY:
            return replace(slot)
        return self.commit("released", slot.cleared(self._clock()))

    def reserve_for_result(
        self, load_id: str, application_no: str, size: Size, holder_ref: str | None = None
    ) -> Compartment:
        """Reserve a compartment for a result; the same load_id always gets the same one.

        With ``holder_ref`` (the applicant digest) the result opens only for that holder's
        verified card (`open_claimed`); without it the code alone opens it.
        """
        existing = self.by_load(load_id)
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
        if load_id in self.finished_loads:
            # A late duplicate of a finished load must not reserve a second compartment.
            raise InvalidTransition(f"Load {load_id!r} was already completed here.")
        slot = self.allocate(size)
        new = replace(
            slot.cleared(self._clock()),
            state=State.RESERVED,
            application_no=application_no,
            load_id=load_id,
            purpose=RESULT,
            holder_ref=holder_ref,
        )
        return self.commit("reserved_for_result", new)

    def confirm_result_loaded(self, load_id: str) -> Compartment:
        """Staff closed the door on the result: RESERVED(result) -> HOLDING_RESULT."""
        slot = self.require_load(load_id)
        if slot.state == State.HOLDING_RESULT:
            return replace(slot)
        self.require(slot, State.RESERVED, RESULT, "confirm a loaded result")
        return self.commit("result_loaded", replace(slot, state=State.HOLDING_RESULT))

    def set_pickup_code(
        self, load_id: str, digest: str, expires_at: float, tail_digest: str | None = None
    ) -> Compartment:
        """Set or rotate the pickup code's digest (and its phone-tail digest); see the bank."""
        slot = self.require_load(load_id)
        if slot.state not in (State.RESERVED, State.HOLDING_RESULT) or slot.withdrawn:
            # After a withdrawal a late duplicate must not bring the code back to life.
            raise InvalidTransition(
                f"Cannot set a pickup code for load {load_id!r}: compartment {slot.id} is "
                f"{slot.state}{' (withdrawn)' if slot.withdrawn else ''}."
            )
        if not digest:
            raise ValueError("a pickup code digest must not be empty")
        if tail_digest is not None and not tail_digest:
            raise ValueError("a phone-tail digest must not be empty")
        for other in self.slots.values():
            if (
                other.id != slot.id
                and other.code_digest is not None
                and same_digest(other.code_digest, digest)
            ):
                raise CodeCollision(load_id)
        same_code = slot.code_digest == digest
        if same_code and (slot.code_expires_at, slot.tail_digest) == (expires_at, tail_digest):
            return replace(slot)
        new = replace(
            slot,
            code_digest=digest,
            code_expires_at=float(expires_at),
            tail_digest=tail_digest,
            # Only a new code unlocks: the same code sent again stays as locked as it was.
            code_locked=slot.code_locked and same_code,
        )
        return self.commit("pickup_code_set", new)

    def withdraw_result(self, load_id: str) -> Compartment:
        """Staff take the result back: its code stops working; it stays until released."""
        slot = self.require_load(load_id)
        if slot.withdrawn:
            return replace(slot)
        new = replace(
            slot, withdrawn=True, code_digest=None, code_expires_at=None, tail_digest=None
        )
        return self.commit("result_withdrawn", new)

    def mark_out_of_service(self, compartment_id: str, reason: str) -> Compartment:
        """Take a compartment out of allocation and pickup; its contents stay recorded."""
        slot = self.get(compartment_id)
        new = replace(slot, state=State.OUT_OF_SERVICE, out_of_service_reason=reason)
        return self.commit("out_of_service", new)

    def lock_code(self, compartment_id: str) -> Compartment:
        """Too many wrong attempts addressed this compartment: its code opens nothing more."""
        slot = self.get(compartment_id)
        if slot.code_locked or slot.code_digest is None:
            return replace(slot)
        return self.commit("pickup_code_locked", replace(slot, code_locked=True))

    # ---- lookups -----------------------------------------------------------------

    def get(self, compartment_id: str) -> Compartment:
        """The live compartment with this id; UnknownCompartment otherwise."""
        try:
            return self.slots[compartment_id]
        except KeyError:
            raise UnknownCompartment(compartment_id) from None

    def by_load(self, load_id: str) -> Compartment | None:
        """The compartment reserved for or holding this load, if any."""
        return next((s for s in self.slots.values() if s.load_id == load_id), None)

    def require_load(self, load_id: str) -> Compartment:
        """The compartment of this load; UnknownLoad otherwise."""
        slot = self.by_load(load_id)
        if slot is None:
            raise UnknownLoad(load_id)
        return slot

    def allocate(self, size: Size) -> Compartment:
        """The smallest free compartment that fits and is not held; NoCompartmentFree otherwise."""
        size = Size(size)
        free = [
            s
            for s in self.slots.values()
            if s.state == State.EMPTY and s.spec.size >= size and s.id not in self.held
        ]
        if not free:
            raise NoCompartmentFree(size.value)
        # Smallest that fits keeps large compartments for large items; layout order breaks ties.
        return min(free, key=lambda s: s.spec.size.rank)

    def commit(self, event: str, new: Compartment) -> Compartment:
        """Journal the compartment's new state, then take it up; return a copy."""
        new.updated_at = self._clock()
        self._journal.append_compartment(event, new.id, new.to_record(), new.updated_at)
        self.slots[new.id] = new
        self.unconfirmed.discard(new.id)
        return replace(new)

    def picked_up(self, slot: Compartment) -> None:
        """The result left its compartment: empty it and remember its load as finished."""
        if slot.load_id:
            self.finished_loads.add(slot.load_id)
        self.commit("picked_up", slot.cleared(self._clock()))

    @staticmethod
    def require(slot: Compartment, state: State, purpose: str, action: str) -> None:
        """InvalidTransition unless the compartment is in ``state`` for ``purpose``."""
        if slot.state != state or slot.purpose != purpose:
            raise InvalidTransition(
                f"Cannot {action}: compartment {slot.id} is {slot.state}"
                f"{f' for a {slot.purpose}' if slot.purpose else ''}."
            )
