"""The submission flow's face step runs the live check on camera frames, as the kiosk does.

Real photos (demo_support.samples), the real face pipeline and the emulated cameras: the holder who
follows the prompts gets through; a still frame is refused three times and the citizen is
sent to the staff-assisted check; a card read without a photo goes there at once.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from enrolled_terminal import enrolled_offline
from PIL import Image

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from demo_support.samples import sample_bytes
from devices.camera.face_emulator import LivePersonSource, StillFrameSource
from devices.identity.emulated import ScriptedIdentityReader
from devices.identity.port import IdentityDocument
from face.decision import FaceDecision, FixedFaceVerifier
from terminal.flows.session import FlowError
from terminal.flows.submission import Step
from terminal.node import TerminalNode

NOT_USED = FixedFaceVerifier(FaceDecision(True, 0.1, 0.5, True))  # must never be asked


def card_photo(name: str) -> bytes:
    with Image.open(io.BytesIO(sample_bytes(name))) as img:
        img = img.convert("RGB")
        img.thumbnail((320, 640))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=90)
        return out.getvalue()


def node_with(
    tmp_path: Path,
    camera,
    photo: bytes | None,
    seed: int,
    *,
    remote=None,
    number: str = "11010519491231002X",
    name: str = "张三",
) -> TerminalNode:
    doc = IdentityDocument("cn_resident_id", name, number, photo=photo)
    devices = EmulatedDevices(
        reader=ScriptedIdentityReader([doc]),
        face=NOT_USED,
        live_person=camera,
        face_rng=random.Random(seed),
        remote_verifier=remote,
    )
    # Never started: no network here.
    return training_terminal(enrolled_offline(tmp_path / "terminal"), devices=devices).node


@pytest.fixture(scope="module")
def holder() -> bytes:
    return sample_bytes("obama")


def test_the_holder_following_the_prompts_is_verified_with_liveness(tmp_path, holder):
    person = LivePersonSource(holder, rng=random.Random(7))
    node = node_with(tmp_path, person, card_photo("obama2"), seed=7)
    try:
        flow = node.submission()
        flow.read_identity()
        shown: list[str] = []

        def screen(guidance):
            person.show_prompt(guidance.code)
            shown.append(guidance.code)

        decision = flow.verify_face(on_guidance=screen)
        assert decision.verified and decision.liveness_passed is True
        assert decision.distance is not None and decision.distance < decision.threshold
        assert {"blink_now", "turn_left", "turn_right"} & set(shown)
        assert flow.step == Step.ITEM
        assert NOT_USED.calls == 0
        assert flow._face_check is None  # the check and its frames are gone
    finally:
        node.stop()


def test_a_still_frame_is_refused_until_the_staff_check_takes_over(tmp_path, holder):
    person = LivePersonSource(holder, rng=random.Random(3))
    still = StillFrameSource(person.capture())
    node = node_with(tmp_path, still, card_photo("obama2"), seed=3)
    try:
        flow = node.submission()
        flow.read_identity()
        messages = []
        for _ in range(3):
            with pytest.raises(FlowError) as err:
                flow.verify_face(on_guidance=lambda g: still.show_prompt(g.code))
            messages.append(str(err.value))
            if flow.step == Step.STAFF_ASSIST:
                break
        assert flow.step == Step.STAFF_ASSIST
        assert "staff-assisted" in messages[-1]
        assert flow.face is not None and not flow.face.verified
        assert flow.face.liveness_passed is False
    finally:
        node.stop()


def test_a_card_without_a_photo_goes_to_the_staff_check(tmp_path, holder):
    node = node_with(tmp_path, LivePersonSource(holder), None, seed=1)
    try:
        flow = node.submission()
        flow.read_identity()
        with pytest.raises(FlowError, match="staff-assisted"):
            flow.verify_face()
        assert flow.step == Step.STAFF_ASSIST
    finally:
        node.stop()


def test_a_match_without_liveness_is_not_verified():
    assert not FaceDecision(True, 0.3, 0.5, None).verified
    assert not FaceDecision(True, 0.3, 0.5, False).verified
    assert FaceDecision(True, 0.3, 0.5, True).verified


# ---------------------------------------------------------------- cards without a photo


def _similarity(registered: bytes, live: bytes) -> float:
    """What a portrait-comparison service computes: 1 - face distance."""
    import face_recognition

    def enc(jpeg: bytes):
        img = Image.open(io.BytesIO(jpeg)).convert("RGB")
        img.thumbnail((480, 480))
        found = face_recognition.face_encodings(np.asarray(img))
        if not found:
            return None
        return found[0]

    a, b = enc(registered), enc(live)
    if a is None or b is None:
        return 0.0
    return 1.0 - float(face_recognition.face_distance([a], b)[0])


@pytest.fixture
def identity_service():
    from devices.identity.remote_verify.emulator import RegisteredPerson, RemoteVerifyEmulator
    from devices.identity.remote_verify.http_adapter import HttpRemoteVerifier

    registry = {
        "11010519491231002X": RegisteredPerson("张三", card_photo("obama2")),
        "110101198001010019": RegisteredPerson("李四", card_photo("biden")),
    }
    emu = RemoteVerifyEmulator(
        _similarity, registry=registry, threshold=0.5, api_key="kiosk-key"
    ).start()
    client = HttpRemoteVerifier(emu.base_url, api_key="kiosk-key", timeout_s=30, retries=0)
    try:
        yield emu, client
    finally:
        client.close()
        emu.stop()


def _run(flow, person):
    return flow.verify_face(on_guidance=lambda g: person.show_prompt(g.code))


def test_a_card_without_photo_is_matched_by_the_remote_service(tmp_path, holder, identity_service):
    _emu, client = identity_service
    person = LivePersonSource(holder, rng=random.Random(5))
    node = node_with(tmp_path, person, None, 5, remote=client)
    try:
        flow = node.submission()
        flow.read_identity()
        decision = _run(flow, person)
        assert decision.verified and decision.liveness_passed is True
        assert flow.step == Step.ITEM
    finally:
        node.stop()


def test_the_remote_service_refuses_someone_elses_card(tmp_path, holder, identity_service):
    _emu, client = identity_service
    person = LivePersonSource(holder, rng=random.Random(5))
    node = node_with(
        tmp_path, person, None, 5, remote=client, number="110101198001010019", name="李四"
    )
    try:
        flow = node.submission()
        flow.read_identity()
        with pytest.raises(FlowError):
            _run(flow, person)
        assert flow.face is not None and not flow.face.matched
        assert flow.face.reason == "no_match"  # a verdict came back: live, but not the holder
        assert flow.face.liveness_passed is True
    finally:
        node.stop()


def test_with_the_remote_service_down_the_staff_check_takes_over(
    tmp_path, holder, identity_service
):
    emu, client = identity_service
    emu.stop()
    person = LivePersonSource(holder, rng=random.Random(5))
    node = node_with(tmp_path, person, None, 5, remote=client)
    try:
        flow = node.submission()
        flow.read_identity()
        with pytest.raises(FlowError, match="staff-assisted"):
            _run(flow, person)
        assert flow.step == Step.STAFF_ASSIST
        assert flow.face is not None and flow.face.reason == "remote_unavailable"
    finally:
        node.stop()
