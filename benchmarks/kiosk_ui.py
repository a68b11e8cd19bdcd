"""Kiosk UI figures on the offscreen SDL driver (Mesa llvmpipe: the CPU draws every pixel).

1. Cold start to the home screen's first frame, in a fresh process (median of RUNS), against a
   bare Kivy window with one label in a fresh process.
2. Touch-to-next-screen: a touch on "Pick up a result" until the pickup screen's first frame
   has been drawn (median of 30).
3. Live preview: frames per second blitted into the face screen's preview from the emulated
   live person (640x480), against the frame rate of redrawing an empty screen.
4. Scan preview: frames per second blitted on the scan screen from the emulated document
   camera with the auto-capture analysis of every frame, against the same preview without it.

Usage: .venv/bin/python benchmarks/kiosk_ui.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COLD_KIOSK = """
import time, tempfile, sys
from pathlib import Path
t0 = float(sys.argv[1])
from terminal.ui import boot
boot.prepare(headless=True)
boot.register_fonts()
from allhours.bootstrap import training_terminal
from terminal.ui.kiosk import Kiosk
from terminal.ui.driver import KioskDriver
node = training_terminal(Path(sys.argv[2])).node
drv = KioskDriver(Kiosk(node))
assert drv.kiosk.current == "home"
print(time.time() - t0)
drv.close(); node.stop()
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
print(time.time() - t0)
"""


def enrolled_data_dir() -> Path:
    """A fresh data dir enrolled at a throwaway site (its broker never runs), made before the
    clock starts: the figures are the kiosk's start, not the enrollment's."""
    sys.path.insert(0, str(ROOT))
    from demo_support.enrollment import enroll_at_site
    from provisioning.authority import SiteAuthority

    root = Path(tempfile.mkdtemp(prefix="allhours-bench-"))
    return enroll_at_site(SiteAuthority.create(root / "site-ca"), root / "T0001")


def cold(script: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        data_dir = enrolled_data_dir()
        out = subprocess.run(
            [sys.executable, "-c", script, repr(time.time()), str(data_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def in_process() -> None:
    from terminal.ui import boot

    boot.prepare(headless=True)
    boot.register_fonts()
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    from allhours.bootstrap import training_terminal
    from terminal.ui.driver import KioskDriver
    from terminal.ui.kiosk import Kiosk

    flips = [0]
    Window.bind(on_flip=lambda *_: flips.__setitem__(0, flips[0] + 1))
    node = training_terminal(enrolled_data_dir()).node
    kiosk = Kiosk(node, preview_fps=60.0)
    drv = KioskDriver(kiosk)
    # -- touch to next screen
    latencies = []
    button = kiosk.screens["home"].choices["pickup"]
    for _ in range(30):
        drv.pump(2)
        x, y = button.to_window(*button.center)
        seen = flips[0]
        start = time.perf_counter()
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        while not (kiosk.current == "pickup_code" and flips[0] > seen):
            EventLoop.idle()
        latencies.append(time.perf_counter() - start)
        kiosk.end_session("bench")
    print(
        f"touch to next screen drawn: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p90 {sorted(latencies)[int(len(latencies) * 0.9)] * 1000:.1f} ms (30 taps)"
    )
    print(f"window {Window.size[0]}x{Window.size[1]}")
    drv.close()
    node.stop()


PREVIEW = """
import time, tempfile, sys
from pathlib import Path
from terminal.ui import boot
boot.prepare(headless=True)
boot.register_fonts()
from kivy.core.window import Window
from allhours.bootstrap import training_terminal
from terminal.ui.kiosk import Kiosk
from terminal.ui.driver import KioskDriver
flips = [0]
Window.bind(on_flip=lambda *_: flips.__setitem__(0, flips[0] + 1))
node = training_terminal(Path(sys.argv[1])).node
kiosk = Kiosk(node, preview_fps=60.0)
drv = KioskDriver(kiosk)
def rate(step, seconds=3.0):
    seen, start = flips[0], time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        drv.pump(1)
        time.sleep(0)
    return (flips[0] - seen) / (time.perf_counter() - start)

