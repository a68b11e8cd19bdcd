"""Generated passport photo pages (ICAO TD3) lying under the document camera.

A data page of 125 x 88 mm is drawn at 300 dpi: a pale guilloche, a photo box, the visual
zone's fields, and the machine-readable zone in OCR-B at its 2.54 mm pitch (ICAO Doc 9303
Part 3), in Debian's fonts-ocr-b. It is laid on a generated desk through the same pinhole
camera as the document scenes: laid down as a citizen would (`flat`: turned up to 25 degrees,
sometimes sideways), at any of four turns on top of that (`rotated`), strongly tilted
(`skewed`), or under a soft lamp reflection (`glare`). Holders are invented; each sample
carries the MRZ printed on it. Everything is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.camera.document_scene import background, composite, project_page
from devices.camera.highlights import add_reflection
from devices.identity.emrtd.ocr_b import ocr_b, size_for_pitch

PAGE_MM = (125.0, 88.0)  # TD3 data page, landscape
DPI = 300
PITCH_MM = 2.54  # MRZ character pitch
CONDITIONS = ("flat", "rotated", "skewed", "glare")

_SURNAMES = ("ERIKSSON", "MUSTERMANN", "ZHANG", "OKONKWO", "GARCIA LOPEZ", "NGUYEN", "SMITH")
_GIVEN = ("ANNA MARIA", "WEI", "CHIDI", "ERIKA", "JOSE LUIS", "THI HUONG", "JOHN PAUL")
_STATES = ("UTO", "D", "CHN", "NGA", "ESP", "VNM", "GBR")


@dataclass(frozen=True)
class PassportSample:
    """One generated frame of a passport photo page and the MRZ printed on it."""

    frame: np.ndarray = field(repr=False)  # RGB uint8
    mrz: str = field(repr=False)  # two lines of 44, joined by a newline
    corners: np.ndarray = field(repr=False)  # page corners in the frame (page's TL, TR, BR, BL)
    condition: str
    seed: int


def specimen_mrz(rng: np.random.Generator) -> str:
    """An invented holder's TD3 MRZ with valid check digits."""
    from devices.identity.emrtd.mrz import compose_td3

    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    alnum = letters + "0123456789"
    number = "".join(rng.choice(list(alnum if i else letters)) for i in range(9))
    birth = f"{rng.integers(40, 99):02d}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    expiry = f"{rng.integers(27, 36):02d}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}"
    state = str(rng.choice(_STATES))
    return compose_td3(
        issuing_state=state,
        surname=str(rng.choice(_SURNAMES)),
        given_names=str(rng.choice(_GIVEN)),
        document_number=number,
        nationality=state,
        birth_date=birth,
        sex=str(rng.choice(["F", "M"])),
        expiry_date=expiry,
        personal_number="" if rng.random() < 0.6 else "".join(rng.choice(list(alnum), 10)),
    )


