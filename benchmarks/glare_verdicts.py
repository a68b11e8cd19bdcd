"""Glare verdicts per kind of highlight on generated captures, and what the check costs.

Usage: python benchmarks/glare_verdicts.py [PER_KIND]

Each kind of highlight (none, a faint sheen, a sharp burnt-out spot, a desk lamp's broad soft
reflection, a tube light's soft streak) is put on PER_KIND generated 2048x1536 captures,
judged as from an 8 MP camera. The baseline in the same run is the burnt-patch check alone
(what the kiosk had before glare was judged by legibility), on the same straightened pages.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from devices.camera.document_scene import HIGHLIGHTS, generated_sample
from terminal.materials.pipeline import ANALYSIS_DPI, inspect, page_format
from terminal.materials.quad import find_page
from terminal.materials.quality import GLARE_AREA, effective_dpi, glare_share, washed_share
from terminal.materials.rectify import page_size, rectify

CAPTURE = (2048, 1536)
SCALE = 3264 / CAPTURE[0]
KINDS = {"none": "clean", **HIGHLIGHTS}


def analysis_page(frame: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The straightened page at the resolution the pipeline judges it, as `inspect` makes it."""
    quad = find_page(frame)
    if quad is None:
        return None
    fmt = page_format(quad, SCALE)
    dpi = effective_dpi(quad, fmt, SCALE)
    at = min(ANALYSIS_DPI, dpi / SCALE) if dpi else ANALYSIS_DPI
    size = page_size(quad.corners, quad.frame_size, fmt, at if dpi else None)
    return rectify(frame, quad.corners, size), at


def main() -> None:
    per_kind = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    cv2.setNumThreads(1)
    print(
        f"glare verdicts on {per_kind} generated {CAPTURE[0]}x{CAPTURE[1]} captures per kind "
        "of highlight (one core): refused for glare / accepted / other reasons"
    )
    print(f"  {'kind':7s} {'should be':10s} {'legibility check':22s} burnt-patch check alone")
    burnt_ms, washed_ms = [], []
    for kind, defect in KINDS.items():
        ours = {"glare": 0, "accepted": 0, "other": 0}
        base = {"glare": 0, "accepted": 0}
        for seed in range(40_000, 40_000 + per_kind):
            highlight = None if kind == "none" else kind
            frame = generated_sample(seed, defect, size=CAPTURE, highlight=highlight).frame
            reasons = inspect(frame, capture_scale=SCALE).reasons
            ours["glare" if "glare" in reasons else "other" if reasons else "accepted"] += 1
            found = analysis_page(frame)
            if found is None:
                continue
            page, dpi = found
            start = time.perf_counter()
            burnt = glare_share(page) > GLARE_AREA
            burnt_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            washed_share(page, dpi)
            washed_ms.append((time.perf_counter() - start) * 1000)
            base["glare" if burnt else "accepted"] += 1
        want = "refused" if defect != "clean" else "accepted"
        mine = f"{ours['glare']}/{ours['accepted']}/{ours['other']}"
        print(f"  {kind:7s} {want:10s} {mine:22s} {base['glare']}/{base['accepted']}")
    b, w = float(np.median(burnt_ms)), float(np.median(washed_ms))
    print(
        f"cost per straightened page: washed-out check {w:.1f} ms, burnt-patch check {b:.1f} ms "
        f"(median of {len(washed_ms)}); ratio {w / b:.2f}"
    )


if __name__ == "__main__":
    main()
