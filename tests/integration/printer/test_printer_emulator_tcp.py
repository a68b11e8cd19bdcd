"""The python-escpos driver against the ESC/POS emulator over loopback TCP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from devices.printer.emulator import EscposPrinterEmulator
from devices.printer.escpos_printer import EscposReceiptPrinter
from devices.printer.port import (
    CoverOpen,
    PaperOut,
    PrintedTicket,
    PrinterError,
    PrinterOffline,
    ReceiptPrinter,
)

APPLICATION_NO = "AH-T0001-20261120-00042"


@pytest.fixture
def emulator() -> Iterator[EscposPrinterEmulator]:
    emu = EscposPrinterEmulator().start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def printer(emulator: EscposPrinterEmulator) -> Iterator[EscposReceiptPrinter]:
    p = EscposReceiptPrinter.network("127.0.0.1", emulator.port, timeout_s=2.0)
    try:
        yield p
    finally:
        p.close()


def citizen_receipt() -> PrintedTicket:
    return PrintedTicket(
        title="受理回执 Receipt",
        application_no=APPLICATION_NO,
        qr_payload=APPLICATION_NO,
        lines=(
            "事项：城乡居民养老保险参保登记",
            "材料：身份证复印件、户口簿（2 份）",
            "存件柜：3 号格",
            "手机：13800138000",
            "承诺时限：5 个工作日",
        ),
        footer="凭短信取件码取件。𠮷",  # 𠮷 needs a 4-byte GB18030 sequence
    )


def test_a_chinese_receipt_with_its_qr_code_arrives_intact(
    emulator: EscposPrinterEmulator, printer: ReceiptPrinter
) -> None:
    printer.print_receipt(citizen_receipt())
    (page,) = emulator.wait_for_pages(1)
    assert page.text == [
        "受理回执 Receipt",
        APPLICATION_NO,
        "事项：城乡居民养老保险参保登记",
        "材料：身份证复印件、户口簿（2 份）",
        "存件柜：3 号格",
        "手机：138****8000",
        "承诺时限：5 个工作日",
        "凭短信取件码取件。𠮷",
    ]
    title = page.lines[0]
    assert (title.align, title.bold, title.width, title.height) == ("center", True, 2, 2)
    assert page.lines[2].align == "left" and not page.lines[2].bold
    (qr,) = page.qr_codes
    assert qr.payload.decode() == APPLICATION_NO
    assert (qr.model, qr.module_size, qr.error_correction, qr.printed) == (2, 6, "M", True)
    assert page.cut
    assert emulator.unknown == []


def test_two_receipts_are_two_cut_pages(
    emulator: EscposPrinterEmulator, printer: EscposReceiptPrinter
) -> None:
    printer.print_receipt(citizen_receipt())
    printer.print_receipt(
        PrintedTicket(title="回执", application_no="AH-2", qr_payload="AH-2", lines=("第二位",))
    )
    pages = emulator.wait_for_pages(2)
    assert [p.qr_codes[0].payload for p in pages] == [APPLICATION_NO.encode(), b"AH-2"]
    assert pages[1].text == ["回执", "AH-2", "第二位"]


def test_status_reports_paper_low_and_out(
    emulator: EscposPrinterEmulator, printer: EscposReceiptPrinter
) -> None:
    assert printer.status().paper == "ok"
    emulator.paper = "low"
    assert printer.status().paper == "low"
    emulator.paper = "out"
    s = printer.status()
    assert (s.paper, s.online, s.can_print) == ("out", False, False)
    assert emulator.status_requests[-3:] == ["DLE EOT 1", "DLE EOT 2", "DLE EOT 4"]


def test_low_paper_still_prints(
    emulator: EscposPrinterEmulator, printer: EscposReceiptPrinter
) -> None:
    emulator.paper = "low"
    printer.print_receipt(citizen_receipt())
    assert emulator.wait_for_pages(1)[0].qr_codes[0].payload == APPLICATION_NO.encode()


def test_paper_out_is_a_clear_error_with_the_low_paper_alarm(
    emulator: EscposPrinterEmulator, printer: EscposReceiptPrinter
) -> None:
    emulator.paper = "out"
    with pytest.raises(PaperOut) as info:
        printer.print_receipt(citizen_receipt())
    assert info.value.alarm == "low_paper"
    assert "paper out" in str(info.value)
    assert emulator.pages == [] and emulator.dropped_bytes == 0  # nothing was even sent
    emulator.paper = "ok"  # staff reload the roll
    printer.print_receipt(citizen_receipt())
    assert len(emulator.wait_for_pages(1)) == 1
    assert printer.diagnostics()["failures"] == 1


def test_cover_open_is_refused(
    emulator: EscposPrinterEmulator, printer: EscposReceiptPrinter
) -> None:
    emulator.cover_open = True
    with pytest.raises(CoverOpen):
        printer.print_receipt(citizen_receipt())
    assert printer.status().cover_open


def test_a_printer_that_does_not_answer_status_is_offline(emulator: EscposPrinterEmulator) -> None:
    emulator.mute = True
    with EscposReceiptPrinter.network("127.0.0.1", emulator.port, timeout_s=0.2) as printer:
        with pytest.raises(PrinterOffline, match="DLE EOT 1"):
            printer.status()
        facts = printer.diagnostics()
        assert "PrinterOffline" in str(facts["status_error"])
    emulator.mute = False
    with EscposReceiptPrinter.network("127.0.0.1", emulator.port, timeout_s=2.0) as printer:
        assert printer.status().paper == "ok"  # answering again, it is online again


def test_no_printer_listening_is_offline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        printer = EscposReceiptPrinter.network("127.0.0.1", port, timeout_s=0.5)
        with printer, pytest.raises(PrinterError) as info:
            printer.print_receipt(citizen_receipt())
    assert isinstance(info.value, PrinterOffline)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_the_emulator_reassembles_commands_split_across_packets(
    emulator: EscposPrinterEmulator,
) -> None:
    from escpos.printer import Dummy

    dummy = Dummy()
    dummy._read = lambda: b"\x12"  # the Dummy transport cannot read; answer "all fine"
    EscposReceiptPrinter(dummy, target="dummy").print_receipt(citizen_receipt())
    stream = dummy.output.replace(b"\x10\x04\x01\x10\x04\x02\x10\x04\x04", b"")
    with socket.create_connection(("127.0.0.1", emulator.port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(stream)):
            conn.sendall(stream[i : i + 1])
        (page,) = emulator.wait_for_pages(1)
    assert page.text[-1] == "凭短信取件码取件。𠮷"
    assert page.qr_codes[0].payload == APPLICATION_NO.encode()


def test_random_bytes_never_kill_the_emulator(emulator: EscposPrinterEmulator) -> None:
    import random

    rng = random.Random(9100)
    alphabet = [0x0A, 0x10, 0x1B, 0x1C, 0x1D, 0x04, 0x28, 0x6B, 0x31, 0x50, 0x56, 0xB0, 0xA1]
    with socket.create_connection(("127.0.0.1", emulator.port)) as conn:
        for _ in range(200):
            chunk = bytes(
                rng.choice(alphabet) if rng.random() < 0.5 else rng.randrange(256)
                for _ in range(rng.randrange(1, 64))
            )
            conn.sendall(chunk)
    # Whatever it made of that, it still serves the next receipt.
    with EscposReceiptPrinter.network("127.0.0.1", emulator.port, timeout_s=2.0) as printer:
        before = len(emulator.pages)
        printer.print_receipt(citizen_receipt())
        page = emulator.wait_for_pages(before + 1)[-1]
    # Lines the noise printed stay on the paper above; the receipt follows them intact.
    assert page.text[-8:][0] == "受理回执 Receipt" and page.text[-1] == "凭短信取件码取件。𠮷"
    assert page.qr_codes[-1].payload == APPLICATION_NO.encode()
