"""Alarm operation ids stay unique across a restart within the same second."""

from __future__ import annotations

from terminal_unit_kiosk import build_kiosk

from cloud_bridge.contract import messages as m
from locker.bank import LockerAlarm


def test_a_restarted_terminal_never_reuses_an_alarm_id_of_the_same_second(tmp_path):
    ids = []
    for _run in range(2):  # the kiosk's clock stands still: both runs raise in the same second
        kiosk = build_kiosk(tmp_path / "terminal")
        try:
            kiosk.node._raise_alarm(LockerAlarm("lock_fault", "A01", "board did not answer"))
            ids.append(kiosk.messages(m.Alarm)[-1].operation_id)
        finally:
            kiosk.node.stop()
    assert len(ids) == 2 and ids[0] != ids[1]
