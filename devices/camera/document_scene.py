"""Generated document-camera frames: a paper page with text and a red seal lying on a desk.

Each frame is built the way a camera would see it: a page rendered at print resolution is
placed on a desk plane, projected through a pinhole camera (small tilts, any rotation), and
composited over a generated background (wood, desk, cloth, mat, stone) under uneven light.
Defects are added on purpose (blur, glare, a page pushed out of the picture, strong tilt) so
the page pipeline can be measured against the true corners, which every sample carries.
Highlights come in kinds (`HIGHLIGHTS`): a sharp burnt-out spot, a desk lamp's broad soft
reflection, a tube light's soft streak (both wash the text out under them), and a faint sheen
that brightens the paper short of burning it out and leaves every letter legible.
Everything is deterministic for a seed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.camera.highlights import add_burnt_spot, add_reflection

# Physical page sizes in millimetres (width, height), portrait.
PAPER_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "letter": (215.9, 279.4),
    "ID-1": (53.98, 85.60),
}
DEFECTS = ("clean", "blurred", "glare", "cut_off", "skewed", "soft_glare")
# Highlight kind -> the defect a frame with it has ("clean": the text stays legible).
HIGHLIGHTS = {"spot": "glare", "lamp": "soft_glare", "streak": "soft_glare", "sheen": "clean"}
BACKGROUNDS = ("wood", "desk", "cloth", "mat", "stone")

_TEXT = (
    "The applicant declares that the information given in this form is true and complete.",
    "Household registration certificate, copy of the residence booklet, page of the holder.",
    "Issued by the public security bureau on the date shown below; valid for six months.",
    "Items marked with an asterisk must be filled in; attach originals where required.",
    "Signature of the applicant and the date of signing, in black or blue ink only.",
)


@dataclass(frozen=True)
class SceneSample:
    """One generated frame and the truth about it."""

    frame: np.ndarray  # RGB uint8 (h, w, 3)
    corners: np.ndarray  # (4, 2) float64 page corners in frame pixels, page order TL, TR, BR, BL
    paper: str  # key of PAPER_MM
    defect: str  # one of DEFECTS
    background: str
    seed: int


@functools.lru_cache(maxsize=16)
def page_template(paper: str = "A4", dpi: int = 150, variant: int = 0) -> np.ndarray:
    """A page at `dpi` with a title, body text and a red round seal (read-only RGB array)."""
    w_mm, h_mm = PAPER_MM[paper]
    w, h = round(w_mm / 25.4 * dpi), round(h_mm / 25.4 * dpi)
    if paper == "ID-1":  # cards are read lying down; a pale tinted card, not white paper
        w, h = h, w
        img = Image.new("RGB", (w, h), (226, 236, 242))
    else:
        img = Image.new("RGB", (w, h), (250, 250, 246))
    draw = ImageDraw.Draw(img)
    unit = dpi / 150.0 * (0.6 if paper == "ID-1" else 1.0)
    title = ImageFont.load_default(size=max(8, round(40 * unit)))
    body = ImageFont.load_default(size=max(6, round(24 * unit)))
    rng = np.random.default_rng(variant)
    margin = 0.1 * w
    heading = "RESIDENT CARD" if paper == "ID-1" else f"APPLICATION FORM {variant:03d}"
    draw.text((margin, 0.06 * h), heading, fill=(10, 10, 10), font=title)
    step = 40 * unit
    y = 0.06 * h + 80 * unit
    while y < 0.9 * h - step:
        line = _TEXT[int(rng.integers(len(_TEXT)))]
        cut = int(rng.integers(len(line) // 2, len(line) + 1))
        while cut > 1 and margin + draw.textlength(line[:cut], font=body) > w - margin:
            cut -= 1
        draw.text((margin, y), line[:cut], fill=(25, 25, 25), font=body)
        y += step * (2.0 if rng.random() < 0.12 else 1.0)
    # the seal: ring, star and lettering in seal red, over the text as real seals are
    r = 0.11 * min(w, h)
    cx, cy = 0.68 * w, 0.74 * h
    red = (205, 25, 35)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=red, width=max(2, round(7 * unit)))
    star = [
        (
            cx + (0.38 if k % 2 == 0 else 0.15) * r * math.sin(k * math.pi / 5),
            cy - (0.38 if k % 2 == 0 else 0.15) * r * math.cos(k * math.pi / 5),
        )
        for k in range(10)
    ]
    draw.polygon(star, fill=red)
    draw.text((cx - 0.6 * r, cy + 0.45 * r), "OFFICIAL SEAL", fill=red, font=body)
    arr = np.asarray(img).copy()
    arr.setflags(write=False)
    return arr


CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)

# Plain wording of the kind found on household and business papers (written for these tests).
_ZH = (
    "申请人承诺所填写的信息真实完整，如有虚假愿意承担相应责任。",
    "本证明仅用于办理户籍相关业务，自开具之日起六个月内有效。",
    "请在标有星号的栏目内如实填写，并附上原件或复印件。",
    "经办人应当核对申请人身份证件，并在材料上签字确认。",
    "住所证明材料包括房屋所有权证明或者租赁合同。",
    "营业执照副本复印件需加盖企业公章，并注明与原件一致。",
)


def cjk_font(size: int) -> ImageFont.FreeTypeFont | None:
    """A Chinese font of the system (Debian's fonts-wqy-microhei or fonts-noto-cjk), or None."""
    for path in CJK_FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return None


def chinese_page(seed: int, *, justified: bool = False, size=(1240, 1754)) -> np.ndarray:
    """A4 at 150 dpi: a centred title, paragraphs indented two characters, a seal."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, (250, 250, 246))
    draw = ImageDraw.Draw(img)
    title_font, body = cjk_font(44), cjk_font(26)
    if title_font is None or body is None:
        raise RuntimeError("no Chinese font: install fonts-wqy-microhei or fonts-noto-cjk")
    title = "户籍证明" if seed % 2 else "住所证明"
    tw = draw.textlength(title, font=title_font)
    draw.text(((w - tw) / 2, 0.07 * h), title, fill=(10, 10, 10), font=title_font)
    margin, step, em = 0.12 * w, 44, 26
    per_line = int((w - 2 * margin) // em)
    y = 0.07 * h + 110
    while y < 0.62 * h:
        text = "".join(_ZH[int(i)] for i in rng.integers(len(_ZH), size=int(rng.integers(2, 5))))
        first = True
        while text and y < 0.62 * h:
            room = per_line - (2 if first else 0)
            chunk, text = text[:room], text[room:]
            x = margin + (2 * em if first else 0)
            last = not text
            if justified and not last and len(chunk) > 1:
                gap = (w - margin - x - em * len(chunk)) / (len(chunk) - 1)
                for i, ch in enumerate(chunk):
                    draw.text((x + i * (em + gap), y), ch, fill=(25, 25, 25), font=body)
            else:
                draw.text((x, y), chunk, fill=(25, 25, 25), font=body)
            first = False
            y += step
        y += step * 0.5
    # the signature block at the bottom right and the seal over the date
    draw.text((0.58 * w, 0.72 * h), "出具单位（盖章）", fill=(25, 25, 25), font=body)
    draw.text((0.6 * w, 0.72 * h + step), "2026年11月21日", fill=(25, 25, 25), font=body)
    r, cx, cy = 0.11 * w, 0.7 * w, 0.73 * h
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(205, 25, 35), width=7)
    return np.asarray(img)


def background(kind: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A desk surface of the given kind, (h, w, 3) float32 in 0..255, at `size` = (w, h)."""
    w, h = size
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    brightness = float(rng.uniform(0.55, 1.15))

    def smooth_noise(scale: int) -> np.ndarray:
        small = rng.standard_normal((max(2, h // scale), max(2, w // scale))).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)

    if kind == "wood":
        angle = rng.uniform(0, math.pi)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        grain = np.sin(u * rng.uniform(0.04, 0.12) + 3.0 * smooth_noise(40))
        base = np.array(rng.uniform([120, 70, 30], [170, 110, 60]), np.float32)
        tex = 1.0 + 0.18 * grain[..., None] + 0.05 * smooth_noise(4)[..., None]
        img = base * tex
    elif kind == "cloth":
        f = rng.uniform(0.6, 1.4)
        weave = np.sin(xx * f) * np.sin(yy * f)
        base = np.array(rng.uniform([30, 40, 60], [110, 120, 150]), np.float32)
        grain = rng.standard_normal((h, w, 1), dtype=np.float32)
        img = base * (1.0 + 0.15 * weave[..., None] + 0.12 * grain)
    elif kind == "mat":
        img = np.full((h, w, 3), rng.uniform(15, 45), np.float32)
        img += 4.0 * rng.standard_normal((h, w, 1), dtype=np.float32)
    elif kind == "stone":
        base = np.array(rng.uniform([80, 80, 80], [140, 135, 130]), np.float32)
        tex = 1.0 + 0.25 * smooth_noise(6)[..., None] + 0.15 * smooth_noise(2)[..., None]
        img = base * tex
    else:  # desk: a plain laminate with a soft gradient
        base = np.array(rng.uniform([70, 70, 70], [150, 140, 130]), np.float32)
        ramp = np.broadcast_to(1.0 + 0.15 * (xx / w - 0.5), (h, w))
        img = base * ramp[..., None] + 2.0 * rng.standard_normal((h, w, 1), dtype=np.float32)
    return np.clip(img * brightness, 0, 200).astype(np.float32)


def project_page(
    paper_mm: tuple[float, float],
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    fill: tuple[float, float],
    tilt_deg: float,
    inside: bool = True,
) -> np.ndarray:
    """Corners (TL, TR, BR, BL) of a page seen by a pinhole camera, in frame pixels."""
    w, h = size
    f = 1.1 * max(w, h)
    pw, ph = paper_mm
    for _ in range(200):
        spin = rng.uniform(-25, 25) + (90.0 if rng.random() < 0.3 else 0.0)
        ax, ay = np.radians(rng.uniform(-tilt_deg, tilt_deg, size=2))
        rz = math.radians(spin)
        rot = _rot_x(ax) @ _rot_y(ay) @ _rot_z(rz)
        target = rng.uniform(*fill)  # fraction of the frame's short side the page spans
        span = max(pw, ph) if abs(math.cos(rz)) < 0.7 else ph
        z = f * span / (target * min(w, h))
        tx, ty = rng.uniform(-0.15, 0.15, size=2) * z * np.array([w, h]) / f
        obj = np.array(
            [[-pw / 2, -ph / 2, 0], [pw / 2, -ph / 2, 0], [pw / 2, ph / 2, 0], [-pw / 2, ph / 2, 0]]
        )
        cam = obj @ rot.T + np.array([tx, ty, z])
        if np.any(cam[:, 2] <= 1):
            continue
        pts = np.column_stack(
            [f * cam[:, 0] / cam[:, 2] + w / 2, f * cam[:, 1] / cam[:, 2] + h / 2]
        )
        margin = 0.02 * min(w, h)
        ok = (pts[:, 0] > margin) & (pts[:, 0] < w - margin)
        ok &= (pts[:, 1] > margin) & (pts[:, 1] < h - margin)
        if inside and ok.all():
            return pts
        if not inside:
            return pts
    raise RuntimeError("no page pose fits the frame")  # pragma: no cover - fill ranges fit


def composite(
    page: np.ndarray, corners: np.ndarray, bg: np.ndarray, light: np.ndarray
) -> np.ndarray:
    """Warp `page` onto `bg` at `corners` (edges of the page, not pixel centres), under `light`."""
    warped, cover = _warp(page, corners, bg.shape[:2])
    out = cv2.blendLinear(warped.astype(np.float32), bg, cover, 1.0 - cover)
    return cv2.multiply(out, cv2.merge([light, light, light]))


def _warp(
    page: np.ndarray, corners: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The page warped to `corners` in a frame of `shape`, and its coverage (0..1) per pixel."""
    h, w = shape
    ph, pw = page.shape[:2]
    # Downscale first so the warp does not alias the print.
    span = max(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[3] - corners[0]))
    shrink = min(1.0, 1.5 * span / max(pw, ph))
    if shrink < 1.0:
        page = cv2.resize(page, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        ph, pw = page.shape[:2]
    src = np.array([[-0.5, -0.5], [pw - 0.5, -0.5], [pw - 0.5, ph - 0.5], [-0.5, ph - 0.5]])
    hom = cv2.getPerspectiveTransform(src.astype(np.float32), corners.astype(np.float32))
    warped = cv2.warpPerspective(
        page, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    # Bilinear coverage of a ones-image is 0.5 exactly on the page edge: an anti-aliased border.
    cover = cv2.warpPerspective(np.ones((ph, pw), np.float32), hom, (w, h), flags=cv2.INTER_LINEAR)
    return warped, cover


def generated_sample(
    seed: int,
    defect: str = "clean",
    *,
    size: tuple[int, int] = (1280, 960),
    paper: str | None = None,
    highlight: str | None = None,
) -> SceneSample:
    """One deterministic frame of a page with the given defect (and kind of highlight)."""
    if defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; one of {DEFECTS}")
    if highlight is not None and HIGHLIGHTS.get(highlight) != defect:
        raise ValueError(f"a {highlight!r} highlight does not make a {defect!r} frame")
    rng = np.random.default_rng([seed, DEFECTS.index(defect)])
    if highlight is None and defect == "soft_glare":
        highlight = ("lamp", "streak")[seed % 2]
    w, h = size
    if paper is None:  # a card held at a slant is only foreshortened: skew is for paper
        papers = ["A4", "A4", "A4", "A5", "letter"] + ([] if defect == "skewed" else ["ID-1"])
        paper = str(rng.choice(papers))
    dpi = 150 if min(w, h) <= 1600 else 300  # print finer than the camera resolves
    page = page_template(paper, dpi, int(rng.integers(4)))
    pw_px, ph_px = page.shape[1], page.shape[0]
    mm = (pw_px / dpi * 25.4, ph_px / dpi * 25.4)
    fill = (0.28, 0.45) if paper == "ID-1" else (0.8, 0.93)
    tilt = 40.0 if defect == "skewed" else 8.0
    corners = project_page(mm, size, rng, fill=fill, tilt_deg=tilt)
    if defect == "skewed":
        for _ in range(200):
            c = project_page(mm, size, rng, fill=fill, tilt_deg=tilt)
            if _perspective_ratio(c) < 0.72:
                corners = c
                break
    if defect == "cut_off":
        # Slide the page towards one frame edge until 12-30 % of it is outside the picture.
        axis = int(rng.integers(2))
        towards_end = bool(rng.random() < 0.5)
        extent = float(np.ptp(corners[:, axis]))
        over = rng.uniform(0.12, 0.3) * extent
        if towards_end:
            shift = (size[axis] - 1) - corners[:, axis].max() + over
        else:
            shift = -corners[:, axis].min() - over
        corners = corners.copy()
        corners[:, axis] += shift
    kind = str(rng.choice(BACKGROUNDS))
    shrink = max(1.0, max(w, h) / 1280)  # textures are made small and scaled up: cheaper
    small = (round(w / shrink), round(h / shrink))
    bg = background(kind, small, rng)
    if small != size:
        bg = cv2.resize(bg, size, interpolation=cv2.INTER_LINEAR)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    gx, gy = rng.uniform(-0.18, 0.18, size=2)
    level = rng.uniform(0.78, 0.93)
    light = level * (1.0 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5))
    img = composite(np.asarray(page), corners, bg, light.astype(np.float32))
    if defect == "glare" or highlight == "spot":
        img = add_burnt_spot(img, corners, rng)
    elif highlight is not None:
        img = add_reflection(img, corners, rng, highlight)
    img = _blur(img, rng, strong=defect == "blurred")
    noise = np.empty_like(img)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(noise, 0.5, rng.uniform(1.5, 5.0))  # sensor noise, plus 0.5 to round
    frame = _to_uint8(cv2.add(img, noise))
    return SceneSample(frame, corners, paper, defect, kind, seed)


def generated_set(
    count: int,
    *,
    size: tuple[int, int] = (1280, 960),
    seed: int = 0,
    mix: dict[str, float] | None = None,
) -> list[SceneSample]:
    """`count` samples whose defects follow `mix` (default: mostly clean, some of each)."""
    mix = mix or {"clean": 0.5, "blurred": 0.15, "glare": 0.15, "cut_off": 0.1, "skewed": 0.1}
    names = list(mix)
    counts = [math.floor(mix[n] * count) for n in names]
    counts[0] += count - sum(counts)
    samples = []
    for name, n in zip(names, counts, strict=True):
        samples.extend(generated_sample(seed + i, name, size=size) for i in range(n))
    return samples


def _to_uint8(img: np.ndarray) -> np.ndarray:
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)


def _blur(img: np.ndarray, rng: np.random.Generator, *, strong: bool) -> np.ndarray:
    """Defocus or hand motion (strong), or the lens's ordinary softness."""
    if not strong:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.8))
    if rng.random() < 0.6:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(2.6, 4.0))
    length = int(rng.integers(9, 16))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= kernel.sum()
    return cv2.GaussianBlur(cv2.filter2D(img, -1, kernel), (0, 0), 0.8)


def _perspective_ratio(corners: np.ndarray) -> float:
    side = [np.linalg.norm(corners[(i + 1) % 4] - corners[i]) for i in range(4)]
    return min(
        min(side[0], side[2]) / max(side[0], side[2]), min(side[1], side[3]) / max(side[1], side[3])
    )


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


class DeskScene:
    """One page on one desk, renderable at any resolution and any point of its movement."""

    def __init__(self, paper: str = "A4", *, seed: int = 0, background_kind: str = "desk"):
        self.paper = paper
        self.seed = seed
        self.background_kind = background_kind
        rng = np.random.default_rng([seed, 99])
        self.variant = int(rng.integers(4))
        ref = (1000, 750)
        w_mm, h_mm = PAPER_MM[paper]
        mm = (h_mm, w_mm) if paper == "ID-1" else (w_mm, h_mm)
        fill = (0.3, 0.4) if paper == "ID-1" else (0.82, 0.9)
        corners = project_page(mm, ref, rng, fill=fill, tilt_deg=4.0)
        self.unit_corners = (corners + 0.5) / np.array(ref)  # as fractions of the frame
        self._backgrounds: dict[tuple[int, int], np.ndarray] = {}
        self._cache: dict[tuple, np.ndarray] = {}

    def _background(self, size: tuple[int, int]) -> np.ndarray:
        """The lit desk as uint8; textures for large frames are made small and scaled up."""
        if size not in self._backgrounds:
            w, h = size
            shrink = max(1.0, max(w, h) / 1280)
            small = (round(w / shrink), round(h / shrink))
            rng = np.random.default_rng([self.seed, *small])
            desk = background(self.background_kind, small, rng) * 0.88
            desk = cv2.resize(desk, size, interpolation=cv2.INTER_LINEAR)
            self._backgrounds[size] = _to_uint8(desk)
        return self._backgrounds[size]

    def corners(self, size: tuple[int, int], offset: tuple[float, float] = (0.0, 0.0)):
        """True page corners (TL, TR, BR, BL of the page) in pixels of a `size` frame."""
        return (self.unit_corners + np.array(offset)) * np.array(size) - 0.5

    def render(
        self,
        size: tuple[int, int],
        offset: tuple[float, float] | None = (0.0, 0.0),
        *,
        blur: float = 0.6,
        frame_no: int = 0,
    ) -> np.ndarray:
        """The desk at `size`, with the page shifted by `offset` (fractions), None = no page."""
        w, h = size
        img = self._background(size)
        if offset is not None:
            # Print finer than the camera resolves, up to 8 MP (a page spans < 2339 px there).
            dpi = 150 if min(w, h) <= 1600 else 200
            img = _paste(self._page(size, dpi), self.corners(size, offset), img)
        img = cv2.GaussianBlur(img, (0, 0), blur)
        return cv2.add(img, self._noise(size, frame_no), dtype=cv2.CV_8U)

    def _page(self, size: tuple[int, int], dpi: int) -> np.ndarray:
        """The lit page, pre-shrunk to about 1.5x its size in a `size` frame."""
        key = ("page", *size)
        if key not in self._cache:
            page = cv2.convertScaleAbs(
                np.asarray(page_template(self.paper, dpi, self.variant)), alpha=0.88
            )
            c = self.corners(size)
            span = max(np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[3] - c[0]))
            shrink = min(1.0, 1.5 * span / max(page.shape[:2]))
            if shrink < 1.0:
                page = cv2.resize(page, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
            self._cache[key] = page
        return self._cache[key]

    def _noise(self, size: tuple[int, int], frame_no: int) -> np.ndarray:
        """Sensor noise: one of four fixed fields, so consecutive frames differ."""
        key = ("noise", *size, frame_no % 4)
        if key not in self._cache:
            noise = np.empty((size[1], size[0], 3), np.int16)
            cv2.setRNGSeed(self.seed * 100003 + frame_no % 4)
            cv2.randn(noise, 0, 2.0)
            self._cache[key] = noise
        return self._cache[key]


def _paste(page: np.ndarray, corners: np.ndarray, desk: np.ndarray) -> np.ndarray:
    """`composite` in uint8 with no lighting, for the emulated camera's many frames."""
    warped, cover = _warp(page, corners, desk.shape[:2])
    return cv2.blendLinear(warped, desk, cover, 1.0 - cover)
