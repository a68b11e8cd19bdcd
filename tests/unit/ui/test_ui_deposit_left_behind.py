"""Paper originals in a compartment and a session that ends before "Submit".

Only the citizen's own Cancel opens the compartment again (they stand there to take their papers
back). The idle wipe, a fatal error and the kiosk stopping open nothing: the compartment keeps the
papers as an abandoned deposit, an alarm tells staff, the next citizen gets another compartment,
and staff collect the papers in service mode. Unsensed doors: a session answering "No, it did
not open" over and over takes one compartment out of service, not the whole locker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from enrolled_terminal import enrolled_offline
from ui_unit_kiosk import STAFF_CODE, FakeClock, offline_kiosk, staff_sign_in, walk_to_materials

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import messages as m
from demo_support.tour import SAMPLE_CITIZEN
from locker.compartment import State
from locker.layout import default_layout
from terminal.flows.session import FlowError
from terminal.ui.driver import KioskDriver
from terminal.ui.idle import IdleWatch
from terminal.ui.kiosk import Kiosk


def messages(kiosk: Kiosk, cls: type[m.Message]) -> list:
    rows = kiosk.node.db.read("SELECT payload FROM outbox WHERE kind = 'message' ORDER BY seq")
    return [x for x in (m.decode(p) for (p,) in rows) if isinstance(x, cls)]


def compartment(kiosk: Kiosk, cid: str):
    return next(c for c in kiosk.node.locker.compartments() if c.id == cid)


def scan_and_reach_deposit(drv: KioskDriver, devices: EmulatedDevices) -> None:
    s = drv.kiosk.screens
    walk_to_materials(drv, devices)
    for code in ("id-card-copy", "household-register"):
        drv.tap(s["materials"].row_buttons[code])
        drv.wait_for(lambda: s["scan"].preview.frames > 0, what="a page on screen")
        drv.tap(s["scan"].scan_button)
        drv.wait_screen("materials")
    drv.tap(s["materials"].nav.children[0])
    drv.wait_screen("deposit")


def deposit_and_review(drv: KioskDriver, devices: EmulatedDevices) -> tuple[str, str, int]:
    """A citizen deposits the household register and reaches the review: (compartment,
    would-be application number, door channel)."""
    k, s = drv.kiosk, drv.kiosk.screens
    scan_and_reach_deposit(drv, devices)
    dep = s["deposit"]
    drv.tap(dep.open_button)
    drv.wait_for(lambda: dep.closed_button.parent is not None, what="the door open")
    flow = k.submission
    assert flow is not None and flow.deposit_compartment and flow.application_no
    cid, application_no = flow.deposit_compartment, flow.application_no
    channel = compartment(k, cid).spec.channel
    devices.board.door(channel).close()  # papers in, door pushed shut
    drv.tap(dep.closed_button)
    drv.wait_screen("review")
    held = compartment(k, cid)
    assert (held.state, held.application_no) == (State.HOLDING_DEPOSIT, application_no)
    assert devices.board.pulses == [(channel, 500)]
    return cid, application_no, channel


def next_citizens_compartment(kiosk: Kiosk, devices: EmulatedDevices) -> str:
    """The next citizen, through the same flow, up to the opened compartment."""
    flow = kiosk.node.submission()
    devices.reader.place(SAMPLE_CITIZEN)
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")
    for code in flow.missing_materials():
        flow.scan_material(code)
    flow.finish_materials()
    cid = flow.open_deposit()
    flow.cancel()
    return cid


def idle_out(drv: KioskDriver) -> None:
    k = drv.kiosk
    k.idle.clock.now += k.idle.timeout_s + k.idle.warn_s + 1
    drv.wait_screen("home")
    drv.pump(3)


def fail(drv: KioskDriver) -> None:
    drv.kiosk.fatal(RuntimeError("the printer driver crashed"))
    drv.wait_screen("error")


def stop(drv: KioskDriver) -> None:
    drv.kiosk.stop()  # a service stop, or an update at night


@pytest.mark.parametrize(
    ("end", "why"),
    [(idle_out, "idle"), (fail, "fatal"), (stop, "stop")],
    ids=["idle", "fatal", "stop"],
)
def test_a_session_ending_unattended_after_a_deposit_keeps_the_papers_locked_for_staff(
    tmp_path, end, why
):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k = drv.kiosk
        cid, application_no, channel = deposit_and_review(drv, devices)

        end(drv)

        assert k.submission is None
        assert devices.board.pulses == [(channel, 500)], "the door opened with nobody there"
        assert not devices.board.door(channel).is_open
        held = compartment(k, cid)
        assert held.state == State.HOLDING_DEPOSIT
        assert (held.application_no, held.abandoned_application_no) == (None, application_no)
        [alarm] = [a for a in messages(k, m.Alarm) if a.compartment_id == cid]
        assert (alarm.kind, alarm.severity) == (m.AlarmKind.DEPOSIT_ABANDONED, m.Severity.CRITICAL)
        assert alarm.detail.startswith(f"deposit abandoned ({why}): originals were deposited")
        assert application_no in alarm.detail
        [note] = [
            r
            for r in k.node.journal.records()
            if r.compartment_id == cid and r.event == "deposit_abandoned"
        ]
        assert note.body["abandoned_application_no"] == application_no
        assert messages(k, m.ApplicationSubmitted) == []
        # The next citizen's originals go elsewhere.
        assert next_citizens_compartment(k, devices) != cid
        assert compartment(k, cid).state == State.HOLDING_DEPOSIT


def test_staff_collect_the_abandoned_papers_in_service_mode(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        cid, _application_no, channel = deposit_and_review(drv, devices)
        idle_out(drv)
        drv.tap(s["home"].staff_button)
        drv.wait_screen("staff_login")
        drv.type(s["staff_login"].keypad, STAFF_CODE)
        drv.tap(s["staff_login"].enter_button)
        drv.wait_screen("staff")
        label = k.t("staff.collect_abandoned", compartment=cid)
        [collect] = [b for b in s["staff"].deposits.children if getattr(b, "text", "") == label]

        drv.tap(collect)
        drv.wait_for(lambda: compartment(k, cid).state == State.EMPTY, what="collected")

        assert devices.board.pulses == [(channel, 500), (channel, 500)]  # opened for staff
        assert compartment(k, cid).abandoned_application_no is None
        assert messages(k, m.DepositCollected) == []  # no application exists to report on


def test_the_citizens_own_cancel_still_hands_the_papers_back(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k, s = drv.kiosk, drv.kiosk.screens
        cid, _application_no, channel = deposit_and_review(drv, devices)
        [cancel] = [b for b in s["review"].nav.children if b.text == k.t("nav.cancel")]

        drv.tap(cancel)
        drv.wait_screen("home")
        drv.pump(3)

        assert devices.board.pulses == [(channel, 500), (channel, 500)]  # opened to take back
        held = compartment(k, cid)
        assert (held.state, held.application_no, held.abandoned_application_no) == (
            State.EMPTY,
            None,
            None,
        )
        assert messages(k, m.Alarm) == []


@contextmanager
def unsensed_kiosk(data_dir: Path) -> Iterator[tuple[KioskDriver, EmulatedDevices]]:
    """The training kiosk on a relay board without door inputs."""
    devices = EmulatedDevices(layout=default_layout(sensed=False))
    node = training_terminal(enrolled_offline(data_dir), devices=devices).node
    idle = IdleWatch(timeout_s=60, warn_s=10, clock=FakeClock())
    kiosk = Kiosk(
        node, lang="en", strict_i18n=True, idle=idle, staff_sign_in=staff_sign_in, card_poll_s=0.02
    )
    drv = KioskDriver(kiosk)
    try:
        yield drv, devices
    finally:
        drv.close()
        node.stop()


def test_saying_no_twice_jams_one_compartment_and_then_only_going_on_is_offered(tmp_path):
    with unsensed_kiosk(tmp_path) as (drv, devices):
        k, s = drv.kiosk, drv.kiosk.screens
        dep = s["deposit"]
        scan_and_reach_deposit(drv, devices)
        drv.tap(dep.open_button)
        drv.wait_for(lambda: dep.no_button.parent is not None, what="did the door open?")
        cid = k.submission.deposit_compartment
        drv.tap(dep.no_button)  # "No": pulsed once more, asked again
        drv.wait_for(lambda: len(devices.board.pulses) == 2, what="the second pulse")
        drv.pump(3)
        drv.tap(dep.no_button)  # "No" again: out of service
        drv.wait_for(lambda: dep.error.text == k.t("deposit.error.jammed"), what="the jam")

        shown = list(dep.nav.children)
        assert dep.open_button not in shown and dep.continue_button in shown
        assert k.submission is not None and not k.submission.deposit_can_open
        with pytest.raises(FlowError):
            k.submission.open_deposit()
        states = {c.id: c.state for c in k.node.locker.compartments()}
        assert [x for x, st in states.items() if st == State.OUT_OF_SERVICE] == [cid]
        assert len(devices.board.pulses) == 2
        [alarm] = messages(k, m.Alarm)
        assert (alarm.kind, alarm.compartment_id) == (m.AlarmKind.LOCK_FAULT, cid)
        assert "answered twice that it did not open" in alarm.detail

        drv.tap(dep.continue_button)
        drv.wait_screen("review")
