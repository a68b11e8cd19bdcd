"""`allhours kiosk`: the touch screen of a terminal, built from its settings file.

    allhours kiosk --settings /etc/allhours/terminal.toml

The settings (allhours/settings.py, docs/examples/terminal.toml) say where the enrollment is,
which devices to drive and how the screen looks; allhours/bootstrap.py builds the terminal from
them. Without a settings file the kiosk does not start: a kiosk that guessed would run emulated
devices that verify nobody real. `emulate = true` in the file runs a training kiosk, and every
screen says so. `allhours terminal` without --headless starts the same kiosk.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)

NEEDS_SETTINGS = (
    "error: allhours kiosk needs its settings file: --settings /etc/allhours/terminal.toml"
    " (or ALLHOURS_SETTINGS). It names data_dir (the enrollment from `allhours enroll`) and"
    " devices (the devices file: reader, cameras, locker); a training kiosk on emulated"
    " devices sets emulate = true instead. Example: docs/examples/terminal.toml"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kiosk", help="run the kiosk touch screen (Kivy) for a terminal")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="the terminal's settings file (TOML; default: $ALLHOURS_SETTINGS)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the kiosk until SIGTERM/SIGINT."""
    from allhours.settings import ENV_SETTINGS_FILE, SettingsError, load_terminal_config
    from cloud_bridge.contract.messages import utcnow
    from terminal.ui import boot

    path = args.settings or os.environ.get(ENV_SETTINGS_FILE)
    if not path:
        print(NEEDS_SETTINGS, file=sys.stderr)
        return 2
    try:
        config = load_terminal_config(path, utcnow())
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    k = config.settings.kiosk
    boot.prepare(headless=k.display == "offscreen", fullscreen=k.display == "fullscreen")
    try:
        boot.register_fonts()
    except boot.FontMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from allhours.bootstrap import build_terminal
    from terminal.ui.app import KioskApp
    from terminal.ui.idle import IdleWatch
    from terminal.ui.kiosk import Kiosk
    from terminal.ui.speech import Speaker
    from terminal.ui.theme import DEFAULT_DPI

    try:
        terminal = build_terminal(config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    terminal.node.start()
    # A configuration bundle's kiosk settings (idle timeouts, language...) over the file's.
    k = k.model_copy(update=terminal.node.remote_settings.get("kiosk", {}))
    idle = IdleWatch(timeout_s=k.idle_timeout_s, warn_s=k.idle_warning_s)

    shown: list[Kiosk] = []

    def remote(settings: dict) -> None:
        """A bundle changed the remote settings: the idle watch and the counter the
        out-of-service page names follow at once."""
        kiosk = k.model_copy(update=settings.get("kiosk", {}))
        idle.timeout_s, idle.warn_s = kiosk.idle_timeout_s, kiosk.idle_warning_s
        for each in shown:
            each.office_hours, each.hotline = dict(kiosk.office_hours), kiosk.hotline

    def make() -> Kiosk:
        kiosk = Kiosk(
            terminal.node,
            lang=k.lang,
            large=k.large,
            dpi=k.dpi or DEFAULT_DPI,
            idle=idle,
            speaker=Speaker(enabled=k.speech),
            printer=terminal.printer,
            training=terminal.training,
            office_hours=k.office_hours,
            hotline=k.hotline,
        )
        shown.append(kiosk)
        return kiosk

    terminal.node.settings_listeners.append(remote)
    app = KioskApp(make)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.shutdown())
    try:
        app.run()
    finally:
        terminal.close()
    return 0
