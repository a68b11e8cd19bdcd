"""Generated pages for the orientation tests and benchmark: Latin forms and Chinese documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from devices.camera.document_scene import page_template
from devices.camera.emulated import render_page

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
    assert title_font is not None and body is not None
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


def latin_form(seed: int) -> np.ndarray:
    """The generated application form the desk scenes use (variants differ in their lines)."""
    return np.asarray(page_template("A4", 150, seed))


def latin_letter(seed: int) -> np.ndarray:
    """The emulated document camera's page: a title, numbered lines, a seal."""
    rng = np.random.default_rng(seed)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "a",
        "clerk",
        "reads",
        "the",
        "form",
    ]
    lines = [
        " ".join(words[int(i)] for i in rng.integers(len(words), size=int(rng.integers(4, 10))))
        for _ in range(int(rng.integers(8, 25)))
    ]
    return render_page(f"Certificate {seed}", lines)


def turned(page: np.ndarray, turn: int) -> np.ndarray:
    """The page turned `turn` degrees clockwise, as it would lie on the desk."""
    return np.ascontiguousarray(np.rot90(page, -(turn // 90)))
