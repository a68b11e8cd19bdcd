"""BER-TLV parsing is strict and fails only with its own error, whatever the input."""

from __future__ import annotations

import contextlib
import random

import pytest

from devices.identity.emrtd import card_files, lds, pace, sod, tlv
from devices.identity.emrtd.chip_auth import choose_offer
from devices.identity.emrtd.errors import IdentityReadError, TlvError
from devices.identity.emrtd.issuing_state import master_list
from devices.identity.emrtd.security_infos import parse_security_infos
from devices.identity.emrtd.trust import TrustConfigError, load_master_list
from devices.identity.emrtd.virtual_chip_auth import VirtualChipAuthentication
from devices.identity.emrtd.virtual_pace import card_access

H = bytes.fromhex


def test_encodes_and_parses_short_long_and_multibyte_tags():
    big = bytes(300)
    data = (
        tlv.encode(0x5F1F, b"AB")
        + tlv.encode(0x7F61, tlv.encode(0x02, b"\x01"))
        + tlv.encode(0x04, big)
    )
    items = tlv.parse_all(data)
    assert [i.tag for i in items] == [0x5F1F, 0x7F61, 0x04]
    assert items[1].constructed and not items[0].constructed
    assert items[1].child(0x02).value == b"\x01"
    assert items[2].value == big
    assert tlv.encode(0x04, big)[:4] == H("04 82 01 2C".replace(" ", ""))
    assert tlv.total_length(data[:1]) is None  # a short read: more bytes needed
    assert tlv.total_length(data[:3]) == 5
    assert tlv.total_length(tlv.encode(0x75, bytes(40000))[:4]) == 40004


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (H("6180"), "indefinite length"),
        (H("618501000000"), "too long"),
        (H("6105AABB"), "declares 5 bytes, only 2 present"),
        (H("5F"), "multi-byte tag"),
        (H("00"), "padding or garbage"),
        (H("FF01"), "padding or garbage"),
        (H("5F808001"), "non-minimal"),
        (H("5FFFFFFF01"), "longer than 3 bytes"),
        (H("6181"), "length field"),
    ],
)
def test_malformed_input_names_the_defect(raw, message):
    with pytest.raises(TlvError, match=message):
        tlv.parse_all(raw)


def test_single_object_files_refuse_trailing_bytes_and_wrong_tags():
    with pytest.raises(TlvError, match="unexpected bytes"):
        tlv.parse_single(tlv.encode(0x60, b"") + b"\x00")
    with pytest.raises(TlvError, match="expected tag 61"):
        tlv.parse_single(tlv.encode(0x60, b""), 0x61)
    with pytest.raises(TlvError, match="primitive"):
        tlv.parse_single(tlv.encode(0x04, b"x")).children()


def _valid_files() -> dict[str, bytes]:
    mrz = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ]
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 2
    dg1 = card_files.dg1(mrz)
    dg2 = card_files.dg2(jpeg, "jpeg", 64, 80)
    signer = card_files.DocumentSigner.generate()
    return {
        "EF.COM": card_files.ef_com(),
        "DG1": dg1,
        "DG2": dg2,
        "EF.SOD": card_files.sod({1: dg1, 2: dg2}, signer),
        "DG14": VirtualChipAuthentication("aes").dg14(),
        "EF.CardAccess": card_access(13),
        "master list": master_list([signer.issuer]),
    }


def _dg14(data: bytes) -> None:
    choose_offer(parse_security_infos(data, 0x6E))


def _master_list(data: bytes) -> None:
    # A bad master list is a configuration error, reported to the operator with its name.
    with contextlib.suppress(TrustConfigError):
        load_master_list(data)


PARSERS = {
    "EF.COM": lds.parse_ef_com,
    "DG1": lds.parse_dg1,
    "DG2": lds.parse_dg2,
    "EF.SOD": lambda data: sod.verify_signature(sod.parse_sod(data)),
    "DG14": _dg14,
    "EF.CardAccess": lambda data: pace.choose(parse_security_infos(data)),
    "master list": _master_list,
}


def test_valid_files_parse():
    files = _valid_files()
    for name, parse in PARSERS.items():
        parse(files[name])
    assert sod.verify_signature(sod.parse_sod(files["EF.SOD"])).summary == "valid"


def test_truncated_mutated_and_random_input_raises_only_identity_read_errors():
    rng = random.Random(9303)
    files = _valid_files()
    cases = 0
    for name, parse in PARSERS.items():
        content = files[name]
        variants = [content[:cut] for cut in range(len(content))][:600]
        for _ in range(400):
            mutated = bytearray(content)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            variants.append(bytes(mutated))
        variants += [rng.randbytes(rng.randint(0, 64)) for _ in range(300)]
        for data in variants:
            cases += 1
            with contextlib.suppress(IdentityReadError):
                parse(data)
    assert cases > 4000


def test_random_buffers_fail_tlv_parsing_only_with_tlv_error():
    rng = random.Random(7816)
    for _ in range(3000):
        data = rng.randbytes(rng.randint(0, 40))
        with contextlib.suppress(TlvError):
            tlv.parse_all(data)
