"""Driver for second-generation resident ID card readers: GA/T 467 frames over a serial port."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import serial

from devices.identity.port import IdentityDocument

from .card import PHOTO_LENGTH, TEXT_LENGTH, CardDataError, UnsupportedCardType, decode_text
from .errors import (
    CardAuthFailed,
    CardNotFound,
    CardReadFailed,
    CardSelectFailed,
    CnIdReadError,
    InvalidCardData,
    ReaderFault,
    ReaderFrameError,
    ReaderTimeout,
    SamFault,
    WrongCardType,
)
from .frames import (
    MAX_LENGTH,
    PREAMBLE,
    SW3_FIND_SUCCESS,
    SW3_SUCCESS,
    Command,
    FrameError,
    Response,
    decode_response_body,
    encode_command,
)
from .wlt import WltDecoder, WltDecoderError, decode_photo

log = logging.getLogger(__name__)

# Bytes we skip looking for a preamble before we call the line broken.
MAX_GARBAGE = 4096
# How often "find card" is repeated while nobody has placed a card.
POLL_INTERVAL_S = 0.1


def status_error(command: Command, response: Response) -> CnIdReadError:
    """The specific error for a SAM status that is not success."""
    detail = f"SAM answered {response.status} ({response.meaning}) to {command.label}"
    sw3 = response.sw3
    if sw3 == 0x80:
        return CardNotFound(detail, status=response.status)
    if sw3 == 0x81:
        return CardSelectFailed(detail, status=response.status)
    if sw3 in (0x41, 0x47):
        return CardReadFailed(detail, status=response.status)
    if sw3 in (0x31, 0x32, 0x33, 0x37):
        return CardAuthFailed(detail, status=response.status)
    if sw3 == 0x40:
        return WrongCardType(detail, status=response.status)
    return SamFault(detail, status=response.status)


def split_base_info(data: bytes, *, with_fingerprint: bool = False) -> tuple[bytes, bytes]:
    """(text, WLT photo) from the data of a "read base information" answer."""
    heads = 3 if with_fingerprint else 2
    if len(data) < 2 * heads:
        raise ReaderFrameError(f"base information answer has only {len(data)} bytes")
    lengths = [int.from_bytes(data[2 * i : 2 * i + 2], "big") for i in range(heads)]
    if len(data) != 2 * heads + sum(lengths):
        raise ReaderFrameError(
            f"base information lengths {lengths} do not add up to the {len(data)} bytes received"
        )
    text_len, photo_len = lengths[0], lengths[1]
    if text_len != TEXT_LENGTH or photo_len > PHOTO_LENGTH:
        raise ReaderFrameError(
            f"base information holds {text_len} text and {photo_len} photo bytes,"
            f" expected {TEXT_LENGTH} and at most {PHOTO_LENGTH}"
        )
    start = 2 * heads
    return data[start : start + text_len], data[start + text_len : start + text_len + photo_len]


class CnIdReader:
    """Reads resident ID cards through a GA/T 467 SAM module on a serial port."""

    needs_mrz_key = False  # the SAM module reads the card without a key from the citizen

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        timeout_s: float = 2.0,
        photo_decoder: WltDecoder | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.port = port
        self.baudrate = baudrate
        # Limit for one answer; a read waits for a card for its own timeout on top of this.
        self.timeout_s = timeout_s
        self.photo_decoder = photo_decoder
        self._serial: serial.Serial | None = None
        self._lock = threading.Lock()
        self._needs_resync = False
        self._sam_checked = False
        self._reads = 0
        self._faults = 0
        self._last_error: str | None = None
        self._last_photo_error: str | None = None

    # -- the port -------------------------------------------------------------------------

    def read(self, timeout_s: float) -> IdentityDocument:
        """Wait up to timeout_s for a card, then find, select and read it."""
        with self._lock:
            self._reads += 1
            try:
                return self._read_card(timeout_s)
            except CnIdReadError as exc:
                self._faults += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning("ID card read failed: %s", self._last_error)
                raise

    def diagnostics(self) -> dict[str, object]:
        """Counters and, when the reader is idle, a live SAM status and SAM id."""
        facts: dict[str, object] = {
            "driver": "cnid-gat467",
            "port": self.port,
            "baudrate": self.baudrate,
            "open": self._serial is not None,
            "reads": self._reads,
            "faults": self._faults,
            "last_error": self._last_error,
            "wlt_decoder": type(self.photo_decoder).__name__ if self.photo_decoder else None,
            "last_photo_error": self._last_photo_error,
        }
        if not self._lock.acquire(timeout=0.5):
            facts["sam"] = "busy reading a card"
            return facts
        try:
            status = self._transact(Command.SAM_STATUS)
            facts["sam_status"] = status.status
            sam_id = self._transact(Command.SAM_ID)
            facts["sam_id"] = sam_id.data.hex() if sam_id.sw3 == SW3_SUCCESS else sam_id.status
        except CnIdReadError as exc:
            facts["sam_status"] = f"{type(exc).__name__}: {exc}"
        finally:
            self._lock.release()
        return facts

    # -- other operations -------------------------------------------------------------------

    def reset_sam(self) -> None:
        """Send "reset SAM" (10 FF); ReaderFault unless it answers success."""
        with self._lock:
            self._expect(Command.RESET_SAM, self._transact(Command.RESET_SAM))

    def close(self) -> None:
        """Close the serial port; the next read opens it again."""
        with self._lock:
            self._close_port()

    def __enter__(self) -> CnIdReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CnIdReader(port={self.port!r}, baudrate={self.baudrate})"

    # -- internals ----------------------------------------------------------------------------

    def _read_card(self, timeout_s: float) -> IdentityDocument:
        deadline = time.monotonic() + max(0.0, timeout_s)
        if not self._sam_checked:
            self._expect(Command.SAM_STATUS, self._transact(Command.SAM_STATUS))
            self._sam_checked = True
        while True:
            found = self._transact(Command.FIND_CARD)
            if found.sw3 in (SW3_FIND_SUCCESS, SW3_SUCCESS):
                break
            if found.sw3 != 0x80:
                raise status_error(Command.FIND_CARD, found)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CardNotFound(
                    f"no card on the reader within {timeout_s:g} s"
                    f" (SAM answered {found.status} to {Command.FIND_CARD.label})",
                    status=found.status,
                )
            time.sleep(min(POLL_INTERVAL_S, remaining))
        self._expect(Command.SELECT_CARD, self._transact(Command.SELECT_CARD))
        answer = self._expect(Command.READ_BASE, self._transact(Command.READ_BASE))
        text, wlt = split_base_info(answer.data)
        try:
            card = decode_text(text)
        except UnsupportedCardType as exc:
            raise WrongCardType(str(exc)) from None
        except CardDataError as exc:
            raise InvalidCardData(f"card data refused: {exc}") from None
        photo = self._decode_photo(wlt)
        document = IdentityDocument(
            document_type="cn_resident_id",
            name=card.name,
            number=card.number,
            birth_date=card.birth_date,
            expiry_date=card.valid_to,
            photo=photo,
            sex=card.sex,
            nationality=card.ethnic_group,
            issuer=card.authority,
            valid_from=card.valid_from,
            address=card.address,
            # The SAM only releases the text after mutual authentication with the chip
            # and verification of the information (statuses 31/32/33 otherwise).
            authenticity="chip_verified",
        )
        log.info("read resident ID card %s", document.masked_number)
        return document

    def _decode_photo(self, wlt: bytes) -> bytes | None:
        if self.photo_decoder is None or not wlt:
            return None
        try:
            photo = decode_photo(self.photo_decoder, wlt)
        except WltDecoderError as exc:
            # The remote identity check still works without the photo, so this is no read failure.
            self._last_photo_error = str(exc)
            log.warning("card photo not decoded: %s", exc)
            return None
        self._last_photo_error = None
        return photo

    def _expect(self, command: Command, response: Response) -> Response:
        if response.sw3 != SW3_SUCCESS:
            raise status_error(command, response)
        return response

    def _open_port(self) -> serial.Serial:
        if self._serial is None:
            try:
                self._serial = serial.Serial(
                    self.port, self.baudrate, timeout=0.05, write_timeout=self.timeout_s
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                raise ReaderFault(f"cannot open serial port {self.port}: {exc}") from exc
            self._needs_resync = True
            self._sam_checked = False
        return self._serial

    def _close_port(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None

    def _transact(self, command: Command) -> Response:
        """Send one command and return its checked response frame."""
        port = self._open_port()
        try:
            if self._needs_resync:
                self._drain(port)
                self._needs_resync = False
            port.reset_input_buffer()
            port.write(encode_command(command))
            port.flush()
            body = self._read_frame(port, command, time.monotonic() + self.timeout_s)
        except (ReaderTimeout, ReaderFrameError):
            self._needs_resync = True
            raise
        except (serial.SerialException, OSError) as exc:
            self._close_port()
            raise ReaderFault(
                f"serial port {self.port} failed during {command.label}: {exc}"
            ) from exc
        try:
            return decode_response_body(body)
        except FrameError as exc:
            self._needs_resync = True
            raise ReaderFrameError(f"bad answer to {command.label}: {exc}") from None

    def _read_frame(self, port: serial.Serial, command: Command, deadline: float) -> bytes:
        """Bytes after the preamble of the next frame: LEN .. CHK."""
        buf = bytearray()
        skipped = 0
        while True:
            at = buf.find(PREAMBLE)
            if at >= 0:
                skipped += at
                del buf[: at + len(PREAMBLE)]
                break
            keep = len(PREAMBLE) - 1
            if len(buf) > keep:
                skipped += len(buf) - keep
                del buf[:-keep]
            if skipped > MAX_GARBAGE:
                raise ReaderFrameError(
                    f"no frame preamble in {skipped} bytes answering {command.label}"
                )
            buf += self._read_some(port, 1, command, deadline, got=len(buf))
        if skipped:
            log.warning("skipped %d bytes of line noise before a frame", skipped)
        while len(buf) < 2:
            buf += self._read_some(port, 2 - len(buf), command, deadline, got=len(buf))
        length = int.from_bytes(buf[:2], "big")
        if not 4 <= length <= MAX_LENGTH:
            raise ReaderFrameError(f"answer to {command.label} has impossible length {length}")
        while len(buf) < 2 + length:
            buf += self._read_some(port, 2 + length - len(buf), command, deadline, got=len(buf))
        return bytes(buf[: 2 + length])

    def _read_some(
        self, port: serial.Serial, wanted: int, command: Command, deadline: float, *, got: int
    ) -> bytes:
        if time.monotonic() >= deadline:
            raise ReaderTimeout(
                f"no complete answer to {command.label} within {self.timeout_s:g} s"
                f" ({got} bytes of the frame received)"
            )
        return port.read(max(wanted, port.in_waiting))

    def _drain(self, port: serial.Serial, quiet_s: float = 0.05, limit_s: float = 0.5) -> None:
        """After a fault, wait for the line to go quiet so a late answer cannot pair with ours."""
        end = time.monotonic() + limit_s
        last = time.monotonic()
        while time.monotonic() < end:
            if port.read(max(1, port.in_waiting)):
                last = time.monotonic()
            elif time.monotonic() - last >= quiet_s:
                return
