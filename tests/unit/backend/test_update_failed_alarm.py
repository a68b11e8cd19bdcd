"""A software update the terminal reports failed raises `update_failed` with its reason, texts the
on-duty operator once, shows among the terminal's open alarms, folds repeats and a second failed
attempt, and is cleared by the terminal's next successful update; through ingest on SQLite."""

from __future__ import annotations

import pytest
from backend_unit_factories import TERMINAL
from test_fleet_presence_alarms import ON_DUTY, Fleet, _ids

from cloud_bridge.contract import messages as m


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path)
    yield f
    f.db.dispose()


def _outcome(fleet, operation: str, version: str, ok: bool, **fields) -> None:
    msg = m.SoftwareUpdated(
        terminal_id=TERMINAL,
        message_id=f"{next(_ids):032x}",
        operation_id=operation,
        version=version,
        ok=ok,
        **fields,
    )
    result = fleet.ingest.handle_batch([(msg.topic(), msg.encode())])
    assert not result.rejected, result.receipts


def test_a_rolled_back_update_raises_one_alarm_until_a_good_update_clears_it(fleet):
    fleet.status("online")
    _outcome(fleet, "rollout-1", "1.1.0", True, running="1.1.0")  # a good one: nothing
    assert fleet.alarms_of("update_failed") == []

    why = "2.0.0 unhealthy (screens: font for Chinese not found); rolled back to 1.1.0"
    _outcome(fleet, "rollout-2", "2.0.0", False, running="1.1.0", rolled_back=True, detail=why)
    _outcome(fleet, "rollout-2", "2.0.0", False, running="1.1.0", rolled_back=True, detail=why)
    [alarm] = fleet.alarms_of("update_failed")
    assert (alarm.state, alarm.severity, alarm.occurrences) == ("open", "warning", 1)
    assert alarm.detail == f"update to 2.0.0 failed, running 1.1.0: {why}"
    [text] = fleet.texts()
    assert (text.kind, text.phone) == ("fleet_alarm", ON_DUTY)
    assert text.params == {"terminal": TERMINAL, "kind": "软件更新失败"}
    assert [a["kind"] for a in fleet.view()["open_alarms"]] == ["update_failed"]

    refused = "refused: archive of 2.0.1: SHA-256 does not match the signed one"
    _outcome(fleet, "rollout-3", "2.0.1", False, running="1.1.0", detail=refused)
    [alarm] = fleet.alarms_of("update_failed")
    assert alarm.occurrences == 2 and alarm.detail.endswith(refused)
    assert len(fleet.texts()) == 1  # folded: texted once

    _outcome(fleet, "rollout-4", "2.0.2", True, running="2.0.2", detail="update to 2.0.2: healthy")
    [alarm] = fleet.alarms_of("update_failed")
    assert (alarm.state, alarm.cleared_by) == ("cleared", f"terminal:{TERMINAL}")
    assert fleet.trail(alarm) == [
        ("raised", f"terminal:{TERMINAL}"),
        ("notified", "backend"),
        ("repeated", f"terminal:{TERMINAL}"),
        ("cleared", f"terminal:{TERMINAL}"),
    ]
    assert fleet.view()["open_alarms"] == []
