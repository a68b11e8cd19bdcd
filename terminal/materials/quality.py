"""Is this page good enough for a clerk? Checks, and the reasons a citizen is told.

Geometry checks look at the found corners: a page running out of the picture (`cut_off`), too
few pixels for its paper size (`too_small`: under 150 dpi at capture resolution, or under
15 % of the frame when the size is unknown), or a strong perspective (`skewed`: opposite
sides differing by more than 20 %, or a corner off square by more than 18 degrees).

Image checks look at the straightened page at the resolution a clerk will get (at most
150 dpi): `blurred` is judged on text only. Text strokes are found with a black-hat filter,
their edges with Canny, and the spread of each edge is estimated from its steepest gradient
against its local contrast; for a Gaussian-blurred step, spread = contrast / (√(2π) · slope).
Edges are grouped by orientation (hand motion smears one direction only) and the worst
group's median decides: above `MAX_SPREAD_PX` (measured after a 0.8 px denoising blur, about
0.3 mm at 150 dpi) the page is blurred, which is where 10-point print stops being legible.
A global Laplacian would instead score the desk, the page border and the noise.

`glare` is judged by what a clerk loses under a highlight, whatever its shape. Either a
burnt-out white patch: channels all saturated, clearly brighter than the page's paper and
standing out from a ring of paper around it (median at most 240: a strongly lit page edge
brightens its surroundings too, a reflection does not), covering more than `GLARE_AREA` of
the page. Or a washed-out area: the page is cut into 8 mm cells, each measured for its paper
(90th percentile) and its print contrast (paper minus the 2nd percentile); a cell is washed
out when it is brighter than the page's paper and keeps under 35 % of the page's usual print
contrast. A washed-out area is lost text, not bare paper, when the print around it fades into
it (a quarter or more of the print cells bordering it keep only 35-75 % of their contrast):
a soft reflection lifts the ink gradually towards its middle, while a lamp that merely lights
one side strongly leaves every letter there black. Such areas covering more than
`WASHED_AREA` of the page are glare.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from terminal.materials.formats import PageFormat
from terminal.materials.quad import PageQuad

MIN_DPI = 150.0
MIN_AREA_UNKNOWN = 0.15
MAX_SIDE_RATIO = 0.8  # shorter/longer opposite side below this is "skewed"
MAX_CORNER_DEGREES = 18.0
MAX_SPREAD_PX = 2.1
DENOISE_SIGMA = 0.8
GLARE_AREA = 0.001
WASHED_AREA = 0.02  # of the page; soft reflections over print measure 0.13 and more
CELL_MM = 8.0  # the washed-out check's cell: a word or two of body text
MIN_WASHED_CELLS = 4  # a smaller washed area is a gap between words, not a reflection
MIN_TEXT_SHARE = 0.002  # of the page; less than this and blur cannot be judged


@dataclass(frozen=True)
class Reason:
    """What is wrong, as a stable code; the citizen's words are the catalogs' `key`."""

    code: str

    @property
    def key(self) -> str:
        return f"scan.reason.{self.code}"


# Every reason a page can be refused or guided for; the kiosk's catalogs word each one.
REASONS: dict[str, Reason] = {
    code: Reason(code)
    for code in ("no_page", "cut_off", "too_small", "skewed", "blurred", "glare", "replace_page")
}


def effective_dpi(quad: PageQuad, fmt: PageFormat, capture_scale: float = 1.0) -> float | None:
    """Dots per inch the page gets at capture resolution, at its worst-resolved side."""
    if not fmt.known:
        return None
    c = quad.corners
    sides = [float(np.linalg.norm(c[(i + 1) % 4] - c[i])) for i in range(4)]
    a, b = min(sides[0], sides[2]), min(sides[1], sides[3])
    long_px, short_px = (a, b) if sides[0] + sides[2] >= sides[1] + sides[3] else (b, a)
    dpi = min(long_px / (fmt.long_mm / 25.4), short_px / (fmt.short_mm / 25.4))
    return dpi * capture_scale


def geometry_reasons(quad: PageQuad, fmt: PageFormat, capture_scale: float = 1.0) -> list[str]:
    """cut_off, too_small and skewed, from the corners alone."""
    reasons = []
    if quad.touches_border:
        reasons.append("cut_off")
    dpi = effective_dpi(quad, fmt, capture_scale)
    if (dpi is not None and dpi < MIN_DPI) or (
        dpi is None and quad.area_fraction < MIN_AREA_UNKNOWN
    ):
        reasons.append("too_small")
    if not quad.touches_border and skew(quad.corners) > 0:
        reasons.append("skewed")
    return reasons


def skew(corners: np.ndarray) -> float:
    """How far past the skew limits the outline is (0 if within them)."""
    c = np.asarray(corners, np.float64)
    sides = [float(np.linalg.norm(c[(i + 1) % 4] - c[i])) for i in range(4)]
    ratio = min(
        min(sides[0], sides[2]) / max(sides[0], sides[2], 1e-9),
        min(sides[1], sides[3]) / max(sides[1], sides[3], 1e-9),
    )
    worst = 0.0
    for i in range(4):
        u, v = c[i - 1] - c[i], c[(i + 1) % 4] - c[i]
        cos = float(np.dot(u, v) / max(1e-9, np.linalg.norm(u) * np.linalg.norm(v)))
        worst = max(worst, abs(90.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))))
    return max(0.0, MAX_SIDE_RATIO - ratio) + max(0.0, worst - MAX_CORNER_DEGREES) / 90.0


def text_mask(gray: np.ndarray, dpi: float) -> np.ndarray:
    """Pixels of dark print (strokes thinner than ~2.5 mm) on lighter paper."""
    k = int(np.clip(round(2.5 / 25.4 * dpi), 5, 31)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    hat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    otsu, _ = cv2.threshold(hat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (hat > max(20.0, otsu)).astype(np.uint8)


def text_edge_spread(page: np.ndarray, dpi: float) -> float | None:
    """Median edge spread (pixels, Gaussian sigma) of text strokes; None if there is no text."""
    gray = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY) if page.ndim == 3 else page
    mask = text_mask(gray, dpi)
    if mask.mean() < MIN_TEXT_SHARE:
        return None
    region = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), DENOISE_SIGMA)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    slope = cv2.magnitude(gx, gy)
    win = np.ones((13, 13), np.uint8)
    contrast = cv2.dilate(g, win) - cv2.erode(g, win)
    edges = cv2.Canny(gray, 20, 50, L2gradient=True) > 0
    pick = edges & (region > 0) & (contrast > 40.0)
    if pick.sum() < 50:
        return None
    ratio = slope[pick] / contrast[pick]
    # Hand motion smears one direction only: judge each edge orientation, keep the worst.
    octant = (np.floor(np.arctan2(gy[pick], gx[pick]) % np.pi / (np.pi / 4)).astype(int)) % 4
    spreads = [
        1.0 / (np.sqrt(2 * np.pi) * max(1e-6, float(np.median(ratio[octant == k]))))
        for k in range(4)
        if (octant == k).sum() >= 30
    ]
    return max(spreads) if spreads else None


def glare_share(page: np.ndarray) -> float:
    """Share of the page burnt out by a highlight that stands out from the paper around it."""
    low = page.min(axis=2) if page.ndim == 3 else page
    paper = float(np.percentile(low, 60))
    burnt = ((low >= 250) & (low >= paper + 12)).astype(np.uint8)
    burnt = cv2.morphologyEx(burnt, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(burnt, connectivity=8)
    k = max(5, round(0.03 * min(low.shape[:2]))) | 1
    near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k // 3 | 1, k // 3 | 1))
    far = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    worst = 0
    for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:5] + 1:
        area = int(stats[i, cv2.CC_STAT_AREA])
        if area <= worst:
            break
        x, y, w, h = (int(v) for v in stats[i, :4])
        pad = k + 2
        y0, x0 = max(0, y - pad), max(0, x - pad)
        blob = (labels[y0 : y + h + pad, x0 : x + w + pad] == i).astype(np.uint8)
        ring = cv2.dilate(blob, far) & ~cv2.dilate(blob, near) & 1
        around = low[y0 : y + h + pad, x0 : x + w + pad][ring > 0]
        # Light that is merely strong brightens the paper around too; a reflection does not.
        if around.size and float(np.median(around)) <= 240:
            worst = area
    return worst / float(low.size)


def print_cells(gray: np.ndarray, dpi: float) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of `CELL_MM`: the paper level (90th percentile) and the darkest print (2nd)."""
    t = max(6, round(CELL_MM / 25.4 * dpi))
    rows, cols = gray.shape[0] // t, gray.shape[1] // t
    if rows == 0 or cols == 0:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    cells = gray[: rows * t, : cols * t].reshape(rows, t, cols, t).swapaxes(1, 2)
    cells = cells.reshape(rows, cols, -1)
    n = cells.shape[2]
    lo, hi = int(0.02 * n), int(0.9 * n)
    part = np.partition(cells, (lo, hi), axis=2)
    return part[..., hi].astype(np.float32), part[..., lo].astype(np.float32)


