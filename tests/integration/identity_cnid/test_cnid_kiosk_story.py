"""A real-device kiosk's whole night, every device a wire-level emulator set up as the real one.

The terminal is built by the bootstrap from a settings file and a devices file, exactly as on a
kiosk: the resident ID card reader on a pty (GA/T 467), a network face camera streaming MJPEG
over HTTP with its own account, the remote identity-verification service over HTTP (the card
carries no photo the kiosk can decode), the document camera, the RS-485 lock board and an
ESC/POS printer on TCP. It talks to the real backend through a real Mosquitto.

A citizen stands in front of the camera (a live person built from one real photo; the service
holds another photo of the same person) and obeys what the screen says. They submit an
application, and the receipt prints; they submit a second one, and the ID card copy of the first
is offered again and reused; then they pick a result up with the code, their card and their
face, and the compartment's lock opens on the board's wire.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import cv2
import pytest
from cnid_support import CITIZEN_NUMBER, LOCKER, citizen_card, face_encoding, face_similarity
from enrolled_terminal import enrolled_for

from allhours.bootstrap import build_terminal
from allhours.settings import load_terminal_config
from backend.enrollment import worker_identity
from backend.models import Application
from backend.queries import application_detail
from backend.service import BackendService
from cloud_bridge.contract import applicant_ref, pickup_code
from cloud_bridge.contract import messages as m
from cloud_bridge.link import wait_until
from demo_support.samples import sample_bytes
from devices.camera.document_scene import DeskScene
from devices.camera.face_emulator import LivePersonSource
from devices.camera.mjpeg_emulator import MjpegCameraEmulator
from devices.identity.remote_verify.emulator import RegisteredPerson, RemoteVerifyEmulator
from devices.printer.port import PrintedTicket
from terminal.flows.pickup import PickupStep
from terminal.flows.staff import StaffMember

pytestmark = pytest.mark.broker

T = "T0001"
NAME = "李华"  # the emulated card's holder (cnid_support.citizen_card)
ITEM = "HJ-0101"  # household certificate: ID card copy + household register
IDENTITY_ITEM = "GS-0307"  # its pickup asks for the holder's card and face
CODE = "482913"
CAMERA_ACCOUNT = ("kiosk", "Cam3ra0ne")
CLERK = StaffMember("clerk.test", "", "STAFF-test")


@pytest.fixture
def backend(broker, tmp_path: Path) -> Iterator[BackendService]:
    service = BackendService(
        f"sqlite:///{tmp_path / 'backend.sqlite'}",
        tmp_path / "backend-blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.kiosk-story",
        credentials=worker_identity(broker.authority, "backend.kiosk-story"),
        shared_group=None,
    )
    try:
        service.start()
        assert service.mqtt and service.mqtt.wait_ready(10)
        yield service
    finally:
        service.stop()


@pytest.fixture
def person() -> LivePersonSource:
    """The citizen in front of the face camera, filmed from one photo of them."""
    return LivePersonSource(sample_bytes("obama"), rng=random.Random(7))


@pytest.fixture
def face_camera(person: LivePersonSource) -> Iterator[MjpegCameraEmulator]:
    with MjpegCameraEmulator(person, fps=10, credentials=CAMERA_ACCOUNT) as camera:
        yield camera


@pytest.fixture
def identity_service() -> Iterator[RemoteVerifyEmulator]:
    """The identity service holds the holder's registered photo: another photo of them."""
    registered = sample_bytes("obama2")
    face_encoding(registered)  # the service's model is warm before the first citizen
    registry = {CITIZEN_NUMBER: RegisteredPerson(NAME, registered)}
    with RemoteVerifyEmulator(face_similarity, registry=registry, threshold=0.4) as service:
        yield service


