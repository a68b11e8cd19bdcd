"""Paper formats: the page's true aspect ratio from its perspective image, and its name.

The aspect ratio of a rectangle seen in perspective is not the ratio of its image sides. With
the principal point at the frame centre and square pixels, the focal length and the true
ratio follow from the four corners alone (Zhang & He, "Whiteboard scanning and image
enhancement", 2007). When the page is seen nearly square-on the focal length is ill-determined,
but then the ratio hardly depends on it, so it is clamped to what cameras have.

A measured long/short ratio within `RATIO_TOLERANCE` (relative) of a known format names it:
ISO A (√2 ≈ 1.414; A4 or A5), US letter (1.294) or ISO/IEC 7810 ID-1 cards (1.586). The gaps
between them are 8.5 % and 12 %, so a 3 % tolerance cannot confuse two formats. A4 and A5
share their ratio; they are told apart by size when the camera's scale is known (`px_per_mm`),
otherwise an ISO A page is taken to be A4, the common case at a government counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RATIO_TOLERANCE = 0.03


@dataclass(frozen=True)
class PageFormat:
    """A named paper size (portrait millimetres), or 'unknown' with only the measured ratio."""

    name: str
    short_mm: float | None
    long_mm: float | None
    measured_ratio: float  # long side over short side, as measured

    @property
    def known(self) -> bool:
        return self.short_mm is not None


# name -> (short side mm, long side mm)
FORMATS: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "letter": (215.9, 279.4),
    "ID-1": (53.98, 85.60),
}
_FAMILIES = (("ISO-A", math.sqrt(2.0)), ("letter", 279.4 / 215.9), ("ID-1", 85.60 / 53.98))


def true_aspect(corners: np.ndarray, frame_size: tuple[int, int]) -> float:
    """Width over height of the physical page (width = top side TL-TR of the ordered corners)."""
    c = np.asarray(corners, np.float64)
    tl, tr, br, bl = c
    mean_ratio = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / max(
        1e-9, np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)
    )
    u0, v0 = (frame_size[0] - 1) / 2.0, (frame_size[1] - 1) / 2.0
    m1, m2, m3, m4 = (np.array([p[0], p[1], 1.0]) for p in (tl, tr, bl, br))
    den2 = np.dot(np.cross(m2, m4), m3)
    den3 = np.dot(np.cross(m3, m4), m2)
    if abs(den2) < 1e-9 or abs(den3) < 1e-9:
        return float(mean_ratio)
    k2 = np.dot(np.cross(m1, m4), m3) / den2
    k3 = np.dot(np.cross(m1, m4), m2) / den3
    n2 = k2 * m2 - m1
    n3 = k3 * m3 - m1
    # Square-on: the vanishing points are at infinity and the affine ratio is exact.
    if abs(n2[2] * n3[2]) < 1e-12:
        return float(mean_ratio)
    f2 = -(
        (n2[0] * n3[0] - (n2[0] * n3[2] + n2[2] * n3[0]) * u0 + n2[2] * n3[2] * u0 * u0)
        + (n2[1] * n3[1] - (n2[1] * n3[2] + n2[2] * n3[1]) * v0 + n2[2] * n3[2] * v0 * v0)
    ) / (n2[2] * n3[2])
    diag = math.hypot(*frame_size)
    # Seen nearly square-on the focal length is ill-determined, but then it hardly matters:
    # clamp it to what cameras have (0.3 to 3 frame diagonals), or one diagonal if undefined.
    f = math.sqrt(f2) if f2 > 0 else diag
    f = min(max(f, 0.3 * diag), 3.0 * diag)
    a_inv = np.array([[1 / f, 0, -u0 / f], [0, 1 / f, -v0 / f], [0, 0, 1.0]])
    q2, q3 = a_inv @ n2, a_inv @ n3
    ratio = math.sqrt(float(q2 @ q2) / float(q3 @ q3))
    return ratio if 0.2 < ratio < 5.0 else float(mean_ratio)


def classify(ratio: float, long_side_mm: float | None = None) -> PageFormat:
    """The format whose long/short ratio matches within tolerance, else 'unknown'."""
    r = max(ratio, 1.0 / ratio) if ratio > 0 else 0.0
    for family, ref in _FAMILIES:
        if abs(r / ref - 1.0) <= RATIO_TOLERANCE:
            name = family
            if family == "ISO-A":
                name = "A5" if long_side_mm is not None and long_side_mm < 253.5 else "A4"
            short, long_ = FORMATS[name]
            return PageFormat(name, short, long_, r)
    return PageFormat("unknown", None, None, r)
