"""Driver for RS-485 cabinet lock-control boards (frames in `devices.lock.rs485_frames`).

Several boards hang on one bus, each with its address switch; they share one
serial port, so every request/answer pair holds that port's lock. Answers are
parsed strictly: a frame must start with the expected header, carry the right
address, lock number and function byte, and pass its BCC; stray bytes before a
header are skipped. Anything else is a LockFault that says what went wrong. A
port that disappears (USB-RS485 adapter pulled) fails the call at once and is
reopened on the next one.
"""

from __future__ import annotations

import contextlib
import termios
import threading
import time
from typing import ClassVar

import serial

from devices.lock.port import LockFault
from devices.lock.rs485_frames import (
    CMD_READ,
    HEADER_OPEN,
    HEADER_READ,
    STATE_ACTIVE,
    STATE_INACTIVE,
    Polarity,
    bcc,
    open_frame,
    read_all_answer_length,
    read_all_frame,
    read_lock_frame,
    state_means_open,
)

_FRAME = 5  # open and single-read answers
_READ_SLICE_S = 0.05


class _NoAnswer(Exception):
    """Nothing at all came back: the request may never have reached the board."""


class _BadAnswer(Exception):
    """Something came back, but not a valid answer."""


class _SharedPort:
    """One serial port and the lock that serialises every board on it."""

    _registry: ClassVar[dict[str, _SharedPort]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str, baudrate: int) -> None:
        self.path = path
        self.baudrate = baudrate
        self.lock = threading.Lock()
        self.users = 0
        self.serial: serial.Serial | None = None

    @classmethod
    def acquire(cls, path: str, baudrate: int) -> _SharedPort:
        with cls._registry_lock:
            shared = cls._registry.get(path)
            if shared is None:
                shared = cls._registry[path] = _SharedPort(path, baudrate)
            elif shared.baudrate != baudrate:
                raise ValueError(
                    f"boards on {path} must share one baud rate: {shared.baudrate} is in use, "
                    f"{baudrate} was asked"
                )
            shared.users += 1
            return shared

    def release(self) -> None:
        with self._registry_lock:
            self.users -= 1
            if self.users > 0:
                return
            self._registry.pop(self.path, None)
        with self.lock:
            self.discard()

    def ensure_open(self) -> serial.Serial:
        if self.serial is None:
            # A fixed short read slice: changing `timeout` later would make pyserial call
            # tcsetattr on every read, which some USB-serial adapters do not take kindly.
            self.serial = serial.Serial(
                self.path, self.baudrate, timeout=_READ_SLICE_S, write_timeout=1.0
            )
        return self.serial

    def discard(self) -> None:
        if self.serial is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self.serial.close()
            self.serial = None


