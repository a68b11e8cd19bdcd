"""Machine-readable zone (ICAO Doc 9303 Parts 3-5): check digits, parsing, the BAC key.

Formats: TD1 (3 lines of 30, ID cards), TD2 (2 x 36) and TD3 (2 x 44, passports). A document
number longer than nine characters (TD1/TD2 overflow into the optional data) is supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from privacy import mask_document_number

_WEIGHTS = (7, 3, 1)
_ALLOWED = re.compile(r"^[0-9A-Z<]*$")
_DATE = re.compile(r"^[0-9]{6}$")


class MrzError(ValueError):
    """The MRZ text is malformed or one of its check digits is wrong (no personal data in str)."""


def _value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == "<":
        return 0
    raise MrzError(f"character {char!r} is not allowed in an MRZ")


def check_digit(text: str) -> str:
    """The ICAO 9303 check digit (weights 7, 3, 1; A=10..Z=35; '<'=0) of `text`."""
    return str(sum(_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(text)) % 10)


def _verify(label: str, text: str, digit: str) -> None:
    # Some issuers fill an unused check digit with '<'; ICAO allows it only for empty fields.
    if digit == "<" and set(text) <= {"<"}:
        return
    if check_digit(text) != digit:
        raise MrzError(f"check digit of the {label} is wrong")


@dataclass(frozen=True)
class MrzKey:
    """The three MRZ fields that key Basic Access Control; repr masks them."""

    document_number: str = field(repr=False)
    birth_date: str = field(repr=False)  # YYMMDD
    expiry_date: str = field(repr=False)  # YYMMDD

    def __post_init__(self) -> None:
        number = self.document_number.upper().rstrip("<")
        object.__setattr__(self, "document_number", number)
        if not number or not _ALLOWED.match(number):
            raise MrzError("document number must be letters, digits or '<'")
        for label, value in (("birth date", self.birth_date), ("expiry date", self.expiry_date)):
            if not _DATE.match(value):
                raise MrzError(f"{label} must be six digits YYMMDD")

    def __repr__(self) -> str:
        number = mask_document_number(self.document_number)
        return f"MrzKey(document_number={number!r}, dates=******)"

    def key_seed_info(self) -> str:
        """MRZ_information of Doc 9303 Part 11 §9.7.2: number, dates, each with check digit."""
        number = self.document_number.ljust(9, "<")
        return (
            number
            + check_digit(number)
            + self.birth_date
            + check_digit(self.birth_date)
            + self.expiry_date
            + check_digit(self.expiry_date)
        )

    @classmethod
    def from_mrz(cls, text: str) -> MrzKey:
        """The key from the full MRZ (2 or 3 lines); every check digit is verified."""
        return parse_mrz(text).key


@dataclass(frozen=True)
class MrzData:
    """A parsed MRZ; personal fields are hidden from repr."""

    format: str  # "TD1" | "TD2" | "TD3"
    document_code: str
    issuing_state: str
    surname: str = field(repr=False)
    given_names: str = field(repr=False)
    document_number: str = field(repr=False)
    nationality: str = field(repr=False)
    birth_date: str = field(repr=False)  # YYMMDD
    sex: str = field(repr=False)  # "M", "F" or "<"
    expiry_date: str = field(repr=False)  # YYMMDD
    optional_data: str = field(repr=False)

    @property
    def key(self) -> MrzKey:
        return MrzKey(self.document_number, self.birth_date, self.expiry_date)


def _lines(text: str) -> list[str]:
    lines = [line.strip().upper() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if len(lines) == 1:  # DG1 stores the MRZ lines concatenated
        one = lines[0]
        for width, count in ((30, 3), (36, 2), (44, 2)):
            if len(one) == width * count:
                return [one[i * width : (i + 1) * width] for i in range(count)]
    return lines


def _name(field_text: str) -> tuple[str, str]:
    surname, _, given = field_text.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


def _number(head: str, head_digit: str, optional: str) -> tuple[str, str]:
    """Document number and the optional data left after it, resolving TD1/TD2 overflow."""
    if head_digit == "<" and optional and optional[0] != "<":
        # Overflow: the number continues in the optional data, ended by its check digit.
        rest = optional.split("<", 1)[0]
        if len(rest) < 2:
            raise MrzError("document number overflow is malformed")
        number = head + rest[:-1]
        _verify("document number", number, rest[-1])
        return number, optional[len(rest) :]
    _verify("document number", head, head_digit)
    return head.rstrip("<"), optional


def parse_mrz(text: str) -> MrzData:
    """Parse a TD1, TD2 or TD3 MRZ, verifying every check digit; MrzError otherwise."""
    lines = _lines(text)
    shape = tuple(len(line) for line in lines)
    for line in lines:
        if not _ALLOWED.match(line):
            raise MrzError("MRZ contains characters other than A-Z, 0-9 and '<'")
    if shape == (44, 44):
        return _parse_td3(*lines)
    if shape == (36, 36):
        return _parse_td2(*lines)
    if shape == (30, 30, 30):
        return _parse_td1(*lines)
    raise MrzError(f"MRZ has lines of lengths {shape}; expected 2x44, 2x36 or 3x30")


def _parse_td3(l1: str, l2: str) -> MrzData:
    surname, given = _name(l1[5:44])
    _verify("document number", l2[0:9], l2[9])
    _verify("birth date", l2[13:19], l2[19])
    _verify("expiry date", l2[21:27], l2[27])
    _verify("personal number", l2[28:42], l2[42])
    _verify("composite", l2[0:10] + l2[13:20] + l2[21:43], l2[43])
    return MrzData(
        "TD3", l1[0:2].rstrip("<"), l1[2:5].rstrip("<"), surname, given,
        l2[0:9].rstrip("<"), l2[10:13].rstrip("<"), l2[13:19], l2[20], l2[21:27],
        l2[28:42].rstrip("<"),
    )  # fmt: skip


def _parse_td2(l1: str, l2: str) -> MrzData:
    surname, given = _name(l1[5:36])
    number, optional = _number(l2[0:9], l2[9], l2[28:35])
    _verify("birth date", l2[13:19], l2[19])
    _verify("expiry date", l2[21:27], l2[27])
    _verify("composite", l2[0:10] + l2[13:20] + l2[21:35], l2[35])
    return MrzData(
        "TD2", l1[0:2].rstrip("<"), l1[2:5].rstrip("<"), surname, given, number,
        l2[10:13].rstrip("<"), l2[13:19], l2[20], l2[21:27], optional.strip("<"),
    )  # fmt: skip


def _parse_td1(l1: str, l2: str, l3: str) -> MrzData:
    number, optional = _number(l1[5:14], l1[14], l1[15:30])
    _verify("birth date", l2[0:6], l2[6])
    _verify("expiry date", l2[8:14], l2[14])
    _verify("composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29])
    surname, given = _name(l3)
    return MrzData(
        "TD1", l1[0:2].rstrip("<"), l1[2:5].rstrip("<"), surname, given, number,
        l2[15:18].rstrip("<"), l2[0:6], l2[7], l2[8:14], (optional + l2[18:29]).strip("<"),
    )  # fmt: skip


def _field(text: str, width: int, label: str) -> str:
    text = text.upper().replace(" ", "<")
    if len(text) > width or not _ALLOWED.match(text):
        raise MrzError(f"{label} does not fit the MRZ field")
    return text.ljust(width, "<")


def compose_td3(
    *,
    issuing_state: str,
    surname: str,
    given_names: str,
    document_number: str,
    nationality: str,
    birth_date: str,
    sex: str,
    expiry_date: str,
    personal_number: str = "",
    document_code: str = "P",
) -> str:
    """A passport MRZ (two lines of 44) with all check digits, for test documents and demos."""
    name = _field(surname.replace(" ", "<") + "<<" + given_names.replace(" ", "<"), 39, "name")
    l1 = _field(document_code, 2, "code") + _field(issuing_state, 3, "state") + name
    number = _field(document_number, 9, "document number")
    personal = _field(personal_number, 14, "personal number")
    personal_digit = check_digit(personal) if personal_number else "<"
    body = (
        number + check_digit(number) + _field(nationality, 3, "nationality")
        + birth_date + check_digit(birth_date) + _field(sex or "<", 1, "sex")
        + expiry_date + check_digit(expiry_date) + personal + personal_digit
    )  # fmt: skip
    composite = body[0:10] + body[13:20] + body[21:43]
    return l1 + "\n" + body + check_digit(composite)


# ICAO Doc 9303's specimen holder (Utopia, ERIKSSON ANNA MARIA, document L898902C) with a
# validity that has not run out: what the virtual card, tests and benchmarks carry.
SPECIMEN_MRZ = compose_td3(
    issuing_state="UTO",
    surname="ERIKSSON",
    given_names="ANNA MARIA",
    document_number="L898902C",
    nationality="UTO",
    birth_date="740812",
    sex="F",
    expiry_date="320415",
)
