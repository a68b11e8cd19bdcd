"""MRZ from the document camera: accuracy and time per page on generated passport pages.

Usage: python benchmarks/mrz_ocr.py [PER_CONDITION]

Each condition (flat, rotated, skewed, glare; see devices/camera/passport_scene.py) gets
PER_CONDITION generated 2048x1536 frames of a passport photo page with an invented holder's
MRZ in OCR-B. Per condition: the key (document number, birth and expiry dates) read right,
read wrong (a misreading whose check digit agrees by chance), or refused (keypad); the whole
MRZ read right; and the time per page. The baseline in the same run is one bare Tesseract
call on the same MRZ block (what any reader must spend at least once).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np
import pytesseract

from devices.camera.passport_scene import CONDITIONS, passport_sample
from devices.identity.emrtd.mrz import parse_mrz
from terminal.materials.mrz_ocr import (
    ALPHABET,
    MrzUnreadable,
    binarise,
    mrz_block,
    page_views,
    read_mrz,
)


def bare_tesseract_ms(frame: np.ndarray) -> float | None:
    """One Tesseract call on the frame's MRZ block, in ms (the block found beforehand, as
    `read_mrz` finds it: on the straightened page, else the whole frame)."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    blocks = (mrz_block(view) for view in page_views(frame, gray))
    block = next((b for b in blocks if b is not None), None)
    if block is None:
        return None
    ink = binarise(block)
    start = time.perf_counter()
    pytesseract.image_to_string(ink, config=f"--psm 6 -c tessedit_char_whitelist={ALPHABET}")
    return (time.perf_counter() - start) * 1000


def main() -> None:
    per = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    cv2.setNumThreads(1)
    print(
        f"MRZ OCR on {per} generated 2048x1536 passport frames per condition "
        f"(Tesseract {pytesseract.get_tesseract_version()})"
    )
    print("  condition  key right / wrong / refused   whole MRZ right   ms per page (median, p90)")
    all_ms, bare = [], []
    totals = [0, 0, 0, 0]
    for condition in CONDITIONS:
        right = wrong = refused = whole = 0
        times = []
        for seed in range(1000, 1000 + per):
            sample = passport_sample(seed, condition)
            truth = parse_mrz(sample.mrz).key
            start = time.perf_counter()
            try:
                reading = read_mrz(sample.frame)
            except MrzUnreadable:
                refused += 1
            else:
                right += reading.key == truth
                wrong += reading.key != truth
                whole += reading.text == sample.mrz and reading.complete
            times.append((time.perf_counter() - start) * 1000)
            if seed < 1000 + 5:
                ms = bare_tesseract_ms(sample.frame)
                if ms is not None:
                    bare.append(ms)
        all_ms += times
        for i, v in enumerate((right, wrong, refused, whole)):
            totals[i] += v
        print(
            f"  {condition:9s}  {right:3d} / {wrong:3d} / {refused:3d}"
            f"{'':15s}{whole:3d}/{per}{'':13s}"
            f"{np.median(times):.0f}, {np.percentile(times, 90):.0f}"
        )
    n = per * len(CONDITIONS)
    print(
        f"  all        key right {totals[0] / n:.0%}, wrong {totals[1] / n:.0%}, refused "
        f"{totals[2] / n:.0%}; whole MRZ {totals[3] / n:.0%}"
    )
    median, base = float(np.median(all_ms)), float(np.median(bare))
    print(
        f"time per page {median:.0f} ms median; one bare Tesseract call on the block "
        f"{base:.0f} ms; ratio {median / base:.1f}"
    )


if __name__ == "__main__":
    main()
