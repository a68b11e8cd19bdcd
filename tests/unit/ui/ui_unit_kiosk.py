"""An offline training kiosk, built by the bootstrap, for UI unit tests (no broker: the link
stays down)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from enrolled_terminal import enrolled_offline
from kivy.core.window import Window

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from demo_support.tour import SAMPLE_CITIZEN, SAMPLE_PHONE
from devices.identity.port import IdentityDocument
from privacy import mask_document, mask_name, mask_phone
from terminal.flows.staff import SignInRefused, StaffMember
from terminal.ui.driver import KioskDriver
from terminal.ui.idle import IdleWatch
from terminal.ui.kiosk import Kiosk, walk
from terminal.ui.widgets import Keypad, Preview

STAFF_CODE = "86420013"


def staff_sign_in(code: str) -> StaffMember:
    """The backend's answer, for a kiosk with no link: STAFF_CODE signs in one clerk."""
    if code != STAFF_CODE:
        raise SignInRefused("refused")
    return StaffMember("clerk.wang", "Wang Fang", "STAFF-unit")


class FakeClock:
    """Monotonic seconds a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def offline_kiosk(
    data_dir: Path, *, lang: str = "zh", strict: bool = True, **kw
) -> Iterator[tuple[KioskDriver, EmulatedDevices, bytes]]:
    terminal = training_terminal(enrolled_offline(data_dir))
    node, devices = terminal.node, terminal.emulated
    assert devices is not None
    key = terminal.config.identity.bundle.pickup_code_key
    kw.setdefault("idle", IdleWatch(timeout_s=60, warn_s=10, clock=FakeClock()))
    kw.setdefault("staff_sign_in", staff_sign_in)
    kiosk = Kiosk(node, lang=lang, strict_i18n=strict, card_poll_s=0.02, **kw)
    drv = KioskDriver(kiosk)
    try:
        yield drv, devices, key
    finally:
        drv.close()
        node.stop()


PASSPORT_NO = "E12345678"


def secrets(*extra: str) -> set[str]:
    doc = SAMPLE_CITIZEN
    return {
        doc.name,
        mask_name(doc.name),
        doc.number,
        doc.masked_number,
        doc.number[-4:],
        SAMPLE_PHONE,
        mask_phone(SAMPLE_PHONE),
        SAMPLE_PHONE[-4:],
        PASSPORT_NO,
        mask_document("passport", PASSPORT_NO),
        *extra,
    }


def leftovers(kiosk, needles: set[str]) -> list[str]:
    """Every trace of the citizen in any widget of any screen, shown or not, or in the window."""
    trees = [kiosk.root, kiosk.idle_dialog, *kiosk.screens.values(), *Window.children]
    found = []
    for tree in trees:
        for w in walk(tree):
            strings = [getattr(w, "text", None), getattr(w, "source", None)]
            core = getattr(w, "_label", None)
            strings.append(getattr(core, "text", None))
            if isinstance(w, Keypad):
                strings.append(w.value)
            for s in strings:
                if isinstance(s, str) and any(n in s for n in needles):
                    found.append(f"{type(w).__name__}: {s!r}")
            if isinstance(w, Preview) and w.texture is not None:
                found.append(f"{type(w).__name__} still holds a picture")
    return found


def walk_to_materials(drv, devices, document: IdentityDocument = SAMPLE_CITIZEN) -> None:
    """Card (`document` on the reader), face, item, phone: up to the materials checklist of
    HJ-0101."""
    s = drv.kiosk.screens
    drv.tap(s["home"].choices["submit"])
    drv.wait_screen("card")
    drv.tap(s["card"].nav.children[0])
    drv.wait_screen("mrz")
    drv.type(s["mrz"].keypad, PASSPORT_NO)  # typed, then the citizen used the ID card after all
    drv.tap(s["mrz"].back_button)
    devices.reader.place(document)
    drv.wait_screen("catalog")
    drv.tap(s["catalog"].item_buttons["HJ-0101"])
    drv.tap(s["item"].apply_button)
    drv.type(s["phone"].keypad, SAMPLE_PHONE)
    drv.tap(s["phone"].nav.children[0])
    drv.wait_screen("materials")
    # The enrollment carries the applicant key, so the checklist first asks for materials on
    # file (offline: none); "next" waits for the answer.
    drv.wait_for(lambda: not s["materials"].next_button.disabled, what="the on-file check")


def walk_to_review(drv, devices, document: IdentityDocument = SAMPLE_CITIZEN) -> None:
    """Card (`document`), face, item, phone, both scans, deposit: everything a citizen shows the
    kiosk."""
    k, s = drv.kiosk, drv.kiosk.screens
    walk_to_materials(drv, devices, document)
    for code in ("id-card-copy", "household-register"):
        drv.tap(s["materials"].row_buttons[code])
        drv.wait_for(lambda: s["scan"].preview.frames > 0, what="a page on screen")
        drv.tap(s["scan"].scan_button)
        drv.wait_screen("materials")
    drv.tap(s["materials"].nav.children[0])
    drv.wait_screen("deposit")
    dep = s["deposit"]
    drv.tap(dep.skip_button)
    drv.wait_screen("review")
    assert k.submission is not None
    assert leftovers(k, secrets()), "the review shows the citizen (else this test proves nothing)"
    assert s["face"].preview.texture is not None or s["face"].preview.frames == 0
