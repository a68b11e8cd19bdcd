"""`allhours config check FILE`: what a terminal would run with, before it runs.

It reads the settings file (with the environment over it, as the kiosk does) and the enrollment
under its data_dir, and prints the result: the mode (real devices or training), the terminal,
its broker, which keys the enrollment carries (by fingerprint, never the key), the devices file,
the printer and the screen. A problem is printed with the file, the key and the reason, and the
exit status is 2. Devices are not opened here; `allhours doctor` tries them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="terminal settings tools")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("check", help="validate a terminal settings file and print what it means")
    c.add_argument("file", type=Path, help="the settings file, e.g. /etc/allhours/terminal.toml")
    c.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    from allhours.settings import SettingsError, describe, load_terminal_config
    from cloud_bridge.contract.messages import utcnow

    try:
        config = load_terminal_config(args.file, utcnow())
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in describe(config):
        print(line)
    return 0
