"""The spring-latch door model the board emulators drive."""

from __future__ import annotations

from lockdev_clock import SteppedClock

from devices.lock.door import PhysicalDoor


def test_a_pulse_springs_the_door_open_until_the_person_closes_it():
    clock = SteppedClock()
    door = PhysicalDoor(clock=clock, close_after_s=2.0)
    assert not door.is_open
    door.pulse()
    assert door.is_open
    clock.advance(1.99)
    assert door.is_open
    clock.advance(0.01)
    assert not door.is_open
    assert (door.pulses, door.openings, door.forced) == (1, 1, 0)


def test_a_door_nobody_closes_stays_open():
    clock = SteppedClock()
    door = PhysicalDoor(clock=clock, close_after_s=None)
    door.pulse()
    clock.advance(3600)
    assert door.is_open
    door.close()
    assert not door.is_open


def test_a_pulse_on_an_open_door_is_counted_but_is_not_a_second_opening():
    clock = SteppedClock()
    door = PhysicalDoor(clock=clock, close_after_s=5)
    door.pulse()
    clock.advance(1)
    door.pulse()
    assert (door.pulses, door.openings) == (2, 1)
    clock.advance(4)  # still timed from the first opening
    assert not door.is_open


def test_a_jammed_door_takes_the_pulse_and_stays_shut_until_unjammed():
    clock = SteppedClock()
    door = PhysicalDoor(clock=clock, jammed=False)
    door.jam()
    door.pulse()
    assert not door.is_open
    assert (door.pulses, door.openings) == (1, 0)
    door.unjam()
    door.pulse()
    assert door.is_open
    assert door.openings == 1


def test_a_forced_door_opens_without_a_pulse_and_is_counted_as_forced():
    clock = SteppedClock()
    door = PhysicalDoor(clock=clock, close_after_s=1)
    door.force()
    assert door.is_open
    assert (door.pulses, door.openings, door.forced) == (0, 1, 1)
    door.force()  # already open: prying further is not a second opening
    assert door.forced == 1
    clock.advance(1)
    assert not door.is_open


def test_the_person_can_shut_a_door_early_and_it_relatches():
    clock = SteppedClock()
    door = PhysicalDoor(clock=clock, close_after_s=10)
    door.pulse()
    door.close()
    assert not door.is_open
    door.pulse()
    assert door.is_open
    assert door.openings == 2
