"""The emulated lock board records what was driven and fails like an unplugged board."""

import threading

import pytest

from devices.lock import EmulatedLockBoard, LockFault, LockPort


def test_board_implements_the_lock_port():
    assert isinstance(EmulatedLockBoard(), LockPort)


def test_board_records_pulses_in_order():
    board = EmulatedLockBoard(channels=4)
    board.unlock(3, 500)
    board.unlock(1, 250)
    assert board.pulses == [(3, 500), (1, 250)]


def test_unplugged_board_refuses_and_drives_nothing_until_plugged_again():
    board = EmulatedLockBoard()
    board.unplug()
    with pytest.raises(LockFault, match="unplugged"):
        board.unlock(1, 500)
    assert board.pulses == []
    assert board.diagnostics()["connected"] is False
    board.plug()
    board.unlock(1, 500)
    assert board.pulses == [(1, 500)]


def test_board_refuses_a_channel_it_does_not_have():
    board = EmulatedLockBoard(channels=2)
    with pytest.raises(LockFault, match="channel 3"):
        board.unlock(3, 500)
    assert board.pulses == []
    assert board.diagnostics()["faults"] == 1


def test_diagnostics_report_name_channels_and_counts():
    board = EmulatedLockBoard(8, name="lobby-left")
    board.unlock(2, 100)
    report = board.diagnostics()
    assert report["name"] == "lobby-left"
    assert report["channels"] == 8
    assert report["pulses"] == 1
    assert report["last_error"] is None


def test_pulses_from_many_threads_are_all_recorded():
    board = EmulatedLockBoard(channels=8)

    def drive(channel: int) -> None:
        for _ in range(200):
            board.unlock(channel, 100)

    threads = [threading.Thread(target=drive, args=(c,)) for c in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(board.pulses) == 8 * 200
    assert sorted({c for c, _ in board.pulses}) == list(range(1, 9))
