"""Door supervision: forced doors, doors left open and silent boards, one alarm per event."""

import threading

from cloud_bridge.link import wait_until
from devices.lock.emulated import EmulatedDoorBoard
from locker.boards import BoardSet
from locker.config import SupervisionSettings
from locker.layout import default_layout
from locker.supervision import DoorState, DoorSupervisor


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds

    sleep = advance


SETTINGS = SupervisionSettings(open_confirm_s=3.0, door_left_open_s=120.0, poll_interval_s=0.01)


def supervisor(sensed=True):
    clock = FakeClock()
    board = EmulatedDoorBoard(16, clock=clock, close_after_s=None)
    alarms = []
    sup = DoorSupervisor(
        default_layout(sensed=sensed),
        BoardSet.single(board),
        settings=SETTINGS,
        on_alarm=lambda kind, cid, detail: alarms.append((kind, cid)),
        monotonic=clock,
        sleep=clock.sleep,
    )
    return sup, board, clock, alarms


def test_a_door_opened_by_nobody_raises_one_forced_alarm_per_opening():
    sup, board, _clock, alarms = supervisor()
    sup.poll()
    board.door(2).force()
    sup.poll()
    sup.poll()
    assert alarms == [("door_forced", "A02")]
    board.door(2).close()
    sup.poll()
    board.door(2).force()
    sup.poll()
    assert alarms == [("door_forced", "A02"), ("door_forced", "A02")]


def test_a_commanded_opening_is_not_forced():
    sup, board, _clock, alarms = supervisor()
    sup.poll()
    sup.expect("A03")
    board.unlock(3, 500)
    assert sup.wait_open("A03") == DoorState.OPEN
    sup.settle("A03")
    sup.poll()
    assert alarms == []


def test_a_door_left_open_raises_one_alarm_per_opening_after_the_limit():
    sup, board, clock, alarms = supervisor()
    sup.expect("A01")
    board.unlock(1, 500)
    sup.poll()
    clock.advance(119)
    sup.poll()
    assert alarms == []
    clock.advance(1)
    sup.poll()
    clock.advance(600)
    sup.poll()
    assert alarms == [("door_left_open", "A01")]
    board.door(1).close()
    sup.poll()
    board.unlock(1, 500)
    sup.poll()
    clock.advance(120)
    sup.poll()
    assert alarms == [("door_left_open", "A01")] * 2


def test_wait_open_gives_up_after_the_limit_and_reports_a_silent_board_at_once():
    sup, board, clock, alarms = supervisor()
    board.door(5).jam()
    board.unlock(5, 500)
    start = clock.now
    assert sup.wait_open("A05") == DoorState.CLOSED
    assert clock.now - start >= SETTINGS.open_confirm_s
    board.unplug()
    start = clock.now
    assert sup.wait_open("A05") == DoorState.UNKNOWN
    assert clock.now == start
    assert alarms == [("device_fault", None)]


def test_a_door_forced_while_its_board_was_silent_is_caught_when_it_answers_again():
    sup, board, _clock, alarms = supervisor()
    sup.poll()
    board.unplug()
    sup.poll()
    sup.poll()
    assert sup.state("A06") == DoorState.UNKNOWN
    board.door(6).force()
    board.plug()
    sup.poll()
    assert alarms == [("device_fault", None), ("door_forced", "A06")]


def test_doors_without_sensors_are_unsensed_and_never_read():
    sup, board, _clock, alarms = supervisor(sensed=False)
    board.unplug()
    assert set(sup.poll().values()) == {DoorState.UNSENSED}
    assert sup.wait_open("A01") == DoorState.UNSENSED
    assert alarms == []
    sup.start()
    assert not sup.running  # nothing to watch, no thread


def test_the_worker_thread_raises_alarms_by_itself_and_stops_cleanly():
    sup, board, _clock, alarms = supervisor()
    sup.poll()
    sup.start()
    assert sup.running
    board.door(7).force()
    assert wait_until(lambda: ("door_forced", "A07") in alarms, 5)
    sup.stop()
    assert not sup.running
    assert not any(t.name == "door-supervisor" for t in threading.enumerate())
