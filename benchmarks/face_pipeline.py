"""The kiosk face check's cost: per frame against bare face_recognition, capture and match time.

An emulated holder (built from obama.jpg) answers FaceCheck's random prompts in front of a
640x480 camera at 10 frames/s, against obama2.jpg as the card photo (scaled to 320 px as a
card or chip carries it). Measured per session:

- FaceCheck.feed per frame (detection, landmarks, quality, liveness), the frames a session
  needs, the capture time those frames take at 10 frames/s, and the match (encodings of the
  best frame and of the answers, distance);
- on the very same frames, bare face_recognition calls: face_locations + face_landmarks per
  frame, plus face_encodings once (the match frame), at the library's default (one
  upsampling) and without upsampling. The overhead ratio is FaceCheck's cost over the bare one.

It also counts how many sessions verify (false-reject rate of the emulated holder) and that
the same holder is refused against another person's card.

    .venv/bin/python benchmarks/face_pipeline.py [SESSIONS]
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import face_recognition
import numpy as np
from PIL import Image

from demo_support.samples import sample, sample_bytes
from devices.camera.face_emulator import LivePersonSource, Portrait
from face.check import FaceCheck

FPS = 10.0


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _card(name: str) -> bytes:
    with Image.open(io.BytesIO(sample_bytes(name))) as img:
        img = img.convert("RGB")
        img.thumbnail((320, 640))
        out = io.BytesIO()
        img.save(out, "JPEG")
        return out.getvalue()


def session(portrait: Portrait, card: bytes, seed: int) -> dict:
    """One kiosk session; per-feed wall times and the frames it saw."""
    clock = _Clock()
    built = time.perf_counter()
    check = FaceCheck(card, rng=random.Random(seed), clock=clock)
    card_encoding_s = time.perf_counter() - built
    person = LivePersonSource(portrait, rng=random.Random(1000 + seed))
    frames, feed_s, match_s = [], [], 0.0
    while not check.finished and len(frames) < 400:
        frame = person.capture()
        start = time.perf_counter()
        guidance = check.feed(frame)
        spent = time.perf_counter() - start
        if guidance.code in ("verified", "not_matched", "attempts_exhausted", "liveness_failed"):
            match_s = spent  # the feed that encodes and matches
        else:
            feed_s.append(spent)
            frames.append(frame)
        clock.now += 1.0 / FPS
        person.show_prompt(guidance.code)
    return {
        "verified": bool(check.decision and check.decision.verified),
        "reason": check.decision.reason if check.decision else "unfinished",
        "frames": frames,
        "feed_s": feed_s,
        "match_s": match_s,
        "card_s": card_encoding_s,
    }


def bare(frames: list[np.ndarray], upsample: int) -> float:
    """Seconds per frame for face_locations + face_landmarks, plus one face_encodings."""
    start = time.perf_counter()
    last = None
    for frame in frames:
        locations = face_recognition.face_locations(frame, upsample)
        face_recognition.face_landmarks(frame, locations)
        if locations:
            last = (frame, locations)
    per_frame = (time.perf_counter() - start) / len(frames)
    if last is not None:
        begin = time.perf_counter()
        face_recognition.face_encodings(last[0], last[1])
        per_frame += (time.perf_counter() - begin) / len(frames)
    return per_frame


def main(sessions: int) -> None:
    portrait = Portrait(sample("obama"))
    card, other = _card("obama2"), _card("biden")
    runs = [session(portrait, card, seed) for seed in range(sessions)]
    verified = [r for r in runs if r["verified"]]
    per_frame = statistics.median(statistics.median(r["feed_s"]) for r in runs)
    frames_needed = statistics.median(len(r["frames"]) for r in verified or runs)
    match_s = statistics.median(r["match_s"] for r in verified or runs)
    card_s = statistics.median(r["card_s"] for r in runs)
    sample_frames = [f for r in runs[:3] for f in r["frames"]]
    bare_default = bare(sample_frames, 1)
    bare_no_upsample = bare(sample_frames, 0)
    refused = [session(portrait, other, 500 + seed) for seed in range(max(2, sessions // 5))]

    print(f"face pipeline, {sessions} sessions of the emulated holder at {FPS:.0f} frames/s")
    print(f"  verified {len(verified)}/{sessions}; false rejects {sessions - len(verified)}")
    reasons = sorted({r["reason"] for r in runs if not r["verified"]})
    if reasons:
        print(f"  false-reject reasons: {', '.join(str(r) for r in reasons)}")
    wrong = [r for r in refused if r["verified"]]
    print(f"  against another person's card: {len(refused) - len(wrong)}/{len(refused)} refused")
    print(f"  FaceCheck.feed per frame: {per_frame * 1000:.1f} ms (median over sessions)")
    print(
        f"  bare face_recognition per frame ({len(sample_frames)} same frames):"
        f" {bare_default * 1000:.1f} ms at default upsample=1,"
        f" {bare_no_upsample * 1000:.1f} ms at upsample=0"
    )
    print(
        f"  overhead ratio FaceCheck / bare: {per_frame / bare_default:.2f} (default),"
        f" {per_frame / bare_no_upsample:.2f} (upsample=0)"
    )
    print(
        f"  frames needed (median, verified): {frames_needed:.0f} ->"
        f" capture {frames_needed / FPS:.1f} s at {FPS:.0f} frames/s"
        f" (CPU {frames_needed * per_frame:.2f} s)"
    )
    print(
        f"  match (encodings + distance): {match_s * 1000:.0f} ms; card photo encoding"
        f" {card_s * 1000:.0f} ms at FaceCheck start"
    )
    total = card_s + frames_needed / FPS + match_s
    print(f"  card photo to verified: {total:.1f} s (card read not included)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
