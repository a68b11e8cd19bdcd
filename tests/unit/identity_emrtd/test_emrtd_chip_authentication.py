"""Chip Authentication: DG14 is understood, a genuine chip passes, a copy of one is refused."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from devices.identity.emrtd import tlv
from devices.identity.emrtd.chip_auth import choose_offer
from devices.identity.emrtd.cms import encode_oid
from devices.identity.emrtd.errors import ChipAuthenticationFailed
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.security_infos import (
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKey,
    PaceInfo,
    parse_security_infos,
)
from devices.identity.emrtd.virtual_card import CardFaults, DirectConnection, VirtualEmrtd
from devices.identity.emrtd.virtual_chip_auth import VirtualChipAuthentication
from terminal.flows.identity import card_error_key

KEY = MrzKey.from_mrz(SPECIMEN_MRZ)


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (120, 90, 70)).save(out, "JPEG")
    return out.getvalue()


def _card(variant: str | None = "aes", **faults) -> VirtualEmrtd:
    return VirtualEmrtd(
        SPECIMEN_MRZ, _photo(), chip_authentication=variant, faults=CardFaults(**faults)
    )


def test_dg14_offers_the_protocol_and_the_key():
    infos = parse_security_infos(VirtualChipAuthentication("aes").dg14(), 0x6E)
    assert ChipAuthenticationInfo("0.4.0.127.0.7.2.2.3.2.2", 1) in infos
    assert any(isinstance(i, ChipAuthenticationPublicKey) for i in infos)
    offer = choose_offer(infos)
    assert offer.name == "id-CA-ECDH-AES-CBC-CMAC-128"


def test_ef_card_access_of_the_icao_worked_example_is_parsed():
    # Doc 9303-11 Appendix G.1: PACEInfo for id-PACE-ECDH-GM-AES-CBC-CMAC-128, version 2, id 13
    infos = parse_security_infos(bytes.fromhex("31143012060A04007F0007020204020202010202010D"))
    assert infos == [PaceInfo("0.4.0.127.0.7.2.2.4.2.2", 2, 13)]


def test_unknown_security_infos_are_skipped_and_an_offer_needs_a_key():
    unknown = tlv.encode(0x30, encode_oid("0.4.0.127.0.7.2.2.2") + tlv.encode(0x02, b"\x01"))
    info = tlv.encode(0x30, encode_oid("0.4.0.127.0.7.2.2.3.2.2") + tlv.encode(0x02, b"\x01"))
    infos = parse_security_infos(tlv.encode(0x31, unknown + info))
    assert choose_offer(infos) == "DG14 offers no ECDH Chip Authentication"


@pytest.mark.parametrize(
    ("variant", "name"),
    [("aes", "id-CA-ECDH-AES-CBC-CMAC-128"), ("3des", "id-CA-ECDH-3DES-CBC-CBC")],
)
def test_a_genuine_chip_passes_and_the_rest_is_read_under_the_new_keys(variant, name):
    card = _card(variant)
    reader = EmrtdReader(mrz_key=KEY)

    document = reader.read_connection(DirectConnection(card))

    assert document.authenticity == "chip_verified"
    assert reader.last_read_report["chip_authentication"] == f"passed ({name})"
    assert reader.last_read_report["sod"]["verified_data_groups"] == [1, 2, 14]
    assert (0x86 if variant == "aes" else 0x22, 0x9000) in card.transcript


def test_a_cloned_chip_is_refused_as_not_genuine():
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(ChipAuthenticationFailed, match="DG14 key is not its own") as caught:
        reader.read_connection(DirectConnection(_card(cloned_chip=True)))

    assert card_error_key(caught.value) == "card.error.ChipAuthenticationFailed"
    assert "DG1" not in reader.last_read_report["sizes"]  # no personal data read from a copy


def test_a_clone_hiding_dg14_is_caught_by_the_sod():
    reader = EmrtdReader(mrz_key=KEY)

    with pytest.raises(ChipAuthenticationFailed, match="did not offer"):
        reader.read_connection(DirectConnection(_card(hide_dg14=True)))


def test_a_chip_without_chip_authentication_is_read_and_says_so():
    reader = EmrtdReader(mrz_key=KEY)
    document = reader.read_connection(DirectConnection(_card(None)))
    assert document.authenticity == "chip_verified"
    assert reader.last_read_report["chip_authentication"] == "not offered"


def test_a_dg14_key_with_explicit_brainpool_parameters_is_used():
    # German passports spell the curve out; the cryptography package alone refuses such keys.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    infos = parse_security_infos(VirtualChipAuthentication("aes-explicit").dg14(), 0x6E)
    (key,) = [i for i in infos if isinstance(i, ChipAuthenticationPublicKey)]
    with pytest.raises(UnsupportedAlgorithm):
        load_der_public_key(key.public_key)

    reader = EmrtdReader(mrz_key=KEY)
    reader.read_connection(DirectConnection(_card("aes-explicit")))
    assert reader.last_read_report["chip_authentication"] == (
        "passed (id-CA-ECDH-AES-CBC-CMAC-128)"
    )
    with pytest.raises(ChipAuthenticationFailed):
        reader.read_connection(DirectConnection(_card("aes-explicit", cloned_chip=True)))


def test_explicit_parameters_of_an_unknown_curve_are_not_used():
    from devices.identity.emrtd.ec_keys import explicit_spki
    from devices.identity.emrtd.ec_points import P256, Curve

    odd = Curve("odd", P256.p, P256.a, (P256.b + 1) % P256.p, P256.gx, P256.gy, P256.n)
    spki = explicit_spki(odd, P256.encode(P256.generator))
    info = ChipAuthenticationInfo("0.4.0.127.0.7.2.2.3.2.2", 1)
    offer = choose_offer([info, ChipAuthenticationPublicKey(spki)])
    assert offer == "DG14 key: EC key on explicit parameters of a curve this reader does not know"
