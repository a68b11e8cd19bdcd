"""The receipt as ESC/POS bytes (python-escpos Dummy transport), status decoding and masking."""

from __future__ import annotations

import pytest
from escpos.printer import Dummy

from devices.printer.escpos_printer import EscposReceiptPrinter, decode_status
from devices.printer.port import PaperOut, PrintedTicket, PrinterError


class AnsweringDummy(Dummy):
    """python-escpos's Dummy, answering every status request with one fixed byte."""

    def __init__(self, status: int = 0x12) -> None:
        super().__init__()
        self.status_byte = status

    def _read(self) -> bytes:
        return bytes((self.status_byte,))


def receipt() -> PrintedTicket:
    return PrintedTicket(
        title="受理回执",
        application_no="AH-T0001-20261120-00001",
        qr_payload="https://gov.example/q?no=AH-T0001-20261120-00001",
        lines=("事项：居住证签注", "手机：13800138000"),
        footer="谢谢",
    )


def test_wire_bytes_hold_chinese_mode_gb18030_text_qr_store_and_cut() -> None:
    dummy = AnsweringDummy()
    EscposReceiptPrinter(dummy, target="dummy").print_receipt(receipt())
    out = dummy.output
    assert out.startswith(b"\x10\x04\x01\x10\x04\x02\x10\x04\x04\x1b@\x1c&")  # status, init, FS &
    assert "受理回执\n".encode("gb18030") in out
    assert "手机：138****8000\n".encode("gb18030") in out
    assert b"13800138000" not in out
    payload = b"https://gov.example/q?no=AH-T0001-20261120-00001"
    # GS ( k pL pH cn=49 fn=80 m=48 data: store the QR symbol; then fn=81 prints it.
    store = b"\x1d(k" + (len(payload) + 3).to_bytes(2, "little") + b"1P0" + payload
    assert store in out
    assert out.index(store) < out.index(b"\x1d(k\x03\x001Q0")
    assert b"\x1c." in out and b"\x1dV\x00" in out  # FS . then a full cut
    assert out.endswith(b"\x10\x04\x01\x10\x04\x02\x10\x04\x04")  # status checked afterwards


def test_without_chinese_mode_text_goes_through_python_escpos_encoding() -> None:
    dummy = AnsweringDummy()
    printer = EscposReceiptPrinter(dummy, target="dummy", chinese=False)
    printer.print_receipt(
        PrintedTicket(
            title="Receipt", application_no="AH-1", qr_payload="AH-1", lines=("Item: permit",)
        )
    )
    assert b"\x1c&" not in dummy.output
    assert b"Item: permit" in dummy.output


def test_paper_out_refuses_before_sending_anything() -> None:
    dummy = AnsweringDummy(0x12 | 0x60 | 0x0C)
    with pytest.raises(PaperOut) as info:
        EscposReceiptPrinter(dummy, target="dummy").print_receipt(receipt())
    assert info.value.alarm == "low_paper"
    assert "受理".encode("gb18030") not in dummy.output


@pytest.mark.parametrize(
    ("answers", "online", "paper", "cover"),
    [
        ((0x12, 0x12, 0x12), True, "ok", False),
        ((0x12, 0x12, 0x1E), True, "low", False),
        ((0x1A, 0x32, 0x7E), False, "out", False),
        ((0x1A, 0x16, 0x12), False, "ok", True),
    ],
)
def test_real_time_status_bytes(answers, online, paper, cover) -> None:
    s = decode_status(*answers)
    assert (s.online, s.paper, s.cover_open) == (online, paper, cover)


def test_a_byte_that_is_not_status_is_refused() -> None:
    with pytest.raises(PrinterError, match="not a real-time status byte"):
        decode_status(0x41, 0x12, 0x12)


def test_receipts_never_hold_a_phone_or_id_number() -> None:
    r = PrintedTicket(
        title="回执",
        application_no="AH-2",
        qr_payload="AH-2",
        lines=("联系电话 13912345678", "证件 11010519491231002X"),
        footer="客服 13800138000",
    )
    assert r.lines == ("联系电话 139****5678", "证件 1101**********002X")
    assert r.footer == "客服 138****8000"


def test_a_receipt_needs_its_application_number() -> None:
    with pytest.raises(ValueError, match="application number"):
        PrintedTicket(title="x", application_no="", qr_payload="x")
