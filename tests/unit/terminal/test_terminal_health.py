"""The terminal's health report from real device ports: the ESC/POS printer emulator over TCP
(paper, cover), an emulated lock board, the scripted card reader, a generated camera."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from devices.camera.emulated import GeneratedPageSource
from devices.camera.opencv import OpenCvCamera
from devices.identity.emulated import ScriptedIdentityReader
from devices.lock.emulated import EmulatedLockBoard
from devices.printer.emulator import EscposPrinterEmulator
from devices.printer.escpos_printer import EscposReceiptPrinter
from terminal import health


class _GoneReader:
    """A card reader whose USB device has vanished: it cannot even describe itself."""

    def diagnostics(self) -> dict[str, object]:
        raise OSError(19, "No such device")


def _devices(printer=None, reader=None):
    return SimpleNamespace(
        identity_reader=reader or ScriptedIdentityReader([]),
        face_camera=GeneratedPageSource("face"),
        document_camera_diagnostics=None,
        printer=printer,
        removable_media=None,
    )


def test_paper_low_cover_open_and_out_are_reported_from_the_printer_itself():
    emulator = EscposPrinterEmulator(paper="low").start()
    try:
        printer = EscposReceiptPrinter.network("127.0.0.1", emulator.port)
        board = EmulatedLockBoard()
        reports = health.device_reports(_devices(printer), {"main": board.diagnostics()})
        p = reports["printer"]
        assert (p.ok, p.detail, p.data["paper"]) == (True, "paper low", "low")
        assert reports["lock_board"].ok and reports["lock_board"].data["driver"] == "emulated"
        assert reports["card_reader"].ok and reports["face_camera"].ok

        emulator.cover_open = True
        emulator.paper = "out"
        p = health.device_reports(_devices(printer), {})["printer"]
        assert not p.ok
        # A real ESC/POS printer also reports itself offline while its cover is open.
        assert "cover open" in p.detail and "paper out" in p.detail
        printer.close()
    finally:
        emulator.stop()


def test_a_printer_that_does_not_answer_and_a_vanished_reader_are_not_ok():
    emulator = EscposPrinterEmulator().start()
    printer = EscposReceiptPrinter.network("127.0.0.1", emulator.port, timeout_s=1)
    emulator.stop()
    reports = health.device_reports(_devices(printer, _GoneReader()), {})
    assert not reports["printer"].ok
    assert not reports["card_reader"].ok
    assert reports["card_reader"].detail.startswith("gone: OSError")


def test_a_disconnected_lock_board_is_not_ok_and_facts_are_bounded():
    board = EmulatedLockBoard()
    facts = board.diagnostics() | {"connected": False, "notes": "x" * 500}
    facts |= {f"extra{i}": i for i in range(40)}
    report = health.port_health("lock_board", lambda: facts)
    assert not report.ok and report.detail == "not connected"
    assert len(report.data) == health.MAX_FACTS
    assert all(len(v) <= 120 for v in report.data.values() if isinstance(v, str))


def test_disk_usage_of_the_data_directory(tmp_path):
    free, total = health.disk_usage(tmp_path)
    assert total and 0 < free <= total
    assert health.disk_usage(tmp_path / "missing") == (None, None)


def test_a_document_camera_whose_device_node_vanished_is_not_connected(tmp_path):
    """A V4L2 camera unplugged keeps its open handle but loses /dev/videoN: that is "gone"."""
    path = tmp_path / "doc.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(3):
        writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    cam = OpenCvCamera(str(path), settle_frames=1, lock_exposure=False)
    try:
        devices = _devices()
        devices.document_camera_diagnostics = cam.diagnostics
        assert health.device_reports(devices, {})["document_camera"].ok
        cam.source = "/dev/video-unplugged-for-this-test"  # the node the device had
        report = health.device_reports(devices, {})["document_camera"]
        assert (report.ok, report.detail, report.data["present"]) == (False, "not connected", False)
    finally:
        cam.close()


def test_a_training_terminal_reports_its_emulated_document_camera(tmp_path):
    """A training terminal's health listed no document camera, as if it had none."""
    devices = EmulatedDevices()
    node = training_terminal(enrolled_offline(tmp_path / "terminal"), devices=devices).node
    try:
        devices.document_camera("id-card", 1)  # a scanning session takes a source
        reports = node.telemetry().devices
        assert {"card_reader", "face_camera", "document_camera", "usb_port"} <= set(reports)
        camera = reports["document_camera"]
        assert camera.ok and camera.data["driver"] == "emulated-document-camera"
        assert camera.data["sessions"] == 1
    finally:
        node.stop()
