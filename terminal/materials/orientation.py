"""Which way up is a straightened page? Turned 0, 90, 180 or 270 degrees, or "not sure".

A sheet placed sideways or upside down comes out of `rectify` just as it lay. The print tells
which way is up:

1. **Line direction** (0/180 against 90/270). Ink is smeared along each axis by about one
   character height: along the lines, the letters (or the Chinese characters) of a line run
   together into one long bar; across them they do not, because the gap between lines is
   larger than the gap between characters. The axis that merges the ink into far fewer pieces
   is the direction of the lines.
2. **Up or down** (0 against 180), with the lines made horizontal, from two cues that hold
   for Chinese and Latin print alike or stay neutral:
   - *alignment*: lines start at one margin and end raggedly (left-aligned text, short last
     lines of paragraphs, short form lines). The margin where line starts line up is the
     left one. Fully justified text gives nothing here.
   - *ascenders*: in Latin print more ink rises above the x-height band (b d f h k l t and
     capitals) than hangs below it (g j p q y). Chinese characters fill their square evenly
     and give nothing here.
   When the cues disagree, or none is clear, the page is left as it lay: a wrong turn is
   worse than none.

Red and other coloured ink (seals) is left out, as are pictures and ruled frames much larger
than print.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from terminal.materials.frames import as_rgb8

WORK_SIDE = 1000  # pages are judged at most this long (about 85 dpi for A4 at 150 dpi)
AXIS_RATIO = 2.0  # one axis must merge the ink into this many times fewer pieces
ALIGN_MARGIN = 0.25  # share of lines more aligned at one margin than at the other
ASCENDER_MARGIN = 0.12  # (above - below) / (above + below) for the Latin cue to count
X_BAND = 0.7  # a line whose densest rows span more than this of its height has no x-height
LATIN_SHARE = 0.6  # of the lines must have an x-height band for the ascender cue
INDENT_MARGIN = 0.3  # indents more alike than short line ends by this share
MIN_LINES = 3


@dataclass(frozen=True)
class Orientation:
    """How far the page is turned clockwise from upright, and the evidence."""

    turn: int  # 0, 90, 180 or 270; 0 also when not sure
    sure: bool  # False: the print did not tell clearly, the page is left as it lay
    axis_ratio: float = 0.0  # pieces across the lines / pieces along them (> 1: horizontal)
    alignment: float = 0.0  # > 0: line starts line up at the left (upright)
    ascenders: float = 0.0  # > 0: more ink above the x-height band than below (upright)
    indents: float = 0.0  # > 0: the inward line starts are alike, the short ends are not
    lines: int = 0


def ink_mask(page: np.ndarray) -> np.ndarray:
    """Dark, colourless print as 0/255, at most WORK_SIDE long; seals and pictures left out."""
    rgb = as_rgb8(page)
    if rgb is None:
        return np.zeros((1, 1), np.uint8)
    scale = min(1.0, WORK_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    chroma = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    block = max(15, (min(gray.shape) // 12) | 1)
    dark = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12
    )
    dark[chroma > 60] = 0
    _n, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    h, w = dark.shape
    big = (stats[:, cv2.CC_STAT_WIDTH] > 0.25 * w) & (stats[:, cv2.CC_STAT_HEIGHT] > 0.05 * h)
    big |= (stats[:, cv2.CC_STAT_HEIGHT] > 0.25 * h) & (stats[:, cv2.CC_STAT_WIDTH] > 0.05 * w)
    tiny = stats[:, cv2.CC_STAT_AREA] < 3
    drop = big | tiny
    drop[0] = True
    keep = ~drop[labels]
    return np.where(keep, 255, 0).astype(np.uint8)


def _glyph_height(mask: np.ndarray) -> float:
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n < 2:
        return 0.0
    return float(np.median(stats[1:, cv2.CC_STAT_HEIGHT]))


def _pieces(mask: np.ndarray, kernel: tuple[int, int]) -> int:
    smeared = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
    n, _ = cv2.connectedComponents(smeared, connectivity=8)
    return n - 1


def _line_boxes(mask: np.ndarray, glyph: float) -> np.ndarray:
    """(x0, y0, x1, y1) of each text line, from the ink smeared along the lines."""
    k = max(3, round(1.2 * glyph))
    smeared = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1))
    )
    _n, _, stats, _ = cv2.connectedComponentsWithStats(smeared, connectivity=8)
    boxes = []
    for x, y, w, h, _area in stats[1:]:
        if w >= 3 * h and h >= 0.5 * glyph and h <= 4 * glyph:
            boxes.append((x, y, x + w, y + h))
    return np.array(boxes, np.float64).reshape(-1, 4)


def _aligned_share(edges: np.ndarray, tol: float) -> float:
    """The largest share of line edges lying within `tol` of one position."""
    if len(edges) == 0:
        return 0.0
    return max(float(np.mean(np.abs(edges - e) <= tol)) for e in edges)


def _ascenders(mask: np.ndarray, boxes: np.ndarray) -> float:
    """(ink above the x-height band - ink below) / (both), over lines that have such a band.

    A line has an x-height band when its densest rows span well under its height (Latin
    print); Chinese characters fill their square and their lines are skipped.
    """
    above = below = 0.0
    banded = 0
    for x0, y0, x1, y1 in boxes.astype(int):
        profile = mask[y0:y1, x0:x1].sum(axis=1).astype(np.float64)
        if profile.size < 4 or profile.max() <= 0:
            continue
        core = np.flatnonzero(profile >= 0.5 * profile.max())
        top, bottom = core[0], core[-1]
        if (bottom - top + 1) > X_BAND * profile.size:
            continue
        banded += 1
        above += profile[:top].sum()
        below += profile[bottom + 1 :].sum()
    total = above + below
    if banded < LATIN_SHARE * len(boxes) or total <= 0:
        return 0.0  # not Latin print (or too little of it): no opinion
    return (above - below) / total


def _indents(starts: np.ndarray, ends: np.ndarray, tol: float) -> float:
    """How much more alike the indented line starts are than the short line ends (-1..1).

    Paragraphs set flush on both sides (common in Chinese) still begin with an indent of a
    fixed width (two characters) and end with a last line of any length. Turned upside down,
    the fixed offsets appear at the line ends instead.
    """

    def consistency(offsets: np.ndarray) -> float | None:
        inward = offsets[offsets > tol]
        if len(inward) < 2:
            return None
        return _aligned_share(inward, tol)

    left = consistency(starts - starts.min())
    right = consistency(ends.max() - ends)
    if left is None or right is None:
        return 0.0
    return left - right


def _up_or_down(mask: np.ndarray, glyph: float) -> tuple[int | None, float, float, float, int]:
    """0 (upright), 180, or None (not sure), with the alignment and ascender cues."""
    boxes = _line_boxes(mask, glyph)
    lines = len(boxes)
    if lines < MIN_LINES:
        return None, 0.0, 0.0, 0.0, lines
    height = float(np.median(boxes[:, 3] - boxes[:, 1]))
    tol = max(2.0, 0.75 * height)
    alignment = _aligned_share(boxes[:, 0], tol) - _aligned_share(boxes[:, 2], tol)
    ascenders = _ascenders(mask, boxes)
    indents = _indents(boxes[:, 0], boxes[:, 2], tol)
    votes = []
    for value, margin in (
        (alignment, ALIGN_MARGIN),
        (ascenders, ASCENDER_MARGIN),
        (indents, INDENT_MARGIN),
    ):
        if abs(value) >= margin:
            votes.append(0 if value > 0 else 180)
    if not votes or len(set(votes)) > 1:
        return None, alignment, ascenders, indents, lines
    return votes[0], alignment, ascenders, indents, lines


def detect(page: np.ndarray) -> Orientation:
    """How the page is turned; `sure` only when the print says so clearly."""
    mask = ink_mask(page)
    glyph = _glyph_height(mask)
    if glyph < 2 or not mask.any():
        return Orientation(0, False)
    k = max(3, round(glyph))
    along_rows = _pieces(mask, (k, 1))  # smeared sideways: horizontal lines merge
    along_cols = _pieces(mask, (1, k))
    if min(along_rows, along_cols) == 0:
        return Orientation(0, False)
    ratio = along_cols / along_rows
    if ratio >= AXIS_RATIO:
        up, align, asc, ind, lines = _up_or_down(mask, glyph)
        turn = up
    elif ratio <= 1.0 / AXIS_RATIO:
        up, align, asc, ind, lines = _up_or_down(np.ascontiguousarray(np.rot90(mask, 1)), glyph)
        turn = None if up is None else (90 if up == 0 else 270)
    else:
        return Orientation(0, False, ratio)
    if turn is None:
        return Orientation(0, False, ratio, align, asc, ind, lines)
    return Orientation(turn, True, ratio, align, asc, ind, lines)


def upright(page: np.ndarray) -> tuple[np.ndarray, Orientation]:
    """The page turned upright when the print says so clearly; else as it was."""
    found = detect(page)
    if not found.sure or found.turn == 0:
        return page, found
    return np.ascontiguousarray(np.rot90(page, found.turn // 90)), found