def _document_frames(folder: Path, count: int = 30) -> str:
    """The document camera's frames: a page lying on the desk, as its 8 MP sensor films it
    (four noise fields, as the scene renders them, repeated)."""
    folder.mkdir()
    scene = DeskScene("A4", seed=5)
    shots = []
    for i in range(4):
        shots.append(folder / f"shot_{i}.jpg")
        frame = scene.render((3264, 2448), frame_no=i)
        cv2.imwrite(str(shots[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    for i in range(count):
        os.link(shots[i % 4], folder / f"frame_{i:03d}.jpg")
    return str(folder / "frame_%03d.jpg")


def _settings(tmp_path: Path, data_dir: Path, **devices: object) -> Path:
    (tmp_path / "locker.toml").write_text(LOCKER.format(port=devices["rs485"]))
    (tmp_path / "camera.pass").write_text(CAMERA_ACCOUNT[1] + "\n")
    (tmp_path / "verify.key").write_text("test-key\n")
    camera_url = devices["face_url"]
    (tmp_path / "devices.toml").write_text(
        'locker = "locker.toml"\n'
        f'[identity]\nkind = "cnid"\nport = "{devices["reader"]}"\n'
        f'[identity.remote_verify]\nurl = "{devices["verify_url"]}"\n'
        'api_key_file = "verify.key"\n'
        f'[face_camera]\ndevice = "{camera_url}"\nwidth = 640\nheight = 480\n'
        f'user = "{CAMERA_ACCOUNT[0]}"\npassword_file = "camera.pass"\n'
        f'[document_camera]\ndevice = "{_document_frames(tmp_path / "docs")}"\n'
        "width = 3264\nheight = 2448\n"
    )
    path = tmp_path / "terminal.toml"
    path.write_text(
        f'data_dir = "{data_dir}"\n'
        'devices = "devices.toml"\n'
        f'[printer]\nurl = "tcp://127.0.0.1:{devices["printer_port"]}"\n'
        "[link]\ntelemetry_interval_s = 600\nrequest_timeout_s = 10\n"
    )
    return path


def _face(flow, person: LivePersonSource):
    """The citizen looks at the camera and does what the screen asks."""
    return flow.verify_face(on_guidance=lambda guidance: person.show_prompt(guidance.code))


def test_a_real_device_kiosk_serves_a_night_submission_reuse_and_an_identity_pickup(
    tmp_path, broker, backend, emulator, rs485, printer, person, face_camera, identity_service
):
    key = secrets.token_bytes(32)  # the pickup-code key the enrollment bundle carries
    backend.register_terminal(T, key)
    data_dir = enrolled_for(
        broker, tmp_path / T, T, pickup_code_key=key, applicant_key=backend.applicant_key
    )
    anonymous = face_camera.url.replace(f"{CAMERA_ACCOUNT[0]}:{CAMERA_ACCOUNT[1]}@", "")
    settings = _settings(
        tmp_path,
        data_dir,
        reader=emulator.device,
        rs485=rs485,
        printer_port=printer.port,
        face_url=anonymous,
        verify_url=identity_service.base_url,
    )
    config = load_terminal_config(settings, m.utcnow())
    terminal = build_terminal(config)
    node = terminal.node
    try:
        assert not terminal.training and node.parts.live_face_check
        # The camera's password is in neither the devices file nor what telemetry shows.
        assert CAMERA_ACCOUNT[1] not in (tmp_path / "devices.toml").read_text()
        shown = node.devices.face_camera.diagnostics()["source"]
        assert CAMERA_ACCOUNT[1] not in shown and "kiosk:***@" in shown
        node.start()
        assert node.link.wait_connected(10) and node.link.responses_granted.wait(10)

        # The first night: card, live face (the service matches it), item, scans, submit.
        flow = node.submission()
        document = flow.read_identity()
        assert document.number == CITIZEN_NUMBER and not document.photo
        decision = _face(flow, person)
        assert decision.verified, decision
        assert identity_service.requests, "the face went to the identity service"
        flow.choose_item(ITEM)
        flow.enter_phone("13800138000")
        assert flow.offer_reuse() == []
        flow.scan_material("id-card-copy")
        flow.scan_material("household-register")
        flow.finish_materials()
        flow.skip_deposit()
        first = flow.submit().application_no
        terminal.printer.print_receipt(
            PrintedTicket("办理回执", first, f"https://example/q/{first}")
        )
        [page] = printer.wait_for_pages(1, timeout=10)
        assert any(first in line.text for line in page.lines)

        def stored(no: str, materials: int) -> dict | None:
            with backend.db.transaction() as s:
                if s.get(Application, no) is None:
                    return None
                detail = application_detail(s, no)
            done = len(detail["materials"]) == materials and all(
                x["verified"] for x in detail["materials"]
            )
            return detail if done else None

        held = wait_until(lambda: stored(first, 2), 60, 0.2)
        assert held, f"{first} was not stored with both scans"
        id_copy = next(x for x in held["materials"] if x["material_code"] == "id-card-copy")
        backend.desk.step(first, "accept", "clerk")  # only files of accepted cases are reused

        # The second application: the backend offers the files of the accepted first one, by
        # the applicant key of the enrollment; the kiosk does not scan the ID card copy again.
        emulator.place_card(citizen_card())  # the card was taken away and is placed again
        flow = node.submission()
        flow.read_identity()
        assert _face(flow, person).verified
        flow.choose_item(ITEM)
        flow.enter_phone("13800138000")
        offers = {o.material_code: o for o in flow.offer_reuse()}
        assert "id-card-copy" in offers
        flow.reuse_material("id-card-copy")
        flow.scan_material("household-register")
        flow.finish_materials()
        flow.skip_deposit()
        receipt = flow.submit()
        assert receipt.reused == 1
        second = wait_until(lambda: stored(receipt.application_no, 2), 60, 0.2)
        assert second, f"{receipt.application_no} was not stored"
        reused = next(x for x in second["materials"] if x["material_code"] == "id-card-copy")
        assert reused["reused"] is True and reused["sha256"] == id_copy["sha256"]

        # A result for the holder's identity: the code, then the card and the live face, and
        # the compartment's lock opens on the RS-485 wire.
        holder = applicant_ref.digest(backend.applicant_key, "cn_resident_id", CITIZEN_NUMBER)
        now = node.clock()
        load = m.LoadResult(
            terminal_id=T,
            operation_id="L-1",
            load_id="L-1",
            application_no=receipt.application_no,
            expires_at=now + timedelta(hours=1),
            item_code=IDENTITY_ITEM,
            holder_ref=holder,
        )
        assert node.dispatcher.dispatch(load, 1).outcome == m.AckOutcome.DONE
        staff = node.staff(CLERK)
        staff.open_for_load("L-1")
        staff.confirm_loaded("L-1")
        armed = m.SetPickupCode(
            terminal_id=T,
            operation_id="L-1#1",
            load_id="L-1",
            application_no=receipt.application_no,
            code_digest=pickup_code.digest(key, T, CODE),
            code_expires_at=now + timedelta(days=3),
            expires_at=now + timedelta(hours=1),
        )
        assert node.dispatcher.dispatch(armed, 2).outcome == m.AckOutcome.DONE
        pickup = node.pickup()
        assert pickup.enter_code(CODE) is None and pickup.step == PickupStep.IDENTITY
        emulator.place_card(citizen_card())
        pickup.read_identity()
        assert _face(pickup, person).verified
        opened = pickup.open_for_holder()
        assert opened.compartment_id == "A01"
        if pickup.step == PickupStep.CONFIRM_DOOR:
            pickup.door_opened(True)
        assert pickup.step == PickupStep.OPEN
        assert face_camera.frames_sent > 0 and face_camera.denied == 0
    finally:
        node.stop()
        terminal.close()
        node.devices.identity_reader.close()
        node.devices.face_camera.close()
