"""After-hours submission through a real TerminalNode: store, outbox and lock board on disk."""

from __future__ import annotations

import pytest
from terminal_unit_kiosk import TERMINAL, ZHANG_SAN, ZHANG_SAN_PASSPORT, Kiosk

from cloud_bridge.contract import messages as m
from locker.compartment import State
from terminal.flows.session import FlowError
from terminal.flows.submission import Step, SubmissionFlow


def _to_review(kiosk: Kiosk, *, deposit: bool = True) -> SubmissionFlow:
    flow = kiosk.node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")
    for code in flow.missing_materials():
        flow.scan_material(code)
    flow.finish_materials()
    if deposit:
        flow.open_deposit()
        flow.close_deposit()
    return flow


def _chunks(kiosk: Kiosk) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for sha, index in kiosk.node.db.read(
        "SELECT blob_sha, chunk_index FROM outbox WHERE kind = 'chunk'"
    ):
        out.setdefault(sha, set()).add(index)
    return out


def test_full_submission_gives_a_receipt_and_queues_event_chunks_and_deposit(kiosk: Kiosk):
    flow = _to_review(kiosk)
    compartment = flow.deposit_compartment
    assert compartment is not None

    receipt = flow.submit()

    assert flow.step == Step.DONE
    assert receipt.application_no == f"AH-{TERMINAL}-20261120-0001"
    assert (receipt.item_code, receipt.materials, receipt.promised_days) == ("HJ-0101", 2, 3)
    assert receipt.deposit_compartment == compartment
    assert receipt.sent_now is False  # the link was never started

    [submitted] = kiosk.messages(m.ApplicationSubmitted)
    assert submitted.application_no == submitted.operation_id == receipt.application_no
    assert submitted.applicant.id_number == ZHANG_SAN.number
    assert submitted.applicant.phone == "13800138000"
    assert submitted.identity.verified and submitted.identity.method == m.IdentityMethod.FACE
    assert submitted.deposit_expected is True
    # The catalog the item and its promise came from: the starting one until a bundle.
    assert (submitted.promised_days, submitted.catalog_version) == (3, "builtin-2026.12")
    assert sorted(x.material_code for x in submitted.materials) == [
        "household-register",
        "id-card-copy",
    ]
    chunks = _chunks(kiosk)
    assert set(chunks) == {x.sha256 for x in submitted.materials}
    for ref in submitted.materials:
        expected = -(-ref.size // m.BLOB_CHUNK_BYTES)
        assert chunks[ref.sha256] == set(range(expected))
        assert kiosk.node.outbox.blob_path(ref.sha256).stat().st_size == ref.size

    [deposited] = kiosk.messages(m.MaterialsDeposited)
    assert (deposited.application_no, deposited.compartment_id) == (
        receipt.application_no,
        compartment,
    )
    assert len(kiosk.messages()) == 2
    assert kiosk.board.pulses == [(kiosk.channel_of(compartment), 500)]
    [slot] = [c for c in kiosk.node.locker.compartments() if c.id == compartment]
    assert (slot.state, slot.application_no) == (State.HOLDING_DEPOSIT, receipt.application_no)


def test_scanned_materials_are_pdfs_of_every_page(kiosk: Kiosk):
    flow = _to_review(kiosk, deposit=False)

    for code, pages in (("id-card-copy", 1), ("household-register", 2)):
        scanned = flow.scanned[code]
        data = kiosk.node.outbox.blob_path(scanned.blob.sha256).read_bytes()
        assert data.startswith(b"%PDF")
        assert scanned.pages == pages
    assert [c.captured for c in kiosk.cameras] == [1, 2]


def test_citizen_personal_data_is_gone_from_the_flow_after_submit(kiosk: Kiosk):
    flow = _to_review(kiosk)

    receipt = flow.submit()

    assert (flow.document, flow.phone, flow.face) == (None, None, None)
    for secret in (ZHANG_SAN.name, ZHANG_SAN.number, "13800138000"):
        assert secret not in repr(flow)
        assert secret not in repr(receipt)
    record = kiosk.node.store.local_application(receipt.application_no)
    assert record is not None
    assert record["applicant_masked"] == "1101**********002X"


def test_the_local_record_masks_a_passport_number_by_the_passports_rule(passport_kiosk: Kiosk):
    """Not the ID card's 4 and 4, which left E123*5678: 8 of the 9 characters."""
    receipt = _to_review(passport_kiosk).submit()

    [submitted] = passport_kiosk.messages(m.ApplicationSubmitted)
    assert submitted.applicant.id_document_type == m.IdDocumentType.PASSPORT
    record = passport_kiosk.node.store.local_application(receipt.application_no)
    assert record is not None
    assert record["applicant_masked"] == "E1*****78"
    rows = passport_kiosk.node.db.read("SELECT * FROM local_applications")
    assert ZHANG_SAN_PASSPORT.number not in repr(rows) and "E123*5678" not in repr(rows)


@pytest.mark.parametrize("phone", ["12345", "2380013800", "1280013800x", "+8613800138000", ""])
def test_bad_phone_is_refused_with_a_clear_message(kiosk: Kiosk, phone: str):
    flow = kiosk.node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")

    with pytest.raises(FlowError, match="11-digit mobile number"):
        flow.enter_phone(phone)

    assert flow.step == Step.PHONE
    assert flow.phone is None


def test_phone_with_spaces_is_accepted(kiosk: Kiosk):
    flow = kiosk.node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")

    flow.enter_phone(" 138 0013 8000 ")

    assert (flow.step, flow.phone) == (Step.MATERIALS, "13800138000")


def test_three_failed_face_checks_move_to_staff_assist(failing_face_kiosk: Kiosk):
    flow = failing_face_kiosk.node.submission()
    flow.read_identity()

    for _ in range(2):
        with pytest.raises(FlowError, match="try again"):
            flow.verify_face()
        assert flow.step == Step.FACE
    with pytest.raises(FlowError, match="staff-assisted"):
        flow.verify_face()

    assert flow.step == Step.STAFF_ASSIST
    assert failing_face_kiosk.verifier.calls == 3
    with pytest.raises(FlowError):
        flow.verify_face()  # no fourth try at the camera
    assert failing_face_kiosk.verifier.calls == 3


def test_materials_cannot_be_finished_with_a_required_one_missing(kiosk: Kiosk):
    flow = kiosk.node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")
    flow.scan_material("id-card-copy")

    with pytest.raises(FlowError, match="household-register"):
        flow.finish_materials()
    assert flow.step == Step.MATERIALS


def test_cancel_after_deposit_reopens_and_releases_the_compartment(kiosk: Kiosk):
    flow = _to_review(kiosk)
    compartment = flow.deposit_compartment
    assert compartment is not None
    channel = kiosk.channel_of(compartment)

    flow.cancel()

    assert flow.step == Step.CANCELLED
    assert kiosk.board.pulses == [(channel, 500), (channel, 500)]  # deposit, then take back
    [slot] = [c for c in kiosk.node.locker.compartments() if c.id == compartment]
    assert slot.state == State.EMPTY and slot.application_no is None
    assert kiosk.messages() == []
    assert (flow.document, flow.phone) == (None, None)


def test_cancel_before_closing_the_deposit_releases_without_another_pulse(kiosk: Kiosk):
    flow = _to_review(kiosk, deposit=False)
    compartment = flow.open_deposit()

    flow.cancel()

    assert kiosk.board.pulses == [(kiosk.channel_of(compartment), 500)]
    [slot] = [c for c in kiosk.node.locker.compartments() if c.id == compartment]
    assert slot.state == State.EMPTY


def test_cancel_keeps_the_originals_recorded_when_the_compartment_cannot_reopen(kiosk: Kiosk):
    flow = _to_review(kiosk)
    compartment = flow.deposit_compartment
    kiosk.board.unplug()

    with pytest.raises(FlowError, match="could not be opened"):
        flow.cancel()

    [slot] = [c for c in kiosk.node.locker.compartments() if c.id == compartment]
    assert slot.state == State.HOLDING_DEPOSIT
    [alarm] = kiosk.messages(m.Alarm)
    assert (alarm.kind, alarm.compartment_id) == (m.AlarmKind.LOCK_FAULT, compartment)
    assert (flow.step, flow.document, flow.phone) == (Step.CANCELLED, None, None)


def test_a_session_abandoned_after_the_deposit_opens_nothing_and_keeps_the_papers(kiosk: Kiosk):
    """Idle, a fatal error, the kiosk stopping: nobody is there to take the papers back."""
    flow = _to_review(kiosk)
    compartment, application_no = flow.deposit_compartment, flow.application_no
    assert compartment is not None
    paths = [kiosk.node.outbox.blob_path(s.blob.sha256) for s in flow.scanned.values()]

    flow.abandon("idle")

    assert (flow.step, flow.document, flow.phone) == (Step.CANCELLED, None, None)
    assert kiosk.board.pulses == [(kiosk.channel_of(compartment), 500)]  # no second pulse
    [slot] = [c for c in kiosk.node.locker.compartments() if c.id == compartment]
    assert (slot.state, slot.abandoned_application_no) == (State.HOLDING_DEPOSIT, application_no)
    [alarm] = kiosk.messages(m.Alarm)
    assert (alarm.kind, alarm.compartment_id) == (m.AlarmKind.DEPOSIT_ABANDONED, compartment)
    assert [p for p in paths if p.exists()] == []
    flow.abandon("stop")  # ended twice (a stop after the idle wipe): nothing more
    assert len(kiosk.messages(m.Alarm)) == 1
    kiosk.reader.place(ZHANG_SAN)
    assert _to_review(kiosk, deposit=False).open_deposit() != compartment


def test_a_session_abandoned_before_the_deposit_touches_no_compartment(kiosk: Kiosk):
    flow = _to_review(kiosk, deposit=False)

    flow.abandon("idle")

    assert kiosk.board.pulses == [] and kiosk.messages() == []
    assert all(c.state == State.EMPTY for c in kiosk.node.locker.compartments())


def test_cancel_deletes_the_citizens_staged_scans(kiosk: Kiosk):
    flow = _to_review(kiosk, deposit=False)
    paths = [kiosk.node.outbox.blob_path(s.blob.sha256) for s in flow.scanned.values()]
    assert all(p.exists() for p in paths)

    flow.cancel()

    assert [p for p in paths if p.exists()] == []


def test_application_numbers_are_not_reused_across_sessions(kiosk: Kiosk):
    first = _to_review(kiosk).submit()
    kiosk.reader.place(ZHANG_SAN)

    second = _to_review(kiosk).submit()

    assert first.application_no != second.application_no
    assert second.application_no.endswith("-0002")
    assert len(kiosk.messages(m.ApplicationSubmitted)) == 2
    assert first.deposit_compartment != second.deposit_compartment


def test_item_without_originals_goes_straight_to_review_and_pulses_nothing(kiosk: Kiosk):
    flow = kiosk.node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("SB-0203")
    flow.enter_phone("13800138000")
    flow.scan_material("id-card-copy")
    flow.finish_materials()

    assert flow.step == Step.REVIEW
    receipt = flow.submit()

    assert receipt.deposit_compartment is None
    assert kiosk.board.pulses == []
    [submitted] = kiosk.messages(m.ApplicationSubmitted)
    assert submitted.deposit_expected is False
    assert kiosk.messages(m.MaterialsDeposited) == []


def test_receipt_of_an_earlier_upload_does_not_break_a_later_identical_scan(kiosk: Kiosk):
    _to_review(kiosk).submit()
    kiosk.reader.place(ZHANG_SAN)
    second = _to_review(kiosk)  # the emulated camera films the same pages: same bytes
    outbox = kiosk.node.outbox
    everything = [mid for (mid,) in kiosk.node.db.read("SELECT message_id FROM outbox")]
    outbox.settle(
        [m.ReceiptItem(message_id=mid, outcome=m.ReceiptOutcome.STORED) for mid in everything]
    )

    receipt = second.submit()

    assert receipt.materials == 2
    assert set(_chunks(kiosk)) == {s.blob.sha256 for s in second.scanned.values()}


def test_one_citizen_cancelling_does_not_delete_another_sessions_identical_scan(kiosk: Kiosk):
    staying = _to_review(kiosk)
    kiosk.reader.place(ZHANG_SAN)
    leaving = _to_review(kiosk, deposit=False)  # same pages, same bytes, same file
    leaving.cancel()

    receipt = staying.submit()

    assert receipt.materials == 2
    assert all(
        kiosk.node.outbox.blob_path(s.blob.sha256).exists() for s in staying.scanned.values()
    )


def test_a_citizen_without_originals_can_skip_the_deposit_and_still_submit(kiosk: Kiosk):
    flow = _to_review(kiosk, deposit=False)
    assert flow.step == Step.DEPOSIT
    flow.skip_deposit()

    receipt = flow.submit()

    assert receipt.deposit_compartment is None
    assert kiosk.board.pulses == []
    [event] = [
        m.decode(p)
        for (p,) in kiosk.node.db.read("SELECT payload FROM outbox WHERE kind = 'message'")
        if m.decode(p).type == "event.application_submitted"
    ]
    assert event.deposit_expected is False
    assert all(c.state == State.EMPTY for c in kiosk.node.locker.compartments())
