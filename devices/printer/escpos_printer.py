"""Receipt printing through python-escpos: network (TCP 9100), serial or USB ESC/POS printers.

Chinese text goes out in the printer's Chinese character mode (FS &) as GB18030 bytes, which
is what printers sold in mainland China print by default in that mode; python-escpos's own
code-page encoder has no double-byte code pages. Status comes from real-time status
requests (DLE EOT 1, 2 and 4), which printers answer even while busy or offline.
"""

from __future__ import annotations

import logging
import threading

from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError

from .port import CoverOpen, PaperOut, PrintedTicket, PrinterError, PrinterOffline, PrinterStatus

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
FS_CHINESE_ON = b"\x1c\x26"  # FS &: select Chinese character mode
FS_CHINESE_OFF = b"\x1c\x2e"  # FS .: cancel Chinese character mode


def decode_status(printer_b: int, offline_b: int, paper_b: int) -> PrinterStatus:
    """PrinterStatus from the answers to DLE EOT 1, 2 and 4; PrinterError if they are not status."""
    for n, b in ((1, printer_b), (2, offline_b), (4, paper_b)):
        # Bits 1 and 4 are always 1 and bits 0 and 7 always 0 in a real-time status byte.
        if b & 0x93 != 0x12:
            raise PrinterError(f"answer {b:#04x} to DLE EOT {n} is not a real-time status byte")
    if paper_b & 0x60:
        paper = "out"
    elif paper_b & 0x0C:
        paper = "low"
    else:
        paper = "ok"
    return PrinterStatus(
        online=not printer_b & 0x08,
        paper=paper,
        cover_open=bool(offline_b & 0x04),
        raw={"dle_eot_1": printer_b, "dle_eot_2": offline_b, "dle_eot_4": paper_b},
    )


