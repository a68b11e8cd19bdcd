"""A resident ID card reader on a pty: the SAM side of GA/T 467, byte for byte.

The driver opens `emulator.device` (the pty's slave path) like a real /dev/ttyUSB0. A card
is read once per placement, as on a real reader: after a successful read the card must be
lifted and placed again (`place_card`) before "find card" succeeds.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from .card import encode_text
from .frames import MAX_LENGTH, PREAMBLE, Command, checksum, encode_frame

FAULTS = (
    "no_answer",  # the SAM swallows the command and says nothing
    "bad_checksum",  # the answer's checksum byte is corrupted
    "card_auth_failed",  # 00 00 31 to "read base information"
    "removed_before_read",  # the card leaves between select and read: 00 00 41, card gone
    "garbage_before_preamble",  # line noise precedes every answer (a good reader copes)
    "sam_not_authorised",  # 00 00 66 to everything
)


@dataclass(frozen=True)
class EmulatedCard:
    """What the emulated card holds; build `text` with card.encode_text or `EmulatedCard.of`."""

    text: bytes = field(repr=False)
    wlt: bytes = field(default=bytes(1024), repr=False)
    fingerprint: bytes = field(default=b"", repr=False)

    @classmethod
    def of(
        cls,
        *,
        name: str,
        number: str,
        sex_code: str = "1",
        ethnic_code: str = "01",
        birth: str | None = None,
        address: str = "北京市东城区景山前街4号",
        authority: str = "北京市公安局东城分局",
        valid_from: str = "20200101",
        valid_to: str = "20400101",
        wlt: bytes = bytes(1024),
        reserved: str = "",
    ) -> EmulatedCard:
        """A card from readable fields; birth defaults to the date inside the ID number."""
        text = encode_text(
            name=name,
            sex_code=sex_code,
            ethnic_code=ethnic_code,
            birth=birth if birth is not None else number[6:14],
            address=address,
            number=number,
            authority=authority,
            valid_from=valid_from,
            valid_to=valid_to,
            reserved=reserved,
        )
        return cls(text=text, wlt=wlt)


def answer(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    """A full response frame."""
    return encode_frame(bytes((sw1, sw2, sw3)) + data)


class CnIdReaderEmulator:
    """A pty whose far end behaves like a reader's SAM module; start() then use `device`."""

    SAM_ID = bytes.fromhex("0501000000000000d20a0000cbf30100")

    def __init__(self, card: EmulatedCard | None = None, *, baudrate: int | None = None) -> None:
        # With baudrate set, answers are paced as the UART would send them (10 bits a byte).
        self.baudrate = baudrate
        self._card = card
        self._card_read = False
        self._fault: str | None = None
        self._fault_on: Command | None = None
        self._raw_answer: Callable[[tuple[int, int]], bytes] | None = None
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._thread: threading.Thread | None = None
        self.device = ""
        # Every command frame received, as (CMD, PARA) or "bad checksum"/"bad length".
        self.received: list[tuple[int, int] | str] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> CnIdReaderEmulator:
        """Open the pty and run the SAM in a thread."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="cnid-sam-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close every descriptor."""
        if self._thread is None:
            return
        assert self._wake_w is not None
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = None
        self._thread = None

    def __enter__(self) -> CnIdReaderEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the scene -------------------------------------------------------------------------------

    def place_card(self, card: EmulatedCard) -> None:
        """A citizen lays a card on the reader."""
        with self._lock:
            self._card = card
            self._card_read = False

    def remove_card(self) -> None:
        """The card is lifted away."""
        with self._lock:
            self._card = None

    def set_fault(self, fault: str | None, *, on: Command | None = None) -> None:
        """Inject one of FAULTS (None clears), for every command or only `on`."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._fault = fault
            self._fault_on = on

    def set_raw_answer(self, answer_with: Callable[[tuple[int, int]], bytes] | None) -> None:
        """Answer every well-formed command with answer_with((CMD, PARA)): any bytes at all."""
        with self._lock:
            self._raw_answer = answer_with

    # -- the SAM ---------------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._master is not None and self._wake_r is not None
        buf = bytearray()
        while True:
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                chunk = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:  # the slave side closed and reopened; keep serving
                time.sleep(0.01)
                continue
            buf += chunk
            while True:
                frame = self._take_frame(buf)
                if frame is None:
                    break
                reply = self._respond(frame)
                if reply:
                    self._send(reply)

    def _take_frame(self, buf: bytearray) -> bytes | None:
        """Remove and return the next frame's LEN..CHK from buf; a b'' marks a length error."""
        at = buf.find(PREAMBLE)
        if at < 0:
            del buf[: max(0, len(buf) - (len(PREAMBLE) - 1))]
            return None
        del buf[:at]
        if len(buf) < len(PREAMBLE) + 2:
            return None
        length = int.from_bytes(buf[5:7], "big")
        if not 3 <= length <= MAX_LENGTH:
            del buf[: len(PREAMBLE)]
            return b""
        end = len(PREAMBLE) + 2 + length
        if len(buf) < end:
            return None
        body = bytes(buf[len(PREAMBLE) : end])
        del buf[:end]
        return body

    def _respond(self, body: bytes) -> bytes:
        if not body:
            self.received.append("bad length")
            return answer(0x11)
        if checksum(body[:-1]) != body[-1]:
            self.received.append("bad checksum")
            return answer(0x10)
        cmd, para = body[2], body[3]
        self.received.append((cmd, para))
        with self._lock:
            raw_answer = self._raw_answer
        if raw_answer is not None:
            return raw_answer((cmd, para))
        try:
            command = Command((cmd, para))
        except ValueError:
            return answer(0x21)
        with self._lock:
            fault = self._fault if self._fault_on in (None, command) else None
            reply = self._serve(command, fault)
        if fault == "no_answer":
            return b""
        if fault == "bad_checksum":
            reply = reply[:-1] + bytes((reply[-1] ^ 0xFF,))
        if fault == "garbage_before_preamble":
            reply = b"\x00\xaa\x13\x96\xaa\xaa\x69\xff" + reply
        return reply

    def _serve(self, command: Command, fault: str | None) -> bytes:
        """The SAM's answer to a well-formed command (called with the lock held)."""
        if fault == "sam_not_authorised":
            return answer(0x66)
        if command in (Command.RESET_SAM, Command.SAM_STATUS):
            return answer(0x90)
        if command is Command.SAM_ID:
            return answer(0x90, self.SAM_ID)
        card = self._card
        if command is Command.FIND_CARD:
            if card is None or self._card_read:
                return answer(0x80)
            return answer(0x9F, bytes(4))
        if command is Command.SELECT_CARD:
            if card is None or self._card_read:
                return answer(0x81)
            return answer(0x90, bytes(8))
        # read base information, with or without fingerprints
        if fault == "removed_before_read":
            self._card = None
            return answer(0x41)
        if card is None or self._card_read:
            return answer(0x41)
        if fault == "card_auth_failed":
            return answer(0x31)
        self._card_read = True
        data = len(card.text).to_bytes(2, "big") + len(card.wlt).to_bytes(2, "big")
        if command is Command.READ_BASE_WITH_FINGERPRINT:
            data += len(card.fingerprint).to_bytes(2, "big")
            return answer(0x90, data + card.text + card.wlt + card.fingerprint)
        return answer(0x90, data + card.text + card.wlt)

    def _send(self, reply: bytes) -> None:
        if not self.baudrate:
            self._write_all(reply)
            return
        # Paced in small chunks, as a UART at this rate would deliver them (10 bits a byte).
        per_byte = 10 / self.baudrate
        start = time.perf_counter()
        for i in range(0, len(reply), 64):
            if not self._write_all(reply[i : i + 64]):
                return
            delay = start + min(i + 64, len(reply)) * per_byte - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def _write_all(self, data: bytes) -> bool:
        """Write unless stop() comes first (a driver that stopped reading never blocks us)."""
        assert self._master is not None and self._wake_r is not None
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([self._wake_r], [self._master], [], 0.5)
            if select.select([self._wake_r], [], [], 0)[0]:
                return False
            if writable:
                try:
                    view = view[os.write(self._master, view) :]
                except BlockingIOError:
                    continue
        return True
