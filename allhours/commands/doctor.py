"""`allhours doctor`: the hardware this terminal can see, and whether the lock boards answer.

With the terminal's settings file (`--settings`, or $ALLHOURS_SETTINGS) it also says what the
kiosk would start with: the mode (real devices or training), the enrollment in data_dir, the
printer; and it checks the locker boards the devices file names.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import stat
import sys
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from allhours.commands.locker import Hardware, UsageError, add_hardware_arguments, hardware
from allhours.settings import ENV_SETTINGS_FILE, SettingsError, load_settings
from devices.lock.port import LockFault
from devices.lock.usb_relay import UsbRelayBoard
from devices.storage.mount_table import MountTableMedia
from locker.config import EMULATED, RS485, USBRELAY
from locker.errors import LayoutError

PCSCD_SOCKET = Path(os.environ.get("PCSCLITE_CSOCK_NAME", "/run/pcscd/pcscd.comm"))


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours doctor`."""
    p = sub.add_parser(
        "doctor",
        help="list USB relay boards, serial ports, pcscd, cameras, USB sticks and the locker "
        "boards' health",
        description="Exit 0 when every configured lock board was found and answers and the "
        "terminal's enrollment is usable, 1 when a board is missing or silent or the enrollment "
        "is missing or expired, 2 on a bad configuration or settings file.",
    )
    p.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="the terminal's settings file (default: $ALLHOURS_SETTINGS); the locker boards "
        "come from its devices file unless --config is given",
    )
    add_hardware_arguments(p, config_required=False)
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print the report; exit 1 if a configured board is missing."""
    report: dict[str, Any] = {
        "serial_ports": _serial_ports(),
        "pcscd_socket": _pcscd(),
        "cameras": sorted(glob.glob("/dev/video*")),
        "usb_sticks": MountTableMedia().diagnostics(),
    }
    settings_file = args.settings or os.environ.get(ENV_SETTINGS_FILE)
    if settings_file:
        try:
            report["terminal"], locker_file = _terminal(Path(settings_file))
        except SettingsError as exc:
            print(f"allhours: {exc}", file=sys.stderr)
            return 2
        if args.config is None and locker_file is not None:
            args.config = locker_file
    else:
        report["terminal"] = None
    unenrolled = bool(report["terminal"]) and not report["terminal"]["enrollment"]["ok"]
    if args.config is None and not Path("/etc/allhours/locker.toml").exists():
        if args.emulate:
            print("allhours: --emulate needs --config", file=sys.stderr)
            return 2
        report["usb_relay_boards"] = _relay_boards(None)
        report["locker"] = None
        _print(args, report)
        return 1 if unenrolled else 0
    try:
        with hardware(args) as hw:
            backend = hw.emulation.relay_backend if hw.emulation else None
            report["usb_relay_boards"] = _relay_boards(backend)
            if hw.emulation:
                report["serial_ports"] += [b.port_path for b in hw.emulation.buses.values()]
            report["locker"] = _locker(hw, report["usb_relay_boards"])
    except (UsageError, LayoutError) as exc:
        print(f"allhours: {exc}", file=sys.stderr)
        return 2
    _print(args, report)
    missing = [b for b in report["locker"]["boards"] if not b["ok"]]
    return 1 if missing or unenrolled else 0


def _terminal(path: Path) -> tuple[dict[str, Any], Path | None]:
    """What the settings say and whether the enrollment is usable; the locker file a real
    terminal's devices file names. SettingsError when the settings or devices file is bad."""
    from cloud_bridge.contract.messages import utcnow
    from provisioning.bundle import IdentityError, TerminalIdentity

    s = load_settings(path)
    try:
        identity = TerminalIdentity.load(s.data_dir, utcnow())
        enrollment: dict[str, Any] = {
            "ok": True,
            "terminal_id": identity.terminal_id,
            "broker": f"{identity.bundle.broker_host}:{identity.bundle.broker_port}",
            "certificate_until": identity.not_after.isoformat(),
        }
    except IdentityError as exc:
        enrollment = {"ok": False, "problem": str(exc)}
    locker_file = None
    if s.devices is not None:
        try:
            devices = tomllib.loads(s.devices.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise SettingsError(f"{path}: devices: {s.devices}: {exc}") from None
        if not isinstance(devices.get("locker"), str):
            raise SettingsError(
                f"{s.devices}: locker: the path of the locker configuration is missing"
            )
        locker_file = s.devices.parent / devices["locker"]
    terminal = {
        "settings": str(path),
        "mode": "training" if s.emulate else "real",
        "data_dir": str(s.data_dir),
        "devices": str(s.devices) if s.devices else None,
        "printer": s.printer.url if s.printer else None,
        "enrollment": enrollment,
    }
    return terminal, locker_file


def _serial_ports() -> list[str]:
    from serial.tools import list_ports

    return sorted(p.device for p in list_ports.comports())


def _pcscd() -> dict[str, Any]:
    try:
        mode = PCSCD_SOCKET.stat().st_mode
    except OSError:
        return {"path": str(PCSCD_SOCKET), "present": False, "note": "missing: is pcscd running?"}
    if not stat.S_ISSOCK(mode):
        return {"path": str(PCSCD_SOCKET), "present": False, "note": "not a socket"}
    return {"path": str(PCSCD_SOCKET), "present": True, "note": "socket present"}


def _relay_boards(backend: Any) -> list[dict[str, Any]] | dict[str, str]:
    try:
        return [asdict(info) for info in UsbRelayBoard.find_all(backend)]
    except Exception as exc:  # no libusb, no USB bus in a container: say so, go on
        return {"error": f"cannot list USB devices: {exc}"}


def _locker(hw: Hardware, relays: list[dict[str, Any]] | dict[str, str]) -> dict[str, Any]:
    found = {r["serial"] for r in relays if r.get("serial")} if isinstance(relays, list) else set()
    boards = []
    for board in hw.config.boards:
        row: dict[str, Any] = {"id": board.id, "kind": board.kind, "channels": board.channels}
        driver = hw.boards.board(board.id)
        if board.kind == USBRELAY:
            count = len(relays) if isinstance(relays, list) else 0
            present = (board.serial in found) if board.serial else count == 1
            row.update(serial=board.serial, ok=present)
            if not present:
                row["problem"] = (
                    f"USB relay board {board.serial or '(any)'} not found"
                    if board.serial or count == 0
                    else f"{count} USB relay boards present: set `serial` in the configuration"
                )
        elif board.kind == RS485:
            row.update(port=board.port, address=board.address, baudrate=board.baudrate)
            try:
                hw.boards.read_doors(board.id)
                row["ok"] = True
            except LockFault as exc:
                row.update(ok=False, problem=f"does not answer: {exc}")
        else:
            assert board.kind == EMULATED
            row["ok"] = True
        row["diagnostics"] = _safe_diagnostics(driver)
        boards.append(row)
    return {
        "boards": boards,
        "compartments": len(hw.config.compartments),
        "emulated": hw.emulation is not None,
    }


def _safe_diagnostics(driver: Any) -> dict[str, Any]:
    try:
        return {k: v for k, v in dict(driver.diagnostics()).items() if _jsonable(v)}
    except Exception as exc:
        return {"error": f"diagnostics failed: {exc}"}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def _print(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(report, indent=2))
        return
    relays = report["usb_relay_boards"]
    print("USB relay boards:")
    if isinstance(relays, dict):
        print(f"  {relays['error']}")
    for r in relays if isinstance(relays, list) else []:
        what = f"serial {r['serial']}, {r['channels']} relays" if r["serial"] else r["problem"]
        print(f"  bus {r['bus']} address {r['address']}: {what}")
    if relays == []:
        print("  none found")
    print("serial ports:", ", ".join(report["serial_ports"]) or "none")
    pcscd = report["pcscd_socket"]
    print(f"pcscd socket: {pcscd['path']}: {pcscd['note']}")
    print("cameras:", ", ".join(report["cameras"]) or "none")
    _print_sticks(report["usb_sticks"])
    _print_terminal(report["terminal"])
    locker = report["locker"]
    if locker is None:
        print("locker: no configuration (pass --config FILE)")
        return
    emulated = " (EMULATED)" if locker["emulated"] else ""
    print(f"locker boards{emulated} ({locker['compartments']} compartments):")
    for b in locker["boards"]:
        where = {
            USBRELAY: f"serial {b.get('serial') or '(any)'}",
            RS485: f"{b.get('port')} address {b.get('address')} at {b.get('baudrate')} Bd",
            EMULATED: "in-process",
        }[b["kind"]]
        state = "ok" if b["ok"] else f"MISSING: {b['problem']}"
        print(f"  {b['id']} ({b['kind']}, {where}): {state}")


def _print_terminal(terminal: dict[str, Any] | None) -> None:
    if terminal is None:
        print("terminal: no settings file (pass --settings FILE or set ALLHOURS_SETTINGS)")
        return
    mode = "TRAINING (emulated devices)" if terminal["mode"] == "training" else "real devices"
    print(f"terminal: {terminal['settings']}: {mode}")
    e = terminal["enrollment"]
    if e["ok"]:
        print(
            f"  enrollment: {e['terminal_id']}, broker {e['broker']},"
            f" certificate until {e['certificate_until'][:16]}"
        )
    else:
        print(f"  enrollment: PROBLEM: {e['problem']}")
    if terminal["devices"]:
        print(f"  devices: {terminal['devices']}")
    print(f"  printer: {terminal['printer'] or 'none configured'}")


def _print_sticks(media: dict[str, Any]) -> None:
    """The USB sticks the kiosk would offer, and whether each is mounted safely."""
    if "error" in media:
        print(f"USB sticks: {media['error']}")
        return
    sticks = media.get("sticks") or []
    roots = ", ".join(media.get("roots", []))
    print(f"USB sticks (under {roots}):" if sticks else f"USB sticks (under {roots}): none")
    for stick in sticks:
        missing = stick["missing_options"]
        safe = "mounted safely" if not missing else "UNSAFE, missing " + ",".join(missing)
        print(f"  {stick['path']} ({stick['fstype']}): {safe}")
