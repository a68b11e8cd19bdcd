"""A printer that is off, unplugged or unreachable is PrinterOffline, and used again once back."""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.printer.emulator import EscposPrinterEmulator
from devices.printer.escpos_printer import EscposReceiptPrinter
from devices.printer.port import PrintedTicket, PrinterOffline

APPLICATION_NO = "AH-T0001-20261120-00077"


@pytest.fixture
def switched_off_printer() -> Iterator[EscposPrinterEmulator]:
    """A network printer with an address, switched off before the kiosk starts."""
    emu = EscposPrinterEmulator().start()
    emu.switch_off()
    try:
        yield emu
    finally:
        emu.stop()


def receipt() -> PrintedTicket:
    return PrintedTicket(
        title="受理回执",
        application_no=APPLICATION_NO,
        qr_payload=APPLICATION_NO,
        lines=("事项：居住证签注",),
    )


def test_a_printer_switched_on_after_the_kiosk_started_prints_the_next_receipt(
    switched_off_printer: EscposPrinterEmulator,
) -> None:
    emu = switched_off_printer
    with EscposReceiptPrinter.network("127.0.0.1", emu.port, timeout_s=2.0) as printer:
        for _ in range(3):  # telemetry polls while the printer is still off
            with pytest.raises(PrinterOffline, match=f"127.0.0.1:{emu.port}"):
                printer.status()
        facts = printer.diagnostics()
        assert "PrinterOffline" in str(facts["status_error"]) and "online" not in facts
        with pytest.raises(PrinterOffline):
            printer.print_receipt(receipt())

        emu.switch_on()
        assert printer.status().can_print
        printer.print_receipt(receipt())
        (page,) = emu.wait_for_pages(1)
        assert page.text == ["受理回执", APPLICATION_NO, "事项：居住证签注"]
        assert page.qr_codes[0].payload == APPLICATION_NO.encode()
        assert printer.diagnostics()["online"] is True
        assert (printer.diagnostics()["printed"], printer.diagnostics()["failures"]) == (1, 1)


def test_a_printer_power_cycled_between_receipts_is_used_again(
    switched_off_printer: EscposPrinterEmulator,
) -> None:
    emu = switched_off_printer.switch_on()
    with EscposReceiptPrinter.network("127.0.0.1", emu.port, timeout_s=2.0) as printer:
        printer.print_receipt(receipt())
        emu.switch_off()  # the connection drops, then nothing answers at the address
        for _ in range(2):
            with pytest.raises(PrinterOffline):
                printer.status()
        emu.switch_on()
        printer.print_receipt(receipt())
        assert len(emu.wait_for_pages(2)) == 2
    assert emu.unknown == []


class SerialPrinter:
    """A serial printer on a pseudo-terminal, at a device file that exists only while plugged in.

    It answers each DLE EOT n with "all fine" and keeps every byte it received.
    """

    def __init__(self, devfile: Path) -> None:
        self.devfile = devfile
        self.received = bytearray()
        self._pty: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def plug_in(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._pty = master, slave
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, args=(master,), name="serial-printer")
        self._thread.start()
        self.devfile.symlink_to(os.ttyname(slave))

    def unplug(self) -> None:
        """The adapter goes: the open port hangs up and the device file disappears."""
        if self._pty is None:
            return
        self.devfile.unlink()
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=5)
        for fd in self._pty:
            os.close(fd)
        self._pty = None

    def _serve(self, master: int) -> None:
        answered = 0
        while not self._stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            self.received += os.read(master, 4096)
            asked = self.received.count(b"\x10\x04")
            os.write(master, b"\x12" * (asked - answered))
            answered = asked


@pytest.fixture
def serial_printer(tmp_path: Path) -> Iterator[SerialPrinter]:
    """A serial printer not plugged in yet."""
    printer = SerialPrinter(tmp_path / "ttyUSB0")
    try:
        yield printer
    finally:
        printer.unplug()


def test_a_serial_printer_plugged_in_after_the_kiosk_started_is_used(
    serial_printer: SerialPrinter,
) -> None:
    with EscposReceiptPrinter.serial(str(serial_printer.devfile), timeout_s=0.1) as printer:
        for _ in range(2):
            with pytest.raises(PrinterOffline, match="ttyUSB0"):
                printer.status()
        serial_printer.plug_in()
        assert printer.status().can_print
        printer.print_receipt(receipt())
    assert "受理回执\n".encode("gb18030") in serial_printer.received


def test_a_serial_printer_unplugged_and_plugged_back_in_is_used_again(
    serial_printer: SerialPrinter,
) -> None:
    serial_printer.plug_in()
    with EscposReceiptPrinter.serial(str(serial_printer.devfile), timeout_s=0.1) as printer:
        assert printer.status().can_print
        serial_printer.unplug()  # closing the hung-up port fails too (termios.error)
        for _ in range(2):
            with pytest.raises(PrinterOffline):
                printer.status()
        serial_printer.plug_in()
        assert printer.status().can_print


def test_an_absent_usb_printer_stays_offline_on_every_call() -> None:
    printer = EscposReceiptPrinter.usb(0xFFFF, 0xFFFF)  # no such device on any bus
    with printer:
        for _ in range(2):
            with pytest.raises(PrinterOffline, match="usb://ffff:ffff"):
                printer.status()
        assert "PrinterOffline" in str(printer.diagnostics()["status_error"])
