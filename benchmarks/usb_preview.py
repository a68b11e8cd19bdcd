"""USB import on the kiosk: a tap on a 5-page PDF until its page previews are drawn.

The kiosk runs offscreen on emulated devices with the emulated USB stick; each run taps the
file on the USB import screen and pumps frames until the preview of all five pages has been
drawn, then taps "Choose another file". Baseline in the same run: `import_file` on the same
file without the kiosk (the sandboxed check, render and rebuild alone).

Usage: .venv/bin/python benchmarks/usb_preview.py [RUNS]
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = 5


def five_page_pdf() -> bytes:
    import img2pdf
    from PIL import Image

    from devices.camera.emulated import render_page

    pages = []
    for n in range(1, PAGES + 1):
        lines = [f"Proof of premises - page {n} of {PAGES}"] + [
            f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(1, 25)
        ]
        out = io.BytesIO()
        Image.fromarray(render_page("Proof of premises", lines)).save(out, "JPEG", quality=80)
        pages.append(out.getvalue())
    return img2pdf.convert(pages)


def main(runs: int) -> None:
    from terminal.ui import boot

    boot.prepare(headless=True)
    boot.register_fonts()
    from allhours.bootstrap import training_terminal
    from demo_support.enrollment import enroll_at_site
    from demo_support.tour import SAMPLE_CITIZEN, SAMPLE_PHONE
    from provisioning.authority import SiteAuthority
    from terminal.materials.usb_import import import_file
    from terminal.ui.driver import KioskDriver
    from terminal.ui.kiosk import Kiosk

    pdf = five_page_pdf()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = enroll_at_site(SiteAuthority.create(Path(tmp) / "site-ca"), Path(tmp) / "T0001")
        terminal = training_terminal(data_dir)  # its broker (port 9) is never started
        node, devices = terminal.node, terminal.emulated
        assert devices is not None
        mount = devices.stick.insert({"premises.pdf": pdf})
        baseline = []
        for _ in range(runs):
            t0 = time.perf_counter()
            assert len(import_file(mount, "premises.pdf").pages) == PAGES
            baseline.append(time.perf_counter() - t0)

        drv = KioskDriver(Kiosk(node, card_poll_s=0.02))
        s = drv.kiosk.screens
        try:
            drv.tap(s["home"].choices["submit"])
            drv.wait_screen("card")
            devices.reader.place(SAMPLE_CITIZEN)
            drv.wait_screen("catalog")
            gs = s["catalog"].item_buttons["GS-0307"]
            s["catalog"].item_scroll.scroll_to(gs, animate=False)
            drv.pump(2)
            drv.tap(gs)
            drv.tap(s["item"].apply_button)
            drv.type(s["phone"].keypad, SAMPLE_PHONE)
            drv.tap(s["phone"].nav.children[0])
            drv.wait_screen("materials")
            m = s["materials"]
            m.scroll.scroll_to(m.actions["lease"]["usb"], animate=False)
            drv.pump(2)
            drv.tap(m.actions["lease"]["usb"])
            drv.wait_screen("usb_import")
            usb = s["usb_import"]
            drv.wait_for(lambda: "premises.pdf" in usb.file_buttons, what="the file listed")
            ui = []
            for _ in range(runs):
                drv.pump(2)
                button = usb.file_buttons["premises.pdf"]
                t0 = time.perf_counter()
                drv.tap(button, settle=False)
                drv.wait_for(lambda: usb.state == "preview", timeout=60, what="the preview")
                drv.pump()  # the frame with the thumbnails drawn
                ui.append(time.perf_counter() - t0)
                assert len(usb.thumbs) == PAGES and all(t.texture for t in usb.thumbs)
                drv.tap(usb.other_button)
        finally:
            drv.close()
            node.stop()
            devices.stick.remove()

    b, u = statistics.median(baseline), statistics.median(ui)
    print(f"5-page PDF ({len(pdf) // 1024} KB), {runs} runs, medians:")
    print(f"  tap on the file to {PAGES} page previews drawn: {u:.2f} s")
    print(f"  import_file alone (sandboxed check, render, rebuild): {b:.2f} s")
    print(f"  ratio kiosk / import alone: {u / b:.2f} (the rest: thumbnail decode, layout, draw)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