class Rs485LockBoard:
    """One lock-control board at `address` on an RS-485 bus: a LockPort and a DoorSensorPort."""

    def __init__(
        self,
        port: str,
        address: int,
        *,
        channels: int = 24,
        baudrate: int = 9600,
        timeout_s: float = 0.3,
        retries: int = 1,
        polarity: Polarity = "closed_high",
        pulse_allowance_s: float = 0.7,
    ) -> None:
        """`pulse_allowance_s`: extra wait for an open's answer, sent after the board's pulse."""
        if not 1 <= address <= 0xFF:
            raise ValueError(f"board address must be 1..255, got {address}")
        if not 1 <= channels <= 0xFF:
            raise ValueError(f"channels must be 1..255, got {channels}")
        if polarity not in ("closed_high", "open_high"):
            raise ValueError(f"polarity must be closed_high or open_high, got {polarity!r}")
        self.port = port
        self.address = address
        self.channels = channels
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.retries = retries
        self.polarity: Polarity = polarity
        self.pulse_allowance_s = pulse_allowance_s
        self._bus = _SharedPort.acquire(port, baudrate)
        self._closed = False
        self._stats_lock = threading.Lock()
        self._requests = 0
        self._faults = 0
        self._stray_bytes = 0
        self._last_error: str | None = None
        self._last_ok: float | None = None

    # -- LockPort ----------------------------------------------------------------------------

    def unlock(self, channel: int, pulse_ms: int) -> None:
        """Open lock `channel`; the board times its own pulse, so `pulse_ms` is not sent."""
        if pulse_ms <= 0:
            raise ValueError(f"pulse_ms must be positive, got {pulse_ms}")
        self.open_lock(channel)

    def open_lock(self, channel: int) -> bool:
        """Pulse lock `channel`; return whether its feedback reads "open" right after the pulse."""
        self._check_channel(channel)
        answer = self._transact(
            open_frame(self.address, channel),
            HEADER_OPEN,
            _FRAME,
            self.timeout_s + self.pulse_allowance_s,
            resend_on_silence_only=True,
        )
        self._expect(answer[2] == channel, answer, f"lock {answer[2]} instead of {channel}")
        return self._decode_state(answer, answer[3])

    def diagnostics(self) -> dict[str, object]:
        """Port, address, counts of requests, faults and skipped stray bytes, the last error."""
        with self._stats_lock:
            return {
                "name": f"rs485 {self.port} #{self.address}",
                "driver": "rs485-lock-board",
                "port": self.port,
                "address": self.address,
                "channels": self.channels,
                "baudrate": self.baudrate,
                "polarity": self.polarity,
                "connected": self._last_error is None and self._last_ok is not None,
                "requests": self._requests,
                "faults": self._faults,
                "stray_bytes": self._stray_bytes,
                "last_error": self._last_error,
            }

    # -- DoorSensorPort ----------------------------------------------------------------------

    def read_doors(self) -> dict[int, bool]:
        """Lock number -> door open, for every lock of the board, in one request."""
        length = read_all_answer_length(self.channels)
        answer = self._transact(read_all_frame(self.address), HEADER_READ, length, self.timeout_s)
        self._expect(answer[-2] == CMD_READ, answer, f"function byte {answer[-2]:02X}, not 33")
        groups = answer[2:-2][::-1]  # sent highest group first; groups[0] = locks 1..8
        doors = {}
        for channel in range(1, self.channels + 1):
            level = bool(groups[(channel - 1) // 8] >> ((channel - 1) % 8) & 1)
            doors[channel] = state_means_open(level, self.polarity)
        return doors

    def read_door(self, channel: int) -> bool:
        """Whether one door is open (one short request)."""
        self._check_channel(channel)
        answer = self._transact(
            read_lock_frame(self.address, channel), HEADER_READ, _FRAME, self.timeout_s
        )
        self._expect(answer[2] == channel, answer, f"lock {answer[2]} instead of {channel}")
        return self._decode_state(answer, answer[3])

    def close(self) -> None:
        """Stop using the port; the last board on it closes it."""
        if not self._closed:
            self._closed = True
            self._bus.release()

    def __enter__(self) -> Rs485LockBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _check_channel(self, channel: int) -> None:
        if not 1 <= channel <= self.channels:
            raise LockFault(
                f"lock board {self.address} on {self.port} has locks 1..{self.channels}, "
                f"not {channel}"
            )

    def _decode_state(self, answer: bytes, state: int) -> bool:
        self._expect(state in (STATE_ACTIVE, STATE_INACTIVE), answer, f"state byte {state:02X}")
        return state_means_open(state == STATE_ACTIVE, self.polarity)

    def _expect(self, ok: bool, answer: bytes, what: str) -> None:
        if not ok:
            self._fail(
                f"lock board {self.address} on {self.port} answered {answer.hex(' ').upper()}: "
                f"unexpected {what}"
            )

    def _transact(
        self,
        request: bytes,
        header: int,
        length: int,
        timeout_s: float,
        *,
        resend_on_silence_only: bool = False,
    ) -> bytes:
        if self._closed:
            raise LockFault(f"lock board {self.address} on {self.port} is closed")
        problem = ""
        with self._bus.lock:
            for _attempt in range(self.retries + 1):
                with self._stats_lock:
                    self._requests += 1
                try:
                    port = self._bus.ensure_open()
                    port.reset_input_buffer()
                    port.write(request)
                    answer = self._read_answer(port, header, length, timeout_s)
                except (serial.SerialException, OSError, termios.error) as e:
                    self._bus.discard()
                    self._fail(
                        f"serial port {self.port} failed talking to lock board {self.address}: "
                        f"{e} (adapter unplugged or port gone?)"
                    )
                except _NoAnswer as e:
                    problem = str(e)
                    continue
                except _BadAnswer as e:
                    problem = str(e)
                    if resend_on_silence_only:
                        break  # the board heard the open; sending it again could pulse twice
                    continue
                self._expect(answer[1] == self.address, answer, f"address {answer[1]}")
                with self._stats_lock:
                    self._last_ok = time.monotonic()
                    self._last_error = None
                return answer
        return self._fail(problem)

    def _read_answer(
        self, port: serial.Serial, header: int, length: int, timeout_s: float
    ) -> bytes:
        deadline = time.monotonic() + timeout_s
        buf = bytearray()
        corrupt: bytes | None = None
        junk = bytearray()  # bytes skipped while looking for a header, for the message
        char_s = 10 / self.baudrate
        while True:
            start = buf.find(header)
            skipped = len(buf) if start < 0 else start
            if skipped:
                junk.extend(buf[: max(0, 32 - len(junk))][:skipped])
                with self._stats_lock:
                    self._stray_bytes += skipped
                del buf[:skipped]
            if len(buf) >= length:
                candidate = bytes(buf[:length])
                if bcc(candidate[:-1]) == candidate[-1]:
                    return candidate
                corrupt = candidate
                del buf[:1]  # resynchronise on the next header byte, if any
                # A corrupt frame is usually the whole answer: wait only a few characters more.
                deadline = min(deadline, time.monotonic() + 3 * length * char_s + 0.02)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            chunk = port.read(length - len(buf))  # returns within one read slice
            buf.extend(chunk)
        where = f"lock board {self.address} on {self.port}"
        if corrupt is not None:
            raise _BadAnswer(
                f"{where} sent a corrupt answer {corrupt.hex(' ').upper()}: BCC "
                f"{corrupt[-1]:02X}, computed {bcc(corrupt[:-1]):02X} (noise on the line?)"
            )
        if buf:
            raise _BadAnswer(
                f"{where} sent a short answer {bytes(buf).hex(' ').upper()}: "
                f"{len(buf)} of {length} bytes"
            )
        if junk:
            raise _BadAnswer(f"{where} sent only garbage {bytes(junk).hex(' ').upper()}")
        raise _NoAnswer(
            f"no answer from {where} within {timeout_s:.2f} s "
            "(check power, address switch and A/B wiring)"
        )

    def _fail(self, message: str) -> bytes:
        with self._stats_lock:
            self._faults += 1
            self._last_error = message
        raise LockFault(message)
