"""The card's machine-readable text file (GA/T 490) and the citizen ID number (GB 11643-1999).

The 256-byte text file is UCS-2 little-endian, each field padded with spaces:
name 30, sex code 2, ethnic code 4, birth date 16, address 70, ID number 36,
issuing authority 30, valid from 16, valid to 16, reserved 36.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

TEXT_LENGTH = 256
PHOTO_LENGTH = 1024

# (name, bytes) in card order; offsets follow from the sizes.
TEXT_LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 30),
    ("sex_code", 2),
    ("ethnic_code", 4),
    ("birth", 16),
    ("address", 70),
    ("number", 36),
    ("authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("reserved", 36),
)
assert sum(size for _, size in TEXT_LAYOUT) == TEXT_LENGTH

# Foreign permanent-residence cards put "I", residence permits for Hong Kong, Macao and
# Taiwan residents put "J" at byte 248 (in the resident card's reserved area).
CARD_TYPE_OFFSET = 248
OTHER_CARD_TYPES = {
    "I": "foreign permanent resident ID card",
    "J": "HK/Macao/Taiwan residence permit",
}

# GB/T 2261.1 sex codes.
SEX_CODES = {"0": None, "1": "M", "2": "F", "9": None}

# GB 3304 ethnic group codes, as the card prints them.
ETHNIC_GROUPS = {
    "01": "汉", "02": "蒙古", "03": "回", "04": "藏", "05": "维吾尔", "06": "苗", "07": "彝",
    "08": "壮", "09": "布依", "10": "朝鲜", "11": "满", "12": "侗", "13": "瑶", "14": "白",
    "15": "土家", "16": "哈尼", "17": "哈萨克", "18": "傣", "19": "黎", "20": "傈僳", "21": "佤",
    "22": "畲", "23": "高山", "24": "拉祜", "25": "水", "26": "东乡", "27": "纳西", "28": "景颇",
    "29": "柯尔克孜", "30": "土", "31": "达斡尔", "32": "仫佬", "33": "羌", "34": "布朗",
    "35": "撒拉", "36": "毛南", "37": "仡佬", "38": "锡伯", "39": "阿昌", "40": "普米",
    "41": "塔吉克", "42": "怒", "43": "乌孜别克", "44": "俄罗斯", "45": "鄂温克", "46": "德昂",
    "47": "保安", "48": "裕固", "49": "京", "50": "塔塔尔", "51": "独龙", "52": "鄂伦春",
    "53": "赫哲", "54": "门巴", "55": "珞巴", "56": "基诺",
    "97": "其他", "98": "外国血统中国籍人士",
}  # fmt: skip

LONG_TERM = "长期"  # "valid to" of a card that does not expire

# GB 11643-1999 (ISO 7064 MOD 11-2) weights for the first 17 digits.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


class CardDataError(ValueError):
    """The card's text does not hold valid resident ID data; the message never holds it."""


class UnsupportedCardType(CardDataError):
    """A card of the same family that is not a resident ID card (foreigner card, permit)."""


def _ascii_digits(text: str) -> bool:
    # str.isdigit() also accepts '²' and other Unicode digits, which int() then refuses.
    return text.isascii() and text.isdigit()


