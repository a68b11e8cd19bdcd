"""Finding the page in a frame: its four corners, to a fraction of a pixel.

Three detectors propose quadrilaterals on a downscaled copy (at most `WORK_SIDE` pixels):
edges (Canny, contours, polygon approximation), paper segmentation (bright and colourless
against the desk) and background segmentation (colour distance from the frame's border).
Each proposal is scored by how much of its outline lies on a real edge; the best one is then
refined in the full frame: the edge is located along the normal of each side at many points
(sub-pixel, by a parabola through the gradient peak), a robust line is fitted per side, and
the corners are the intersections of adjacent lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from terminal.materials.frames import as_rgb8

WORK_SIDE = 640  # detection runs at this size; refinement uses the full frame
MIN_AREA = 0.02  # a page covers at least this fraction of the frame
MIN_SUPPORT = 0.55  # share of the outline that must lie on an edge


@dataclass(frozen=True)
class PageQuad:
    """A page found in a frame."""

    corners: np.ndarray  # (4, 2) float64, clockwise from the top-left, frame pixels
    frame_size: tuple[int, int]  # (width, height) of the frame it was found in
    touches_border: bool  # the visible page runs into the frame's edge
    method: str  # which detector proposed it: edges, paper or background
    support: float  # share of the outline backed by an edge, 0..1

    @property
    def area_fraction(self) -> float:
        """The page's share of the frame."""
        w, h = self.frame_size
        return float(cv2.contourArea(self.corners.astype(np.float32))) / float(w * h)

    def scaled(self, factor: float, frame_size: tuple[int, int]) -> PageQuad:
        """The same quad in a frame `factor` times larger (preview to full resolution)."""
        corners = (self.corners + 0.5) * factor - 0.5
        return PageQuad(corners, frame_size, self.touches_border, self.method, self.support)


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left (clockwise on screen)."""
    pts = np.asarray(points, np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angle = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angle)]  # clockwise on screen (y grows downwards)
    first = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -first, axis=0)


def find_page(frame: object) -> PageQuad | None:
    """The most credible page outline in the frame, or None (also for unusable frames)."""
    rgb = as_rgb8(frame)
    if rgb is None:
        return None
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = (
        rgb
        if scale == 1.0
        else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )
    gray_small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    if int(gray_small.max()) - int(gray_small.min()) < 20:
        return None  # a flat frame: lens cap, empty white tray, black screen
    gx = cv2.Sobel(gray_small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray_small, cv2.CV_32F, 0, 1, ksize=3)
    whole: list[tuple[float, np.ndarray, str, float, float]] = []  # complete outlines
    cut: list[tuple[float, np.ndarray, str, float, float]] = []  # outlines running off
    for method, contours in (
        ("edges", _edge_contours(gray_small)),
        ("paper", _paper_contours(small)),
        ("background", _background_contours(small)),
    ):
        for contour in contours:
            quad = _quad_from_contour(contour)
            if quad is None:
                continue
            area = cv2.contourArea(quad.astype(np.float32)) / gray_small.size
            if area < MIN_AREA:
                continue
            sides = _border_sides(contour, gray_small.shape)
            if sides == 4:
                continue  # touching all four edges: the desk's texture, or nothing to frame
            support = _edge_support(quad, gx, gy, gray_small.shape)
            if support < MIN_SUPPORT:
                continue
            entry = (support * np.sqrt(area), quad, method, support, area)
            (cut if sides else whole).append(entry)
    best_whole = max(whole, key=lambda e: e[0], default=None)
    best_cut = max(cut, key=lambda e: e[0], default=None)
    # A complete outline wins, unless it is only a block of print inside a page that runs
    # off the frame.
    touches = best_whole is None or (
        best_cut is not None
        and best_cut[4] > 1.5 * best_whole[4]
        and cv2.pointPolygonTest(
            best_cut[1].astype(np.float32).reshape(-1, 1, 2),
            tuple(float(v) for v in best_whole[1].mean(axis=0)),
            False,
        )
        >= 0
    )
    best = best_cut if touches else best_whole
    if best is None:
        return None
    _, quad, method, support, _ = best
    corners = (order_corners(quad) + 0.5) / scale - 0.5
    if not touches:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        corners = _refine(gray, corners, search=2.5 / scale + 2.0)
        margin = max(1.5, 0.003 * min(w, h))
        outside = (corners < margin) | (corners > np.array([w, h]) - 1 - margin)
        touches = bool(outside.any())
    return PageQuad(corners, (w, h), touches, method, float(support))


# ------------------------------------------------------------------ proposals


def _edge_contours(gray: np.ndarray) -> list[np.ndarray]:
    blur = cv2.GaussianBlur(gray, (5, 5), 0)
    edges = cv2.Canny(blur, 30, 90, L2gradient=True)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return sorted(contours, key=cv2.contourArea, reverse=True)[:4]


def _paper_contours(rgb: np.ndarray) -> list[np.ndarray]:
    """Paper is brighter and less coloured than desks, cloth and wood."""
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.int16)
    chroma = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    score = np.clip(lum - 2 * chroma, 0, 255).astype(np.uint8)
    return _mask_contours(cv2.GaussianBlur(score, (7, 7), 0))


def _background_contours(rgb: np.ndarray) -> list[np.ndarray]:
    """Whatever differs in colour from the frame's border strip, where the desk shows."""
    h, w = rgb.shape[:2]
    b = max(2, min(h, w) // 40)
    strip = np.concatenate(
        [
            rgb[:b].reshape(-1, 3),
            rgb[-b:].reshape(-1, 3),
            rgb[:, :b].reshape(-1, 3),
            rgb[:, -b:].reshape(-1, 3),
        ]
    )
    desk = np.median(strip[:: max(1, len(strip) // 2000)], axis=0)
    diff = cv2.absdiff(rgb, np.full_like(rgb, 0) + desk.astype(np.uint8))
    dist = cv2.transform(diff, np.array([[0.4, 0.4, 0.4]], np.float32))
    return _mask_contours(cv2.GaussianBlur(dist, (7, 7), 0))


def _mask_contours(score: np.ndarray) -> list[np.ndarray]:
    _, mask = cv2.threshold(score, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = max(3, min(score.shape) // 60) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return sorted(contours, key=cv2.contourArea, reverse=True)[:2]


def _quad_from_contour(contour: np.ndarray) -> np.ndarray | None:
    hull = cv2.convexHull(contour)
    if len(hull) < 4:
        return None
    peri = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float64)
        if len(approx) < 4:
            break
    # A cut or rounded outline: the tightest rectangle still says where the page is.
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)


def _border_sides(contour: np.ndarray, shape: tuple[int, ...]) -> int:
    """How many of the frame's four edges the outline runs into."""
    h, w = shape[:2]
    pts = contour.reshape(-1, 2)
    return (
        int((pts[:, 0] <= 1).any())
        + int((pts[:, 1] <= 1).any())
        + int((pts[:, 0] >= w - 2).any())
        + int((pts[:, 1] >= h - 2).any())
    )


def _edge_support(quad: np.ndarray, gx: np.ndarray, gy: np.ndarray, shape) -> float:
    """Share of points along the outline with a clear step across it."""
    h, w = shape[:2]
    hits = total = 0
    for i in range(4):
        p0, p1 = quad[i], quad[(i + 1) % 4]
        length = float(np.linalg.norm(p1 - p0))
        if length < 2:
            return 0.0
        t = (p1 - p0) / length
        n = np.array([-t[1], t[0]])
        s = np.linspace(0.05, 0.95, 32)[:, None]
        pts = p0 + s * (p1 - p0)
        # Where the outline runs along the frame's edge there is nothing to see: skip it.
        inner = (pts[:, 0] > 3) & (pts[:, 0] < w - 4) & (pts[:, 1] > 3) & (pts[:, 1] < h - 4)
        pts = pts[inner]
        if len(pts) == 0:
            continue
        best = np.zeros(len(pts))
        for off in (-1.5, 0.0, 1.5):
            q = np.rint(pts + off * n).astype(int)
            inside = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
            qx, qy = np.clip(q[:, 0], 0, w - 1), np.clip(q[:, 1], 0, h - 1)
            g = (gx[qy, qx] * n[0] + gy[qy, qx] * n[1]) / 8.0
            g = np.where(inside, g, 0.0)
            best = np.where(np.abs(g) > np.abs(best), g, best)
        # A page edge steps the same way all along a side; texture steps both ways.
        sign = 1.0 if (best > 0).sum() >= (best < 0).sum() else -1.0
        hits += int((best * sign > 6.0).sum())
        total += len(pts)
    return hits / total if total >= 16 else 0.0


# ------------------------------------------------------------------ refinement


def _refine(gray: np.ndarray, corners: np.ndarray, search: float) -> np.ndarray:
    """Corners as intersections of lines fitted to sub-pixel edge points along each side."""
    lines = []
    g = gray.astype(np.float32)
    centre = corners.mean(axis=0)
    for i in range(4):
        line = _fit_side(g, corners[i], corners[(i + 1) % 4], centre, search)
        if line is None:
            return corners
        lines.append(line)
    refined = np.array([_intersect(lines[i - 1], lines[i]) for i in range(4)])
    if not np.isfinite(refined).all():
        return corners
    if np.max(np.linalg.norm(refined - corners, axis=1)) > 2.0 * search:
        return corners
    return refined


def _fit_side(g, p0, p1, centre, search):
    length = float(np.linalg.norm(p1 - p0))
    if length < 8:
        return None
    t = (p1 - p0) / length
    n = np.array([-t[1], t[0]])
    if np.dot((p0 + p1) / 2 - centre, n) < 0:
        n = -n  # outward
    count = int(np.clip(length / 6, 16, 64))
    s = np.linspace(0.06, 0.94, count)
    base = p0[None, :] + s[:, None] * (p1 - p0)[None, :]
    offs = np.arange(-np.ceil(search), np.ceil(search) + 1.0)
    along = np.array([-1.0, 0.0, 1.0])
    pts = (
        base[:, None, None, :]
        + offs[None, :, None, None] * n[None, None, None, :]
        + along[None, None, :, None] * t[None, None, None, :]
    )
    mx = pts[..., 0].astype(np.float32).reshape(count, -1)
    my = pts[..., 1].astype(np.float32).reshape(count, -1)
    prof = cv2.remap(g, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    prof = prof.reshape(count, len(offs), len(along)).mean(axis=2)
    d = np.diff(prof, axis=1)  # derivative between samples k and k+1, outward
    # The page edge steps the same way all along a side; text strokes step both ways.
    sign = 1.0 if np.sum(np.clip(d, 0, None) ** 2) > np.sum(np.clip(-d, 0, None) ** 2) else -1.0
    a = d * sign
    j = np.argmax(a, axis=1)
    strength = a[np.arange(count), j]
    keep = (j > 0) & (j < a.shape[1] - 1) & (strength > max(3.0, 0.35 * np.median(strength)))
    if keep.sum() < 6:
        return None
    rows = np.nonzero(keep)[0]
    jj = j[rows]
    left, mid, right = a[rows, jj - 1], a[rows, jj], a[rows, jj + 1]
    den = left - 2 * mid + right
    delta = np.where(np.abs(den) > 1e-6, 0.5 * (left - right) / den, 0.0)
    offset = offs[jj] + 0.5 + np.clip(delta, -0.5, 0.5)
    edge = base[rows] + offset[:, None] * n[None, :]
    return _robust_line(edge, strength[rows])


def _robust_line(points: np.ndarray, weights: np.ndarray):
    """(point, direction) of a weighted total-least-squares line, refitted without outliers."""
    keep = np.ones(len(points), bool)
    for _ in range(3):
        w = weights[keep]
        p = points[keep]
        c = (p * w[:, None]).sum(axis=0) / w.sum()
        cov = ((p - c) * w[:, None]).T @ (p - c)
        _, vecs = np.linalg.eigh(cov)
        direction = vecs[:, 1]
        normal = vecs[:, 0]
        resid = np.abs((points - c) @ normal)
        mad = np.median(resid[keep]) * 1.4826 + 0.3
        new = resid < max(1.0, 2.5 * mad)
        if new.sum() < 6 or (new == keep).all():
            break
        keep = new
    return c, direction


def _intersect(l1, l2) -> np.ndarray:
    (p, r), (q, s) = l1, l2
    cross = r[0] * s[1] - r[1] * s[0]
    if abs(cross) < 1e-6:
        return np.array([np.nan, np.nan])
    u = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / cross
    return p + u * r
