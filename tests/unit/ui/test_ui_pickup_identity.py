"""A pickup of a result for the applicant in person, by touch: code, card, face, open.

The kiosk runs offline on emulated devices (scripted card reader, the face port, the door
board); the load comes as the backend's LoadResult with the item and the holder's digest.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from command_delivery import deliver
from ui_unit_kiosk import leftovers, offline_kiosk, secrets

from cloud_bridge.contract import applicant_ref, pickup_code
from cloud_bridge.contract import messages as m
from demo_support.tour import SAMPLE_CITIZEN, type_pickup
from face.decision import DEFAULT_THRESHOLD, FaceDecision
from locker.compartment import State
from terminal.flows.staff import StaffMember

# Service mode as a clerk the backend signed in (these tests have no backend to ask).
CLERK = StaffMember("clerk.test", "", "STAFF-test")

APPLICANT_KEY = b"a" * 32
CODE = "135792"
NO_MATCH = FaceDecision(False, 0.71, DEFAULT_THRESHOLD, True)


def arm_identity_result(kiosk, code_key: bytes) -> str:
    """What the backend and a clerk do for an item collected in person (GS-0307)."""
    node = kiosk.node
    node.parts.applicant_key = APPLICANT_KEY
    now = node.clock()
    holder = applicant_ref.digest(
        APPLICANT_KEY, SAMPLE_CITIZEN.document_type, SAMPLE_CITIZEN.number
    )
    ack = deliver(
        node,
        m.LoadResult(
            terminal_id="T0001",
            operation_id="L-ui1",
            load_id="L-ui1",
            application_no="AH-T0001-20261120-0042",
            size="M",
            expires_at=now + timedelta(hours=1),
            item_code="GS-0307",
            holder_ref=holder,
        ),
    )
    assert ack.outcome == m.AckOutcome.DONE, ack.detail
    staff = node.staff(CLERK)
    staff.open_for_load("L-ui1")
    staff.confirm_loaded("L-ui1")
    node.locker.set_pickup_code(
        "L-ui1",
        pickup_code.digest(code_key, "T0001", CODE),
        (now + timedelta(days=1)).timestamp(),
    )
    node.devices.lock.pulses.clear()
    return ack.result["compartment_id"]


def type_code(drv) -> None:
    s = drv.kiosk.screens
    drv.tap(s["home"].choices["pickup"])
    drv.wait_screen("pickup_code")
    type_pickup(drv, s["pickup_code"], CODE)  # a result set without a tail: any tail will do


def state_of(kiosk, compartment: str) -> State:
    return next(c.state for c in kiosk.node.locker.compartments() if c.id == compartment)


def test_the_applicant_taps_through_code_card_and_face_and_the_compartment_opens(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, key):
        k, s = drv.kiosk, drv.kiosk.screens
        compartment = arm_identity_result(k, key)
        type_code(drv)
        drv.wait_screen("card")
        assert s["card"].hint.text == k.t("pickup.identity_hint")
        assert devices.board.pulses == []  # the code alone opens nothing

        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("pickup_open")

        opened = s["pickup_open"]
        assert opened.compartment == compartment
        assert len(devices.board.pulses) == 1
        assert state_of(k, compartment) == State.EMPTY
        drv.tap(opened.done_button)
        drv.wait_screen("home")
        drv.pump(3)
        assert leftovers(k, secrets()) == []


def test_another_persons_card_is_told_plainly_and_nothing_opens(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, key):
        k, s = drv.kiosk, drv.kiosk.screens
        compartment = arm_identity_result(k, key)
        type_code(drv)
        drv.wait_screen("card")
        devices.reader.place(replace(SAMPLE_CITIZEN, number="110105198001010016"))

        drv.wait_screen("pickup_code")
        error = s["pickup_code"].error
        drv.wait_for(lambda: error.text, what="the refusal")
        assert error.text == k.t("pickup.refused.wrong_holder")
        assert "ID card" in error.text
        assert devices.board.pulses == []
        assert state_of(k, compartment) == State.HOLDING_RESULT
        assert k.pickup is not None and k.pickup.document is None

        k.set_language("zh")  # the refusal follows the language
        assert error.text == k.t("pickup.refused.wrong_holder") and "身份证" in error.text


def test_a_face_that_does_not_match_ends_in_office_hours_and_the_code_stays_valid(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, key):
        k, s = drv.kiosk, drv.kiosk.screens
        compartment = arm_identity_result(k, key)
        devices.face.decision = NO_MATCH
        type_code(drv)
        drv.wait_screen("card")
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("face")
        face = s["face"]
        for _ in range(2):
            drv.wait_for(lambda: face.retry.get_root_window() is not None, what="retry")
            drv.tap(face.retry)
        drv.wait_for(
            lambda: face.guidance.text == k.t("pickup.identity_failed"), what="office hours"
        )
        assert devices.board.pulses == []
        assert state_of(k, compartment) == State.HOLDING_RESULT
        drv.tap(face.nav.children[0])  # finish
        drv.wait_screen("home")
        devices.face.decision = replace(NO_MATCH, matched=True, distance=0.38)
        type_code(drv)
        drv.wait_screen("card")  # the code still works


def test_walking_away_at_the_face_step_wipes_the_card_and_releases_the_claim(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, key):
        k, s = drv.kiosk, drv.kiosk.screens
        arm_identity_result(k, key)
        devices.face.decision = NO_MATCH
        type_code(drv)
        drv.wait_screen("card")
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("face")
        drv.wait_for(lambda: s["face"].retry.get_root_window() is not None, what="retry")
        flow = k.pickup
        assert flow is not None and flow.document is not None

        k.idle.clock.now += k.idle.timeout_s + k.idle.warn_s + 1
        drv.wait_screen("home")
        drv.pump(3)

        assert k.pickup is None and flow.document is None and flow.claim is None
        assert leftovers(k, secrets()) == []
        assert k.node.journal.records()[-1].event == "claim_released"
        assert devices.board.pulses == []