def passport_page(mrz: str, seed: int = 0) -> np.ndarray:
    """The data page at 300 dpi, landscape, with `mrz` printed in its machine-readable zone."""
    rng = np.random.default_rng([seed, 7])
    px = DPI / 25.4
    w, h = round(PAGE_MM[0] * px), round(PAGE_MM[1] * px)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tint = np.array(rng.uniform([222, 228, 215], [240, 242, 236]), np.float32)
    waves = np.sin(xx / 23.0 + 4.0 * np.sin(yy / 61.0)) * np.sin(
        yy / 17.0 + 3.0 * np.sin(xx / 97.0)
    )
    img = np.clip(tint * (1.0 - 0.06 * (waves > 0.8)[..., None]), 0, 255).astype(np.uint8)
    page = Image.fromarray(img)
    draw = ImageDraw.Draw(page)
    label = ImageFont.load_default(size=round(1.6 * px))
    value = ImageFont.load_default(size=round(2.6 * px))
    head = ImageFont.load_default(size=round(4.0 * px))
    lines = mrz.split("\n")
    surname, _, given = lines[0][5:].partition("<<")
    draw.text((6 * px, 4 * px), "PASSPORT  PASSEPORT", fill=(40, 40, 90), font=head)
    # The photo: a head and shoulders on a pale ground.
    x0, y0 = 6 * px, 14 * px
    draw.rectangle((x0, y0, x0 + 32 * px, y0 + 42 * px), fill=(205, 212, 220))
    cx = x0 + 16 * px
    draw.ellipse((cx - 8 * px, y0 + 7 * px, cx + 8 * px, y0 + 27 * px), fill=(150, 120, 100))
    draw.ellipse((cx - 15 * px, y0 + 28 * px, cx + 15 * px, y0 + 55 * px), fill=(60, 60, 80))
    draw.rectangle((x0, y0 + 42 * px, x0 + 32 * px, y0 + 56 * px), fill=tuple(int(t) for t in tint))
    fields = (
        ("Type / Code / Passport No.", f"P   {lines[0][2:5].strip('<')}   {lines[1][0:9]}"),
        ("Surname", surname.replace("<", " ").strip()),
        ("Given names", given.replace("<", " ").strip()),
        ("Nationality", lines[1][10:13].strip("<")),
        ("Date of birth / Sex", f"{lines[1][13:19]}   {lines[1][20]}"),
        ("Date of expiry", lines[1][21:27]),
    )
    y = 13 * px
    for name, text in fields:
        draw.text((44 * px, y), name, fill=(70, 70, 110), font=label)
        draw.text((44 * px, y + 2.2 * px), text, fill=(20, 20, 30), font=value)
        y += 7.3 * px
    mono = ocr_b(size_for_pitch(PITCH_MM * px))
    for row, line in enumerate(lines):
        top = h - (17.5 - 7.0 * row) * px
        for i, ch in enumerate(line):
            draw.text((6 * px + i * PITCH_MM * px, top), ch, fill=(15, 15, 20), font=mono)
    return np.asarray(page)


def passport_sample(
    seed: int, condition: str = "flat", *, size: tuple[int, int] = (2048, 1536)
) -> PassportSample:
    """A frame of a passport photo page on a desk, in one of `CONDITIONS`."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; one of {CONDITIONS}")
    rng = np.random.default_rng([seed, CONDITIONS.index(condition)])
    mrz = specimen_mrz(rng)
    page = passport_page(mrz, seed)
    turn = int(rng.integers(4)) if condition == "rotated" else 0
    page = np.ascontiguousarray(np.rot90(page, -turn))
    mm = PAGE_MM if turn % 2 == 0 else PAGE_MM[::-1]
    tilt = 28.0 if condition == "skewed" else 6.0
    corners = project_page(mm, size, rng, fill=(0.5, 0.62), tilt_deg=tilt)
    w, h = size
    bg = background(str(rng.choice(["wood", "desk", "mat", "stone"])), size, rng)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    gx, gy = rng.uniform(-0.15, 0.15, size=2)
    light = rng.uniform(0.8, 0.95) * (1.0 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5))
    img = composite(page, corners, bg, light.astype(np.float32))
    if condition == "glare":
        img = add_reflection(img, corners, rng, "lamp", peak=float(rng.uniform(120, 200)))
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 0.8)))
    noise = np.empty_like(img)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(noise, 0.5, float(rng.uniform(1.5, 4.0)))
    frame = np.clip(cv2.add(img, noise), 0, 255).astype(np.uint8)
    # The page's own corners, whatever way it lies.
    page_corners = np.roll(corners, turn, axis=0) if turn else corners
    return PassportSample(frame, mrz, page_corners, condition, seed)


class PassportPageSource:
    """An emulated document camera with a passport lying open at its photo page: the citizen
    who chose "read it with the camera". Every frame shows the same passport, as it lies still."""

    def __init__(self, seed: int = 0, condition: str = "flat"):
        self.sample = passport_sample(seed, condition)
        self.captured = 0

    def capture(self) -> np.ndarray:
        self.captured += 1
        return self.sample.frame

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "emulated passport page", "captured": self.captured}
