"""`allhours usb list|import`: what the terminal makes of a USB stick, for technicians."""

from __future__ import annotations

import argparse
from pathlib import Path

from terminal.materials.usb_import import ImportRefused, import_file, list_candidates
from terminal.ui.i18n import Translator


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours usb list MOUNT` and `allhours usb import MOUNT PATH [-o OUT.pdf]`."""
    p = sub.add_parser("usb", help="USB-stick import: list and check files as the kiosk would")
    usub = p.add_subparsers(dest="usb_command", required=True)
    ls = usub.add_parser(
        "list",
        help="list the files a citizen would see, with the reason for any refusal",
        description="Exit 0 when at least one file can be imported, 1 when none can.",
    )
    ls.add_argument("mount", type=Path, help="where the stick is mounted")
    ls.set_defaults(func=_list)
    imp = usub.add_parser(
        "import",
        help="import one file through the sandbox and write the rebuilt PDF",
        description="Exit 0 on success, 1 when the file is refused (code and reason printed).",
    )
    imp.add_argument("mount", type=Path, help="where the stick is mounted")
    imp.add_argument("path", help="the file, relative to the mount")
    imp.add_argument("-o", "--output", type=Path, help="write the rebuilt PDF here")
    imp.add_argument("--lang", choices=("zh", "en"), default="en")
    imp.set_defaults(func=_import)


def _list(args: argparse.Namespace) -> int:
    candidates = list_candidates(args.mount)
    for c in candidates:
        verdict = f"refused: {c.refusal.code}" if c.refusal else (c.kind or "?")
        print(f"{c.path}\t{c.size}\t{verdict}")
    return 0 if any(c.refusal is None for c in candidates) else 1


def _import(args: argparse.Namespace) -> int:
    try:
        imported = import_file(args.mount, args.path)
    except ImportRefused as refusal:
        print(f"refused: {refusal.code}: {refusal.text(Translator(args.lang))}")
        return 1
    removed = ", ".join(imported.removed) or "nothing"
    print(f"{imported.name}: {imported.kind}, {len(imported.pages)} page(s), removed: {removed}")
    for n, page in enumerate(imported.pages, 1):
        print(f"  page {n}: {page.width}x{page.height} px at {page.dpi:.0f} dpi")
    if args.output:
        args.output.write_bytes(imported.pdf())
        print(f"wrote {args.output}")
    return 0
