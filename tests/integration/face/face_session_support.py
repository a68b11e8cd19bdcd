"""Wiring for face-session tests: a fake clock, and a loop that plays the kiosk.

The loop does what the kiosk does: it captures a frame, feeds it to the check and puts the
returned guidance on the "screen" the emulated person (or attacker) is looking at.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

from face.check import FaceCheck


class FakeClock:
    """Time that moves only when the camera delivers a frame."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Session:
    codes: list[str] = field(default_factory=list)
    prompts_shown: list[str] = field(default_factory=list)
    frames: int = 0


def play(check: FaceCheck, source, clock: FakeClock, *, fps: float = 10.0, limit: int = 400):
    """Feed frames until the check finishes; the source sees every guidance as it is shown."""
    session = Session()
    while not check.finished and session.frames < limit:
        guidance = check.feed(source.capture())
        session.frames += 1
        clock.now += 1.0 / fps
        source.show_prompt(guidance.code)
        if not session.codes or session.codes[-1] != guidance.code:
            session.codes.append(guidance.code)
            if guidance.code in ("blink_now", "turn_left", "turn_right"):
                session.prompts_shown.append(guidance.code)
    return session


def document_photo(data: bytes, width: int = 320, fmt: str = "JPEG") -> bytes:
    """The photo as a document chip or card carries it: small, re-encoded."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        img.thumbnail((width, width * 2))
        out = io.BytesIO()
        img.save(out, fmt)
        return out.getvalue()
