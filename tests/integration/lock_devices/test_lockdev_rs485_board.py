"""The RS-485 lock-board driver against the pty that answers like the boards' firmware."""

from __future__ import annotations

import os
import threading
import time

import pytest

from devices.lock.door import PhysicalDoor
from devices.lock.port import DoorSensorPort, LockFault, LockPort
from devices.lock.rs485_board import Rs485LockBoard
from devices.lock.rs485_emulator import Rs485BoardEmulator

FAST = {"timeout_s": 0.15, "pulse_allowance_s": 0.2}


@pytest.fixture
def doors():
    """Board 1: 24 locks; board 2: 12 locks. Nobody closes a door unless a test does."""
    return {
        1: [PhysicalDoor(close_after_s=None) for _ in range(24)],
        2: [PhysicalDoor(close_after_s=None) for _ in range(12)],
    }


@pytest.fixture
def emulator(doors):
    emu = Rs485BoardEmulator(doors, pulse_s=0.01)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def boards(emulator):
    one = Rs485LockBoard(emulator.port_path, 1, **FAST)
    two = Rs485LockBoard(emulator.port_path, 2, channels=12, **FAST)
    yield one, two
    one.close()
    two.close()


def _open(doors: list[PhysicalDoor]) -> list[int]:
    return [n for n, d in enumerate(doors, start=1) if d.is_open]


def test_unlock_sends_the_exact_frame_and_opens_only_that_lock(emulator, boards, doors):
    one, _ = boards
    assert isinstance(one, LockPort)
    assert isinstance(one, DoorSensorPort)
    one.unlock(7, 500)
    assert emulator.requests == [bytes.fromhex("8A 01 07 11 9D")]
    assert emulator.answers == [bytes.fromhex("8A 01 07 00 8C")]  # 00: feedback says open
    assert _open(doors[1]) == [7]
    assert _open(doors[2]) == []
    assert [d.pulses for d in doors[1]] == [1 if n == 7 else 0 for n in range(1, 25)]


def test_boards_on_one_bus_are_told_apart_by_address(emulator, boards, doors):
    one, two = boards
    two.unlock(3, 500)
    one.unlock(12, 500)
    assert _open(doors[2]) == [3]
    assert _open(doors[1]) == [12]
    assert one.read_doors() == {n: n == 12 for n in range(1, 25)}
    assert two.read_doors() == {n: n == 3 for n in range(1, 13)}
    assert emulator.requests[-2:] == [
        bytes.fromhex("80 01 00 33 B2"),
        bytes.fromhex("80 02 00 33 B1"),
    ]


def test_read_doors_decodes_the_bitmask_groups_highest_first(emulator, boards, doors):
    one, _ = boards
    for n in (1, 9, 24):
        doors[1][n - 1].force()
    state = one.read_doors()
    assert [n for n, is_open in state.items() if is_open] == [1, 9, 24]
    # closed_high wiring: a set bit is a closed door. Locks 17..24, 9..16, 1..8.
    assert emulator.answers[-1] == bytes.fromhex("80 01 7F FE FE 33 CD")


def test_open_lock_reports_the_feedback_and_single_reads_agree(emulator, boards, doors):
    one, _ = boards
    assert one.open_lock(2) is True
    assert one.read_door(2) is True
    doors[1][1].close()
    assert one.read_door(2) is False
    assert emulator.requests[-1] == bytes.fromhex("80 01 02 33 B0")


def test_a_jammed_door_gets_its_pulse_but_reads_closed(emulator, boards, doors):
    one, _ = boards
    doors[1][4].jam()
    assert one.open_lock(5) is False  # the board answers 8A 01 05 11: still latched
    assert emulator.answers[-1] == bytes.fromhex("8A 01 05 11 9F")
    assert doors[1][4].pulses == 1
    assert one.read_doors()[5] is False


def test_a_forced_door_shows_in_read_doors(boards, doors):
    _, two = boards
    doors[2][10].force()
    assert two.read_doors()[11] is True
    assert doors[2][10].forced == 1


def test_the_other_polarity_reads_the_levels_inverted(doors):
    with Rs485BoardEmulator(doors, polarity="open_high", pulse_s=0.01) as emu:
        board = Rs485LockBoard(emu.port_path, 1, polarity="open_high", **FAST)
        try:
            assert board.open_lock(4) is True
            assert emu.answers[-1] == bytes.fromhex("8A 01 04 11 9E")
            assert [n for n, o in board.read_doors().items() if o] == [4]
        finally:
            board.close()


def test_a_mute_board_is_a_bounded_no_answer_fault(emulator, boards, doors):
    one, two = boards
    emulator.mute(1)
    started = time.monotonic()
    with pytest.raises(LockFault, match=r"no answer from lock board 1 on .* within 0.15 s"):
        one.read_doors()
    assert time.monotonic() - started < 5
    assert two.read_doors()[1] is False  # the bus itself still works


def test_an_open_that_gets_no_answer_is_sent_again_once(emulator, boards, doors):
    one, _ = boards
    emulator.mute(1)
    with pytest.raises(LockFault, match="no answer"):
        one.unlock(3, 500)
    assert emulator.requests == [bytes.fromhex("8A 01 03 11 99")] * 2  # retries=1


