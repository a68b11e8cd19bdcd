"""MRZ from the document camera: accuracy and time per page on generated passport pages.

Usage: python benchmarks/mrz_ocr.py [PER_CONDITION]

Each condition (flat, rotated, skewed, glare; see devices/camera/passport_scene.py) gets
PER_CONDITION generated 2048x1536 frames of a passport photo page with an invented holder's
MRZ in OCR-B. Per condition: the key (document number, birth and expiry dates) read right,
read wrong (a misreading whose check digit agrees by chance), or refused (keypad); how many
needed Tesseract after the OCR-B glyphs; the whole MRZ read right; and the time per page.
Baselines in the same run: one bare Tesseract call on the same MRZ block, and the key as
Tesseract alone reads it (the reader before the glyphs), right and wrong.
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
from devices.identity.emrtd.mrz import MrzError, MrzKey, parse_mrz
from terminal.materials.mrz_fields import key_fields, settle_td3
from terminal.materials.mrz_ocr import (
    ALPHABET,
    MrzUnreadable,
    binarise,
    digit_reading,
    mrz_block,
    ocr_lines,
    page_views,
    read_mrz,
)


def tesseract_alone(frame: np.ndarray) -> MrzKey | None:
    """The key as Tesseract alone reads the block, both ways up; None if it does not hold."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    for view in page_views(frame, gray):
        block = mrz_block(view)
        if block is None:
            continue
        for level in (block, cv2.rotate(block, cv2.ROTATE_180)):
            text = settle_td3(ocr_lines(level), digit_reading(level))
            fields = key_fields(text) if text else None
            if fields is not None:
                try:
                    return MrzKey(*fields)
                except MrzError:
                    continue
    return None


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
    print(
        "  condition  key right / wrong / refused  by Tesseract  whole MRZ right"
        "  ms per page (median, p90)  Tesseract alone: right / wrong"
    )
    all_ms, bare = [], []
    totals = [0, 0, 0, 0, 0, 0, 0]
    for condition in CONDITIONS:
        right = wrong = refused = whole = fallback = alone_right = alone_wrong = 0
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
                fallback += reading.tries > 0
            times.append((time.perf_counter() - start) * 1000)
            alone = tesseract_alone(sample.frame)
            alone_right += alone == truth
            alone_wrong += alone is not None and alone != truth
            if seed < 1000 + 5:
                ms = bare_tesseract_ms(sample.frame)
                if ms is not None:
                    bare.append(ms)
        all_ms += times
        counts = (right, wrong, refused, whole, fallback, alone_right, alone_wrong)
        for i, v in enumerate(counts):
            totals[i] += v
        print(
            f"  {condition:9s}  {right:3d} / {wrong:3d} / {refused:3d}{'':13s}{fallback:3d}"
            f"{'':10s}{whole:3d}/{per}{'':8s}"
            f"{np.median(times):6.0f}, {np.percentile(times, 90):6.0f}{'':20s}"
            f"{alone_right:3d} / {alone_wrong:3d}"
        )
    n = per * len(CONDITIONS)
    print(
        f"  all        key right {totals[0] / n:.0%}, wrong {totals[1] / n:.0%}, refused "
        f"{totals[2] / n:.0%}; whole MRZ {totals[3] / n:.0%}; Tesseract needed "
        f"{totals[4] / n:.0%}"
    )
    print(
        f"  Tesseract alone: key right {totals[5] / n:.0%}, wrong {totals[6] / n:.0%}; "
        f"ratio of keys read, glyphs first / Tesseract alone: "
        f"{totals[0] / max(1, totals[5]):.2f}"
    )
    median, base = float(np.median(all_ms)), float(np.median(bare))
    print(
        f"time per page {median:.0f} ms median; one bare Tesseract call on the block "
        f"{base:.0f} ms; ratio {median / base:.1f}"
    )


if __name__ == "__main__":
    main()
