"""Journal: a restart rebuilds the bank exactly, codes never reach disk, crashes lose nothing."""

import sqlite3

import pytest

from devices.lock import EmulatedLockBoard
from locker.bank import LockerBank
from locker.compartment import State
from locker.errors import InvalidTransition, LayoutError, WrongCode
from locker.journal import LockerJournal
from locker.layout import Size, default_layout

CODE = "73915046"


class PowerCut(BaseException):
    """The terminal losing power mid-call: nothing after this line runs."""


class BoardThatLosesPower(EmulatedLockBoard):
    """Drives the lock, then the power goes before the bank can record the outcome."""

    def unlock(self, channel: int, pulse_ms: int) -> None:
        super().unlock(channel, pulse_ms)
        raise PowerCut()


def test_a_restart_rebuilds_compartments_digests_and_expiry(rig):
    rig.bank.reserve_for_deposit("APP-1", Size.M)
    rig.bank.confirm_deposit("A05")
    rig.load_result("L-1", CODE)
    rig.bank.mark_out_of_service("A09", "door sensor stuck")
    before = rig.bank.compartments()
    after = rig.restart().compartments()
    assert after == before
    assert after[0].code_digest == rig.digest(CODE)
    assert rig.bank.pickup(CODE).load_id == "L-1"


def test_a_restart_keeps_the_wrong_code_streak_and_lockout(rig):
    rig.load_result("L-1", CODE)
    for _ in range(4):
        with pytest.raises(WrongCode):
            rig.bank.pickup("00000000")
    rig.clock.advance(10)
    bank = rig.restart()
    assert bank.wrong_code_streak() == 4
    assert bank.lockout_remaining() == 20
    rig.clock.advance(20)
    with pytest.raises(WrongCode) as caught:
        bank.pickup("00000000")
    # Fifth in the streak: the delay keeps doubling and the alarm fires exactly once.
    assert caught.value.retry_after == 60
    assert [a.kind for a in rig.alarms] == ["wrong_code_limit"]


def test_a_restart_remembers_finished_loads(rig):
    rig.load_result("L-1", CODE)
    rig.bank.pickup(CODE)
    bank = rig.restart()
    with pytest.raises(InvalidTransition, match="already completed"):
        bank.reserve_for_result("L-1", "APP-L-1", Size.S)


def test_the_journal_never_holds_the_code_in_clear(rig):
    rig.load_result("L-1", CODE)
    with pytest.raises(WrongCode):
        rig.bank.pickup(CODE[::-1])
    rig.bank.pickup(CODE)
    for journal in rig.journals:
        journal.close()
    files = sorted(rig.path.parent.glob(rig.path.name + "*"))
    stored = b"".join(f.read_bytes() for f in files)
    # The digest being there proves we read the bytes the journal wrote.
    assert rig.digest(CODE).encode() in stored
    assert CODE.encode() not in stored
    assert CODE[::-1].encode() not in stored


def test_the_journal_is_append_only(rig):
    rig.bank.reserve_for_deposit("APP-1", Size.S)
    db = sqlite3.connect(rig.path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE locker_records SET body = '{}'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM locker_records")
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_a_crash_between_pulse_and_record_keeps_the_result_and_raises_an_alarm(rig):
    rig.load_result("L-1", CODE)
    rig.journals[-1].close()
    journal = LockerJournal(rig.path)
    rig.journals.append(journal)
    crashing = LockerBank(
        default_layout(), journal, BoardThatLosesPower(), code_digest=rig.digest, clock=rig.clock
    )
    with pytest.raises(PowerCut):
        crashing.pickup(CODE)
    bank = rig.restart()
    slot = bank.compartments()[0]
    # The door may or may not have opened: keep the result, ask staff to look.
    assert (slot.state, slot.load_id) == (State.HOLDING_RESULT, "L-1")
    assert bank.unconfirmed_openings() == ["A01"]
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [("opening_unconfirmed", "A01")]
    assert bank.summary()["unconfirmed_openings"] == 1
    assert bank.pickup(CODE).compartment_id == "A01"
    assert bank.unconfirmed_openings() == []


def test_a_restart_refuses_a_layout_that_drops_an_occupied_compartment(rig):
    rig.load_result("L-1", CODE, size=Size.L)
    smaller = [spec for spec in default_layout() if spec.size != Size.L]
    with pytest.raises(LayoutError, match="A08"):
        rig.restart(layout=smaller)


def test_a_restart_accepts_a_layout_that_drops_only_empty_compartments(rig):
    rig.bank.reserve_for_deposit("APP-1", Size.L)
    rig.bank.release("A08")
    smaller = [spec for spec in default_layout() if spec.size != Size.L]
    assert len(rig.restart(layout=smaller).compartments()) == 7
