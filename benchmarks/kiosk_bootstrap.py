"""Kiosk cold start through the bootstrap, against bare Kivy, in one run (fresh processes).

1. Bootstrap kiosk: a fresh process reads the settings file (emulate = true, offscreen), loads
   the enrollment, builds the terminal (database migrated, emulated devices with the live
   person from sample photos), and draws the home screen's first frame; median of RUNS.
2. Bare Kivy: a fresh process opens a window with one label and draws it; median of RUNS.
3. The bootstrap alone (settings + enrollment + build_terminal, no Kivy) in the same fresh
   process as 1, so the figure splits into terminal assembly and screens.

The enrollment is made once, through the real HTTPS endpoint with a throwaway site CA.

Usage: .venv/bin/python benchmarks/kiosk_bootstrap.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COLD_BOOTSTRAP = """
import time, sys
t0 = float(sys.argv[1])
from terminal.ui import boot
boot.prepare(headless=True)
boot.register_fonts()
from allhours.bootstrap import build_terminal
from allhours.settings import load_terminal_config
from cloud_bridge.contract.messages import utcnow
from terminal.ui.driver import KioskDriver
from terminal.ui.kiosk import Kiosk
b0 = time.time()
terminal = build_terminal(load_terminal_config(sys.argv[2], utcnow()))
built = time.time() - b0
drv = KioskDriver(Kiosk(terminal.node, training=terminal.training))
assert drv.kiosk.current == "home"
print(built, time.time() - t0)
drv.close(); terminal.close()
"""

COLD_BARE = """
import time, sys
t0 = float(sys.argv[1])
from terminal.ui import boot
boot.prepare(headless=True)
from kivy.base import EventLoop
from kivy.core.window import Window
from kivy.uix.label import Label
EventLoop.ensure_window()
Window.add_widget(Label(text="hello"))
EventLoop.idle(); EventLoop.idle()
print(0, time.time() - t0)
"""


def cold(script: str, runs: int, *args: str) -> tuple[float, float]:
    built, total = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", script, repr(time.time()), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        )
        b, t = out.stdout.strip().splitlines()[-1].split()
        built.append(float(b))
        total.append(float(t))
    return statistics.median(built), statistics.median(total)


def enrolled(root: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from allhours.broker import free_port
    from backend.enrollment import enrollment_server
    from backend.service import BackendService
    from provisioning.authority import SiteAuthority
    from provisioning.enroll_client import enroll

    authority = SiteAuthority.create(root / "site-ca")
    service = BackendService(f"sqlite:///{root / 'b.sqlite'}", root / "b", broker_port=None)
    server = enrollment_server(
        service,
        authority,
        broker_host="127.0.0.1",
        broker_port=free_port(),
        host="127.0.0.1",
        port=free_port(),
    ).start()
    try:
        enroll(server.url, str(authority.issue_token("T0001")), root / "T0001")
    finally:
        server.stop()
        service.stop()
    settings = root / "terminal.toml"
    settings.write_text(
        f'data_dir = "{root / "T0001"}"\nemulate = true\n[kiosk]\ndisplay = "offscreen"\n'
    )
    return settings


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        settings = enrolled(Path(tmp))
        bare = cold(COLD_BARE, runs)[1]
        built, kiosk = cold(COLD_BOOTSTRAP, runs, str(settings))
    print(f"kiosk cold start, median of {runs} fresh processes (offscreen SDL, llvmpipe):")
    print(f"  bare Kivy window with one label     {bare:6.2f} s")
    print(f"  kiosk through the bootstrap         {kiosk:6.2f} s  ({kiosk / bare:.2f}x bare Kivy)")
    print(f"    of which build_terminal           {built:6.2f} s  (settings, enrollment, database,")
    print("                                                emulated devices, node)")


if __name__ == "__main__":
    main()
