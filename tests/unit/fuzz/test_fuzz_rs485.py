"""The RS-485 lock-board driver facing a hostile board on a real pty: states or LockFault."""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.lock import rs485_frames as f
from devices.lock.port import LockFault
from devices.lock.rs485_board import Rs485LockBoard


class _HostileBoard:
    """The far end of a pty: answers each request with the next bytes it was handed."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave
        self.answers: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-rs485", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                os.read(self.master, 256)
            except OSError:
                return
            with contextlib.suppress(queue.Empty):
                os.write(self.master, self.answers.get_nowait())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def hostile() -> Iterator[_HostileBoard]:
    board = _HostileBoard()
    yield board
    board.close()


def _framed(draw_bytes: bytes) -> bytes:
    return draw_bytes + bytes([f.bcc(draw_bytes)])


answers = st.one_of(
    st.binary(max_size=12),
    st.binary(min_size=3, max_size=8).map(_framed),
    st.tuples(st.sampled_from([0x80, 0x8A]), st.integers(0, 3), st.integers(0, 9)).map(
        lambda t: _framed(bytes([t[0], t[1], t[2], 0x11]))
    ),
)


def _board(path: str) -> Rs485LockBoard:
    return Rs485LockBoard(path, 1, channels=9, timeout_s=0.05, retries=0, pulse_allowance_s=0)


@given(answers)
def test_reading_one_door_gives_a_state_or_a_lock_fault(hostile, answer):
    hostile.answers.put(answer)
    with _board(hostile.path) as board, contextlib.suppress(LockFault):
        assert isinstance(board.read_door(1), bool)


@given(answers)
def test_reading_every_door_gives_states_or_a_lock_fault(hostile, answer):
    hostile.answers.put(answer)
    with _board(hostile.path) as board, contextlib.suppress(LockFault):
        assert set(board.read_doors()) == set(range(1, 10))


@given(answers)
def test_an_open_gives_the_door_state_or_a_lock_fault(hostile, answer):
    hostile.answers.put(answer)
    with _board(hostile.path) as board, contextlib.suppress(LockFault):
        assert isinstance(board.open_lock(1), bool)
