"""Page finding and page production on one core, bytes per A4 page, corner accuracy.

Usage: python benchmarks/page_finding.py [SAMPLES]

OpenCV runs single-threaded here (cv2.setNumThreads(1)): the figures are per core. The
baseline in the same run is cv2.Canny + cv2.findContours alone on the same preview frames,
the least any contour-based page finder must do.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from devices.camera.document_scene import (
    DEFECTS,
    chinese_page,
    cjk_font,
    generated_sample,
    page_template,
)
from devices.camera.emulated import render_page
from terminal.materials.capture import PageCapture
from terminal.materials.orientation import detect
from terminal.materials.pdf import encode_page, material_content
from terminal.materials.pipeline import inspect, process_frame
from terminal.materials.quad import find_page, order_corners

PREVIEW = (1280, 720)
FULL = (3264, 2448)


def corner_error(found: np.ndarray, truth: np.ndarray) -> float:
    t = order_corners(truth)
    diag = max(np.linalg.norm(t[2] - t[0]), np.linalg.norm(t[3] - t[1]))
    worst = min(
        float(np.max(np.linalg.norm(np.roll(found, k, axis=0) - t, axis=1))) for k in range(4)
    )
    return worst / float(diag)


def rate(fn, frames: list[np.ndarray], rounds: int = 3) -> float:
    """Frames per second, best of `rounds` passes."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for f in frames:
            fn(f)
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def baseline(frame: np.ndarray) -> None:
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 30, 90)
    cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    cv2.setNumThreads(1)
    print(f"OpenCV {cv2.__version__}, cv2.setNumThreads(1): one core")

    frames = [generated_sample(i, "clean", size=PREVIEW).frame for i in range(30)]
    ours = rate(find_page, frames)
    base = rate(baseline, frames)
    print(
        f"page finding, {PREVIEW[0]}x{PREVIEW[1]} preview: {ours:.1f} fps "
        f"(Canny+findContours baseline {base:.1f} fps; ratio {ours / base:.2f})"
    )

    per_class = max(1, n // len(DEFECTS))
    errors: dict[str, list[float]] = {d: [] for d in DEFECTS}
    cut_flagged = 0
    for defect in DEFECTS:
        for seed in range(10_000, 10_000 + per_class):
            sample = generated_sample(seed, defect, size=PREVIEW)
            quad = find_page(sample.frame)
            if defect == "cut_off":
                cut_flagged += bool(quad is not None and quad.touches_border)
                continue
            errors[defect].append(
                1.0 if quad is None else corner_error(quad.corners, sample.corners)
            )
    usable = [e for d in DEFECTS if d != "cut_off" for e in errors[d]]
    within = sum(e <= 0.01 for e in usable)
    print(
        f"corner accuracy, {len(usable)} usable generated pages: "
        f"{within / len(usable):.1%} within 1% of the page diagonal; "
        f"median {np.median(usable):.5f}, 95th percentile {np.percentile(usable, 95):.5f}"
    )
    for d in DEFECTS:
        if errors[d]:
            ok = sum(e <= 0.01 for e in errors[d])
            print(f"  {d:8s} {ok}/{len(errors[d])} within 1%")
    print(f"  cut_off  {cut_flagged}/{per_class} seen running off the frame")

    verdict_size = (2048, 1536)
    per_defect = max(4, n // 10)
    print(
        f"verdicts on {per_defect} generated {verdict_size[0]}x{verdict_size[1]} captures "
        f"per kind (judged as from an 8 MP camera): kind -> reasons given"
    )
    for defect in DEFECTS:
        seen: dict[str, int] = {}
        for seed in range(20_000, 20_000 + per_defect):
            sample = generated_sample(seed, defect, size=verdict_size)
            reasons = inspect(sample.frame, capture_scale=FULL[0] / verdict_size[0]).reasons
            key = "+".join(reasons) or "accepted"
            seen[key] = seen.get(key, 0) + 1
        print(f"  {defect:8s} " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))

    times, sizes = [], []
    results = []
    for seed in range(3):
        frame = generated_sample(seed, "clean", size=FULL, paper="A4").frame
        start = time.perf_counter()
        result = process_frame(frame)
        times.append(time.perf_counter() - start)
        results.append(result)
        if result.page is not None:
            sizes.append(len(encode_page(result.page, result.page_dpi)))
    print(
        f"one page from a full {FULL[0]}x{FULL[1]} capture: "
        f"{np.median(times) * 1000:.0f} ms (median of {len(times)})"
    )
    if sizes:
        pdf = material_content([r for r in results if r.ok])
        print(
            f"bytes per A4 page as uploaded: {np.mean(sizes) / 1024:.0f} KiB JPEG "
            f"({results[0].page.shape[1]}x{results[0].page.shape[0]} px at "
            f"{results[0].page_dpi:.0f} dpi); {pdf.pages}-page PDF "
            f"{len(pdf.data) / 1024:.0f} KiB ({len(pdf.data) / pdf.pages / 1024:.0f} KiB/page)"
        )

    auto_capture(frames)
    orientation(max(8, n // 25))


def auto_capture(frames: list[np.ndarray]) -> None:
    """What the scan screen's worker does per preview frame while a page is held."""
    capture = PageCapture(lambda: frames[0], steady_frames=10**9, capture_size=FULL)
    ours = rate(capture.feed, frames)
    alone = rate(find_page, frames)
    print(
        f"auto-capture analysis per {PREVIEW[0]}x{PREVIEW[1]} preview frame (find, geometry, "
        f"glare, stillness): {ours:.1f} fps; page finding alone {alone:.1f} fps; "
        f"ratio {ours / alone:.2f}"
    )


def _turned(page: np.ndarray, turn: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(page, -(turn // 90)))


def orientation(per_set: int) -> None:
    """Orientation on generated pages turned each way: upright, left as it lay, or wrong."""
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "clerk", "form"]
    rng = np.random.default_rng(0)

    def letter(seed: int) -> np.ndarray:
        lines = [" ".join(rng.choice(words, int(rng.integers(4, 10)))) for _ in range(20)]
        return render_page(f"Certificate {seed}", lines)

    sets = {
        "Latin form": [np.asarray(page_template("A4", 150, v)) for v in range(per_set)],
        "Latin letter": [letter(v) for v in range(per_set)],
    }
    if cjk_font(20) is not None:
        sets["Chinese, ragged"] = [chinese_page(v) for v in range(per_set)]
        sets["Chinese, justified"] = [chinese_page(v, justified=True) for v in range(per_set)]
    print(f"orientation, {per_set} generated A4 pages per set and turn: upright / left / wrong")
    costs = []
    for name, pages in sets.items():
        row = []
        for turn in (0, 90, 180, 270):
            right = left = wrong = 0
            for page in pages:
                start = time.perf_counter()
                found = detect(_turned(page, turn))
                costs.append(time.perf_counter() - start)
                if not found.sure:
                    left += 1
                elif found.turn == turn:
                    right += 1
                else:
                    wrong += 1
            row.append(f"{turn:3d}: {right}/{left}/{wrong}")
        print(f"  {name:18s} " + ", ".join(row))
    print(f"  cost per page (1240x1754): median {np.median(costs) * 1000:.0f} ms")
    tally: dict[str, int] = {}
    for seed in range(30_000, 30_000 + per_set * 2):
        sample = generated_sample(seed, "clean", size=(2048, 1536))
        result = inspect(sample.frame, capture_scale=FULL[0] / 2048, output_dpi=150)
        if not result.ok:
            continue
        k = int(np.argmin(np.linalg.norm(result.quad.corners - sample.corners[0], axis=1)))
        truth = 90 * k  # where the page's own top-left corner came out
        verdict = "upright" if result.turn == truth else "left" if result.turn == 0 else "WRONG"
        key = f"{sample.paper} lying {truth}: {verdict}"
        tally[key] = tally.get(key, 0) + 1
    print(
        "  generated desk captures through the pipeline: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
    )


if __name__ == "__main__":
    main()
