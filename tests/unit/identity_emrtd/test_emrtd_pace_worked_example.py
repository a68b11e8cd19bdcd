"""PACE against ICAO Doc 9303-11 Appendix G.1 (ECDH generic mapping, brainpoolP256r1, AES-128).

The terminal's side is run with the appendix's private keys against a chip that answers with
the appendix's bytes: every command must be the appendix's, byte for byte, and the session
keys must come out as printed there.
"""

from __future__ import annotations

import hashlib

import pytest

from devices.identity.emrtd import pace
from devices.identity.emrtd.ec_points import BRAINPOOL_P256R1, P256
from devices.identity.emrtd.errors import AccessDenied, SecureMessagingError
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.security_infos import parse_security_infos
from terminal.flows.identity import card_error_key

H = bytes.fromhex
KEY = MrzKey("T22000129", "640812", "101031")
CARD_ACCESS = H("31143012060A04007F0007020204020202010202010D")
MRZ_HASH = H("7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD")
K_PI = H("89DED1B26624EC1E634C1989302849DD")
NONCE = H("3F00C4D39D153F2B2A214A078D899B22")
SK_MAP = 0x7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99
SK_EPH = 0xA73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595
MAPPED_G = (
    0x8CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2,
    0x8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522,
)
KS_ENC = H("F5F0E35C0D7161EE6724EE513A0D9A7F")
KS_MAC = H("FE251C7858B356B24514B3BD5F4297D1")
PK_MAP_IFD = (
    "047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E"
    "544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D"
)
PK_MAP_IC = (
    "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57"
    "30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54"
)
PK_EPH_IFD = (
    "042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C"
    "3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462"
)
PK_EPH_IC = (
    "049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB"
    "7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094"
)
# (command, answer) pairs of the appendix.
EXCHANGE = [
    (H("0022C1A40F800A04007F00070202040202830101"), H("9000")),
    (H("10860000027C0000"), H("7C12801095A3A016522EE98D01E76CB6B98B42C39000")),
    (H("10860000457C438141" + PK_MAP_IFD + "00"), H("7C438241" + PK_MAP_IC + "9000")),
    (H("10860000457C438341" + PK_EPH_IFD + "00"), H("7C438441" + PK_EPH_IC + "9000")),
    (H("008600000C7C0A8508C2B0BD78D94BA86600"), H("7C0A86083ABB9674BCE93C089000")),
]


class AppendixChip:
    """Answers exactly the appendix's commands, in order; anything else is a test failure."""

    def __init__(self, exchange=EXCHANGE):
        self.script = list(exchange)
        self.sent: list[bytes] = []

    def __call__(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu)
        expected, answer = self.script.pop(0)
        assert apdu.hex().upper() == expected.hex().upper()
        return answer[:-2], int.from_bytes(answer[-2:], "big")


def _info():
    (info,) = parse_security_infos(CARD_ACCESS)
    return info


def test_the_password_key_is_the_appendix_one():
    assert hashlib.sha1(KEY.key_seed_info().encode()).digest() == MRZ_HASH
    assert pace.password_key(KEY, 128) == K_PI
    assert pace.decrypt_nonce(K_PI, H("95A3A016522EE98D01E76CB6B98B42C3")) == NONCE


def test_the_mapped_generator_is_the_appendix_one():
    curve = BRAINPOOL_P256R1
    chip_map = curve.decode(H(PK_MAP_IC))
    shared = curve.multiply(SK_MAP, chip_map)
    generator = curve.add(curve.multiply(int.from_bytes(NONCE, "big"), curve.generator), shared)
    assert generator == MAPPED_G
    assert curve.encode(curve.multiply(SK_EPH, generator)).hex().upper() == PK_EPH_IFD


def test_the_terminal_sends_the_appendix_commands_and_derives_its_keys():
    chip = AppendixChip()

    channel = pace.establish(chip, KEY, _info(), mapping_key=SK_MAP, ephemeral_key=SK_EPH)

    assert not chip.script  # every step was taken
    assert (channel.ks_enc, channel.ks_mac, channel.ssc, channel.cipher) == (
        KS_ENC,
        KS_MAC,
        0,
        "aes",
    )


def test_a_wrong_chip_token_is_refused():
    exchange = [*EXCHANGE[:-1], (EXCHANGE[-1][0], H("7C0A86083ABB9674BCE93C099000"))]
    with pytest.raises(SecureMessagingError, match="authentication token is wrong"):
        pace.establish(AppendixChip(exchange), KEY, _info(), mapping_key=SK_MAP,
                       ephemeral_key=SK_EPH)  # fmt: skip


@pytest.mark.parametrize("sw", ["6300", "6982", "6A80"])
def test_a_chip_refusing_the_token_is_access_denied(sw):
    exchange = [*EXCHANGE[:-1], (EXCHANGE[-1][0], H(sw))]
    with pytest.raises(AccessDenied) as caught:
        pace.establish(AppendixChip(exchange), KEY, _info(), mapping_key=SK_MAP,
                       ephemeral_key=SK_EPH)  # fmt: skip
    assert card_error_key(caught.value) == "card.error.AccessDenied"


def test_a_mapping_key_off_the_curve_is_refused():
    bad = PK_MAP_IC[:-2] + "55"
    exchange = [*EXCHANGE[:2], (EXCHANGE[2][0], H("7C438241" + bad + "9000"))]
    with pytest.raises(SecureMessagingError, match="not a point on the curve"):
        pace.establish(AppendixChip(exchange), KEY, _info(), mapping_key=SK_MAP)


def test_both_standard_curves_multiply_as_the_cryptography_package_does():
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    for curve, theirs in ((P256, ec.SECP256R1()), (BRAINPOOL_P256R1, ec.BrainpoolP256R1())):
        k = curve.random_scalar()
        expected = ec.derive_private_key(k, theirs).public_key()
        raw = expected.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        assert curve.encode(curve.multiply(k, curve.generator)) == raw
        assert curve.add(curve.multiply(curve.n - 1, curve.generator), curve.generator) is None
