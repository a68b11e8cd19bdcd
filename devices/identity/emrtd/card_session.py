"""One connected card: plain and protected transmits, and whole LDS files read in chunks.

READ BINARY reads the first 4 bytes to learn the TLV length, then chunks: 4096 bytes with
extended Lc/Le when the ATR's historical bytes announce them, else 223 so the protected
response fits a short APDU. Offsets past 32767 use odd-INS READ BINARY (DO'54'/DO'53').
"""

from __future__ import annotations

import time
from typing import Any

from . import lds, tlv
from .errors import CardRemoved, CorruptData, SecureMessagingError
from .sm import ReaderChannel
from .tlv import total_length

SHORT_CHUNK = 0xDF  # 223: the protected response still fits a short APDU (256 bytes)
EXTENDED_CHUNK = 0x1000  # per READ BINARY when the card announces extended lengths
MAX_SHORT_OFFSET = 0x7FFF  # READ BINARY B0 addresses 15 bits
SW_OK = 0x9000
SW_END_OF_FILE = 0x6282
SW_NOT_FOUND = 0x6A82


def _historical_bytes(atr: bytes) -> bytes:
    count = atr[1] & 0x0F
    pos, indicator = 2, atr[1] >> 4
    while True:
        pos += bin(indicator & 0x7).count("1")  # TAi, TBi, TCi present
        if not indicator & 0x8:  # no TDi: interface bytes end here
            return atr[pos : pos + count]
        indicator = atr[pos] >> 4
        pos += 1


def extended_length_supported(atr: bytes) -> bool:
    """Whether the ATR's historical bytes announce extended Lc/Le (card capabilities 7x)."""
    try:
        historical = _historical_bytes(atr)
    except IndexError:
        return False
    if not historical or historical[0] != 0x80:
        return False
    i = 1
    while i < len(historical):
        tag, size = historical[i] >> 4, historical[i] & 0x0F
        value = historical[i + 1 : i + 1 + size]
        if tag == 0x7 and len(value) >= 3:
            return bool(value[2] & 0x40)
        i += 1 + size
    return False


class CardSession:
    """One connected card: plain and protected transmits with error mapping and a report."""

    def __init__(self, connection: Any, report: dict[str, Any]):
        self.connection = connection
        self.report = report
        self.channel: ReaderChannel | None = None

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one plain APDU; CardRemoved if the card left the field."""
        from smartcard.Exceptions import CardConnectionException

        try:
            data, sw1, sw2 = self.connection.transmit(list(apdu))
        except CardConnectionException as exc:
            raise CardRemoved(f"card left the reader during a command: {exc}") from exc
        self.report["apdus"] += 1
        return bytes(data), (sw1 << 8) | sw2

    def secure(
        self, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
    ) -> tuple[bytes, int]:
        """Send one command under secure messaging; (plain data, status word)."""
        if self.channel is None:
            raise SecureMessagingError("no secure-messaging session")
        apdu = self.channel.protect(0x00, ins, p1, p2, data, le)
        response, sw = self.transmit(apdu)
        if sw not in (SW_OK, SW_END_OF_FILE) and not response:
            self.channel.close()
            if sw in (0x6987, 0x6988):
                raise SecureMessagingError(f"the chip rejected a protected command ({sw:04X})")
            return b"", sw
        return self.channel.unprotect(response, sw)

    def read_file(self, item: lds.LdsFile, chunk: int) -> bytes | None:
        """The whole content of an LDS file under secure messaging; None if it is absent."""
        _, sw = self.secure(0xA4, 0x02, 0x0C, item.fid.to_bytes(2, "big"))
        if sw == SW_NOT_FOUND:
            return None
        if sw != SW_OK:
            raise CorruptData(f"SELECT {item.name} answered {sw:04X}")
        data, sw = self.secure(0xB0, 0x00, 0x00, le=4)
        if sw not in (SW_OK, SW_END_OF_FILE) or not data:
            raise CorruptData(f"READ BINARY of {item.name} answered {sw:04X}")
        size = total_length(data)
        while size is None and len(data) < 8:
            more, sw = self.secure(0xB0, 0x00, len(data), le=4)
            if not more:
                raise CorruptData(f"{item.name} ends inside its own header")
            data += more
            size = total_length(data)
        if size is None:
            raise CorruptData(f"{item.name} does not start with a readable TLV header")
        if data[0] != item.tag:
            raise CorruptData(f"{item.name} starts with tag {data[0]:02X}, not {item.tag:02X}")
        while len(data) < size:
            offset = len(data)
            want = min(chunk, size - offset)
            if offset <= MAX_SHORT_OFFSET:
                more, sw = self.secure(0xB0, offset >> 8, offset & 0xFF, le=want)
            else:
                more, sw = self._read_binary_odd(item, offset, want)
            if sw not in (SW_OK, SW_END_OF_FILE) or not more:
                raise CorruptData(
                    f"READ BINARY of {item.name} at offset {offset} answered {sw:04X} "
                    f"with {len(more)} bytes; the file should be {size} bytes"
                )
            data += more
        return data[:size]

    def _read_binary_odd(self, item: lds.LdsFile, offset: int, want: int) -> tuple[bytes, int]:
        """READ BINARY with odd INS: offset in DO'54', data back in DO'53' (past 32 KiB)."""
        offset_do = tlv.encode(0x54, offset.to_bytes(3, "big"))
        answer, sw = self.secure(0xB1, 0x00, 0x00, offset_do, le=want + 4)
        if not answer:
            return b"", sw
        wrapped = tlv.parse_single(answer, 0x53)
        if len(wrapped.value) > want:
            raise CorruptData(f"READ BINARY of {item.name} returned more than asked")
        return wrapped.value, sw

    def read_public_file(self, fid: int) -> bytes | None:
        """A file readable without access control (EF.CardAccess), in plain; None if absent."""
        _, sw = self.transmit(bytes.fromhex("00A4020C02") + fid.to_bytes(2, "big"))
        if sw != SW_OK:
            return None  # BAC-only chips have no EF.CardAccess (6A82) or refuse the SELECT
        data, sw = self.transmit(bytes.fromhex("00B0000004"))
        size = total_length(data) if sw in (SW_OK, SW_END_OF_FILE) else None
        if size is None:
            raise CorruptData(f"public file {fid:04X} does not start with a TLV header")
        while len(data) < size:
            want = min(SHORT_CHUNK, size - len(data))
            offset = len(data).to_bytes(2, "big")
            more, sw = self.transmit(b"\x00\xb0" + offset + bytes([want]))
            if sw not in (SW_OK, SW_END_OF_FILE) or not more:
                raise CorruptData(f"READ BINARY of public file {fid:04X} answered {sw:04X}")
            data += more
        return data[:size]


class timed:
    """Times one step of a read into the report."""

    def __init__(self, report: dict[str, Any], name: str):
        self.report, self.name = report, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.report["steps"][self.name] = time.perf_counter() - self.start
