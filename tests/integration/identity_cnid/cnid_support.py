"""Cards for the ID card reader tests."""

from __future__ import annotations

from functools import cache

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


# One RS-485 lock board with one compartment, as a real terminal's locker file names it.
LOCKER = """
[locker]
[[locker.board]]
id = "cab1"
kind = "rs485"
port = "{port}"
address = 1
channels = 4
[[locker.compartment]]
id = "A01"
size = "S"
board = "cab1"
channel = 1
door = "same"
"""


@cache
def face_encoding(jpeg: bytes):
    import io

    import face_recognition
    import numpy as np
    from PIL import Image

    picture = Image.open(io.BytesIO(jpeg)).convert("RGB")
    picture.thumbnail((480, 480))  # plenty for one frontal face, and several times faster
    image = np.asarray(picture)
    (encoding,) = face_recognition.face_encodings(image)[:1]
    return encoding


def face_similarity(registered: bytes, live: bytes) -> float:
    """1 - face_recognition distance: 1.0 identical, <0.4 different people at its 0.6 cut-off."""
    import face_recognition

    distance = face_recognition.face_distance([face_encoding(registered)], face_encoding(live))[0]
    return 1.0 - float(distance)
