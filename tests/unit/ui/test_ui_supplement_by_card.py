"""Bring a missing material with the ID card, by touch, on an offline kiosk: the card and face
screens serve this flow too; a face that does not match stops it before anything is asked;
offline the citizen is told plainly, in both languages; without a card at hand the card screen
leads to the number-and-phone way. (Over the real broker and backend:
tests/integration/ui/test_ui_supplement_by_card_over_mqtt.py.)"""

from __future__ import annotations

from dataclasses import replace

from ui_unit_kiosk import leftovers, offline_kiosk, secrets

from demo_support.tour import SAMPLE_CITIZEN
from face.decision import DEFAULT_THRESHOLD, FaceDecision
from terminal.flows.supplement import Step

NO_MATCH = FaceDecision(False, 0.71, DEFAULT_THRESHOLD, True)


def to_card(drv) -> None:
    s = drv.kiosk.screens
    drv.tap(s["home"].choices["supplement"])
    drv.wait_screen("card")
    assert s["card"].hint.text == drv.kiosk.t("supplement.identity_hint")


def test_a_face_that_does_not_match_stops_it_before_anything_is_asked(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        devices.face.decision = NO_MATCH
        to_card(drv)
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("face")
        face = s["face"]
        for _ in range(2):
            drv.wait_for(lambda: face.retry.get_root_window() is not None, what="retry")
            drv.tap(face.retry)
        drv.wait_for(
            lambda: face.guidance.text == k.t("face.guide.attempts_exhausted"),
            what="staff help in office hours",
        )
        assert k.supplement is not None and k.supplement.step == Step.STAFF_ASSIST
        assert k.current == "face"  # never on to the list of applications
        assert (k.node.owing.answered, k.node.owing.unanswered) == (0, 0)
        k.set_language("zh")
        assert face.guidance.text == k.t("face.guide.attempts_exhausted")
        assert "工作人员" in face.guidance.text
        flow = k.supplement
        drv.tap(face.nav.children[0])  # finish
        drv.wait_screen("home")
        drv.pump(3)
        assert k.supplement is None and flow.document is None
        assert leftovers(k, secrets()) == []


def test_offline_the_citizen_is_told_the_centre_cannot_be_reached_and_the_card_is_forgotten(
    tmp_path,
):
    with offline_kiosk(tmp_path, lang="zh") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        to_card(drv)
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("supplement")
        sup = s["supplement"]
        drv.wait_for(
            lambda: sup.error.text == k.t("supplement.error.offline"), what="the offline text"
        )
        assert "服务中心" in sup.error.text and sup.case_buttons == {}
        assert k.node.owing.unanswered == 1
        # The card is dropped once its digest is taken: only the digest waits for an answer.
        assert k.supplement is not None and k.supplement.document is None
        k.set_language("en")
        assert sup.error.text == k.t("supplement.error.offline")
        assert "service centre" in sup.error.text
        assert sup.by_number_button.get_root_window() is not None  # the other way is offered
        drv.tap(sup.nav.children[-1])  # cancel
        drv.wait_screen("home")
        drv.pump(3)
        assert leftovers(k, secrets()) == []


def test_a_passport_holder_reaches_the_same_list_through_the_mrz(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        to_card(drv)
        drv.tap(s["card"].passport_button)
        drv.wait_screen("mrz")
        drv.tap(s["mrz"].back_button)
        drv.wait_screen("card")
        assert s["card"].hint.text == k.t("supplement.identity_hint")  # still this flow
        passport = replace(
            SAMPLE_CITIZEN,
            document_type="passport",
            authenticity="issuer_verified",  # as the kiosk takes a passport (its CSCA known)
            chip_proof="passed",
        )
        devices.reader.place(passport)
        drv.wait_screen("supplement")
        drv.wait_for(lambda: s["supplement"].error.text, what="the answer (offline)")


def test_without_the_card_the_card_screen_leads_to_the_number_and_phone(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, _devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        to_card(drv)
        assert s["card"].by_number_button.get_root_window() is not None
        drv.tap(s["card"].by_number_button)
        drv.wait_screen("query")
        assert k.supplement is None
        # A submission's card screen does not offer it.
        drv.tap(s["query"].nav.children[-1])  # cancel
        drv.wait_screen("home")
        drv.tap(s["home"].choices["submit"])
        drv.wait_screen("card")
        assert s["card"].by_number_button.get_root_window() is None
        assert s["card"].hint.text == k.t("card.hint")


def test_a_terminal_without_the_applicant_key_says_to_use_the_number_instead(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        k.node.parts.applicant_key = None  # enrolled before the fleet had one
        to_card(drv)
        devices.reader.place(SAMPLE_CITIZEN)
        drv.wait_screen("supplement")
        sup = s["supplement"]
        drv.wait_for(
            lambda: sup.error.text == k.t("supplement.error.no_card_lookup"), what="the advice"
        )
        assert k.node.owing.unanswered == 0  # nothing was asked
        drv.tap(sup.by_number_button)
        drv.wait_screen("query")
        assert k.supplement is None
