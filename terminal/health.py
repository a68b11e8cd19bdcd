"""The terminal's health report: every device port's diagnostics, judged, for telemetry.

Each port already reports its facts (`diagnostics()`, the same `allhours doctor` prints, Home
Assistant's diagnostics being the model): driver, counters, last error, live status. Here they
become one `DeviceHealth` per port, `ok` or not with the reason, and the facts trimmed to what
the contract carries (scalars, 24 of them, short strings). The backend judges thresholds
(low paper, a device gone, disk nearly full, clock off, backlog growing) and raises alarms.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloud_bridge.contract import messages as m

log = logging.getLogger(__name__)

MAX_FACTS = 24


def _facts(raw: dict[str, object]) -> dict[str, Any]:
    """The scalar facts of a diagnostics report, bounded as the contract wants them."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if len(out) == MAX_FACTS:
            break
        if isinstance(value, bool | int | float) or value is None:
            out[str(key)[:40]] = value
        elif isinstance(value, str):
            out[str(key)[:40]] = value[:120]
        elif isinstance(value, list | tuple):
            out[str(key)[:40]] = len(value) if key in ("sticks", "mounts") else str(value)[:120]
    return out


def port_health(name: str, diagnostics: Callable[[], dict[str, object]]) -> m.DeviceHealth:
    """A port's report: not ok when it cannot answer, says it is absent, closed or in error."""
    try:
        raw = diagnostics()
    except Exception as exc:  # a port that cannot even describe itself is gone
        return m.DeviceHealth(ok=False, detail=f"gone: {type(exc).__name__}: {exc}"[:200])
    facts = _facts(raw)
    problem = ""
    if raw.get("present") is False or raw.get("connected") is False:
        problem = "not connected"
    elif raw.get("error"):
        problem = str(raw["error"])
    elif raw.get("open") is False and raw.get("last_error"):
        problem = f"closed: {raw['last_error']}"
    return m.DeviceHealth(ok=not problem, detail=problem[:200], data=facts)


def printer_health(printer: Any) -> m.DeviceHealth:
    """Paper and cover from the printer's live status; not ok when it cannot print."""
    health = port_health("printer", printer.diagnostics)
    data = dict(health.data)
    if "paper" not in data:
        return m.DeviceHealth(ok=False, detail=health.detail or "no status", data=data)
    problems = []
    if data.get("online") is False:
        problems.append("offline")
    if data.get("cover_open"):
        problems.append("cover open")
    if data.get("paper") == "out":
        problems.append("paper out")
    notes = problems + (["paper low"] if data.get("paper") == "low" else [])
    detail = ", ".join(notes)
    return m.DeviceHealth(ok=not problems, detail=detail[:200], data=data)


def disk_usage(path: Path) -> tuple[int | None, int | None]:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None, None
    return usage.free, usage.total


def device_reports(devices: Any, boards: dict[str, dict[str, object]]) -> dict[str, m.DeviceHealth]:
    """Lock boards, card reader, face and document cameras, printer and USB port.

    The document camera's port is a factory (a source per scanning session); the device
    reports through `document_camera_diagnostics` when the terminal has one to ask.
    """
    reports: dict[str, m.DeviceHealth] = {}
    for bid, diag in boards.items():
        # One board keeps the historical key; several are told apart by board id.
        key = "lock_board" if len(boards) == 1 else f"lock_board:{bid}"
        reports[key] = port_health(key, lambda d=diag: d)
    reports["card_reader"] = port_health("card_reader", devices.identity_reader.diagnostics)
    reports["face_camera"] = port_health("face_camera", devices.face_camera.diagnostics)
    if devices.document_camera_diagnostics is not None:
        reports["document_camera"] = port_health(
            "document_camera", devices.document_camera_diagnostics
        )
    if devices.printer is not None:
        reports["printer"] = printer_health(devices.printer)
    if devices.removable_media is not None:
        reports["usb_port"] = port_health("usb_port", devices.removable_media.diagnostics)
    return reports
