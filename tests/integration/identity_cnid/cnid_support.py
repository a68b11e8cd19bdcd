"""Cards for the ID card reader tests."""

from __future__ import annotations

from devices.identity.cnid.card import check_digit
from devices.identity.cnid.emulator import EmulatedCard


def id_number(first17: str) -> str:
    return first17 + check_digit(first17)


CITIZEN_NUMBER = id_number("44030519870615413")


def citizen_card(**override) -> EmulatedCard:
    fields = {
        "name": "李华",
        "number": CITIZEN_NUMBER,
        "sex_code": "1",
        "ethnic_code": "08",
        "address": "广东省深圳市南山区科技园路1号",
        "authority": "深圳市公安局南山分局",
        "valid_from": "20180520",
        "valid_to": "20380520",
        "wlt": bytes((i * 7) % 256 for i in range(1024)),
    } | override
    return EmulatedCard.of(**fields)
