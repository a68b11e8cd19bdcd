"""Presence from statuses and heartbeats, offline alarms with a grace period, flapping folded,
and the alarm life (raise, fold, acknowledge, clear, trail), on a real SQLite database with a
clock the test moves (no waiting)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from backend_unit_factories import KEY, TERMINAL
from sqlalchemy import select

from backend.alarms import KIND_WORDS, Alarms, AlarmSettings, alarm_trail, list_alarms
from backend.blobs import BlobStore
from backend.db import Database
from backend.fleet import list_terminals
from backend.ingest import Ingest
from backend.models import AlarmRow, Terminal
from backend.notifications.models import NotificationRow
from backend.presence import Presence, PresenceSettings
from backend.sms import HeldSms
from cloud_bridge.contract import messages as m
from devices.camera.emulated import GeneratedPageSource
from devices.camera.opencv import OpenCvCamera
from devices.camera.port import CameraError
from devices.identity.emulated import ScriptedIdentityReader
from terminal import health

ON_DUTY = "13800000000"
_ids = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Fleet:
    def __init__(self, tmp_path, url: str | None = None) -> None:
        self.clock = Clock()
        self.db = Database(url or f"sqlite:///{tmp_path / 'fleet.db'}")
        self.db.migrate()
        self.settings = PresenceSettings(offline_grace=timedelta(minutes=5))
        self.alarms = Alarms(AlarmSettings(on_duty_phone=ON_DUTY))
        self.presence = Presence(self.alarms, self.settings, self.clock)
        self.ingest = Ingest(
            self.db,
            BlobStore(tmp_path / "blobs"),
            HeldSms(),
            _NoPublisher(),
            clock=self.clock,
            alarms=self.alarms,
            presence=self.presence,
        )
        self.ingest.register_terminal(TERMINAL, KEY)
        self.connection = 1

    def status(self, state: str, reason: str | None = None, keepalive: int = 30) -> None:
        msg = m.Status(
            terminal_id=TERMINAL,
            message_id=f"{next(_ids):032x}",
            state=state,
            software_version="0.2.0",
            since="2026-12-04T01:00:00Z",
            connection=self.connection,
            keepalive_s=keepalive,
            reason=reason,
        )
        result = self.ingest.handle_batch([(msg.topic(), msg.encode())])
        assert not result.rejected, result.receipts

    def sweep(self) -> dict[str, int]:
        with self.db.transaction() as s:
            return self.presence.sweep(s)

    def view(self) -> dict:
        with self.db.transaction() as s:
            [t] = list_terminals(s, self.clock(), self.settings)
            return t

    def alarms_of(self, kind: str) -> list[AlarmRow]:
        with self.db.transaction() as s:
            return list(s.scalars(select(AlarmRow).where(AlarmRow.kind == kind)))

    def texts(self) -> list[NotificationRow]:
        with self.db.transaction() as s:
            return list(s.scalars(select(NotificationRow)))

    def trail(self, row: AlarmRow) -> list[tuple[str, str]]:
        with self.db.transaction() as s:
            return [(e["action"], e["actor"]) for e in alarm_trail(s, TERMINAL, row.operation_id)]


class _NoPublisher:
    def publish(self, message: m.Message) -> None:
        pass


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path)
    yield f
    f.db.dispose()


def test_heartbeats_keep_a_terminal_online_and_silence_takes_it_offline_at_1_5_keepalive(fleet):
    fleet.status("online", keepalive=30)
    for _ in range(10):  # a heartbeat every 10 s for 100 s
        fleet.clock.advance(10)
        fleet.status("online")
        assert fleet.sweep()["went_silent"] == 0
        assert fleet.view()["status"] == "online"

    fleet.clock.advance(21)  # one heartbeat missed: late, not yet gone
    assert fleet.sweep()["went_silent"] == 0
    assert (fleet.view()["status"], fleet.view()["status_reason"]) == (
        "degraded",
        "heartbeats_late",
    )
    fleet.clock.advance(23)  # 44 s after the last heartbeat: still inside 1.5 x 30 s
    assert fleet.sweep()["went_silent"] == 0
    fleet.clock.advance(1.5)  # 45.5 s: past it
    assert fleet.sweep()["went_silent"] == 1
    view = fleet.view()
    assert (view["status"], view["status_reason"]) == ("offline", "heartbeats_missing")
    assert fleet.sweep()["went_silent"] == 0  # taken once


def test_a_device_fault_in_telemetry_makes_an_online_terminal_degraded(fleet):
    fleet.status("online")
    report = m.Telemetry(
        terminal_id=TERMINAL,
        message_id=f"{next(_ids):032x}",
        uptime_s=10,
        outbox_backlog=0,
        devices={"printer": m.DeviceHealth(ok=False, detail="cover open"), "lock": {"ok": True}},
    )
    fleet.ingest.handle_batch([(report.topic(), report.encode())])
    view = fleet.view()
    assert (view["status"], view["status_reason"]) == ("degraded", "devices: printer")


def test_offline_beyond_the_grace_raises_one_alarm_texts_the_operator_and_return_clears_it(
    fleet,
):
    fleet.status("online")
    fleet.status("offline", reason="connection_lost")  # the will
    assert fleet.view()["status_reason"] == "connection_lost"
    fleet.clock.advance(299)
    assert fleet.sweep()["offline_alarms"] == 0  # a reboot's worth of absence: no alarm
    fleet.clock.advance(2)
    assert fleet.sweep()["offline_alarms"] == 1
    for _ in range(5):
        fleet.clock.advance(1)
        assert fleet.sweep()["offline_alarms"] == 0  # raised once
    [alarm] = fleet.alarms_of("offline")
    assert alarm.state == "open" and "connection_lost" in alarm.detail
    [text] = fleet.texts()
    assert (text.kind, text.phone, text.params["terminal"]) == ("fleet_alarm", ON_DUTY, TERMINAL)

    fleet.connection += 1
    fleet.status("online")
    [alarm] = fleet.alarms_of("offline")
    assert (alarm.state, alarm.cleared_by) == ("cleared", f"terminal:{TERMINAL}")
    assert fleet.trail(alarm) == [
        ("raised", "backend"),
        ("notified", "backend"),
        ("cleared", f"terminal:{TERMINAL}"),
    ]


def test_a_flapping_terminal_raises_one_alarm_not_fifty(fleet):
    fleet.status("online")
    for _ in range(50):
        fleet.status("offline", reason="connection_lost")
        fleet.clock.advance(400)  # gone longer than the grace each time
        fleet.sweep()
        fleet.connection += 1
        fleet.status("online")
        fleet.clock.advance(60)
    [alarm] = fleet.alarms_of("offline")
    assert alarm.occurrences == 50
    assert alarm.state == "cleared"
    assert len(fleet.texts()) == 1  # the operator is texted once
    actions = [a for a, _ in fleet.trail(alarm)]
    assert actions.count("raised") == 1 and actions.count("reopened") == 49


def test_an_alarm_an_operator_cleared_is_not_raised_again_in_the_same_absence(fleet):
    fleet.status("online")
    fleet.status("offline", reason="stopped")
    fleet.clock.advance(400)
    fleet.sweep()
    [alarm] = fleet.alarms_of("offline")
    with fleet.db.transaction() as s:
        fleet.alarms.clear(s, TERMINAL, alarm.operation_id, "op.zhao", "site closed", fleet.clock())
    for _ in range(3):
        fleet.clock.advance(60)
        assert fleet.sweep()["offline_alarms"] == 0
    [alarm] = fleet.alarms_of("offline")
    assert (alarm.state, alarm.cleared_by) == ("cleared", "op.zhao")


def test_a_late_heartbeat_of_an_ended_connection_does_not_bring_it_back(fleet):
    fleet.status("online")
    fleet.status("offline", reason="connection_lost")
    msg = m.Status(
        terminal_id=TERMINAL,
        message_id=f"{next(_ids):032x}",
        state="online",
        software_version="0.2.0",
        since="2026-12-04T01:00:00Z",
        connection=fleet.connection,
        keepalive_s=30,
    )
    result = fleet.ingest.handle_batch([(msg.topic(), msg.encode())])
    assert result.rejected == 1
    assert fleet.view()["status"] == "offline"


def test_a_session_taken_over_raises_a_security_alarm(fleet):
    fleet.status("online")
    fleet.connection += 1
    fleet.status("online", reason="session_taken_over")
    [alarm] = fleet.alarms_of("security")
    assert "session taken over" in alarm.detail
    assert fleet.view()["status_reason"] == "session_taken_over"


def _terminal_alarm(op: str, kind: str = "low_paper") -> m.Alarm:
    return m.Alarm(
        terminal_id=TERMINAL,
        message_id=f"{next(_ids):032x}",
        operation_id=op,
        kind=kind,
        severity="warning",
        detail="paper below 10%",
        raised_at="2026-12-04T02:00:00Z",
    )


def test_repeats_of_a_terminal_alarm_are_folded_and_acknowledge_then_clear_is_audited(fleet):
    first = _terminal_alarm("ALM-1")
    for msg in (first, _terminal_alarm("ALM-2"), _terminal_alarm("ALM-3")):
        fleet.ingest.handle_batch([(msg.topic(), msg.encode())])
    fleet.ingest.handle_batch([(first.topic(), first.encode())])  # a resend: duplicate
    [alarm] = fleet.alarms_of("low_paper")
    assert (alarm.operation_id, alarm.occurrences) == ("ALM-1", 3)

    with fleet.db.transaction() as s:
        fleet.alarms.acknowledge(s, TERMINAL, "ALM-1", "op.zhao", "paper on its way", fleet.clock())
        fleet.alarms.acknowledge(s, TERMINAL, "ALM-1", "op.li", "", fleet.clock())  # no-op
        with pytest.raises(ValueError, match="why"):
            fleet.alarms.clear(s, TERMINAL, "ALM-1", "op.zhao", "  ", fleet.clock())
        fleet.alarms.clear(s, TERMINAL, "ALM-1", "op.zhao", "paper refilled", fleet.clock())
        assert list_alarms(s, "live") == []
    [alarm] = fleet.alarms_of("low_paper")
    assert (alarm.acknowledged_by, alarm.cleared_by) == ("op.zhao", "op.zhao")
    assert fleet.trail(alarm) == [
        ("raised", f"terminal:{TERMINAL}"),
        ("notified", "backend"),
        ("repeated", f"terminal:{TERMINAL}"),
        ("repeated", f"terminal:{TERMINAL}"),
        ("acknowledged", "op.zhao"),
        ("cleared", "op.zhao"),
    ]


def test_terminal_rows_keep_the_presence_columns(fleet):
    fleet.status("online", keepalive=12)
    with fleet.db.transaction() as s:
        t = s.get(Terminal, TERMINAL)
        assert t.keepalive_s == 12
        assert t.silent_after == fleet.clock() + timedelta(seconds=18)


def _telemetry(fleet, **fields) -> m.Telemetry:
    values = {
        "uptime_s": 60,
        "outbox_backlog": 0,
        "devices": {"printer": m.DeviceHealth(ok=True, data={"paper": "ok"})},
        "disk_free_bytes": 50 * 2**30,
        "disk_total_bytes": 100 * 2**30,
        "sent_at": fleet.clock(),
    } | fields
    msg = m.Telemetry(terminal_id=TERMINAL, message_id=f"{next(_ids):032x}", **values)
    result = fleet.ingest.handle_batch([(msg.topic(), msg.encode())])
    assert not result.rejected
    return msg


def _live(fleet) -> dict[tuple[str, str | None], AlarmRow]:
    with fleet.db.transaction() as s:
        rows = s.scalars(select(AlarmRow).where(AlarmRow.state != "cleared"))
        return {(r.kind, r.source): r for r in rows}


def test_health_thresholds_raise_while_they_hold_and_clear_after(fleet):
    fleet.status("online")
    _telemetry(fleet)
    assert _live(fleet) == {}

    fleet.clock.advance(60)
    low = {"printer": m.DeviceHealth(ok=True, detail="paper low", data={"paper": "low"})}
    _telemetry(fleet, devices=low)
    _telemetry(fleet, devices=low)  # the next report: folded, not a second alarm
    [paper] = _live(fleet).values()
    assert (paper.kind, paper.source, paper.severity, paper.occurrences) == (
        "low_paper",
        "printer",
        "warning",
        2,
    )

    fleet.clock.advance(60)
    broken = {
        "printer": m.DeviceHealth(ok=False, detail="cover open", data={"paper": "ok"}),
        "face_camera": m.DeviceHealth(ok=False, detail="gone: CameraError"),
        "card_reader": m.DeviceHealth(ok=False, detail="not connected"),
    }
    _telemetry(
        fleet,
        devices=broken,
        disk_free_bytes=5 * 2**30,
        outbox_backlog=80,
        sent_at=fleet.clock() - timedelta(minutes=3),  # its clock runs 3 minutes behind
    )
    fleet.clock.advance(60)
    _telemetry(fleet, devices=broken, disk_free_bytes=5 * 2**30, outbox_backlog=120)
    live = _live(fleet)
    assert set(live) == {
        ("device_fault", "printer"),
        ("device_fault", "face_camera"),
        ("device_fault", "card_reader"),
        ("disk_nearly_full", "disk"),
        ("backlog_growing", "outbox"),
    }  # paper is back to ok, and the clock was corrected in the last report
    assert "80 -> 120" in live[("backlog_growing", "outbox")].detail
    with fleet.db.transaction() as s:
        clock = s.scalar(select(AlarmRow).where(AlarmRow.kind == "clock_off"))
        assert clock.state == "cleared" and "-180 s" in clock.detail

    fleet.clock.advance(60)
    fine = {name: m.DeviceHealth(ok=True, data={"paper": "ok"}) for name in broken}
    _telemetry(fleet, devices=fine, outbox_backlog=3)  # everything fine again
    assert _live(fleet) == {}
    with fleet.db.transaction() as s:
        cleared_by = set(s.scalars(select(AlarmRow.cleared_by)))
    assert cleared_by == {f"terminal:{TERMINAL}"}


def _video(path, frames: int = 3):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((240, 320, 3), 60 + 40 * i, np.uint8))
    writer.release()
    return path


def test_a_document_camera_that_stops_giving_frames_raises_camera_gone_until_it_is_back(
    fleet, tmp_path
):
    """The real OpenCV driver (a video file standing in for the device's stream) reports in
    telemetry like the face camera; once its stream ends, the backend raises the alarm."""
    cam = OpenCvCamera(str(_video(tmp_path / "doc.avi")), settle_frames=1, lock_exposure=False)
    devices = SimpleNamespace(
        identity_reader=ScriptedIdentityReader([]),
        face_camera=GeneratedPageSource("face"),
        document_camera_diagnostics=cam.diagnostics,
        printer=None,
        removable_media=None,
    )
    try:
        fleet.status("online")
        reports = health.device_reports(devices, {})
        assert reports["document_camera"].ok and reports["document_camera"].data["present"]
        _telemetry(fleet, devices=reports)
        assert _live(fleet) == {}

        with pytest.raises(CameraError):
            while True:  # the stream ends: the camera gives no frame any more
                cam.capture()
        gone = health.device_reports(devices, {})["document_camera"]
        assert not gone.ok and "no frame" in gone.detail
        fleet.clock.advance(60)
        _telemetry(fleet, devices={"document_camera": gone})
        alarm = _live(fleet)[("device_fault", "document_camera")]
        assert alarm.severity == "warning" and "document_camera: no frame" in alarm.detail
        assert fleet.view()["status"] == "degraded"

        fleet.clock.advance(60)
        _telemetry(fleet, devices={"document_camera": m.DeviceHealth(ok=True)})
        assert _live(fleet) == {}
    finally:
        cam.close()


def test_every_alarm_kind_has_words_for_the_operators_sms():
    """A kind without words reached the operator's SMS as its code (`deposit_abandoned`)."""
    assert set(KIND_WORDS) == set(m.AlarmKind)
