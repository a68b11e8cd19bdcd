"""`allhours kiosk`: the touch screen of a terminal, fullscreen, on real or emulated devices.

The terminal node links to the broker like `allhours terminal --headless`; the screens drive
its flows. `allhours terminal` without --headless starts the same kiosk.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kiosk", help="run the kiosk touch screen (Kivy) for a terminal")
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var/terminal"),
        help="the terminal's data, with the identity `allhours enroll` put there",
    )
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language after each wipe")
    p.add_argument("--large", action="store_true", help="start in large-text mode")
    p.add_argument("--windowed", action="store_true", help="a window (development), not fullscreen")
    p.add_argument("--headless", action="store_true", help="offscreen SDL driver (no display)")
    p.add_argument("--idle-timeout", type=float, default=90.0, help="seconds before the warning")
    p.add_argument("--idle-warning", type=float, default=20.0, help="seconds of countdown")
    p.add_argument("--dpi", type=float, default=None, help="screen dots per inch (touch sizes)")
    p.add_argument("--printer", default=None, help="receipt printer, e.g. tcp://10.0.0.9:9100")
    p.add_argument(
        "--devices",
        type=Path,
        default=None,
        help="TOML naming the real reader, cameras and locker (default: emulated devices)",
    )
    p.add_argument("--speech", action="store_true", help="speak prompts with espeak-ng")


def run(args: argparse.Namespace) -> int:
    """Run the kiosk until SIGTERM/SIGINT; `allhours terminal` passes its own (fewer) options."""
    from cloud_bridge.contract.messages import utcnow
    from provisioning.bundle import IdentityError, TerminalIdentity
    from terminal.ui import boot

    defaults = argparse.ArgumentParser()
    add_arguments(defaults)
    args = argparse.Namespace(**{**vars(defaults.parse_args([])), **vars(args)})

    printer = None
    if args.printer:
        if not args.printer.startswith("tcp://"):
            print("error: --printer takes tcp://HOST:PORT", file=sys.stderr)
            return 2
        host, _, port = args.printer[6:].rpartition(":")
        from devices.printer.escpos_printer import EscposReceiptPrinter

        printer = EscposReceiptPrinter.network(host, int(port or 9100))

    boot.prepare(headless=args.headless, fullscreen=not (args.windowed or args.headless))
    try:
        boot.register_fonts()
    except boot.FontMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from allhours.wiring import EmulatedDevices, enrolled_terminal
    from terminal.ui.app import KioskApp
    from terminal.ui.idle import IdleWatch
    from terminal.ui.kiosk import Kiosk
    from terminal.ui.speech import Speaker
    from terminal.ui.theme import DEFAULT_DPI

    data_dir = args.data_dir
    try:
        identity = TerminalIdentity.load(data_dir, utcnow())
    except IdentityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bundle = identity.bundle
    # The emulated face camera films a live person who follows the screen's prompts, so the
    # real face check (challenge, then match against the card photo) runs at this kiosk too.
    if args.devices is not None:
        from allhours.devices_config import DevicesConfigError, load_devices
        from cloud_bridge.link import LinkSettings
        from provisioning.renewal import CertificateRenewal
        from terminal.node import TerminalNode

        try:
            configured = load_devices(args.devices)
        except DevicesConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        node = TerminalNode(
            bundle.terminal_id,
            data_dir,
            configured.devices,
            configured.layout,
            pickup_code_key=bundle.pickup_code_key,
            link=LinkSettings(
                host=bundle.broker_host,
                port=bundle.broker_port,
                tls=identity.tls,
                backend_keys=bundle.backend_signing_keys,
                renewal=CertificateRenewal(data_dir),
            ),
            supervision=configured.supervision,
            keypad=configured.keypad,
            applicant_key=bundle.applicant_key,
        )
    else:
        node, _devices = enrolled_terminal(
            identity, data_dir, devices=EmulatedDevices.with_live_face()
        )
    node.start()
    app = KioskApp(
        lambda: Kiosk(
            node,
            lang=args.lang,
            large=args.large,
            dpi=args.dpi or DEFAULT_DPI,
            idle=IdleWatch(timeout_s=args.idle_timeout, warn_s=args.idle_warning),
            speaker=Speaker(enabled=args.speech),
            printer=printer,
        )
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.shutdown())
    try:
        app.run()
    finally:
        node.stop()
        if printer is not None:
            printer.close()
    return 0
