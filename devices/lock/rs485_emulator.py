"""A pty that answers like RS-485 lock-control boards, with a physical door per lock.

The driver opens `port_path` (the pty's slave side) exactly as it would open
/dev/ttyUSB0. A thread on the master side parses frames like the boards'
firmware: bad checksums and frames for addresses nobody has are ignored in
silence, an open pulses the lock (`PhysicalDoor.pulse()`) and answers after the
board's pulse time with the feedback switch level, a read answers from
`door.is_open`. Answers are held back for the time their bytes take on the wire
at the configured baud rate, so timings resemble a real bus.

Faults: a board that stays mute, corrupt or truncated answers, noise before an
answer, and "unplug" (the pty master is closed, so the driver's port fails with
EIO the way a pulled USB-RS485 adapter does), optionally right after an open
has pulsed the lock.

This module is written independently of the driver's frame builder, so a
mistake in one is caught by the other.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Sequence
from typing import Literal

from devices.lock.door import PhysicalDoor

_OPEN, _READ = 0x8A, 0x80
_FN_OPEN, _FN_READ = 0x11, 0x33


def _xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


class Rs485BoardEmulator:
    """Boards by address, each a list of doors (index 0 = lock 1), behind one pty."""

    def __init__(
        self,
        boards: dict[int, Sequence[PhysicalDoor]],
        *,
        baudrate: int = 9600,
        polarity: Literal["closed_high", "open_high"] = "closed_high",
        pulse_s: float = 0.05,
        pace: bool = True,
    ) -> None:
        """`pulse_s`: how long a board energises a lock before it answers the open."""
        self.boards = {address: list(doors) for address, doors in boards.items()}
        self.baudrate = baudrate
        self.polarity = polarity
        self.pulse_s = pulse_s
        self.pace = pace
        self.port_path = ""
        self._master = -1
        self._slave = -1
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._stop = False
        self._lock = threading.Lock()
        self._mute: set[int] = set()
        self._corrupt = 0
        self._truncate = 0
        self._noise = b""
        self._unplug_requested = False
        self._unplug_on_open = False
        self._unplugged = threading.Event()
        # What crossed the wire, for tests: every complete, valid request and every answer.
        self.requests: list[bytes] = []
        self.answers: list[bytes] = []
        # Where time went, for the benchmark.
        self.processing_s = 0.0
        self.wire_s = 0.0
        self.pulse_wait_s = 0.0

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> Rs485BoardEmulator:
        """Open the pty and start answering."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no XON/XOFF (0x11 is XON *and* the open command), no CR mapping.
        tty.setraw(self._slave)
        self.port_path = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread = threading.Thread(
            target=self._serve, name="rs485-board-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close every descriptor."""
        if self._thread is None:
            return
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        self._thread = None
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1

    def __enter__(self) -> Rs485BoardEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------------

    def mute(self, address: int) -> None:
        """Board `address` stops answering (power lost, address switch changed)."""
        with self._lock:
            self._mute.add(address)

    def unmute(self, address: int) -> None:
        """Board `address` answers again."""
        with self._lock:
            self._mute.discard(address)

    def corrupt_next(self, count: int = 1) -> None:
        """The next `count` answers carry a wrong BCC."""
        with self._lock:
            self._corrupt = count

    def truncate_next(self, count: int = 1) -> None:
        """The next `count` answers lose their last two bytes."""
        with self._lock:
            self._truncate = count

    def noise_before_next(self, noise: bytes) -> None:
        """Send these stray bytes just before the next answer."""
        with self._lock:
            self._noise = noise

    def chatter(self, data: bytes) -> None:
        """Put raw bytes on the bus now, as a misbehaving device would."""
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def unplug(self) -> None:
        """Pull the adapter now: the pty master closes and the driver's port fails."""
        with self._lock:
            self._unplug_requested = True
        if self._thread is not None:
            os.write(self._wake_w, b"u")
            self._unplugged.wait(timeout=5)

    def unplug_on_next_open(self) -> None:
        """The next open pulses its lock, then the adapter is pulled before the answer."""
        with self._lock:
            self._unplug_on_open = True

    @property
    def unplugged(self) -> bool:
        """Whether the pty master has been closed."""
        return self._unplugged.is_set()

    # -- the firmware ------------------------------------------------------------------------

    def _serve(self) -> None:
        pending = bytearray()
        while not self._stop:
            if self._unplug_requested:
                self._pull_plug()
            watch = [self._wake_r] + ([self._master] if self._master >= 0 else [])
            ready, _, _ = select.select(watch, [], [], 1.0)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
                continue
            if self._master in ready:
                try:
                    pending.extend(os.read(self._master, 256))
                except OSError:
                    continue  # nobody has the slave open right now
                self._consume(pending)

    def _pull_plug(self) -> None:
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1
        self._unplugged.set()

    def _consume(self, pending: bytearray) -> None:
        while len(pending) >= 5:
            if pending[0] not in (_OPEN, _READ):
                del pending[0]
                continue
            frame = bytes(pending[:5])
            if _xor(frame[:4]) != frame[4]:
                del pending[0]  # firmware drops a bad frame and waits for the next header
                continue
            del pending[:5]
            self._handle(frame)
            if self._master < 0:
                return

    def _handle(self, frame: bytes) -> None:
        started = time.perf_counter()
        pulses_before = self.pulse_wait_s
        header, address, lock, function = frame[:4]
        self.requests.append(frame)
        doors = self.boards.get(address)
        with self._lock:
            mute = address in self._mute
        if doors is None or mute:
            return
        answer: bytes | None = None
        if header == _OPEN and function == _FN_OPEN:
            answer = self._open(address, lock, doors)
        elif header == _READ and function == _FN_READ:
            answer = self._read(address, lock, doors)
        if answer is None:
            return
        with self._lock:
            unplug = self._unplug_on_open and header == _OPEN
            self._unplug_on_open = self._unplug_on_open and not unplug
        if unplug:
            self._pull_plug()
            return
        answer = self._damage(answer)
        pulsed = self.pulse_wait_s - pulses_before
        self.processing_s += time.perf_counter() - started - pulsed
        if self.pace:
            wire = (len(frame) + len(answer)) * 10 / self.baudrate
            self.wire_s += wire
            time.sleep(wire)
        self.answers.append(answer)
        with contextlib.suppress(OSError):
            os.write(self._master, answer)

    def _open(self, address: int, lock: int, doors: list[PhysicalDoor]) -> bytes | None:
        if lock == 0:
            targets = list(range(1, len(doors) + 1))
        elif lock <= len(doors):
            targets = [lock]
        else:
            return None  # no such lock on this board: the firmware says nothing
        for n in targets:
            doors[n - 1].pulse()
            self._wait_pulse()
        if lock == 0:
            return self._frame(_OPEN, address, 0, _FN_OPEN)
        return self._frame(_OPEN, address, lock, self._level(doors[lock - 1]))

    def _read(self, address: int, lock: int, doors: list[PhysicalDoor]) -> bytes | None:
        if lock == 0:
            groups = bytearray((len(doors) + 7) // 8)
            for n, door in enumerate(doors):
                if self._level(door) == 0x11:
                    groups[n // 8] |= 1 << (n % 8)
            return self._frame(_READ, address, *reversed(groups), _FN_READ)
        if lock <= len(doors):
            return self._frame(_READ, address, lock, self._level(doors[lock - 1]))
        return None

    def _level(self, door: PhysicalDoor) -> int:
        closed_switch = door.is_open if self.polarity == "open_high" else not door.is_open
        return 0x11 if closed_switch else 0x00

    def _wait_pulse(self) -> None:
        self.pulse_wait_s += self.pulse_s
        time.sleep(self.pulse_s)

    @staticmethod
    def _frame(*fields: int) -> bytes:
        body = bytes(fields)
        return body + bytes([_xor(body)])

    def _damage(self, answer: bytes) -> bytes:
        with self._lock:
            if self._corrupt:
                self._corrupt -= 1
                answer = answer[:-1] + bytes([answer[-1] ^ 0x5A])
            if self._truncate:
                self._truncate -= 1
                answer = answer[:-2]
            answer, self._noise = self._noise + answer, b""
        return answer