def washed_share(page: np.ndarray, dpi: float) -> float:
    """Share of the page washed out by a highlight that the print around it fades into."""
    gray = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY) if page.ndim == 3 else page
    paper, ink = print_cells(gray, dpi)
    if paper.size == 0:
        return 0.0
    contrast = paper - ink
    usual = float(np.percentile(contrast, 85))  # print covers most cells of a page
    if usual < 40.0:  # no print to lose
        return 0.0
    level = float(np.median(paper))
    bright = paper >= level + 0.35 * (255.0 - level)
    printed = contrast >= 0.35 * usual
    washed = bright & ~printed
    faded = bright & printed & (contrast < 0.75 * usual)
    count, labels = cv2.connectedComponents(washed.astype(np.uint8), connectivity=8)
    lost = 0
    for i in range(1, count):
        area = labels == i
        if area.sum() < MIN_WASHED_CELLS:
            continue
        ring = (cv2.dilate(area.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~area
        around = ring & printed
        # Print fading into the area is what a reflection does; bare paper beside it is not.
        if around.sum() >= 3 and faded[around].mean() >= 0.25:
            lost += int(area.sum())
    return lost / float(washed.size)


def has_glare(page: np.ndarray, dpi: float) -> bool:
    """A burnt-out patch, or print washed out under a soft highlight."""
    return glare_share(page) > GLARE_AREA or washed_share(page, dpi) > WASHED_AREA


def image_reasons(page: np.ndarray, dpi: float) -> list[str]:
    """blurred and glare, on the straightened page at `dpi` (its analysis resolution)."""
    reasons = []
    spread = text_edge_spread(page, dpi)
    if spread is not None and spread > MAX_SPREAD_PX:
        reasons.append("blurred")
    if has_glare(page, dpi):
        reasons.append("glare")
    return reasons
