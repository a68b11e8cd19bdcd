"""Tesseract's reading of a passport MRZ put into TD3's positions.

ICAO 9303 fixes what each TD3 position may hold, so look-alikes are undone by position:
digits in dates and check digits (taken from a digits-only reading of those marks where it
has one), letters in state codes, sex and names. The document and personal numbers may hold
both, so they stay as read: the check digits then decide. They are not "corrected" towards a
check digit: with one chance in ten that a wrong reading agrees, trying look-alikes until one
does turns unread numbers into wrong ones.
"""

from __future__ import annotations

from devices.identity.emrtd.mrz import MrzError, check_digit

TD3 = 44
_TO_DIGIT = str.maketrans({"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1",
                           "Z": "2", "S": "5", "G": "6", "B": "8", "T": "7"})  # fmt: skip
_TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B",
                            "4": "A", "7": "T"})  # fmt: skip
# Check-digit fields of the second line: (start, end); the digit follows at `end`.
CHECKED = ((0, 9), (13, 19), (21, 27), (28, 42))
NUMERIC = (range(13, 20), range(21, 28), [9, 42, 43])


def settle_td3(lines: list[str], digits: dict[int, str] | None = None) -> str | None:
    """The MRZ text from Tesseract's lines and a digits-only reading of the second line's
    digit positions (position -> digit); None if the lines are not two of TD3's."""
    fitted = _fit_pair(lines)
    if fitted is None:
        return None
    l1 = "P" + fitted[0][1:].translate(_TO_LETTER)  # TD3 is a passport: code starts with P
    first = _by_position(fitted[1], digits or {})
    return l1 + "\n" + first


def _by_position(l2: str, digits: dict[int, str]) -> str:
    """The second line with digits where only digits may stand (the digits-only reading's,
    else look-alikes turned into digits), letters in the nationality and sex."""
    chars = list(l2)
    for positions in NUMERIC:
        for i in positions:
            chars[i] = digits.get(i) or chars[i].translate(_TO_DIGIT)
    chars[10:13] = "".join(chars[10:13]).translate(_TO_LETTER)
    chars[20] = chars[20].translate(_TO_LETTER)
    return "".join(chars)


def _holds(text: str) -> bool:
    """Whether the field's last character is the check digit of the rest."""
    if text[-1] == "<":
        return set(text[:-1]) <= {"<"}  # an empty optional field has no digit
    try:
        return check_digit(text[:-1]) == text[-1]
    except MrzError:
        return False


def _fit_pair(lines: list[str]) -> tuple[str, str] | None:
    """The last two lines fitted to 44 positions each, or None."""
    if len(lines) < 2:
        return None
    l1, l2 = _fit(lines[-2]), _fit_second(lines[-1])
    if l1 is None or l2 is None:
        return None
    return l1, l2


def _fit(line: str) -> str | None:
    """A line cut or padded to 44 with fillers at its end (where names leave them)."""
    if len(line) > TD3:
        return line[:TD3]
    return line.ljust(TD3, "<") if len(line) >= TD3 - 6 else None


def _fit_second(line: str) -> str | None:
    """The second line to 44: a miscounted run of fillers is in the personal number."""
    if len(line) == TD3:
        return line
    if abs(len(line) - TD3) > 4 or len(line) < 30:
        return None
    head, middle, tail = line[:28], line[28:-2], line[-2:]
    if set(middle) <= {"<"}:
        return head + "<" * 14 + tail
    return None


def key_fields(text: str) -> tuple[str, str, str] | None:
    """Document number, birth date and expiry date of a TD3 text if their check digits hold."""
    l2 = text.split("\n")[-1]
    if len(l2) != TD3:
        return None
    for start, end in CHECKED[:3]:
        if not _holds(l2[start : end + 1]):
            return None
    return l2[0:9].rstrip("<"), l2[13:19], l2[21:27]
