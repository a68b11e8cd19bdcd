"""`allhours screenshots OUTDIR`: every kiosk screen, in Chinese and English, normal and large.

A touch-driven walk on a training kiosk (emulated devices, enrolled and built through the
bootstrap as on site; offscreen, no display needed) stops at each screen
and photographs it in every look; `index.html` and `index.json` list the pictures. This is how
the UI is reviewed.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
from pathlib import Path

VARIANTS = ("zh", "en", "zh-large", "en-large")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("screenshots", help="render every kiosk screen to PNG files")
    p.add_argument("outdir", type=Path)
    p.add_argument("--only", default="", help="comma-separated stops (default: all)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    p.add_argument("--size", default="1920x1080", help="window size WxH in pixels")
    p.add_argument("--offline", action="store_true", help="no broker: show the offline banner")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        print(
            f"unknown variant(s) {', '.join(bad)}; choose from {', '.join(VARIANTS)}",
            file=sys.stderr,
        )
        return 2
    try:
        width, height = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        print(f"--size must look like 1920x1080, not {args.size!r}", file=sys.stderr)
        return 2
    from terminal.ui import boot

    boot.prepare(headless=True, size=(width, height))
    try:
        boot.register_fonts()
    except boot.FontMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    only = {s for s in args.only.split(",") if s} or None
    shots = render(args.outdir, variants, only=only, offline=args.offline)
    print(f"{len(shots)} screenshots in {args.outdir} (index.html)")
    return 0


def render(outdir: Path, variants: list[str], *, only=None, offline=False) -> list[dict]:
    """Walk the kiosk once; at each stop photograph it in every variant. Returns the index."""
    from allhours.bootstrap import build_terminal
    from allhours.broker import PrivateMosquitto
    from allhours.settings import load_terminal_config
    from allhours.wiring import EmulatedDevices
    from cloud_bridge.contract.messages import utcnow
    from demo_support.enrollment import enroll_at_site
    from demo_support.tour import tour
    from provisioning.authority import SiteAuthority
    from terminal.flows.staff import SignInRefused, StaffMember
    from terminal.ui.driver import KioskDriver
    from terminal.ui.kiosk import Kiosk
    from terminal.ui.theme import LARGE

    outdir.mkdir(parents=True, exist_ok=True)
    shots: list[dict] = []
    # The tour first types a malformed code (0000) to show the refusal, then this one; with no
    # backend here, the screenshots' sign-in takes this code for a sample clerk.
    staff_code = "24681357"

    def sign_in(code: str) -> StaffMember:
        if code != staff_code:
            raise SignInRefused("refused")
        return StaffMember("clerk.sample", "示例工作人员", "STAFF-screenshots")

    with tempfile.TemporaryDirectory(prefix="allhours-shots-") as tmp:
        authority = SiteAuthority.create(Path(tmp) / "site-ca")
        broker = None if offline else PrivateMosquitto(Path(tmp) / "broker", authority).start()
        # A training kiosk enrolled at this site, built as on site: a settings file, the bootstrap.
        try:
            data_dir = enroll_at_site(
                authority, Path(tmp) / "T0001", broker_port=broker.port if broker else 9
            )
            settings = Path(tmp) / "terminal.toml"
            settings.write_text(f'data_dir = "{data_dir}"\nemulate = true\n', encoding="utf-8")
            devices = EmulatedDevices()
            terminal = build_terminal(load_terminal_config(settings, utcnow()), emulated=devices)
        except BaseException:
            if broker is not None:
                broker.stop()
                broker.remove_data()
            raise
        node, key = terminal.node, terminal.config.identity.bundle.pickup_code_key
        node.start() if broker else None
        if broker is not None:
            node.link.wait_connected(10)
        kiosk = Kiosk(node, strict_i18n=True, staff_sign_in=sign_in, card_poll_s=0.05)
        drv = KioskDriver(kiosk)

        def stop(name: str) -> None:
            lang, large = kiosk.t.lang, kiosk.theme is LARGE
            for variant in variants:
                want_lang, _, look = variant.partition("-")
                kiosk.set_language(want_lang)
                if (look == "large") != (kiosk.theme is LARGE):
                    kiosk.toggle_large()
                path = outdir / f"{name}.{variant}.png"
                drv.screenshot(path)
                shots.append(
                    {"stop": name, "screen": kiosk.current, "variant": variant, "file": path.name}
                )
            kiosk.set_language(lang)
            if large != (kiosk.theme is LARGE):
                kiosk.toggle_large()

        try:
            tour(drv, devices, key, stop, staff_code=staff_code, only=only)
        finally:
            drv.close()
            node.stop()
            if broker is not None:
                broker.stop()
                broker.remove_data()
    (outdir / "index.json").write_text(json.dumps(shots, indent=2), encoding="utf-8")
    (outdir / "index.html").write_text(_html(shots, variants), encoding="utf-8")
    return shots


def _html(shots: list[dict], variants: list[str]) -> str:
    stops = list(dict.fromkeys(s["stop"] for s in shots))
    rows = []
    for stop in stops:
        cells = "".join(
            f'<td><a href="{html.escape(f)}"><img src="{html.escape(f)}" width="320"></a></td>'
            for v in variants
            for f in [f"{stop}.{v}.png"]
        )
        rows.append(f"<tr><th>{html.escape(stop)}</th>{cells}</tr>")
    head = "".join(f"<th>{html.escape(v)}</th>" for v in variants)
    return (
        "<!doctype html><meta charset=utf-8><title>allhours kiosk screens</title>"
        f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>\n"
    )
