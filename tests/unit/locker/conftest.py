"""Fixtures for the locker unit tests: a fake clock, an emulated door board, a tmp_path journal."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devices.lock.emulated import EmulatedDoorBoard
from locker.bank import AttemptPolicy, LockerAlarm, LockerBank
from locker.compartment import Compartment
from locker.journal import LockerJournal
from locker.layout import CompartmentSpec, Size, default_layout

T0 = 1_700_000_000.0
DAY = 86_400.0


def code_digest(code: str) -> str:
    """The keyed hash the terminal's wiring provides."""
    return hmac.new(b"k", code.encode(), "sha256").hexdigest()


def tail_digest(load_id: str, tail: str) -> str:
    """The keyed digest of a phone tail, bound to its load, as the terminal's wiring provides."""
    return hmac.new(b"k", f"tail|{load_id}|{tail}".encode(), "sha256").hexdigest()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    sleep = advance  # the supervisor's sleep moves the fake clock instead of waiting


@dataclass
class Rig:
    """One terminal's locker bank on a real journal file, with its parts in reach."""

    path: Path
    clock: FakeClock
    board: EmulatedDoorBoard
    layout: list[CompartmentSpec] = field(default_factory=lambda: default_layout(sensed=True))
    alarms: list[LockerAlarm] = field(default_factory=list)
    journals: list[LockerJournal] = field(default_factory=list)
    bank: LockerBank = field(init=False)

    def __post_init__(self) -> None:
        self.bank = self.start()

    def start(self, **overrides: object) -> LockerBank:
        """Open the journal file and build a bank on it, as a terminal does at boot."""
        layout = overrides.pop("layout", self.layout)
        journal = LockerJournal(self.path)
        self.journals.append(journal)
        kwargs: dict[str, object] = {
            "code_digest": code_digest,
            "tail_digest": tail_digest,
            "clock": self.clock,
            "on_alarm": self.alarms.append,
            "policy": AttemptPolicy(),
            "monotonic": self.clock,
            "sleep": self.clock.sleep,
        }
        kwargs.update(overrides)
        return LockerBank(layout, journal, self.board, **kwargs)  # type: ignore[arg-type]

    @staticmethod
    def digest(code: str) -> str:
        """The digest the backend sends for ``code``."""
        return code_digest(code)

    def restart(self, **overrides: object) -> LockerBank:
        """Drop the bank and its journal connection, then boot a new one on the same file."""
        self.journals[-1].close()
        self.bank = self.start(**overrides)
        return self.bank

    def load_result(
        self,
        load_id: str,
        code: str,
        *,
        size: Size = Size.S,
        application_no: str | None = None,
        ttl: float = 3 * DAY,
        tail: str | None = None,
    ) -> Compartment:
        """Reserve, load and set a pickup code (with the phone tail's digest), as staff do."""
        app = application_no or f"APP-{load_id}"
        slot = self.bank.reserve_for_result(load_id, app, size)
        self.board.door(slot.spec.channel).close()  # staff shut it on the result
        self.bank.confirm_result_loaded(load_id)
        tail_ref = tail_digest(load_id, tail) if tail is not None else None
        return self.bank.set_pickup_code(load_id, code_digest(code), self.clock() + ttl, tail_ref)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock()
    # Nobody shuts a door unless a test says so: door states stay put between steps.
    board = EmulatedDoorBoard(16, clock=clock, close_after_s=None)
    rig = Rig(path=tmp_path / "locker.db", clock=clock, board=board)
    yield rig
    for journal in rig.journals:
        journal.close()
