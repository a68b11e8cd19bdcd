"""Offline honesty and the printed receipt: the banner, a submission that still works, ESC/POS."""

from __future__ import annotations

from datetime import UTC, datetime

from ui_unit_kiosk import offline_kiosk, walk_to_review

from devices.printer.emulator import EscposPrinterEmulator
from devices.printer.escpos_printer import EscposReceiptPrinter
from terminal.flows.submission import SubmissionReceipt


def test_offline_the_home_screen_says_so_and_a_submission_is_kept_for_later(tmp_path):
    printer = EscposPrinterEmulator().start()
    try:
        port = EscposReceiptPrinter.network("127.0.0.1", printer.port)
        with offline_kiosk(tmp_path, lang="en", printer=port) as (drv, devices, _key):
            k, s = drv.kiosk, drv.kiosk.screens
            assert not k.node.parts.online()
            assert k.banner.opacity == 1 and k.banner.height > 0
            assert k.banner.text == k.t("banner.offline")
            assert "still work" in k.banner.text
            walk_to_review(drv, devices)
            drv.tap(s["review"].submit_button)
            drv.wait_screen("receipt")
            receipt = s["receipt"].receipt
            assert receipt is not None and not receipt.sent_now
            assert k.t("receipt.sent_later") in s["receipt"].lines.text
            assert k.node.outbox.backlog() > 0  # queued for when the link is back
            drv.wait_for(
                lambda: s["receipt"].printing.text == k.t("receipt.printed"),
                what="the receipt printed",
            )
            [page] = printer.wait_for_pages(1)
            assert any(receipt.application_no in line for line in page.text)
            assert [q.payload for q in page.qr_codes] == [receipt.application_no.encode()]
            assert not any("13800138000" in line for line in page.text)
            port.close()
    finally:
        printer.stop()


def test_a_printer_without_paper_tells_the_citizen_to_note_the_number(tmp_path):
    printer = EscposPrinterEmulator(paper="out").start()
    try:
        port = EscposReceiptPrinter.network("127.0.0.1", printer.port)
        with offline_kiosk(tmp_path, lang="en", printer=port) as (drv, _devices, _key):
            k, screen = drv.kiosk, drv.kiosk.screens["receipt"]
            receipt = SubmissionReceipt(
                application_no="AH-T0001-20261121-0042",
                item_code="SB-0203",
                item_name_zh="社保参保证明",
                item_name_en="Social insurance enrolment certificate",
                submitted_at=datetime(2026, 11, 21, 22, 5, tzinfo=UTC),
                materials=1,
                deposit_compartment=None,
                promised_days=1,
                sent_now=False,
            )
            k.go("receipt", receipt=receipt)
            drv.wait_for(
                lambda: screen.printing.text == k.t("receipt.print_failed.PaperOut"),
                what="the printer's failure explained",
            )
            assert "AH-T0001-20261121-0042" in screen.number.text  # the number stays on screen
            assert not [p for p in printer.pages if p.text]
            port.close()
    finally:
        printer.stop()
