"""Staff service mode: put results into reserved compartments, collect deposited originals."""

from __future__ import annotations

from cloud_bridge.contract import messages as m
from locker.compartment import Compartment, State
from locker.errors import LockerError
from terminal.flows.session import FlowError, TerminalParts


class StaffServiceFlow:
    """What a clerk or courier does at the terminal with a staff credential."""

    def __init__(self, parts: TerminalParts):
        self.parts = parts

    def pending_loads(self) -> list[Compartment]:
        """Compartments reserved for results the backend asked to load."""
        return [
            c for c in self.parts.locker.compartments() if c.state == State.RESERVED and c.load_id
        ]

    def open_for_load(self, load_id: str) -> str:
        """Open the compartment reserved for this load so the result can go in."""
        slot = next((c for c in self.pending_loads() if c.load_id == load_id), None)
        if slot is None:
            raise FlowError(f"No compartment is waiting for load {load_id}.")
        try:
            self.parts.locker.open(slot.id, reason="staff load")
        except LockerError as exc:
            raise FlowError(str(exc)) from exc
        return slot.id

    def confirm_loaded(self, load_id: str) -> Compartment:
        """The result is inside and the door is shut: tell the backend, which sends the code."""
        p = self.parts
        self._door_seen_open(load_id)
        slot = p.locker.confirm_result_loaded(load_id)
        assert slot.application_no
        p.outbox.put(
            m.ResultLoaded(
                terminal_id=p.terminal_id,
                operation_id=load_id,
                load_id=load_id,
                application_no=slot.application_no,
                compartment_id=slot.id,
                loaded_at=p.clock(),
            )
        )
        return slot

    def load_all_pending(self) -> list[Compartment]:
        """Open, fill and close every pending load in turn (what a courier does)."""
        done = []
        for slot in self.pending_loads():
            assert slot.load_id
            self.open_for_load(slot.load_id)
            done.append(self.confirm_loaded(slot.load_id))
        return done

    def deposits(self) -> list[Compartment]:
        return [c for c in self.parts.locker.compartments() if c.state == State.HOLDING_DEPOSIT]

    def collect_deposit(self, compartment_id: str) -> None:
        """Open a compartment holding originals and mark it empty once collected."""
        try:
            self.parts.locker.open(compartment_id, reason="staff collect")
        except LockerError as exc:
            raise FlowError(str(exc)) from exc
        self._door_seen_open(compartment_id)
        self.parts.locker.release(compartment_id)

    def _door_seen_open(self, key: str) -> None:
        """Staff confirming the work is done also confirms an unsensed door opened."""
        locker = self.parts.locker
        cid = next((c.id for c in locker.compartments() if key in (c.id, c.load_id)), None)
        if cid is not None and cid in locker.awaiting_answer():
            locker.confirm_opening(cid)
