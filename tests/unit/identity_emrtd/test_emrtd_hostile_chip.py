"""A chip whose answers are garbled anywhere in PACE, CA or AA fails with our error types only."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import DirectConnection, VirtualEmrtd
from devices.identity.port import IdentityReadError

KEY = MrzKey.from_mrz(SPECIMEN_MRZ)
ROUNDS = 60


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 50), (120, 90, 70)).save(out, "JPEG")
    return out.getvalue()


class GarblingConnection(DirectConnection):
    """Garbles the answer to one chosen APDU: bytes changed, cut short or extended."""

    def __init__(self, card: VirtualEmrtd, target: int, rng: random.Random):
        super().__init__(card)
        self.target, self.rng, self.count = target, rng, 0

    def transmit(self, apdu: list[int]) -> tuple[list[int], int, int]:
        data, sw1, sw2 = super().transmit(apdu)
        self.count += 1
        if self.count != self.target:
            return data, sw1, sw2
        kind = self.rng.randrange(3)
        if kind == 0 and data:
            for _ in range(self.rng.randint(1, 3)):
                data[self.rng.randrange(len(data))] = self.rng.randrange(256)
        elif kind == 1:
            data = data[: self.rng.randrange(len(data) + 1)]
        else:
            data = data + [self.rng.randrange(256) for _ in range(self.rng.randint(1, 8))]
        return data, sw1, sw2


@pytest.mark.parametrize(
    "options",
    [
        {"pace": "only", "chip_authentication": "aes"},
        {"active_authentication": "ecdsa"},
        {"pace": "also", "active_authentication": "rsa", "pace_parameters": 12},
    ],
)
def test_garbled_answers_give_only_identity_read_errors(options):
    rng = random.Random(9303)
    card = VirtualEmrtd(SPECIMEN_MRZ, _photo(), **options)
    reader = EmrtdReader(mrz_key=KEY)
    reader.read_connection(DirectConnection(card))
    apdus = reader.last_read_report["apdus"]
    outcomes = {"read": 0, "refused": 0}
    for _ in range(ROUNDS):
        connection = GarblingConnection(card, rng.randint(1, apdus), rng)
        try:
            document = reader.read_connection(connection)
        except IdentityReadError:
            outcomes["refused"] += 1
        else:
            assert document.authenticity == "chip_verified"  # a garbled answer never passes
            outcomes["read"] += 1  # as-is: e.g. trailing bytes after a complete plain answer
    assert outcomes["refused"] >= ROUNDS * 3 // 4, outcomes