class EscposReceiptPrinter:
    """A ReceiptPrinter on any python-escpos transport; build one with network/serial/usb."""

    def __init__(
        self,
        printer: Escpos,
        *,
        target: str,
        chinese: bool = True,
        qr_size: int = 6,
    ) -> None:
        self._printer = printer
        self.target = target
        self.chinese = chinese
        self.qr_size = qr_size
        self._lock = threading.Lock()
        self._connected = False
        self._printed = 0
        self._failures = 0
        self._last_error: str | None = None

    @classmethod
    def network(
        cls, host: str, port: int = 9100, *, timeout_s: float = 5.0, **kw: object
    ) -> EscposReceiptPrinter:
        """A printer on the network (raw TCP, usually port 9100)."""
        from escpos.printer import Network

        return cls(Network(host, port=port, timeout=timeout_s), target=f"tcp://{host}:{port}", **kw)

    @classmethod
    def serial(
        cls, devfile: str, *, baudrate: int = 9600, timeout_s: float = 0.5, **kw: object
    ) -> EscposReceiptPrinter:
        """A printer on a serial port."""
        from escpos.printer import Serial

        printer = Serial(devfile=devfile, baudrate=baudrate, timeout=timeout_s)
        return cls(printer, target=f"serial://{devfile}@{baudrate}", **kw)

    @classmethod
    def usb(
        cls, vendor_id: int, product_id: int, *, timeout_ms: int = 2000, **kw: object
    ) -> EscposReceiptPrinter:
        """A USB printer-class device."""
        from escpos.printer import Usb

        printer = Usb(vendor_id, product_id, timeout=timeout_ms)
        return cls(printer, target=f"usb://{vendor_id:04x}:{product_id:04x}", **kw)

    # -- the port ---------------------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """Ask the printer (DLE EOT 1, 2, 4)."""
        with self._lock:
            return self._status()

    def print_receipt(self, receipt: PrintedTicket) -> None:
        """Check the printer can print, print, cut, then check the paper lasted."""
        with self._lock:
            try:
                self._refuse_unless_ready(self._status(), before=True)
                self._send(receipt)
                self._refuse_unless_ready(self._status(), before=False)
            except PrinterError as exc:
                self._failures += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning("receipt not printed: %s", self._last_error)
                raise
            self._printed += 1

    def diagnostics(self) -> dict[str, object]:
        """Counters and a live status when the printer answers."""
        facts: dict[str, object] = {
            "driver": "escpos",
            "target": self.target,
            "chinese_mode": self.chinese,
            "printed": self._printed,
            "failures": self._failures,
            "last_error": self._last_error,
        }
        try:
            s = self.status()
            facts.update(online=s.online, paper=s.paper, cover_open=s.cover_open)
        except PrinterError as exc:
            facts["status_error"] = f"{type(exc).__name__}: {exc}"
        return facts

    def close(self) -> None:
        """Close the connection; the next call opens it again."""
        with self._lock:
            self._disconnect()

    def __enter__(self) -> EscposReceiptPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    def _refuse_unless_ready(self, s: PrinterStatus, *, before: bool) -> None:
        when = "before printing" if before else "after printing (the receipt may be incomplete)"
        if s.paper == "out":
            raise PaperOut(f"{self.target}: paper out {when}")
        if s.cover_open:
            raise CoverOpen(f"{self.target}: cover open {when}")
        if not s.online:
            raise PrinterOffline(f"{self.target}: printer reports offline {when}")
        if s.paper == "low":
            log.warning("%s: paper near its end", self.target)

    def _connect(self) -> None:
        """Open the transport unless it is open; PrinterOffline if the printer is not there."""
        if self._connected:
            return
        try:
            self._printer.open()
        except Exception as exc:  # each transport fails to open in its own way (escpos, OS, pyusb)
            self._disconnect()
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise PrinterOffline(f"{self.target}: cannot open the printer: {reason}") from exc
        self._connected = True

    def _status(self) -> PrinterStatus:
        self._connect()
        answers = [self._query(n) for n in (1, 2, 4)]
        return decode_status(*answers)

    def _query(self, n: int) -> int:
        try:
            self._printer._raw(DLE_EOT + bytes((n,)))
            answer = self._printer._read()
        except (OSError, EscposError) as exc:
            self._disconnect()
            raise PrinterOffline(f"{self.target}: no answer to DLE EOT {n}: {exc}") from exc
        if not answer:
            self._disconnect()
            raise PrinterOffline(f"{self.target}: empty answer to DLE EOT {n}")
        return answer[-1]  # the newest byte, should an automatic status have come before it

    def _send(self, receipt: PrintedTicket) -> None:
        self._connect()
        p = self._printer
        try:
            p.hw("INIT")
            if self.chinese:
                p._raw(FS_CHINESE_ON)
            p.set(align="center", bold=True, double_height=True, double_width=True)
            self._line(receipt.title)
            p.set(normal_textsize=True, bold=True)
            self._line(receipt.application_no)
            p.set(bold=False, align="left")
            for line in receipt.lines:
                self._line(line)
            p.set(align="center")
            p.qr(receipt.qr_payload, native=True, size=self.qr_size, ec=QR_ECLEVEL_M)
            if receipt.footer:
                self._line(receipt.footer)
            p.set(align="left")
            if self.chinese:
                p._raw(FS_CHINESE_OFF)
            p.cut()
        except (OSError, EscposError) as exc:
            self._disconnect()
            raise PrinterOffline(f"{self.target}: sending the receipt failed: {exc}") from exc

    def _line(self, text: str) -> None:
        if self.chinese:
            self._printer._raw(text.encode("gb18030") + b"\n")
        else:
            self._printer.textln(text)

    def _disconnect(self) -> None:
        """Drop the connection whatever state it is in, so that the next use opens it again."""
        self._connected = False
        try:
            self._printer.close()
        except Exception as exc:  # a vanished serial adapter fails even to flush (termios.error)
            log.debug("%s: closing after a failure: %r", self.target, exc)
        # python-escpos leaves device None after a failed open, and its close() then does
        # nothing; False is its "never opened" state, from which open() starts afresh.
        self._printer.device = False
