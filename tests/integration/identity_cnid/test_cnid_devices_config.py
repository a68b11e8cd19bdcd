"""A terminal's devices from its TOML file: the ID card reader on its serial port (here the pty
emulator), OpenCV cameras (here image sequences read by OpenCV), and the locker's boards."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from cnid_support import CITIZEN_NUMBER
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import build_terminal
from allhours.devices_config import DevicesConfigError, load_devices
from allhours.settings import load_terminal_config
from cloud_bridge.contract import messages as m
from devices.camera.opencv import OpenCvCamera
from devices.identity.cnid import CnIdReader
from terminal.flows.session import FlowError
from terminal.flows.submission import Step

LOCKER = """
[locker]
[[locker.board]]
id = "main"
kind = "emulated"
channels = 4
doors = true
[[locker.compartment]]
id = "A01"
size = "S"
board = "main"
channel = 1
door = "same"
"""


def frames(folder: Path, n: int = 12) -> str:
    folder.mkdir()
    for i in range(n):
        rgb = np.full((480, 640, 3), 90 + i, np.uint8)
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), rgb)
    return str(folder / "frame_%03d.png")


def write_config(tmp_path: Path, identity: str) -> Path:
    (tmp_path / "locker.toml").write_text(LOCKER)
    face, docs = frames(tmp_path / "face"), frames(tmp_path / "docs")
    path = tmp_path / "devices.toml"
    path.write_text(
        f'locker = "locker.toml"\n'
        f"{identity}\n"
        f'[face_camera]\ndevice = "{face}"\nwidth = 640\nheight = 480\n'
        f'[document_camera]\ndevice = "{docs}"\nwidth = 640\nheight = 480\n'
    )
    return path


def test_the_configured_reader_cameras_and_locker_serve_a_citizen(tmp_path, emulator):
    path = write_config(tmp_path, f'[identity]\nkind = "cnid"\nport = "{emulator.device}"')
    (tmp_path / "terminal.toml").write_text(
        f'data_dir = "{enrolled_offline(tmp_path / "terminal")}"\ndevices = "{path.name}"\n'
    )
    node = build_terminal(load_terminal_config(tmp_path / "terminal.toml", m.utcnow())).node
    devices = node.devices
    assert isinstance(devices.identity_reader, CnIdReader)
    assert isinstance(devices.face_camera, OpenCvCamera)
    assert devices.live_face_check is True
    assert [c.id for c in node.locker.compartments()] == ["A01"]
    try:
        flow = node.submission()
        document = flow.read_identity(timeout_s=5)
        assert document.number == CITIZEN_NUMBER and document.photo is None
        # No WLT decoder and no remote verification configured: the staff check, said plainly.
        with pytest.raises(FlowError, match="staff-assisted"):
            flow.verify_face()
        assert flow.step == Step.STAFF_ASSIST
    finally:
        node.stop()
        devices.identity_reader.close()
        devices.face_camera.close()


@pytest.mark.parametrize(
    ("identity", "complaint"),
    [
        ('[identity]\nkind = "magstripe"', "identity.kind"),
        ('[identity]\nkind = "cnid"', "identity.port"),
        (
            '[identity]\nkind = "emrtd"\n[identity.remote_verify]\nurl = "https://x"',
            "api_key_file",
        ),
    ],
)
def test_a_bad_devices_file_names_the_key_before_any_citizen_is_served(
    tmp_path, identity, complaint
):
    with pytest.raises(DevicesConfigError, match=complaint) as err:
        load_devices(write_config(tmp_path, identity))
    assert str(tmp_path / "devices.toml") in str(err.value)


def test_a_missing_camera_stops_start_up_with_its_name(tmp_path):
    path = write_config(tmp_path, '[identity]\nkind = "emrtd"')
    text = path.read_text().replace(str(tmp_path / "face"), str(tmp_path / "nowhere"))
    path.write_text(text)
    with pytest.raises(DevicesConfigError, match="face_camera"):
        load_devices(path)


@pytest.mark.parametrize(
    ("camera", "complaint"),
    [
        ('device = 0\nuser = "kiosk"\npassword_file = "camera.pass"', "only a network camera"),
        ('device = "http://127.0.0.1:9/stream.mjpg"\nuser = "kiosk"', "go together"),
        (
            'device = "http://kiosk:pw@127.0.0.1:9/stream.mjpg"\nuser = "kiosk"\n'
            'password_file = "camera.pass"',
            "the account goes in user",
        ),
        (
            'device = "http://127.0.0.1:9/stream.mjpg"\nuser = "kiosk"\n'
            'password_file = "missing.pass"',
            "face_camera.password_file",
        ),
        (
            'device = "rtsp://127.0.0.1:9/live"\nuser = "k@x"\npassword_file = "camera.pass"',
            "no ':', '@' or '/'",
        ),
    ],
    ids=["not-a-url", "no-password", "account-in-url", "no-password-file", "bad-user"],
)
def test_a_network_cameras_account_is_checked_before_the_camera_is_opened(
    tmp_path, camera, complaint
):
    path = write_config(tmp_path, '[identity]\nkind = "emrtd"')
    (tmp_path / "camera.pass").write_text("Cam3ra0ne\n")
    text = path.read_text().replace(f'device = "{tmp_path / "face" / "frame_%03d.png"}"', camera, 1)
    path.write_text(text)
    with pytest.raises(DevicesConfigError, match=complaint) as err:
        load_devices(path)
    assert "Cam3ra0ne" not in str(err.value) and ":pw@" not in str(err.value)
