"""The MRZ's filler characters (<) told apart by shape, and Tesseract's lines aligned to them.

Tesseract's English model often reads OCR-B's filler as K and miscounts long runs of them,
which no check digit covers in the name line. The shape settles it: a filler is a chevron
open to the right, so its left side has ink only at mid-height, its top and bottom only at the
right, and its right side only at the two arm ends; a K has a full-height stem, a C an arc
across its top. Each character of a line is one connected mark in OCR-B; the line's marks are
classified, and Tesseract's reading is aligned to them (an edit-distance alignment in which a
filler read as K is cheap), so fillers come from the shape and letters from Tesseract.
"""

from __future__ import annotations

import cv2
import numpy as np

LINE_CHARS = 44


def line_marks(ink: np.ndarray) -> list[list[tuple[int, int, int, int]]]:
    """Per text line of a binarised block (ink = 255), its marks' boxes (x, y, w, h), by x."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    boxes = [tuple(int(v) for v in stats[i, :4]) for i in range(1, count)]
    if not boxes:
        return []
    height = float(np.median([b[3] for b in boxes if b[3] >= 4] or [1]))
    boxes = [b for b in boxes if b[3] >= 0.5 * height or b[2] >= 0.5 * height]
    lines: list[list[tuple[int, int, int, int]]] = []
    for box in sorted(boxes, key=lambda b: b[1] + b[3] / 2):
        centre = box[1] + box[3] / 2
        for line in lines:
            if abs(line[0][1] + line[0][3] / 2 - centre) < 0.6 * height:
                line.append(box)
                break
        else:
            lines.append([box])
    return [sorted(_merged(line), key=lambda b: b[0]) for line in lines]


def _merged(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Pieces of one character (a mark broken by glare or noise) joined by their overlap in x."""
    out: list[list[int]] = []
    for x, y, w, h in sorted(boxes):
        if out and x < out[-1][0] + out[-1][2] - 0.3 * min(w, out[-1][2]):
            last = out[-1]
            x0, y0 = min(last[0], x), min(last[1], y)
            x1, y1 = max(last[0] + last[2], x + w), max(last[1] + last[3], y + h)
            out[-1] = [x0, y0, x1 - x0, y1 - y0]
        else:
            out.append([x, y, w, h])
    return [tuple(b) for b in out]  # type: ignore[misc]


def is_filler(ink: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether the mark in `box` is the chevron `<`."""
    x, y, w, h = box
    if w < 3 or h < 5:
        return False
    mark = ink[y : y + h, x : x + w] > 0
    band_h, band_w = max(1, round(0.18 * h)), max(1, round(0.2 * w))
    left_half = slice(0, w // 2)
    top, bottom = mark[:band_h, left_half], mark[h - band_h :, left_half]
    left = mark[:, :band_w]
    left_rows = np.flatnonzero(left.any(axis=1))
    right_mid = mark[round(0.38 * h) : round(0.62 * h), w - band_w :]
    return bool(
        not top.any()
        and not bottom.any()
        and left_rows.size
        and left_rows.min() >= 0.25 * h
        and left_rows.max() <= 0.75 * h
        and not right_mid.any()
    )


def settle(line: str, fillers: list[bool]) -> str:
    """`line` as Tesseract read it, aligned to the marks' shapes: fillers where the shape is.

    Letters cannot be checked against a shape, so what the alignment may drop cheaply is
    what Tesseract invents in filler runs: an extra `<` or a `K`.
    """
    n, m = len(line), len(fillers)

    def sub(ch: str, filler: bool) -> float:
        if filler:
            return 0.0 if ch == "<" else 0.3 if ch == "K" else 1.0
        return 1.0 if ch == "<" else 0.0

    def drop(i: int) -> float:  # the i-th character read; a K only amid fillers
        ch, near = line[i], line[max(0, i - 1) : i + 2]
        return 0.5 if ch == "<" or (ch == "K" and "<" in near) else 1.0

    cost = np.zeros((n + 1, m + 1))
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        cost[i, 0] = cost[i - 1, 0] + drop(i - 1)
        for j in range(1, m + 1):
            cost[i, j] = min(
                cost[i - 1, j - 1] + sub(line[i - 1], fillers[j - 1]),
                cost[i - 1, j] + drop(i - 1),
                cost[i, j - 1] + 1.0,
            )
    out: list[str] = []
    i, j = n, m
    while j > 0:
        if i > 0 and np.isclose(cost[i, j], cost[i - 1, j - 1] + sub(line[i - 1], fillers[j - 1])):
            out.append("<" if fillers[j - 1] else line[i - 1])
            i, j = i - 1, j - 1
        elif i > 0 and np.isclose(cost[i, j], cost[i - 1, j] + drop(i - 1)):
            i -= 1  # a character Tesseract saw that is not there
        else:
            out.append("<" if fillers[j - 1] else "?")  # a mark Tesseract missed
            j -= 1
    return "".join(reversed(out))


def place(
    marks: list[tuple[int, int, int, int]],
    fillers: list[bool],
    chars: list[tuple[str, float, float]],
) -> str:
    """One character per mark: a filler by its shape, else the character Tesseract placed on
    it (`chars` are (character, centre x, centre y) in block pixels), `?` if none."""
    out = []
    for box, filler in zip(marks, fillers, strict=True):
        if filler:
            out.append("<")
            continue
        x, y, w, h = box
        on = [
            (abs(cx - (x + w / 2)), ch)
            for ch, cx, cy in chars
            if x - 0.15 * w <= cx <= x + 1.15 * w and y - 0.3 * h <= cy <= y + 1.3 * h
        ]
        out.append(min(on)[1] if on else "?")
    return "".join(out)


def settle_lines(
    ink: np.ndarray, lines: list[str], chars: list[tuple[str, float, float]] | None = None
) -> list[str]:
    """Tesseract's reading settled against the block's marks, where two lines of 44 are found:
    placed mark by mark when its character positions are known, else aligned line by line."""
    marks = [m for m in line_marks(ink) if len(m) == LINE_CHARS]
    if len(marks) != 2:
        return lines
    shapes = [[is_filler(ink, box) for box in line] for line in marks]
    if chars:
        return [place(m, s, chars) for m, s in zip(marks, shapes, strict=True)]
    if len(lines) < 2:
        return lines
    return lines[:-2] + [settle(text, s) for text, s in zip(lines[-2:], shapes, strict=True)]
