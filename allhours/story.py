"""The citizen's and the clerk's steps at an emulated terminal, shared by scripts and the demo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from cloud_bridge.link import wait_until
from devices.identity.port import IdentityDocument
from face.check import Guidance
from face.decision import DEFAULT_THRESHOLD, FaceDecision
from locker.bank import Opened
from locker.compartment import Compartment
from privacy import mask_name, mask_phone
from terminal.flows.pickup import PickupRefused
from terminal.flows.staff import StaffMember
from terminal.flows.submission import SubmissionReceipt
from terminal.node import TerminalNode

from .wiring import EmulatedDevices

Say = Callable[[str], None]
CHALLENGE_PROMPTS = ("blink_now", "turn_left", "turn_right")


@dataclass(frozen=True)
class Citizen:
    """Who walks up to the terminal in a script."""

    name: str
    id_number: str
    phone: str
    document_type: str = "cn_resident_id"
    face_distance: float = 0.38
    live: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Citizen:
        doc = data.get("document", {})
        face = data.get("face", {})
        if not isinstance(doc, dict) or not isinstance(face, dict):
            raise ValueError("`document` and `face` must be tables")
        try:
            return cls(
                name=str(doc["name"]),
                id_number=str(doc["number"]),
                phone=str(data["phone"]),
                document_type=str(doc.get("type", "cn_resident_id")),
                face_distance=float(face.get("distance", 0.38)),
                live=bool(face.get("liveness", True)),
            )
        except KeyError as exc:
            raise ValueError(f"submit step is missing {exc.args[0]!r}") from None


def citizen_submits(
    node: TerminalNode, devices: EmulatedDevices, citizen: Citizen, item_code: str, say: Say
) -> SubmissionReceipt:
    """Walk one citizen through the whole submission flow and return the receipt."""
    devices.reader.place(
        IdentityDocument(
            document_type=citizen.document_type,
            name=citizen.name,
            number=citizen.id_number,
            birth_date=date(1990, 1, 1),
            photo=devices.card_photo,
        )
    )
    devices.face.decision = FaceDecision(
        matched=citizen.face_distance <= DEFAULT_THRESHOLD,
        distance=citizen.face_distance,
        threshold=DEFAULT_THRESHOLD,
        liveness_passed=citizen.live,
    )
    flow = node.submission()
    doc = flow.read_identity()
    say(f"ID card read: {mask_name(doc.name)} ({doc.masked_number})")
    person = devices.live_person
    if person is None:
        decision = flow.verify_face()
        say(f"face matched (distance {decision.distance:.2f} ≤ {decision.threshold}), liveness ok")
    else:
        prompts: list[str] = []

        def screen(guidance: Guidance) -> None:
            # The person reads the screen; the story notes each challenge prompt once.
            person.show_prompt(guidance.code)
            if guidance.code in CHALLENGE_PROMPTS and (not prompts or prompts[-1] != guidance.code):
                prompts.append(guidance.code)

        decision = flow.verify_face(on_guidance=screen)
        say(
            f"live face check: challenge {' + '.join(prompts)} answered; matched the card photo "
            f"(distance {decision.distance:.2f} ≤ {decision.threshold})"
        )
    item = flow.choose_item(item_code)
    say(f"service item {item.code}: {item.name_zh} / {item.name_en}")
    flow.enter_phone(citizen.phone)
    say(f"phone number {mask_phone(citizen.phone)}")
    for spec in item.materials:
        if spec.required:
            scanned = flow.scan_material(spec.code)
            say(
                f"scanned {spec.name_en}: {scanned.pages} page(s), "
                f"{scanned.blob.size // 1024} KiB PDF, sha256 {scanned.blob.sha256[:12]}…"
            )
    flow.finish_materials()
    if item.originals_size:
        cid = flow.open_deposit()
        say(f"compartment {cid} opened for the paper originals; citizen closes the door")
        flow.close_deposit()
    receipt = flow.submit()
    how = "sending now" if receipt.sent_now else "recorded here, will be sent when the link is back"
    say(
        f"RECEIPT {receipt.application_no} — promised in {receipt.promised_days} working day(s)"
        f" ({how})"
    )
    return receipt


def staff_signs_in(node: TerminalNode, code: str, say: Say) -> StaffMember:
    """A clerk types the one-time code the console showed them; the backend says who it is."""
    member = node.staff_sign_in.sign_in(code)
    say(f"{member.username} signed in to service mode with a one-time code")
    return member


def staff_loads_results(
    node: TerminalNode, member: StaffMember, say: Say, wait_s: float = 30.0
) -> list[Compartment]:
    """A clerk in service mode loads every result the backend asked for."""
    staff = node.staff(member)
    if not wait_until(lambda: bool(staff.pending_loads()), wait_s):
        raise TimeoutError(f"no load_result command reached the terminal within {wait_s:.0f}s")
    loaded = []
    for slot in staff.pending_loads():
        assert slot.load_id
        cid = staff.open_for_load(slot.load_id)
        say(f"clerk opened {cid}, put in the result for {slot.application_no}, closed the door")
        loaded.append(staff.confirm_loaded(slot.load_id))
    return loaded


def citizen_picks_up(
    node: TerminalNode, code: str, say: Say, phone_tail: str | None = None
) -> Opened:
    """The applicant types a code and the phone's last four digits at the keypad."""
    flow = node.pickup()
    try:
        opened = flow.enter_code(code, phone_tail)
    except PickupRefused as exc:
        say(f"code refused ({exc.reason}): {exc}")
        raise
    say(f"compartment {opened.compartment_id} opened for {opened.application_no}")
    flow.door_closed()
    return opened
