"""The vpcd wire protocol (vsmartcard): puts a virtual card into pcscd's "Virtual PCD" reader.

The card side connects over TCP to vpcd (the pcscd driver listens, default 127.0.0.1:35963).
Each message in either direction is a 2-byte big-endian length followed by that many bytes.
From vpcd, a 1-byte message is a control: 0x00 power off, 0x01 power on, 0x02 reset,
0x04 "send the ATR"; anything longer is a command APDU. The card answers the ATR request
with its ATR and every APDU with its response APDU; power and reset get no answer. Closing
the connection is the card leaving the reader.

pcscd learns of a removal only by polling vpcd (every 0.4 s) while no card is connected: a
card put back sooner is never seen as removed, and pcscd then keeps the slot in the
"removed" state. A card therefore stays out at least `MIN_ABSENCE_S`, as a real one would.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from typing import ClassVar, Protocol

log = logging.getLogger(__name__)

VPCD_PORT = 35963
CTRL_OFF = 0x00
CTRL_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04
MIN_ABSENCE_S = 0.5


class VirtualCard(Protocol):
    """What vpcd needs of a card."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def reset(self) -> None: ...

    def process(self, apdu: bytes) -> bytes: ...


class _Closed(Exception):
    pass


class VpcdCardLink:
    """Keeps `card` inserted in the vpcd reader from a background thread until removed."""

    # When a card last left each vpcd slot, across links: the next card waits out the gap.
    _removed_at: ClassVar[dict[tuple[str, int], float]] = {}

    def __init__(
        self,
        card: VirtualCard,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        *,
        retry_interval_s: float = 0.05,
    ):
        self.card = card
        self.host = host
        self.port = port
        self.retry_interval_s = retry_interval_s
        self._cond = threading.Condition()
        self._inserted = True
        self._stopping = False
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.apdus = 0
        self.last_error: str | None = None

    def start(self) -> VpcdCardLink:
        """Start the link thread; the card is inserted as soon as vpcd accepts it."""
        if self._thread is not None:
            raise RuntimeError("link already started")
        self._thread = threading.Thread(target=self._run, name="emrtd-vpcd-link", daemon=True)
        self._thread.start()
        return self

    def wait_inserted(self, timeout_s: float = 5.0) -> bool:
        """Whether vpcd accepted the card within `timeout_s`."""
        return self.connected.wait(timeout_s)

    def remove_card(self) -> None:
        """Take the card out of the reader (close the vpcd connection)."""
        with self._cond:
            self._inserted = False
            self._drop_socket()
            self._cond.notify_all()

    def insert_card(self, card: VirtualCard | None = None) -> None:
        """Put a card (this one, or another) back into the reader."""
        with self._cond:
            if card is not None:
                self.card = card
            self._inserted = True
            self._cond.notify_all()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Remove the card and end the thread."""
        with self._cond:
            self._stopping = True
            self._inserted = False
            self._drop_socket()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise RuntimeError("vpcd link thread did not stop")
            self._thread = None

    def __enter__(self) -> VpcdCardLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        self.connected.clear()
        if sock is not None:
            self._removed_at[(self.host, self.port)] = time.monotonic()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._inserted and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            sock = self._connect()
            if sock is None:
                continue
            try:
                self._serve(sock)
            except (_Closed, OSError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._cond:
                    if self._sock is sock:
                        self._drop_socket()

    def _connect(self) -> socket.socket | None:
        removed = self._removed_at.get((self.host, self.port))
        if removed is not None:
            gap = removed + MIN_ABSENCE_S - time.monotonic()
            if gap > 0:
                with self._cond:
                    self._cond.wait(gap)
                return None  # re-check inserted/stopping, then come back
        try:
            sock = socket.create_connection((self.host, self.port), timeout=1.0)
        except OSError as exc:
            self.last_error = f"vpcd at {self.host}:{self.port} not reachable: {exc}"
            with self._cond:
                self._cond.wait(self.retry_interval_s)
            return None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._cond:
            if not self._inserted or self._stopping:
                sock.close()
                return None
            self._sock = sock
            self.connected.set()
        return sock

    def _serve(self, sock: socket.socket) -> None:
        # Imported here so vpcd.py has no hard tie to the eMRTD card class.
        from .virtual_card import CardPulled

        while True:
            message = _receive(sock)
            if len(message) == 1:
                control = message[0]
                if control == CTRL_ATR:
                    _send(sock, self.card.atr)
                elif control == CTRL_ON:
                    self.card.power_on()
                elif control == CTRL_OFF:
                    self.card.power_off()
                elif control == CTRL_RESET:
                    self.card.reset()
                else:
                    log.warning("vpcd sent unknown control byte %02X", control)
                continue
            self.apdus += 1
            try:
                response = self.card.process(message)
            except CardPulled:
                with self._cond:
                    self._inserted = False
                    self._drop_socket()
                return
            _send(sock, response)


def _receive_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        # vpcd writes the length and the body separately; acknowledging at once keeps its
        # Nagle algorithm from holding the body back for a delayed ACK (~40 ms per APDU).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise _Closed("vpcd closed the connection")
        data += chunk
    return bytes(data)


def _receive(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">H", _receive_exact(sock, 2))
    return _receive_exact(sock, length)


def _send(sock: socket.socket, payload: bytes) -> None:
    if len(payload) > 0xFFFF:
        raise ValueError("vpcd messages are at most 65535 bytes")
    sock.sendall(struct.pack(">H", len(payload)) + payload)
