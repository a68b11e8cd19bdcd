"""The face check runs on the camera's time, in which a person sees and obeys the prompts.

A kiosk shows each prompt from its UI thread, so the person in front of it sees the prompt a
moment after the check chose it. The kiosk's emulated camera films in real time, as a camera
does, so that moment costs the check a few frames and not its whole step: a person who sees each
prompt a second late still gets through. And the check counts its seconds in the camera's own
frames: a camera filming 30 frames a second gives a person as many seconds as one filming 10.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from enrolled_terminal import enrolled_offline

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from demo_support.samples import sample_bytes
from devices.camera.face_emulator import LivePersonSource
from devices.identity.emulated import ScriptedIdentityReader
from devices.identity.port import IdentityDocument
from terminal.flows.session import FlowError
from terminal.node import TerminalNode

ZHANG = IdentityDocument("cn_resident_id", "张三", "11010519491231002X")


def node_for(tmp_path: Path, devices: EmulatedDevices) -> TerminalNode:
    assert devices.card_photo
    devices.reader = ScriptedIdentityReader([replace(ZHANG, photo=devices.card_photo)])
    return training_terminal(enrolled_offline(tmp_path / "terminal"), devices=devices).node


def test_a_person_who_sees_each_prompt_a_second_late_is_verified(tmp_path: Path):
    devices = EmulatedDevices.with_live_face()
    devices.face_rng = random.Random(5)
    person = devices.live_person
    assert isinstance(person, LivePersonSource)
    node = node_for(tmp_path, devices)
    timers: list[threading.Timer] = []
    shown: list[str] = []

    def screen(guidance) -> None:
        # What the kiosk's screen does: the prompt reaches the person a second later.
        if shown and shown[-1] == guidance.code:
            return
        shown.append(guidance.code)
        timer = threading.Timer(1.0, person.show_prompt, [guidance.code])
        timers.append(timer)
        timer.start()

    try:
        flow = node.submission()
        flow.read_identity()
        decision = flow.verify_face(on_guidance=screen)
        assert decision.verified and decision.liveness_passed
        assert {"blink_now", "turn_left", "turn_right"} & set(shown)
    finally:
        for timer in timers:
            timer.cancel()
            timer.join()
        node.stop()


class RatedCamera:
    """A face camera that says its frame rate (as OpenCV reports a device's), unpaced here."""

    def __init__(self, person: LivePersonSource, fps: float):
        self.person, self.fps = person, fps

    def capture(self):
        return self.person.capture()

    def show_prompt(self, code: str | None) -> None:
        self.person.show_prompt(code)

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "rated", "fps": self.fps}


def frames_until_given_up(tmp_path: Path, fps: float) -> int:
    """Frames the check takes before it gives up on a person who never sees a prompt."""
    person = LivePersonSource(
        sample_bytes("obama"), rng=random.Random(1), spontaneous_blink_every=None
    )
    devices = EmulatedDevices.with_live_face()
    devices.live_person = RatedCamera(person, fps)
    devices.face_rng = random.Random(2)
    node = node_for(tmp_path / str(fps), devices)
    try:
        flow = node.submission()
        flow.read_identity()
        with pytest.raises(FlowError):
            flow.verify_face()  # nobody reads the screen: the prompt times out
        return person.captured
    finally:
        node.stop()


def test_the_check_counts_its_seconds_in_the_cameras_own_frames(tmp_path: Path):
    at_10 = frames_until_given_up(tmp_path, 10.0)
    at_30 = frames_until_given_up(tmp_path, 30.0)
    assert at_10 >= 60  # the step's 6 seconds at least
    assert 2.5 * at_10 < at_30 < 3.5 * at_10
