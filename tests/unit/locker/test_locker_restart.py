"""A restart compares what the journal says was under way with the doors as they stand."""

import pytest

from locker.compartment import State
from locker.errors import DoorJammed
from locker.layout import Size, default_layout

CODE = "55556666"


class PowerCut(BaseException):
    """The terminal losing power: nothing after the line that raised it runs."""


def cut_power_after_the_pulse(rig):
    """The next time anything reads the clock after a pulse, the power is gone."""
    clock = rig.clock
    pulses = len(rig.board.pulses)

    class Cutting(type(clock)):
        def __call__(self):
            if len(rig.board.pulses) > pulses:
                raise PowerCut()
            return clock.now

    return Cutting(clock.now)


def slot_of(bank, compartment_id):
    return next(c for c in bank.compartments() if c.id == compartment_id)


def crash_mid_pickup(rig):
    """Pulse the lock, then lose power before the door is confirmed open."""
    rig.load_result("L-1", CODE)
    doomed = rig.start(monotonic=cut_power_after_the_pulse(rig))
    with pytest.raises(PowerCut):
        doomed.pickup(CODE)
    # The doomed bank is abandoned; a new one starts on the same journal and the same doors.


def test_a_power_cut_with_the_door_standing_open_is_recovered_as_a_pickup(rig):
    crash_mid_pickup(rig)
    assert rig.board.door(1).is_open
    bank = rig.restart()
    slot = slot_of(bank, "A01")
    assert (slot.state, slot.load_id) == (State.EMPTY, None)
    assert bank.unconfirmed_openings() == []
    assert rig.alarms == []  # the open door is the interrupted pickup, not a forced door
    records = [r for r in rig.journals[-1].records() if r.compartment_id == "A01"]
    assert [r.event for r in records][-3:] == ["opening", "door_confirmed", "picked_up"]
    assert records[-2].body == {"by": "sensor", "at_restart": True}
    with pytest.raises(Exception, match="already completed"):
        bank.reserve_for_result("L-1", "APP-L-1", Size.S)  # a late duplicate load


def test_a_power_cut_with_the_door_shut_keeps_the_result_and_asks_staff_to_look(rig):
    crash_mid_pickup(rig)
    rig.board.door(1).close()  # opened and shut again during the outage, or never opened
    bank = rig.restart()
    assert slot_of(bank, "A01").state == State.HOLDING_RESULT
    assert bank.unconfirmed_openings() == ["A01"]
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [("opening_unconfirmed", "A01")]
    assert "door closed at restart" in rig.alarms[0].detail


def test_a_power_cut_on_an_unsensed_door_keeps_the_opening_unconfirmed(rig):
    rig.layout = default_layout()
    rig.restart()
    rig.load_result("L-1", CODE)
    rig.bank.pickup(CODE)  # awaiting the citizen's answer when the power goes
    bank = rig.restart()
    assert slot_of(bank, "A01").state == State.HOLDING_RESULT
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [("opening_unconfirmed", "A01")]
    assert "door unsensed at restart" in rig.alarms[0].detail


def test_a_door_found_open_with_nothing_under_way_is_a_forced_door(rig):
    rig.board.door(4).force()
    rig.restart()
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [("door_forced", "A04")]
    rig.bank.doors.poll()
    assert len(rig.alarms) == 1  # one alarm per opening, not per poll


def test_an_interrupted_staff_opening_is_not_taken_for_a_forced_door(rig):
    slot = rig.bank.reserve_for_deposit("APP-1", Size.S)
    doomed = rig.start(monotonic=cut_power_after_the_pulse(rig))
    with pytest.raises(PowerCut):
        doomed.open(slot.id, reason="deposit")
    rig.restart()
    assert rig.alarms == []
    [outcome] = [r for r in rig.journals[-1].records() if r.event == "door_outcome"]
    assert outcome.body == {"door": "open", "at_restart": True}


def test_an_out_of_service_compartment_stays_out_of_service(rig):
    rig.load_result("L-1", CODE)
    rig.board.door(1).jam()
    with pytest.raises(DoorJammed):
        rig.bank.pickup(CODE)
    bank = rig.restart()
    slot = slot_of(bank, "A01")
    assert (slot.state, slot.load_id) == (State.OUT_OF_SERVICE, "L-1")
    assert bank.unconfirmed_openings() == []
