"""A walk through every screen by touch, on emulated devices, with a stop at each screen.

`allhours screenshots` photographs each stop; the tests run it in strict translation mode to
prove every screen renders in every language without a missing text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from cloud_bridge.contract import applicant_ref, pickup_code
from cloud_bridge.contract import messages as m
from devices.identity.port import IdentityDocument
from face.decision import DEFAULT_THRESHOLD, FaceDecision
from locker.layout import Size
from terminal.ui.driver import KioskDriver

Stop = Callable[[str], None]

SAMPLE_CITIZEN = IdentityDocument(
    document_type="cn_resident_id",
    name="张三",
    number="11010519491231002X",
    birth_date=date(1949, 12, 31),
)
SAMPLE_PHONE = "13800138000"
SAMPLE_CODE = "246810"
SAMPLE_IDENTITY_CODE = "975310"  # a result the applicant collects in person
OTHER_PERSON_NUMBER = "110105198001010016"
TOUR_APPLICANT_KEY = b"tour-applicant-key-0123456789abc"
TOUR_FACE_SAMPLE = "obama"  # demo_support/samples.py: who stands at the face camera
STOPS = (
    "home",
    "catalog",
    "catalog_search",
    "item",
    "card",
    "mrz",
    "face",
    "phone",
    "scan",
    "materials",
    "usb_insert",
    "usb_files",
    "usb_preview",
    "deposit",
    "deposit_door",
    "deposit_open",
    "review",
    "receipt",
    "rating",
    "pickup_code",
    "idle",
    "pickup_refused",
    "pickup_door",
    "pickup_open",
    "pickup_card",
    "pickup_wrong_holder",
    "query",
    "supplement",
    "staff_login",
    "staff",
    "error",
    "out_of_service",
)


def _decision(matched: bool) -> FaceDecision:
    return FaceDecision(
        matched=matched,
        distance=0.38 if matched else 0.71,
        threshold=DEFAULT_THRESHOLD,
        liveness_passed=True,
    )


def _person_at_face_camera(node) -> None:
    """Emulated terminals film a generated page with the face camera: put a person there.

    The person is built from a public sample photo (fetched from PyPI, never shipped), so the
    face screen's preview shows a face where a citizen would stand.
    """
    from devices.camera.emulated import GeneratedPageSource

    if isinstance(node.parts.face_camera, GeneratedPageSource):
        from demo_support.samples import sample_bytes
        from devices.camera.face_emulator import LivePersonSource

        node.parts.face_camera = LivePersonSource(sample_bytes(TOUR_FACE_SAMPLE))


def tour(
    drv: KioskDriver,
    devices,
    code_key: bytes,
    stop: Stop,
    *,
    staff_code: str | None = None,
    only: set[str] | None = None,
) -> list[str]:
    """Visit every screen; `stop(name)` is called when it shows. Returns the stops made."""
    k = drv.kiosk
    seen: list[str] = []

    def at(name: str) -> None:
        if only is None or name in only:
            drv.pump(2)
            stop(name)
        seen.append(name)

    screens = k.screens
    drv.wait_screen("home")
    at("home")
    # Service guide, its search, one item's guide.
    drv.tap(screens["home"].choices["guide"])
    drv.wait_screen("catalog")
    at("catalog")
    cat = screens["catalog"]
    drv.tap(cat.nav.children[0])  # "search" (the nav row lays out right to left)
    drv.type(cat.keypad, "HJ")
    at("catalog_search")
    drv.tap(cat.item_buttons["HJ-0101"])
    drv.wait_screen("item")
    at("item")
    k.end_session("tour")
    # Submission: card, passport MRZ, face (one miss shown), item, phone, materials, scan.
    devices.face.decision = _decision(False)
    _person_at_face_camera(k.node)
    drv.tap(screens["home"].choices["submit"])
    drv.wait_screen("card")
    at("card")
    drv.tap(screens["card"].nav.children[0])  # "I have a passport"
    drv.wait_screen("mrz")
    mrz = screens["mrz"]
    drv.type(mrz.keypad, "E12345678")
    drv.tap(mrz.field_buttons["mrz.birth"])
    drv.type(mrz.keypad, "491231")
    at("mrz")
    drv.tap(mrz.back_button)  # back to the card
    drv.wait_screen("card")
    devices.reader.place(SAMPLE_CITIZEN)
    drv.wait_screen("face")
    face = screens["face"]
    drv.wait_for(lambda: face.retry.get_root_window() is not None, what="face retry")
    drv.wait_for(lambda: face.preview.frames > 0, what="a face frame")
    at("face")
    devices.face.decision = _decision(True)
    drv.tap(face.retry)
    drv.wait_screen("catalog")
    drv.tap(screens["catalog"].item_buttons["HJ-0101"])
    drv.wait_screen("item")
    drv.tap(screens["item"].apply_button)
    drv.wait_screen("phone")
    drv.type(screens["phone"].keypad, SAMPLE_PHONE[:7])
    at("phone")
    drv.type(screens["phone"].keypad, SAMPLE_PHONE[7:])
    drv.tap(screens["phone"].nav.children[0])
    drv.wait_screen("materials")
    materials = screens["materials"]
    flow = k.submission
    assert flow is not None and flow.item is not None
    first = True
    for spec in flow.item.materials:
        drv.tap(materials.row_buttons[spec.code])
        drv.wait_screen("scan")
        scan = screens["scan"]
        if first:
            drv.wait_for(lambda s=scan: s.outline.shown, what="a page outlined on the desk")
            at("scan")
        if k.current == "scan" and not scan.busy:  # else auto-capture already took the pages
            drv.tap(scan.scan_button)  # disabled (ignored) if auto-capture starts saving now
        drv.wait_screen("materials", timeout=60)
        if first:
            at("materials")
            first = False
    _usb_import(drv, devices, at, "household-register", "household-register.pdf")
    drv.tap(materials.nav.children[0])
    drv.wait_screen("deposit")
    at("deposit")
    deposit = screens["deposit"]
    drv.tap(deposit.open_button)
    shown = lambda b: b.get_root_window() is not None  # noqa: E731
    drv.wait_for(lambda: shown(deposit.closed_button) or shown(deposit.yes_button), what="open")
    if shown(deposit.yes_button):  # a compartment without a door sensor asks the citizen
        at("deposit_door")
        drv.tap(deposit.yes_button)
        drv.wait_for(lambda: shown(deposit.closed_button), what="the door confirmed open")
    at("deposit_open")
    drv.tap(deposit.closed_button)
    drv.wait_screen("review")
    at("review")
    drv.tap(screens["review"].submit_button)
    drv.wait_screen("receipt")
    receipt = screens["receipt"].receipt
    assert receipt is not None
    application_no = receipt.application_no
    at("receipt")
    drv.tap(screens["receipt"].nav.children[0])
    drv.wait_screen("rating")
    drv.tap(screens["rating"].choices[-1])  # a low score: the reasons to tap show
    drv.tap(screens["rating"].reason_buttons["waiting"])
    at("rating")
    drv.tap(screens["rating"].finish_button)
    drv.wait_screen("home")
    # The idle warning, on a pickup screen.
    _arm_pickup(k.node, code_key)
    drv.tap(screens["home"].choices["pickup"])
    drv.wait_screen("pickup_code")
    at("pickup_code")
    watch = k.idle
    saved = watch.clock
    watch.clock = lambda: saved() + watch.timeout_s + 1
    drv.pump(3)
    drv.wait_for(lambda: k.idle_dialog.parent is not None, what="the idle dialog")
    at("idle")
    watch.clock = saved
    if k.idle_dialog.parent is not None and watch.state() != "ok":
        drv.tap(k.idle_dialog.more)
    k.hide_idle_dialog()  # (a touch during the stop counted as the citizen being there)
    drv.wait_for(lambda: k.idle_dialog.parent is None, what="the dialog gone")
    pickup = screens["pickup_code"]
    type_pickup(drv, pickup, "111111")
    drv.wait_for(lambda: pickup.error.text, what="a refusal")
    at("pickup_refused")
    type_pickup(drv, pickup, SAMPLE_CODE)
    drv.wait_screen("pickup_open")
    opened = screens["pickup_open"]
    if shown(opened.yes_button):
        at("pickup_door")
        drv.tap(opened.yes_button)
        drv.wait_for(lambda: shown(opened.done_button), what="the door confirmed open")
    at("pickup_open")
    drv.tap(opened.done_button)
    drv.wait_screen("home")
    # A result handed over in person: the code leads to the card; another person's card is told.
    _arm_identity_pickup(k.node, code_key)
    drv.tap(screens["home"].choices["pickup"])
    drv.wait_screen("pickup_code")
    type_pickup(drv, pickup, SAMPLE_IDENTITY_CODE)
    drv.wait_screen("card")
    at("pickup_card")
    devices.reader.place(replace(SAMPLE_CITIZEN, number=OTHER_PERSON_NUMBER))
    drv.wait_screen("pickup_code")
    drv.wait_for(lambda: pickup.error.text, what="the wrong holder told")
    at("pickup_wrong_holder")
    k.end_session("tour")
    # Progress query of the application just made.
    drv.tap(screens["home"].choices["query"])
    drv.wait_screen("query")
    query = screens["query"]
    drv.type(query.keypad, application_no.replace("-", ""))
    drv.tap(query.next_button)
    drv.type(query.tail_keypad, SAMPLE_PHONE[-4:])
    drv.tap(query.search_button)
    drv.wait_for(lambda: query.state_line.text, what="a query result")
    at("query")
    # Bringing an owed material: offline here, so the screen says the centre cannot be reached.
    k.go("supplement", number=application_no, tail=SAMPLE_PHONE[-4:])
    drv.wait_for(lambda: screens["supplement"].error.text, what="the supplement screen's answer")
    at("supplement")
    k.end_session("tour")
    # Staff mode.
    drv.tap(screens["home"].staff_button)
    drv.wait_screen("staff_login")
    login = screens["staff_login"]
    drv.type(login.keypad, "0000")  # too short to be a code: refused without asking
    drv.tap(login.nav.children[0])
    at("staff_login")
    if k.current == "staff_login" and staff_code is not None:
        drv.type(login.keypad, staff_code)
        drv.tap(login.nav.children[0])
        drv.wait_screen("staff")
        at("staff")
        k.end_session("tour")
    else:
        k.end_session("tour")
    k.end_session("tour", go_home=False)
    k.go("error", key="error.fatal")  # what a failure mid-session leads to
    drv.wait_screen("error")
    at("error")
    # An operator takes the terminal out of service, then back: the start page follows.
    _service_change(k.node, m.OutOfService, reason=m.ServiceReason.MAINTENANCE)
    k.go("home")
    drv.wait_screen("out_of_service")
    at("out_of_service")
    _service_change(k.node, m.BackInService, reason=m.ServiceReason.REPAIRED)
    drv.wait_screen("home")
    return seen


def _service_change(node, command, **fields) -> None:
    """The operator's command as the terminal's dispatcher hands it to the node."""
    apply = node.apply_out_of_service if command is m.OutOfService else node.apply_back_in_service
    apply(
        command(
            terminal_id=node.terminal_id,
            operation_id=f"OPS-{m.new_message_id()[:12]}",
            expires_at=m.utcnow() + timedelta(minutes=15),
            **fields,
        )
    )


def _usb_import(drv: KioskDriver, devices, at: Stop, code: str, path: str) -> None:
    """The material `code` again, from the emulated USB stick's file `path` (it replaces the
    scan): the stick is plugged in once the screen asks for it, and pulled out at the end."""
    from devices.storage.emulated import sample_documents

    screens = drv.kiosk.screens
    drv.tap(screens["materials"].actions[code]["usb"])
    drv.wait_screen("usb_import")
    usb = screens["usb_import"]
    at("usb_insert")
    devices.stick.insert(sample_documents())
    drv.wait_for(lambda: path in usb.file_buttons, what="the stick's files")
    at("usb_files")
    drv.tap(usb.file_buttons[path])
    drv.wait_for(lambda: usb.state == "preview", what="the pages of the file")
    at("usb_preview")
    drv.tap(usb.use_button)
    drv.wait_screen("materials")
    devices.stick.remove()


def type_pickup(drv: KioskDriver, screen, code: str, tail: str = SAMPLE_PHONE[-4:]) -> None:
    """The code, Next, the phone's last four digits, Open: a pickup typed as a citizen does."""
    drv.type(screen.keypad, code)
    drv.tap(screen.next_button)
    drv.type(screen.tail_keypad, tail)
    drv.tap(screen.open_button)