def test_a_corrupt_answer_is_retried_for_reads_and_then_reported(emulator, boards):
    one, _ = boards
    emulator.corrupt_next(1)
    assert len(one.read_doors()) == 24  # the retry got a clean answer
    emulator.corrupt_next(2)
    corrupt = r"corrupt answer 80 01 FF FF FF 33 17: BCC 17, computed 4D"
    with pytest.raises(LockFault, match=corrupt):
        one.read_doors()


def test_a_corrupt_open_answer_is_not_resent_because_the_board_heard_it(emulator, boards, doors):
    one, _ = boards
    emulator.corrupt_next(1)
    with pytest.raises(LockFault, match="corrupt answer 8A 01 06"):
        one.unlock(6, 500)
    assert len([r for r in emulator.requests if r[0] == 0x8A]) == 1
    assert doors[1][5].pulses == 1


def test_a_short_answer_is_a_fault(emulator, boards):
    one, _ = boards
    emulator.truncate_next(2)
    with pytest.raises(LockFault, match=r"short answer 80 01 FF FF FF: 5 of 7 bytes"):
        one.read_doors()


def test_stray_bytes_before_an_answer_are_skipped(emulator, boards, doors):
    one, _ = boards
    doors[1][0].force()
    emulator.noise_before_next(b"\x00\xff\x13\x8a\x01")
    assert [n for n, o in one.read_doors().items() if o] == [1]
    assert one.diagnostics()["stray_bytes"] >= 5


def test_only_garbage_is_reported_as_garbage(emulator, boards):
    one, _ = boards
    emulator.mute(1)
    emulator.chatter(b"\x01\x02\x03")  # some other device talking on the bus
    with pytest.raises(LockFault, match=r"(garbage 01 02 03|no answer)"):
        one.read_doors()


def test_an_answer_from_the_wrong_address_is_refused(doors):
    with Rs485BoardEmulator(doors, pulse_s=0.01) as emu:
        # Configured as board 1 but the answer comes from board 2: a crossed address switch.
        board = Rs485LockBoard(emu.port_path, 2, channels=24, **FAST)
        try:
            with pytest.raises(LockFault, match=r"short answer|no answer"):
                board.read_doors()  # board 2 has 12 locks: its answer is shorter
        finally:
            board.close()
    with Rs485BoardEmulator(doors, pulse_s=0.01) as emu:
        board = Rs485LockBoard(emu.port_path, 1, **FAST)
        try:
            emu.noise_before_next(bytes.fromhex("80 03 00 00 00 33 B0"))  # valid, wrong board
            with pytest.raises(LockFault, match="unexpected address 3"):
                board.read_doors()
        finally:
            board.close()


def test_unplugged_mid_open_fails_fast_after_the_lock_was_pulsed(emulator, boards, doors):
    one, two = boards
    emulator.unplug_on_next_open()
    started = time.monotonic()
    with pytest.raises(LockFault, match=r"serial port .* failed talking to lock board 1"):
        one.unlock(9, 500)
    assert time.monotonic() - started < 5
    assert doors[1][8].pulses == 1  # the board pulsed before the adapter went
    with pytest.raises(LockFault, match=r"serial port .* failed .* port gone"):
        two.read_doors()  # the port stays failed for every board on it
    assert one.diagnostics()["last_error"]


def test_unplugged_while_idle_fails_the_next_call(emulator, boards):
    one, _ = boards
    one.read_doors()
    emulator.unplug()
    with pytest.raises(LockFault, match="serial port"):
        one.read_doors()


def test_concurrent_callers_on_one_port_never_interleave_frames(emulator, boards, doors):
    one, two = boards
    errors: list[Exception] = []

    def hammer(board: Rs485LockBoard, channel: int) -> None:
        try:
            for _ in range(8):
                board.read_doors()
            board.unlock(channel, 500)
        except Exception as e:  # collected and asserted below
            errors.append(e)

    workers = [
        threading.Thread(target=hammer, args=(one, 20)),
        threading.Thread(target=hammer, args=(two, 5)),
        threading.Thread(target=hammer, args=(one, 21)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert errors == []
    assert _open(doors[1]) == [20, 21]
    assert _open(doors[2]) == [5]


def test_a_channel_outside_the_board_is_refused_without_touching_the_bus(emulator, boards):
    one, _ = boards
    with pytest.raises(LockFault, match=r"has locks 1..24, not 25"):
        one.unlock(25, 500)
    assert emulator.requests == []


def test_boards_sharing_a_port_must_share_the_baud_rate(emulator, boards):
    with pytest.raises(ValueError, match="one baud rate"):
        Rs485LockBoard(emulator.port_path, 3, baudrate=19200)


def test_a_port_that_never_existed_is_a_lock_fault():
    board = Rs485LockBoard("/dev/does-not-exist-lock-bus", 1, **FAST)
    try:
        with pytest.raises(LockFault, match="could not open port"):
            board.read_doors()
    finally:
        board.close()


def test_the_emulator_stops_cleanly_and_closes_its_descriptors(doors):
    before = set(os.listdir("/proc/self/fd"))
    emu = Rs485BoardEmulator(doors).start()
    board = Rs485LockBoard(emu.port_path, 1, **FAST)
    board.read_doors()
    board.close()
    emu.stop()
    assert set(os.listdir("/proc/self/fd")) <= before
