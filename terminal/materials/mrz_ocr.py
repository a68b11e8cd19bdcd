"""The passport's machine-readable zone read from a document-camera frame.

The photo page is found as a page outline and straightened (perspective and tilt removed);
the MRZ is the longest block of print on it: two lines of 44 OCR-B characters at a fixed
pitch, found by joining print into blocks at the size of its characters, in any direction.
The block is turned level, scaled to about 40 px per character and binarised against its
local background (a reflection lifts the paper unevenly). It is read twice if need be:
first mark by mark against OCR-B's glyphs (`mrz_glyphs`: the MRZ has one typeface, so its
shapes are known), then, when its marks cannot be told apart as 2 x 44 or the first reading
does not check out, by Tesseract (Debian's tesseract-ocr, through pytesseract) restricted to
the MRZ alphabet. Either reading's slips are undone by position, since ICAO 9303 fixes what
each position may hold: digits in dates and check digits, letters in names and state codes;
the document number stays as read, never bent towards its check digit. The result counts
only when every check digit of the key holds; otherwise the kiosk's keypad is the way in.
The straightened page is read the other way up too, so a passport may lie at any angle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from devices.identity.emrtd.mrz import MrzData, MrzError, MrzKey, parse_mrz
from terminal.materials.frames import as_rgb8
from terminal.materials.mrz_fields import key_fields, settle_td3
from terminal.materials.mrz_fillers import is_filler, line_marks, settle_lines
from terminal.materials.mrz_glyphs import glyph_lines
from terminal.materials.quad import find_page
from terminal.materials.rectify import rectify

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
TD3 = 44
CHAR_PX = 40  # character pitch the MRZ block is scaled to before OCR
DIGITS = "0123456789<"  # the second reading, of the positions that hold only digits
TESSERACT_TIMEOUT_S = 10.0
MAX_PIXELS = 40_000_000  # a frame larger than this is not a camera's


class MrzUnreadable(Exception):
    """No MRZ could be read whose check digits all hold (the reason is safe to log)."""


class OcrUnavailable(RuntimeError):
    """Tesseract is not installed or failed to run."""


@dataclass(frozen=True)
class MrzReading:
    """An MRZ read from a frame; repr shows no personal data.

    `key` (document number, birth and expiry dates: what opens the chip) is there only when
    its three check digits hold; `data` only when every check digit of the MRZ holds."""

    key: MrzKey
    data: MrzData | None
    text: str = field(repr=False)
    upside_down: bool = False
    seconds: float = 0.0
    tries: int = 0  # Tesseract runs it took (0: the glyphs were enough)

    @property
    def complete(self) -> bool:
        """Every check digit of the MRZ held, the composite too."""
        return self.data is not None


def read_mrz(frame: object) -> MrzReading:
    """The MRZ of the passport photo page in `frame`; MrzUnreadable if its key fields do not
    check out."""
    start = time.perf_counter()
    rgb = as_rgb8(frame)
    if rgb is None:
        raise MrzUnreadable("the frame is not an image")
    if rgb.shape[0] * rgb.shape[1] > MAX_PIXELS:
        raise MrzUnreadable("the frame is larger than any document camera's")
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    tries = 0
    seen = False
    for view in page_views(rgb, gray):
        block = mrz_block(view)
        if block is None:
            continue
        seen = True
        levels = [
            (cv2.rotate(block, cv2.ROTATE_180) if upside_down else block, upside_down)
            for upside_down in _orientations(block)
        ]
        # The glyphs first, both ways up (milliseconds), then Tesseract (about a second).
        for use_tesseract in (False, True):
            for level, upside_down in levels:
                if use_tesseract:
                    tries += 2
                    text = settle_td3(ocr_lines(level), digit_reading(level))
                else:
                    text = settle_td3(glyph_lines(255 - binarise(level), CHAR_PX) or [])
                reading = _checked(text)
                if reading is not None:
                    key, data = reading
                    seconds = time.perf_counter() - start
                    return MrzReading(key, data, text or "", upside_down, seconds, tries)
    raise MrzUnreadable(
        "an MRZ was found but its check digits do not hold" if seen else "no MRZ found"
    )


def _checked(text: str | None) -> tuple[MrzKey, MrzData | None] | None:
    """The key of a TD3 text whose key check digits hold, and its data if every one does."""
    fields = key_fields(text) if text else None
    if fields is None:
        return None
    try:
        key = MrzKey(*fields)
    except MrzError:
        return None
    try:
        return key, parse_mrz(text or "")
    except MrzError:
        return key, None


def _orientations(block: np.ndarray) -> list[bool]:
    """Upside down or not, likelier first: fillers are chevrons only the right way up."""
    ink = 255 - binarise(block)
    upright = sum(is_filler(ink, b) for line in line_marks(ink) for b in line)
    flipped_ink = cv2.rotate(ink, cv2.ROTATE_180)
    flipped = sum(is_filler(flipped_ink, b) for line in line_marks(flipped_ink) for b in line)
    return [True, False] if flipped > upright else [False, True]


def page_views(rgb: np.ndarray, gray: np.ndarray):
    """The straightened photo page (if its outline is found), then the whole frame."""
    quad = find_page(rgb)
    if quad is not None:
        c = quad.corners
        w = round(max(np.linalg.norm(c[1] - c[0]), np.linalg.norm(c[2] - c[3])))
        h = round(max(np.linalg.norm(c[3] - c[0]), np.linalg.norm(c[2] - c[1])))
        if min(w, h) >= 64:
            yield cv2.cvtColor(rectify(rgb, c, (w, h)), cv2.COLOR_RGB2GRAY)
    yield gray


def char_height(gray: np.ndarray) -> float | None:
    """The median height of dark print marks (characters), in pixels."""
    ink = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15
    )
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count < 20:
        return None
    w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    size = np.maximum(w, h)
    marks = size[(size >= 6) & (size <= gray.shape[0] / 8) & (np.minimum(w, h) >= 2)]
    return float(np.median(marks)) if marks.size >= 20 else None


def mrz_block(gray: np.ndarray) -> np.ndarray | None:
    """The MRZ's two lines cut out, level, scaled to `CHAR_PX` per character; None if absent."""
    ch = char_height(gray)
    if ch is None:
        return None
    ink = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, int(ch * 2) | 1, 12
    )
    # Characters of a line, and the two lines of the MRZ, lie closer than a character's height.
    k = max(3, round(ch * 1.1))
    joined = cv2.morphologyEx(
        ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    )
    joined = cv2.morphologyEx(joined, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    lines = []  # (contour, centre, length, angle) of print lines at least 30 characters long
    for contour in contours:
        (cx, cy), (a, b), angle = cv2.minAreaRect(contour)
        long, short = max(a, b), min(a, b)
        if 0.7 * ch <= short <= 5.0 * ch and long >= 30 * ch and long / short >= 6:
            lines.append((contour, np.array([cx, cy]), long, angle if a >= b else angle + 90.0))
    if not lines:
        return None
    lines.sort(key=lambda line: -line[2])
    first = lines[0]
    points = [first[0]]
    direction = np.array([np.cos(np.radians(first[3])), np.sin(np.radians(first[3]))])
    for other in lines[1:]:
        # The MRZ's other line: as long, parallel, within a few character heights.
        gap = other[1] - first[1]
        apart = abs(float(direction[0] * gap[1] - direction[1] * gap[0]))
        turn = abs((other[3] - first[3] + 90.0) % 180.0 - 90.0)
        if other[2] >= 0.8 * first[2] and turn <= 4.0 and apart <= 6.0 * ch:
            points.append(other[0])
            break
    best = cv2.minAreaRect(np.concatenate(points))
    (cx, cy), (a, b), angle = best
    best = ((cx, cy), (max(a, b), min(a, b)), angle if a >= b else angle + 90.0)
    (cx, cy), (long, short), angle = best
    pad = 0.8 * ch
    scale = CHAR_PX / (long / TD3)
    out_w, out_h = round((long + 2 * pad) * scale), round((short + 2 * pad) * scale)
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += (out_w / 2 - cx, out_h / 2 - cy)
    return cv2.warpAffine(
        gray, m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def binarise(block: np.ndarray) -> np.ndarray:
    """Black print on white, judged against the local paper (a reflection is uneven)."""
    paper = cv2.morphologyEx(block, cv2.MORPH_CLOSE, np.ones((CHAR_PX, CHAR_PX), np.uint8))
    ratio = cv2.divide(block, paper, scale=255)
    _, out = cv2.threshold(ratio, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


def ocr_lines(block: np.ndarray, alphabet: str = ALPHABET) -> list[str]:
    """Tesseract's lines of MRZ characters in the block, one character per mark if found."""
    try:
        import pytesseract
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise OcrUnavailable("pytesseract is not installed") from exc
    config = f"--psm 6 --oem 1 -c tessedit_char_whitelist={alphabet} -c load_system_dawg=0"
    ink = binarise(block)
    try:
        boxes = pytesseract.image_to_boxes(
            ink, lang="eng", config=config, timeout=TESSERACT_TIMEOUT_S
        )
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable("tesseract is not installed (Debian package tesseract-ocr)") from exc
    except (RuntimeError, pytesseract.TesseractError) as exc:
        raise OcrUnavailable(f"tesseract failed: {type(exc).__name__}") from exc
    height = ink.shape[0]
    chars = []  # (character, centre x, centre y), y downwards as in the image
    for row in boxes.splitlines():
        parts = row.split()
        if len(parts) >= 5 and parts[0].upper() in ALPHABET:
            left, bottom, right, top = (int(v) for v in parts[1:5])
            chars.append((parts[0].upper(), (left + right) / 2, height - (bottom + top) / 2))
    return settle_lines(255 - ink, _rows(chars), chars)


def digit_reading(block: np.ndarray) -> dict[int, str]:
    """The second line's digit-only positions read again with digits alone: the marks cut out
    and set side by side, so nothing but digits is in front of Tesseract."""
    import pytesseract

    ink = 255 - binarise(block)
    lines = [m for m in line_marks(ink) if len(m) == TD3]
    if len(lines) != 2:
        return {}
    positions = [*range(13, 20), *range(21, 28), 9, 42, 43]
    marks = [lines[1][i] for i in positions]
    height = max(h for _, _, _, h in marks)
    pad = CHAR_PX // 3
    canvas = np.full((height + 2 * pad, len(marks) * (CHAR_PX + pad) + pad), 255, np.uint8)
    x = pad
    for mx, my, mw, mh in marks:
        canvas[pad : pad + mh, x : x + mw] = 255 - ink[my : my + mh, mx : mx + mw]
        x += CHAR_PX + pad
    config = f"--psm 7 --oem 1 -c tessedit_char_whitelist={DIGITS} -c load_system_dawg=0"
    try:
        text = pytesseract.image_to_string(canvas, config=config, timeout=TESSERACT_TIMEOUT_S)
    except (RuntimeError, pytesseract.TesseractError) as exc:
        raise OcrUnavailable(f"tesseract failed: {type(exc).__name__}") from exc
    digits = [c for c in text if c in DIGITS]
    if len(digits) != len(positions):
        return {}
    return dict(zip(positions, digits, strict=True))


def _rows(chars: list[tuple[str, float, float]]) -> list[str]:
    """The characters as lines of text, top to bottom (for blocks whose marks are unclear)."""
    lines: list[list[tuple[str, float, float]]] = []
    for item in sorted(chars, key=lambda c: c[2]):
        if lines and abs(lines[-1][-1][2] - item[2]) < 0.5 * CHAR_PX:
            lines[-1].append(item)
        else:
            lines.append([item])
    text = ["".join(c[0] for c in sorted(line, key=lambda c: c[1])) for line in lines]
    return [t for t in text if len(t) >= TD3 // 2]