def _tail_digest(node, code_key: bytes, load_id: str) -> str:
    return pickup_code.tail_digest(code_key, node.terminal_id, load_id, SAMPLE_PHONE[-4:])


def _arm_identity_pickup(node, code_key: bytes) -> None:
    """A result of an item collected in person (GS-0307), held for SAMPLE_CITIZEN."""
    if node.parts.applicant_key is None:
        node.parts.applicant_key = TOUR_APPLICANT_KEY  # emulated terminals only
    holder = applicant_ref.digest(
        node.parts.applicant_key, SAMPLE_CITIZEN.document_type, SAMPLE_CITIZEN.number
    )
    load_id = f"LOAD-TOUR-ID-{len(node.locker.compartments())}-{node.clock().timestamp():.0f}"
    node.locker.reserve_for_result(load_id, "AH-TOUR-0002", Size("M"), holder_ref=holder)
    node.locker.confirm_result_loaded(load_id)
    digest = pickup_code.digest(code_key, node.terminal_id, SAMPLE_IDENTITY_CODE)
    tail = _tail_digest(node, code_key, load_id)
    node.locker.set_pickup_code(load_id, digest, node.clock().timestamp() + 3600, tail)


def _arm_pickup(node, code_key: bytes) -> None:
    """Put a result in a compartment with SAMPLE_CODE, as staff and the backend would."""
    load_id = f"LOAD-TOUR-{len(node.locker.compartments())}-{node.clock().timestamp():.0f}"
    node.locker.reserve_for_result(load_id, "AH-TOUR-0001", Size("S"))
    node.locker.confirm_result_loaded(load_id)
    digest = pickup_code.digest(code_key, node.terminal_id, SAMPLE_CODE)
    tail = _tail_digest(node, code_key, load_id)
    node.locker.set_pickup_code(load_id, digest, node.clock().timestamp() + 3600, tail)
