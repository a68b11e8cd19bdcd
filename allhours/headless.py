"""`allhours terminal --headless --settings FILE --script FILE`: a training terminal, scripted.

The terminal is built by the bootstrap from its settings, which must say `emulate = true`:
the script places cards on the emulated reader and stands in for the citizen.

A script is TOML: an optional `[terminal]` table and a list of `[[step]]` tables, each with
`do = "submit" | "staff_load" | "pickup" | "wait_sent" | "sleep"`. `[terminal] locker = FILE`
drives a locker configuration's boards (an RS-485 board emulated on a pty, say) instead of
the emulated lock board. See docs/terminal.md.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloud_bridge.link import wait_until
from locker.config import LockerConfigError, load_locker_config
from terminal.flows.pickup import PickupRefused
from terminal.flows.session import FlowError

from .bootstrap import build_terminal
from .settings import TerminalConfig
from .story import (
    Citizen,
    citizen_picks_up,
    citizen_submits,
    staff_loads_results,
    staff_signs_in,
)
from .wiring import EmulatedDevices, build_boards

log = logging.getLogger(__name__)
STEPS = ("submit", "staff_load", "pickup", "wait_sent", "sleep")


class ScriptError(ValueError):
    """The script file is not valid; the message names the step and the key."""


def load_script(path: Path) -> dict[str, Any]:
    """Parse and check a script file before any device moves."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: thousands of nested arrays or tables exhaust tomllib's parser.
        raise ScriptError(f"{path}: {exc}") from None
    table = data.get("terminal", {})
    if not isinstance(table, dict) or set(table) - {"locker"}:
        raise ScriptError(f"{path}: [terminal] may hold only `locker` (a locker file)")
    if "locker" in table:
        if not isinstance(table["locker"], str):
            raise ScriptError(f"{path}: [terminal] locker: the path of a locker file")
        table["locker"] = str(path.parent / table["locker"])
        try:
            load_locker_config(table["locker"])
        except LockerConfigError as exc:
            raise ScriptError(f"{path}: [terminal] locker: {exc}") from None
    steps = data.get("step")
    if not isinstance(steps, list) or not steps:
        raise ScriptError(f"{path}: needs at least one [[step]]")
    for n, step in enumerate(steps, 1):
        kind = step.get("do")
        if kind not in STEPS:
            raise ScriptError(f"{path}: step {n}: `do` must be one of {', '.join(STEPS)}")
        if kind == "submit":
            try:
                Citizen.from_dict(step)
            except ValueError as exc:
                raise ScriptError(f"{path}: step {n}: {exc}") from None
            if "item" not in step:
                raise ScriptError(f"{path}: step {n}: submit needs `item`")
        if kind == "staff_load" and not ("code" in step or step.get("code_from") == "stdin"):
            raise ScriptError(
                f"{path}: step {n}: staff_load needs the console's sign-in `code`"
                ' or code_from = "stdin"'
            )
        if kind == "pickup" and not ("code" in step or step.get("code_from") == "stdin"):
            raise ScriptError(f'{path}: step {n}: pickup needs `code` or code_from = "stdin"')
    return data


def run_script(
    path: Path,
    *,
    config: TerminalConfig,
    say: Callable[[str], None] = print,
) -> int:
    """Run every step; exit status 0 when all of them succeeded."""
    if not config.settings.emulate:
        raise ScriptError(
            f"{config.file}: emulate: a scripted terminal drives emulated devices;"
            " its settings must say emulate = true"
        )
    script = load_script(path)
    devices = EmulatedDevices()
    locker_file = script.get("terminal", {}).get("locker")
    if locker_file:  # the configured boards (drivers open on first use), not the emulated one
        locker = load_locker_config(locker_file)
        devices = EmulatedDevices(board=build_boards(locker), layout=list(locker.compartments))  # type: ignore[arg-type]
    terminal = build_terminal(config, emulated=devices)
    node, devices = terminal.node, terminal.emulated
    assert devices is not None
    terminal_id = config.identity.terminal_id
    broker_host, broker_port = (
        config.identity.bundle.broker_host,
        config.identity.bundle.broker_port,
    )
    node.start()
    failures = 0
    try:
        if node.link.wait_connected(10):
            say(f"[{terminal_id}] connected to {broker_host}:{broker_port}")
        else:
            say(f"[{terminal_id}] broker not reachable yet; working offline")
        for n, step in enumerate(script["step"], 1):
            kind = step["do"]
            tag = f"[{terminal_id}] step {n} {kind}:"
            try:
                if kind == "submit":
                    citizen_submits(
                        node,
                        devices,
                        Citizen.from_dict(step),
                        step["item"],
                        lambda s, tag=tag: say(f"{tag} {s}"),
                    )
                elif kind == "staff_load":
                    staff_code = step.get("code") or input("staff sign-in code: ")
                    member = staff_signs_in(
                        node, str(staff_code), lambda s, tag=tag: say(f"{tag} {s}")
                    )
                    staff_loads_results(
                        node,
                        member,
                        lambda s, tag=tag: say(f"{tag} {s}"),
                        float(step.get("wait_s", 60)),
                    )
                elif kind == "pickup":
                    code = step.get("code") or input("pickup code: ")
                    tail = step.get("phone_tail") or input("last four digits of the phone: ")
                    citizen_picks_up(
                        node, str(code), lambda s, tag=tag: say(f"{tag} {s}"), str(tail)
                    )
                elif kind == "wait_sent":
                    timeout = float(step.get("wait_s", 60))
                    ok = wait_until(lambda: node.outbox.backlog() == 0, timeout)
                    say(f"{tag} outbox {'empty' if ok else f'still {node.outbox.backlog()}'}")
                    failures += not ok
                elif kind == "sleep":
                    time.sleep(float(step.get("seconds", 1)))
            except (FlowError, PickupRefused, TimeoutError) as exc:
                failures += 1
                say(f"{tag} FAILED: {exc}")
    finally:
        terminal.close()
    say(f"[{terminal_id}] {len(script['step']) - failures} of {len(script['step'])} steps ok")
    return 0 if failures == 0 else 1
