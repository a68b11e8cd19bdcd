"""Code typed to compartment open, for a result collected in person: code, card, face, open.

A terminal on emulated devices (`EmulatedDevices.with_live_face()`: an emulated live person
built from one sample photo, a card carrying another photo of the same holder, a door board
with sensors) holds a result of GS-0307 for that card's applicant. Each session types the code
(`enter_code`: lockout check, digest against every compartment, claim), reads the card (the
scripted reader: the real readers' wire time is in identity_cnid_read.py and
identity_emrtd_read.py), runs the live face check at the camera's 10 frames/s, and opens
(`open_for_holder`: applicant digest, holder compared, pulse, door confirmed). The baseline in
the same run is a code-only pickup (SB-0203) on the same terminal: code to open.

Face capture is what the citizen waits for the camera: frames / 10 fps, or the compute time
if the pipeline cannot keep up. The other steps are wall time.

    .venv/bin/python benchmarks/pickup_identity.py [SESSIONS]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import applicant_ref, pickup_code
from cloud_bridge.contract import messages as m
from demo_support.enrollment import enroll_at_site
from demo_support.samples import sample_bytes
from devices.camera.face_emulator import LivePersonSource
from devices.identity.port import IdentityDocument
from provisioning.authority import SiteAuthority
from terminal.flows.staff import StaffMember

# Service mode as a clerk the backend signed in (these tests have no backend to ask).
CLERK = StaffMember("clerk.test", "", "STAFF-test")

TERMINAL = "T0001"
CODE_KEY = b"c" * 32
APPLICANT_KEY = b"a" * 32
NUMBER = "11010519491231002X"
FPS = 10.0


def arm(node, n: int, item: str, code: str) -> None:
    """LoadResult, staff load, code: what the backend and a clerk do."""
    now = node.clock()
    load_id = f"L-bench-{n}"
    holder = applicant_ref.digest(APPLICANT_KEY, "cn_resident_id", NUMBER)
    ack = node.dispatcher.dispatch(
        m.LoadResult(
            terminal_id=TERMINAL,
            operation_id=load_id,
            load_id=load_id,
            application_no=f"AH-T0001-20261120-{n:04d}",
            expires_at=now + timedelta(hours=1),
            item_code=item,
            holder_ref=holder,
        ),
        node.dispatcher.last_seq() + 1,
    )
    assert ack is not None and ack.outcome == m.AckOutcome.DONE, ack.detail
    node.staff(CLERK).open_for_load(load_id)
    node.staff(CLERK).confirm_loaded(load_id)
    node.locker.set_pickup_code(
        load_id,
        pickup_code.digest(CODE_KEY, TERMINAL, code),
        (now + timedelta(days=1)).timestamp(),
    )


def timed(call):
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def main(sessions: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        devices = EmulatedDevices.with_live_face()
        data_dir = enroll_at_site(  # its broker (port 9) is never started
            SiteAuthority.create(Path(tmp) / "site-ca"),
            Path(tmp) / "terminal",
            TERMINAL,
            pickup_code_key=CODE_KEY,
            applicant_key=APPLICANT_KEY,
        )
        node = training_terminal(data_dir, devices=devices).node
        figures: dict[str, list[float]] = {
            k: [] for k in ("code", "card", "face_compute", "face_wait", "open", "code_only")
        }
        frames_used: list[int] = []
        verified = 0
        try:
            for n in range(sessions):
                devices.live_person = LivePersonSource(sample_bytes("obama"), rng=random.Random(n))
                node.parts.face_camera = devices.live_person
                node.parts.face_rng = random.Random(n)
                code = f"{100000 + n:06d}"
                arm(node, 2 * n, "GS-0307", code)
                flow = node.pickup()
                claimed, spent = timed(lambda c=code, f=flow: f.enter_code(c))
                assert claimed is None
                figures["code"].append(spent)
                devices.reader.place(
                    IdentityDocument("cn_resident_id", "张三", NUMBER, photo=devices.card_photo)
                )
                _doc, spent = timed(lambda f=flow: f.read_identity(timeout_s=1))
                figures["card"].append(spent)
                frames = 0

                def count(_frame) -> None:
                    nonlocal frames
                    frames += 1

                person = devices.live_person
                decision, spent = timed(
                    lambda f=flow, p=person: f.verify_face(
                        on_guidance=lambda g: p.show_prompt(g.code), on_frame=count
                    )
                )
                verified += decision.verified
                frames_used.append(frames)
                figures["face_compute"].append(spent)
                figures["face_wait"].append(max(spent, frames / FPS))
                _opened, spent = timed(flow.open_for_holder)
                figures["open"].append(spent)

                code = f"{200000 + n:06d}"
                arm(node, 2 * n + 1, "SB-0203", code)
                _opened, spent = timed(lambda c=code: node.pickup().enter_code(c))
                figures["code_only"].append(spent)
        finally:
            node.stop()

    med = {k: statistics.median(v) for k, v in figures.items()}
    identity_total = med["code"] + med["card"] + med["face_wait"] + med["open"]
    print(f"pickup with identity, {sessions} sessions (medians)")
    print(f"  code checked and claimed   {med['code'] * 1000:8.1f} ms")
    print(f"  card read (scripted)       {med['card'] * 1000:8.1f} ms")
    print(
        f"  live face check            {med['face_wait']:8.2f} s waited "
        f"({statistics.median(frames_used):.0f} frames at {FPS:.0f} fps; "
        f"compute {med['face_compute']:.2f} s)"
    )
    print(f"  holder compared and opened {med['open'] * 1000:8.1f} ms")
    print(f"  total code to open         {identity_total:8.2f} s; {verified}/{sessions} verified")
    print(f"baseline: code-only pickup   {med['code_only'] * 1000:8.1f} ms")
    print(f"ratio identity / code-only   {identity_total / med['code_only']:8.0f}")
    print(f"ratio open step / code-only  {med['open'] / med['code_only']:8.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
