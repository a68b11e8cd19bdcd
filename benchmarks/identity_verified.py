"""From "card placed" to "identity verified": the card read, the face capture and the match.

A virtual eMRTD carrying a real photo (obama2, as DG2 JPEG) sits in the vpcd reader of a real
pcscd; `EmrtdReader.read()` reads and checks it through pyscard. Then the kiosk's face step
runs on an emulated live person built from another photo of the same holder (obama): frames at
the camera's 10 frames/s, each fed to `FaceCheck` and its guidance shown to the person, through
the random blink/turn challenge to the 1:1 match against the DG2 photo.

Capture time is what a citizen waits: frames needed / 10 fps, or the compute time if the
pipeline cannot keep up with the camera. Match is the final feed that encodes and compares.
The baseline is the bare face_recognition match (one encoding of the best frame, one distance)
on the same frames: the check's own cost above that is the challenge.

    .venv/bin/python benchmarks/identity_verified.py [SESSIONS]
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
from identity_emrtd_read import photo as chip_portrait  # the read benchmark's portrait
from PIL import Image

from demo_support.samples import sample_bytes
from devices.camera.face_emulator import LivePersonSource, Portrait
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey
from devices.identity.emrtd.pcscd import PcscdHost
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import VirtualEmrtd
from devices.identity.emrtd.vpcd import VpcdCardLink
from face.check import FaceCheck

FPS = 10.0


def face_session(photo: bytes, portrait: Portrait, seed: int) -> dict[str, float]:
    person = LivePersonSource(portrait, rng=random.Random(seed))
    frames = 0
    check = FaceCheck(photo, rng=random.Random(seed), clock=lambda: frames / FPS)
    compute = 0.0
    match_s = 0.0
    kept: list[np.ndarray] = []
    while not check.finished and frames < 600:
        frame = person.capture()
        kept.append(frame)
        started = time.perf_counter()
        guidance = check.feed(frame)
        spent = time.perf_counter() - started
        frames += 1
        if guidance.code in ("verified", "not_matched", "attempts_exhausted", "liveness_failed"):
            match_s = spent
        else:
            compute += spent
        person.show_prompt(guidance.code)
    # Baseline: what a bare match costs on the same stream (encode one frame, one distance).
    started = time.perf_counter()
    doc = face_recognition.face_encodings(np.asarray(Image.open(io.BytesIO(photo))))[0]
    live = face_recognition.face_encodings(kept[len(kept) // 2])
    if live:
        face_recognition.face_distance([doc], live[0])
    bare = time.perf_counter() - started
    return {
        "verified": float(bool(check.decision and check.decision.verified)),
        "frames": float(frames),
        "capture_s": max(frames / FPS, compute),
        "compute_s": compute,
        "match_s": match_s,
        "bare_match_s": bare,
    }


def main(sessions: int) -> None:
    mrz = SPECIMEN_MRZ
    card = VirtualEmrtd(mrz, chip_portrait("obama2"))
    key = MrzKey.from_mrz(mrz)
    portrait = Portrait(sample_bytes("obama"))
    reads: list[float] = []
    runs: list[dict[str, float]] = []
    with PcscdHost() as host, VpcdCardLink(card) as link:
        assert link.wait_inserted(10)
        reader = EmrtdReader(host.reader_name, mrz_key=key)
        reader.read(timeout_s=10)  # warm-up: pcscd has noticed the card
        for seed in range(sessions):
            started = time.perf_counter()
            doc = reader.read(timeout_s=10)
            reads.append(time.perf_counter() - started)
            assert doc.photo
            runs.append(face_session(doc.photo, portrait, seed))

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    read = statistics.median(reads)
    total = read + med("capture_s") + med("match_s")
    print(f"card placed -> identity verified, median of {sessions} sessions (eMRTD, DG2 JPEG)")
    print(f"  card read over pcscd+vpcd     {read * 1000:8.1f} ms")
    print(
        f"  face capture                  {med('capture_s') * 1000:8.1f} ms "
        f"({med('frames'):.0f} frames at {FPS:.0f} fps; pipeline compute "
        f"{med('compute_s') * 1000:.0f} ms)"
    )
    print(f"  match                         {med('match_s') * 1000:8.1f} ms")
    print(f"  total                         {total * 1000:8.1f} ms")
    print(
        f"  verified {sum(r['verified'] for r in runs):.0f}/{sessions}; bare face_recognition "
        f"match on the same frames {med('bare_match_s') * 1000:.0f} ms, ratio of the whole "
        f"face step to it {(med('capture_s') + med('match_s')) / med('bare_match_s'):.1f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
