"""The progress query screen: the backend's answer over a real broker, state first; offline
honesty without this terminal's own record; nothing of the query left after the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from enrolled_terminal import enrolled_at
from ui_unit_kiosk import FakeClock, leftovers, offline_kiosk, walk_to_review

from allhours.bootstrap import training_terminal
from backend.enrollment import worker_identity
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples
from terminal.ui.driver import KioskDriver
from terminal.ui.idle import IdleWatch
from terminal.ui.kiosk import Kiosk

NO = "AH-T0001-20261120-0001"  # the canonical submission: phone 13800138000, item HJ-0101
TAIL = "8000"


def ask(drv: KioskDriver, number: str, tail: str) -> None:
    k, q = drv.kiosk, drv.kiosk.screens["query"]
    if k.current != "query":
        drv.tap(k.screens["home"].choices["query"])
        drv.wait_screen("query")
    drv.type(q.keypad, number)
    drv.tap(q.next_button)
    assert q.tail_keypad.get_root_window() is not None, q.error.text
    drv.type(q.tail_keypad, tail)
    drv.tap(q.search_button)
    drv.wait_for(lambda: q.state_line.text, what="an answer on screen")


@pytest.mark.broker
def test_the_backends_answer_is_shown_state_first_and_a_wrong_tail_finds_nothing(
    broker, tmp_path: Path
):
    backend = BackendService(
        f"sqlite:///{tmp_path / 'backend.sqlite'}",
        tmp_path / "blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.query-ui",
        credentials=worker_identity(broker.authority, "backend.query-ui"),
        shared_group=None,
    )
    terminal = training_terminal(
        enrolled_at(
            broker.authority,
            tmp_path / "T0001",
            broker_host=broker.host,
            broker_port=broker.port,
            applicant_key=backend.applicant_key,
        )
    )
    node = terminal.node
    backend.register_terminal("T0001", terminal.config.identity.bundle.pickup_code_key)
    submitted = examples()["event.application_submitted"].model_copy(
        update={
            "reused_materials": [],
            "tolerated_missing": [
                m.ToleratedMaterial(material_code="household-register", working_days=5)
            ],
        }
    )
    backend.ingest.handle_batch([(submitted.topic(), submitted.encode())])
    backend.desk.step(NO, "accept", "clerk")
    kiosk = Kiosk(
        node,
        lang="en",
        strict_i18n=True,
        idle=IdleWatch(timeout_s=60, warn_s=10, clock=FakeClock()),
    )
    drv = None
    try:
        backend.start()
        node.start()
        assert node.link.wait_connected(10) and node.link.responses_granted.wait(5)
        drv = KioskDriver(kiosk)
        q = kiosk.screens["query"]

        ask(drv, NO.replace("-", ""), TAIL)
        assert q.state_line.text == kiosk.t("query.state.under_review")
        # The state is the first thing on the page, in the title size.
        assert q.body.children[-1] is q.state_line and q.state_line.role == "title"
        details = q.details.text
        assert kiosk.t("query.number", number=NO) in details
        assert "Household registration certificate" in details
        # Handed in Sat 21 Nov (Beijing): 3 working days promised, 5 for the owed register.
        assert kiosk.t("query.promised_by", date="2026-11-25") in details
        assert kiosk.t("query.supplement", material="Household register", date="2026-11-27") in (
            details
        )
        for secret in ("张三", "13800138000", "11010519491231002X"):
            assert secret not in details

        kiosk.set_language("zh")
        assert q.state_line.text == "正在审核"
        kiosk.set_language("en")

        drv.tap(q.again_button)
        ask(drv, NO.replace("-", ""), "1234")
        assert q.state_line.text == kiosk.t("query.none_found")
        assert NO not in q.details.text

        drv.tap(q.finish_button)
        drv.wait_screen("home")
        drv.pump(2)
        assert leftovers(kiosk, {NO, NO.replace("-", ""), TAIL, "1234"}) == []
    finally:
        if drv is not None:
            drv.close()
        node.stop()
        backend.stop()


def test_offline_the_screen_says_the_centre_is_unreachable_and_shows_no_local_record(
    tmp_path,
):
    # Only the backend checks the tail and counts guesses: offline, this terminal's record of
    # a number (which service, when) is shown to nobody, not even with the right tail.
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        walk_to_review(drv, devices)
        drv.tap(s["review"].submit_button)
        drv.wait_screen("receipt")
        number = s["receipt"].receipt.application_no
        k.end_session("finish")
        drv.wait_screen("home")

        q = s["query"]
        for tail in (TAIL, "0000", "9999"):  # the applicant's own, and a stranger's guesses
            ask(drv, number.replace("-", ""), tail)
            assert q.state_line.text == k.t("query.offline")
            assert q.details.text == k.t("query.offline_later")
            assert "handed in" not in q.details.text
            assert "Household registration certificate" not in q.details.text
            assert q.progress is not None and not q.progress.found
            drv.tap(q.again_button)

        ask(drv, "AHT0001202001010001", TAIL)  # a number never submitted: the same answer
        assert q.details.text == k.t("query.offline_later")
        assert k.node.progress.unanswered == 4


def test_a_typo_in_the_number_or_a_short_tail_is_pointed_out_before_asking(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, _devices, _key):
        k, q = drv.kiosk, drv.kiosk.screens["query"]
        drv.tap(k.screens["home"].choices["query"])
        drv.wait_screen("query")
        drv.type(q.keypad, "AB")
        drv.tap(q.next_button)
        assert q.error.text == k.t("query.bad_number")
        assert q.tail_keypad.get_root_window() is None
        drv.tap(q.keypad.keys["clear"])
        drv.type(q.keypad, "AHT0001202611210001")
        drv.tap(q.next_button)
        assert "AH-T0001-20261121-0001" in q.hint.text
        drv.type(q.tail_keypad, "12")
        drv.tap(q.search_button)
        assert q.error.text == k.t("query.bad_tail")
        assert q.progress is None and k.node.progress.unanswered == 0
