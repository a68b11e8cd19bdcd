"""`allhours usb-sticks`: the USB sticks the kiosk sees now, and whether each is mounted safely."""

from __future__ import annotations

import argparse
import sys

from devices.storage.mount_table import DEFAULT_ROOTS, MountTableMedia
from devices.storage.port import MediaError


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours usb-sticks [--root DIR]... [--mounts-file FILE]`."""
    p = sub.add_parser(
        "usb-sticks",
        help="list the USB sticks the kiosk would offer, with unsafe mount options",
        description=(
            "Reads the mount table as the kiosk does. Exit 0 when every stick is mounted "
            "ro,noexec,nosuid,nodev (or none is in), 1 when one lacks an option, 2 when the "
            "mount table cannot be read."
        ),
    )
    p.add_argument(
        "--root",
        action="append",
        default=None,
        help=f"a media root (repeatable; default: {' '.join(DEFAULT_ROOTS)})",
    )
    p.add_argument("--mounts-file", default="/proc/self/mounts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        media = MountTableMedia(args.mounts_file, args.root or DEFAULT_ROOTS)
        sticks = media.entries()
    except (ValueError, MediaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not sticks:
        print("no USB stick mounted under " + ", ".join(str(r) for r in media.roots))
        return 0
    unsafe = 0
    for stick in sticks:
        missing = stick.unsafe_options
        unsafe += bool(missing)
        verdict = "safe" if not missing else "UNSAFE, missing " + ",".join(missing)
        print(f"{stick.path}\t{stick.fstype}\t{stick.device}\t{verdict}")
    return 1 if unsafe else 0
