"""One frame in, one verdict and (if wanted) one finished page out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terminal.materials.formats import PageFormat, classify, true_aspect
from terminal.materials.frames import as_rgb8
from terminal.materials.orientation import upright
from terminal.materials.quad import PageQuad, find_page
from terminal.materials.quality import effective_dpi, geometry_reasons, image_reasons
from terminal.materials.rectify import enhance, page_size, rectify

ANALYSIS_DPI = 150.0  # blur and glare are judged at what the clerk must be able to read
OUTPUT_DPI = 150.0  # pages are kept at this, or at what the camera gives if less
CARD_DPI = 300.0  # cards are small and finely printed: keep them sharper
EDGE_TRIM = 0.004  # of the page, trimmed all round so no sliver of desk shows at the edges


@dataclass(frozen=True)
class PageResult:
    """The verdict on one frame: reasons (empty when good), what was found, and the page."""

    reasons: tuple[str, ...]
    quad: PageQuad | None = None
    format: PageFormat | None = None
    dpi: float | None = None  # the page's resolution at capture size
    page: np.ndarray | None = None  # straightened, enhanced RGB (asked for, and accepted)
    page_dpi: float | None = None
    turn: int = 0  # degrees clockwise the page lay turned; the kept page is upright

    @property
    def ok(self) -> bool:
        return not self.reasons

    def __repr__(self) -> str:  # never dump pixels (scans are personal data)
        fmt = self.format.name if self.format else None
        return f"PageResult(reasons={self.reasons}, format={fmt}, dpi={self.dpi}, turn={self.turn})"


def inset(corners: np.ndarray, fraction: float) -> np.ndarray:
    """The corners pulled towards the page centre by `fraction` of their distance."""
    c = np.asarray(corners, np.float64)
    centre = c.mean(axis=0)
    return centre + (c - centre) * (1.0 - 2.0 * fraction)


def page_format(
    quad: PageQuad, capture_scale: float = 1.0, px_per_mm: float | None = None
) -> PageFormat:
    """The page's paper format from its true aspect ratio (and size, when the scale is known)."""
    ratio = true_aspect(quad.corners, quad.frame_size)
    long_mm = None
    if px_per_mm:
        c = quad.corners
        long_px = max(float(np.linalg.norm(c[(i + 1) % 4] - c[i])) for i in range(4))
        long_mm = long_px * capture_scale / px_per_mm
    return classify(ratio, long_mm)


def inspect(
    frame: object,
    *,
    capture_scale: float = 1.0,
    px_per_mm: float | None = None,
    quad: PageQuad | None = None,
    judge_image: bool = True,
    output_dpi: float | None = None,
    turn_upright: bool = True,
) -> PageResult:
    """Find and judge the page; with `output_dpi`, also produce the finished page, upright."""
    rgb = as_rgb8(frame)
    if rgb is None:
        return PageResult(("no_page",))
    if quad is None:
        quad = find_page(rgb)
    if quad is None:
        return PageResult(("no_page",))
    fmt = page_format(quad, capture_scale, px_per_mm)
    dpi = effective_dpi(quad, fmt, capture_scale)
    reasons = geometry_reasons(quad, fmt, capture_scale)
    if judge_image and "cut_off" not in reasons:
        frame_dpi = dpi / capture_scale if dpi else None
        analysis_dpi = min(ANALYSIS_DPI, frame_dpi) if frame_dpi else ANALYSIS_DPI
        size = page_size(quad.corners, quad.frame_size, fmt, analysis_dpi if dpi else None)
        if not dpi:  # unknown size: judge at native resolution, capped like a known page
            long_px = ANALYSIS_DPI * 11.7
            shrink = min(1.0, long_px / max(size))
            size = (max(8, round(size[0] * shrink)), max(8, round(size[1] * shrink)))
        analysis = rectify(rgb, quad.corners, size)
        reasons += image_reasons(analysis, analysis_dpi)
    page = page_dpi = None
    turn = 0
    if output_dpi is not None and not reasons:  # a refused page is not worth straightening
        target = max(output_dpi, CARD_DPI) if fmt.name == "ID-1" else output_dpi
        page_dpi = min(target, dpi) if dpi else None
        size = page_size(quad.corners, quad.frame_size, fmt, page_dpi)
        page = enhance(rectify(rgb, inset(quad.corners, EDGE_TRIM), size), fmt)
        if turn_upright:
            page, found = upright(page)
            turn = found.turn if found.sure else 0
    return PageResult(tuple(reasons), quad, fmt, dpi, page, page_dpi, turn)


def process_frame(
    frame: object,
    *,
    capture_scale: float = 1.0,
    px_per_mm: float | None = None,
    output_dpi: float = OUTPUT_DPI,
) -> PageResult:
    """The full pipeline on one full-resolution frame: find, judge, straighten, enhance, turn
    upright."""
    return inspect(frame, capture_scale=capture_scale, px_per_mm=px_per_mm, output_dpi=output_dpi)
