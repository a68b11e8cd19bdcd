"""Thresholds on a terminal's telemetry: each raises an alarm while it holds and clears it after.

- printer paper `low` / `out`: `low_paper` (warning / critical), source printer;
- a port not ok (printer offline, cover open, paper out or unreachable; card reader, face
  camera, USB port, lock board gone or in error): `device_fault`, source the port's name
  (critical for a lock board);
- free disk below `disk_free_min` of its size: `disk_nearly_full`;
- the terminal's clock off the backend's by more than `clock_max_off`: `clock_off`;
- the outbox backlog above `backlog_min` and larger than in the previous report:
  `backlog_growing`.

Each condition's alarm is raised once and folded while it holds (backend/alarms.py); a report in
which it no longer holds clears it (cleared by `terminal:<id>`). The backlog alarm clears once
the backlog is back under half the threshold.

A software update the terminal reports failed (`event.software_update` not ok: the archive
refused, or the new version rolled back after its health check) raises `update_failed` with
the terminal's words; the terminal repeating the same outcome adds nothing, another failed
update is folded into the live alarm, and an update it reports ok clears it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .alarms import Alarms

K, S = m.AlarmKind, m.Severity


@dataclass(frozen=True)
class HealthThresholds:
    disk_free_min: float = 0.10
    clock_max_off: timedelta = timedelta(seconds=30)
    backlog_min: int = 50


class HealthAlarms:
    def __init__(self, alarms: Alarms, thresholds: HealthThresholds | None = None):
        self.alarms, self.thresholds = alarms, thresholds or HealthThresholds()

    def judge(
        self,
        session: Session,
        terminal_id: str,
        report: m.Telemetry,
        previous: dict[str, Any] | None,
        received_at: datetime,
    ) -> None:
        """Raise or clear each threshold's alarm from one telemetry report."""
        actor = f"terminal:{terminal_id}"

        def hold(kind: m.AlarmKind, source: str, holds: bool, severity: m.Severity, why: str):
            if holds:
                self.alarms.raise_alarm(
                    session, terminal_id, kind, severity, why, received_at, actor=actor,
                    source=source,
                )  # fmt: skip
            else:
                self.alarms.condition_ended(
                    session, terminal_id, kind, received_at, actor=actor, note=why or "fine",
                    source=source,
                )  # fmt: skip

        for name, device in report.devices.items():
            if name == "printer":
                paper = device.data.get("paper")
                severity = S.CRITICAL if paper == "out" else S.WARNING
                hold(K.LOW_PAPER, name, paper in ("low", "out"), severity, f"paper {paper}")
            critical = name.startswith("lock_board")
            hold(
                K.DEVICE_FAULT,
                name,
                not device.ok,
                S.CRITICAL if critical else S.WARNING,
                f"{name}: {device.detail}" if not device.ok else f"{name} fine",
            )
        t = self.thresholds
        if report.disk_free_bytes is not None and report.disk_total_bytes:
            ratio = report.disk_free_bytes / report.disk_total_bytes
            hold(
                K.DISK_NEARLY_FULL,
                "disk",
                ratio < t.disk_free_min,
                S.WARNING,
                f"{ratio:.0%} of {report.disk_total_bytes // 2**20} MiB free",
            )
        offset = report.sent_at - received_at
        hold(
            K.CLOCK_OFF,
            "clock",
            abs(offset) > t.clock_max_off,
            S.WARNING,
            f"terminal clock {offset.total_seconds():+.0f} s from the backend's",
        )
        before = (previous or {}).get("outbox_backlog")
        backlog = report.outbox_backlog
        if backlog > t.backlog_min and before is not None and backlog > before:
            hold(K.BACKLOG_GROWING, "outbox", True, S.WARNING, f"{before} -> {backlog} waiting")
        elif backlog <= t.backlog_min // 2:
            hold(K.BACKLOG_GROWING, "outbox", False, S.WARNING, f"{backlog} waiting")


def judge_update(
    alarms: Alarms, session: Session, terminal_id: str, msg: m.SoftwareUpdated, now: datetime
) -> None:
    """Raise `update_failed` from a failed update's outcome, or clear it on a good one."""
    actor = f"terminal:{terminal_id}"
    if msg.ok:
        alarms.condition_ended(
            session,
            terminal_id,
            K.UPDATE_FAILED,
            now,
            actor=actor,
            note=f"update to {msg.version} succeeded ({msg.operation_id})",
        )
        return
    running = f", running {msg.running}" if msg.running else ""
    alarms.raise_alarm(
        session,
        terminal_id,
        K.UPDATE_FAILED,
        S.WARNING,
        f"update to {msg.version} failed{running}: {msg.detail or 'no reason given'}",
        now,
        actor=actor,
        # One alarm per attempt: the terminal's repeats of this outcome are duplicates of it.
        operation_id=f"update-{msg.operation_id}-{msg.version}"[:128],
    )