try:
    from devices.camera.face_emulator import LivePersonSource
    from demo_support.samples import sample
    camera, label = LivePersonSource(sample("obama")), "emulated live person 640x480"
except Exception as exc:
    from devices.camera.emulated import GeneratedPageSource
    camera, label = GeneratedPageSource("live face", 1), "generated page"
face = kiosk.screens["face"]
kiosk.sm.current = "face"
face.feed.start(camera)
drv.pump(3)
frames, start = face.preview.frames, time.perf_counter()
draw = rate(lambda: None)
blits = (face.preview.frames - frames) / (time.perf_counter() - start)
face.feed.forget()
kiosk.go("error")
drv.pump(3)
empty = rate(Window.canvas.ask_update)
t0 = time.perf_counter()
for _ in range(20):
    camera.capture()
capture_ms = (time.perf_counter() - t0) / 20 * 1000
print(f"live preview ({label}, capped at 60/s): {blits:.1f} frames/s blitted, "
      f"{draw:.1f} screen frames/s; camera capture alone {capture_ms:.1f} ms/frame")
print(f"empty-screen redraw baseline: {empty:.1f} frames/s; preview/baseline {blits / empty:.2f}")

# The scan screen: the document camera's preview with and without the auto-capture analysis
# (page found, judged for position, size, tilt and glare, stillness counted) on every frame,
# at the kiosk's own preview rate (15/s): frames the preview worker delivers to the screen.
from devices.camera.emulated import GeneratedPageSource
from terminal.materials.capture import PageCapture
from terminal.ui.live import LiveFeed
kiosk.go("home")  # no screen timer may wipe the scan screen while it is measured
kiosk.preview_fps = 15.0
scan = kiosk.screens["scan"]
kiosk.sm.current = "scan"
doc = GeneratedPageSource("Lease", 1)
full = doc.capture()
def scan_rate(start, seconds=6.0):
    start()
    drv.pump(3)
    grabbed, t0 = doc.captured, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        drv.pump(1)
        time.sleep(0.005)
    return (doc.captured - grabbed) / (time.perf_counter() - t0)
plain_feed = LiveFeed(kiosk, scan.preview, "bench-plain")
plain = scan_rate(lambda: plain_feed.start(doc))
plain_feed.forget()
drv.pump(3)
fed = [0]
def guided_start():
    scan.pages, scan.busy = 99, False
    scan._new_run()
    scan._source = doc
    # a page held still but never taken, so every frame costs what a held page costs
    scan.run.capture = PageCapture(doc.still, steady_frames=10**9,
                                   capture_size=(full.shape[1], full.shape[0]))
    feed = scan.run.capture.feed
    scan.run.capture.feed = lambda f: (fed.__setitem__(0, fed[0] + 1), feed(f))[1]
    scan.feed.start(doc, scan._analyse, scan._render)
guided = scan_rate(guided_start)
outlined = scan.outline.shown
scan.feed.forget()
print(f"scan preview ({full.shape[1]}x{full.shape[0]} document camera frames, kiosk rate 15/s): "
      f"{guided:.1f} frames/s delivered with auto-capture analysis, {plain:.1f} without; "
      f"ratio {guided / plain:.2f}; "
      f"{fed[0]} frames analysed, outline drawn {outlined}")
drv.close()
node.stop()
"""


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    kiosk = cold(COLD_KIOSK, runs)
    bare = cold(COLD_BARE, runs)
    print(
        f"cold start to home screen: median {kiosk:.2f} s over {runs} runs; "
        f"bare Kivy window {bare:.2f} s; ratio {kiosk / bare:.2f}"
    )
    in_process()
    out = subprocess.run(
        [sys.executable, "-c", PREVIEW, str(enrolled_data_dir())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print("\n".join(line for line in out.stdout.splitlines() if line.strip()) or out.stderr)


if __name__ == "__main__":
    main()