def check_digit(first17: str) -> str:
    """The check character for 17 digits: '0'-'9' or 'X' (the value 10)."""
    if len(first17) != 17 or not _ascii_digits(first17):
        raise ValueError("the check digit is computed over exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def validate_id_number(number: str) -> None:
    """CardDataError unless `number` is 17 digits, a right check character, a real birth date."""
    if len(number) != 18 or not _ascii_digits(number[:17]) or number[17] not in "0123456789X":
        raise CardDataError("ID number is not 17 digits and a check character")
    if check_digit(number[:17]) != number[17]:
        raise CardDataError("ID number check digit is wrong (GB 11643-1999 MOD 11-2)")
    try:
        parse_date(number[6:14])
    except CardDataError:
        raise CardDataError("ID number does not hold a valid birth date") from None


def parse_date(text: str) -> date:
    """YYYYMMDD to a date; CardDataError otherwise."""
    if len(text) != 8 or not _ascii_digits(text):
        raise CardDataError("date field is not YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise CardDataError("date field is not a calendar date") from None


@dataclass(frozen=True)
class CardText:
    """The decoded text file; repr hides the personal fields."""

    name: str = field(repr=False)
    sex: str | None
    sex_code: str
    ethnic_code: str
    ethnic_group: str | None
    birth_date: date = field(repr=False)
    address: str = field(repr=False)
    number: str = field(repr=False)
    authority: str
    valid_from: date
    valid_to: date | None  # None: long-term (长期)


def split_fields(text: bytes) -> dict[str, str]:
    """The raw text fields, decoded from UCS-2LE with padding stripped."""
    if len(text) != TEXT_LENGTH:
        raise CardDataError(f"text file is {len(text)} bytes, expected {TEXT_LENGTH}")
    fields: dict[str, str] = {}
    offset = 0
    for name, size in TEXT_LAYOUT:
        raw = text[offset : offset + size]
        offset += size
        try:
            fields[name] = raw.decode("utf-16-le").rstrip(" \x00")
        except UnicodeDecodeError:
            raise CardDataError(f"text field {name} is not valid UCS-2") from None
    return fields


def decode_text(text: bytes) -> CardText:
    """Decode and check the 256-byte text file; CardDataError names the bad field, not its value."""
    if len(text) != TEXT_LENGTH:
        raise CardDataError(f"text file is {len(text)} bytes, expected {TEXT_LENGTH}")
    marker = text[CARD_TYPE_OFFSET : CARD_TYPE_OFFSET + 2]
    card_type = marker.decode("utf-16-le", errors="replace")
    if card_type in OTHER_CARD_TYPES:
        raise UnsupportedCardType(f"card type {card_type!r}: {OTHER_CARD_TYPES[card_type]}")
    f = split_fields(text)
    if not f["name"]:
        raise CardDataError("name field is empty")
    if f["sex_code"] not in SEX_CODES:
        raise CardDataError("sex code is not a GB/T 2261.1 code")
    if f["ethnic_code"] not in ETHNIC_GROUPS:
        raise CardDataError("ethnic code is not a GB 3304 code")
    validate_id_number(f["number"])
    birth = parse_date(f["birth"])
    if f["number"][6:14] != f["birth"]:
        raise CardDataError("birth date field disagrees with the ID number")
    valid_from = parse_date(f["valid_from"])
    valid_to = None if f["valid_to"] == LONG_TERM else parse_date(f["valid_to"])
    if valid_to is not None and valid_to < valid_from:
        raise CardDataError("card validity ends before it starts")
    return CardText(
        name=f["name"],
        sex=SEX_CODES[f["sex_code"]],
        sex_code=f["sex_code"],
        ethnic_code=f["ethnic_code"],
        ethnic_group=ETHNIC_GROUPS[f["ethnic_code"]],
        birth_date=birth,
        address=f["address"],
        number=f["number"],
        authority=f["authority"],
        valid_from=valid_from,
        valid_to=valid_to,
    )


def encode_text(
    *,
    name: str,
    sex_code: str,
    ethnic_code: str,
    birth: str,
    address: str,
    number: str,
    authority: str,
    valid_from: str,
    valid_to: str,
    reserved: str = "",
) -> bytes:
    """Build a 256-byte text file, as a card holds it (for the emulator and tests)."""
    values = {
        "name": name,
        "sex_code": sex_code,
        "ethnic_code": ethnic_code,
        "birth": birth,
        "address": address,
        "number": number,
        "authority": authority,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "reserved": reserved,
    }
    out = bytearray()
    for fname, size in TEXT_LAYOUT:
        raw = values[fname].encode("utf-16-le")
        if len(raw) > size:
            raise ValueError(f"{fname} does not fit its {size} bytes")
        out += raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)
    return bytes(out)
