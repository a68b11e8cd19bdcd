"""A kiosk built by the bootstrap from real-device settings, every device a wire-level emulator
configured as the real thing: the ID card reader on a pty (GA/T 467), the locker's RS-485 board
on a pty, OpenCV cameras reading image files and an ESC/POS printer on TCP. The terminal has
what its enrollment carries (materials reuse and identity-checked pickups need the applicant
key) and the printer prints and reports its health in telemetry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from cnid_support import CITIZEN_NUMBER, LOCKER
from enrolled_terminal import enrolled

from allhours.bootstrap import build_terminal
from allhours.settings import SettingsError, describe, load_terminal_config
from cloud_bridge.contract import applicant_ref, pickup_code
from cloud_bridge.contract import messages as m
from devices.identity.cnid import CnIdReader
from devices.lock.rs485_board import Rs485LockBoard
from devices.printer.port import PrintedTicket
from terminal.flows.pickup import PickupStep
from terminal.flows.staff import StaffMember

CLERK = StaffMember("clerk.test", "", "STAFF-test")
IDENTITY_ITEM = "GS-0307"  # its pickup asks for the holder's identity
CODE = "482913"


def _frames(folder: Path) -> str:
    folder.mkdir()
    for i in range(12):
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), np.full((480, 640, 3), 90 + i, np.uint8))
    return str(folder / "frame_%03d.png")


def _settings(tmp_path: Path, reader: str, rs485: str, printer_port: int) -> Path:
    (tmp_path / "locker.toml").write_text(LOCKER.format(port=rs485))
    face, docs = _frames(tmp_path / "face"), _frames(tmp_path / "docs")
    (tmp_path / "devices.toml").write_text(
        'locker = "locker.toml"\n'
        f'[identity]\nkind = "cnid"\nport = "{reader}"\n'
        f'[face_camera]\ndevice = "{face}"\nwidth = 640\nheight = 480\n'
        f'[document_camera]\ndevice = "{docs}"\nwidth = 640\nheight = 480\n'
    )
    path = tmp_path / "terminal.toml"
    path.write_text(
        f'data_dir = "{enrolled(tmp_path)}"\n'
        'devices = "devices.toml"\n'
        f'[printer]\nurl = "tcp://127.0.0.1:{printer_port}"\n'
    )
    return path


def test_a_kiosk_from_real_device_settings_has_reuse_identity_pickup_and_its_printer(
    tmp_path, emulator, rs485, printer
):
    config = load_terminal_config(
        _settings(tmp_path, emulator.device, rs485, printer.port), m.utcnow()
    )
    # What `allhours config check` prints for it: the mode, the files, the keys by fingerprint.
    shown = "\n".join(describe(config))
    assert "real devices" in shown and str(tmp_path / "devices.toml") in shown
    assert f"tcp://127.0.0.1:{printer.port}" in shown
    assert config.identity.bundle.applicant_key.hex() not in shown
    terminal = build_terminal(config)
    node, bundle = terminal.node, config.identity.bundle
    try:
        assert not terminal.training
        assert isinstance(node.devices.identity_reader, CnIdReader)
        assert isinstance(node.locker.boards.board("cab1"), Rs485LockBoard)
        # Every key of the enrollment: reuse and holder checks need the applicant key.
        assert node.parts.applicant_key == bundle.applicant_key
        assert node.on_file._key == bundle.applicant_key
        assert node.link.settings.backend_keys == bundle.backend_signing_keys
        assert node.link.settings.tls is not None and node.link.settings.renewal is not None

        # An identity-checked pickup: the code alone opens nothing; the card read on the
        # reader's wire is the holder's under the bundle's applicant key.
        holder = applicant_ref.digest(bundle.applicant_key, "cn_resident_id", CITIZEN_NUMBER)
        now = node.clock()
        ack = node.dispatcher.dispatch(
            m.LoadResult(
                terminal_id=bundle.terminal_id,
                operation_id="L-1",
                load_id="L-1",
                application_no="AH-T0001-20261204-0001",
                expires_at=now + timedelta(hours=1),
                item_code=IDENTITY_ITEM,
                holder_ref=holder,
            ),
            1,
        )
        assert ack is not None and ack.outcome == m.AckOutcome.DONE, ack
        staff = node.staff(CLERK)
        staff.open_for_load("L-1")
        staff.confirm_loaded("L-1")
        armed = node.dispatcher.dispatch(
            m.SetPickupCode(
                terminal_id=bundle.terminal_id,
                operation_id="L-1#1",
                load_id="L-1",
                application_no="AH-T0001-20261204-0001",
                code_digest=pickup_code.digest(bundle.pickup_code_key, bundle.terminal_id, CODE),
                code_expires_at=now + timedelta(days=3),
                expires_at=now + timedelta(hours=1),
            ),
            2,
        )
        assert armed is not None and armed.outcome == m.AckOutcome.DONE, armed
        flow = node.pickup()
        assert flow.enter_code(CODE) is None
        assert flow.step == PickupStep.IDENTITY and flow.needs_identity
        document = flow.read_identity(timeout_s=5)
        assert document.number == CITIZEN_NUMBER
        assert (
            applicant_ref.digest(node.parts.applicant_key, document.document_type, document.number)
            == holder
        )

        # The printer: a receipt comes out of the ESC/POS wire, and telemetry reports it.
        terminal.printer.print_receipt(
            PrintedTicket("办理回执", "AH-T0001-20261204-0001", "https://example/q/1")
        )
        [page] = printer.wait_for_pages(1, timeout=10)
        assert any("AH-T0001-20261204-0001" in line.text for line in page.lines)
        assert node.telemetry().devices["printer"].ok
        printer.paper = "out"
        health = node.telemetry().devices["printer"]
        assert not health.ok and "paper out" in health.detail
    finally:
        terminal.close()
        node.devices.identity_reader.close()
        node.devices.face_camera.close()


def test_real_device_settings_with_a_broken_devices_file_name_both_files(tmp_path):
    (tmp_path / "devices.toml").write_text(
        'locker = "locker.toml"\n[identity]\nkind = "magstripe"\n'
    )
    path = tmp_path / "terminal.toml"
    path.write_text(f'data_dir = "{enrolled(tmp_path)}"\ndevices = "devices.toml"\n')
    config = load_terminal_config(path, m.utcnow())
    with pytest.raises(SettingsError) as refused:
        build_terminal(config)
    message = str(refused.value)
    assert str(path) in message and str(tmp_path / "devices.toml") in message
    assert "identity.kind" in message
