"""Active Authentication: the chip signs our challenge with its DG15 key, a copy cannot."""

from __future__ import annotations

import functools
import hashlib
import io

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image

from devices.identity.emrtd.active_auth import verify_iso9796_2
from devices.identity.emrtd.errors import ChipAuthenticationFailed
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import CardFaults, DirectConnection, VirtualEmrtd

KEY = MrzKey.from_mrz(SPECIMEN_MRZ)
CHALLENGE = bytes.fromhex("0102030405060708")


@functools.cache
def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), (120, 90, 70)).save(out, "JPEG")
    return out.getvalue()


@functools.cache
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _sign_9796(block: bytes) -> bytes:
    numbers = _rsa().private_numbers()
    n = numbers.public_numbers.n
    return pow(int.from_bytes(block, "big"), numbers.d, n).to_bytes(128, "big")


def _block(trailer: bytes = b"\xbc", hash_name: str = "sha1", header: int = 0x6A) -> bytes:
    digest_size = hashlib.new(hash_name).digest_size
    m1 = bytes(range(128 - 1 - digest_size - len(trailer)))
    return bytes([header]) + m1 + hashlib.new(hash_name, m1 + CHALLENGE).digest() + trailer


@pytest.mark.parametrize(
    ("trailer", "hash_name"), [(b"\xbc", "sha1"), (b"\x34\xcc", "sha256"), (b"\x33\xcc", "sha1")]
)
def test_iso_9796_2_signatures_with_each_trailer_verify(trailer, hash_name):
    signature = _sign_9796(_block(trailer, hash_name))
    assert verify_iso9796_2(_rsa().public_key(), signature, CHALLENGE).endswith(hash_name)


def test_an_iso_9796_2_signature_sent_as_n_minus_s_verifies():
    n = _rsa().public_key().public_numbers().n
    signature = int.from_bytes(_sign_9796(_block()), "big")
    flipped = (n - signature).to_bytes(128, "big")
    assert verify_iso9796_2(_rsa().public_key(), flipped, CHALLENGE).startswith("RSA ISO/IEC")


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        (_block(header=0x4B), "header"),
        (_block(trailer=b"\x99\xcc"), "trailer"),
        (_block()[:-21] + bytes(20) + b"\xbc", "signature is wrong"),
    ],
)
def test_malformed_iso_9796_2_blocks_are_refused(block, reason):
    with pytest.raises(ChipAuthenticationFailed, match=reason):
        verify_iso9796_2(_rsa().public_key(), _sign_9796(block), CHALLENGE)


def test_a_signature_over_another_challenge_is_refused():
    with pytest.raises(ChipAuthenticationFailed, match="signature is wrong"):
        verify_iso9796_2(_rsa().public_key(), _sign_9796(_block()), b"\x00" * 8)


@pytest.mark.parametrize(
    ("scheme", "name"),
    [("ecdsa", "ECDSA (plain) with sha256"), ("rsa", "RSA ISO/IEC 9796-2 scheme 1 with sha1")],
)
def test_a_genuine_chip_passes_and_a_clone_is_refused(scheme, name):
    reader = EmrtdReader(mrz_key=KEY)
    genuine = VirtualEmrtd(SPECIMEN_MRZ, _photo(), active_authentication=scheme)

    assert reader.read_connection(DirectConnection(genuine)).authenticity == "chip_verified"
    assert reader.last_read_report["active_authentication"] == f"passed ({name})"
    assert 15 in reader.last_read_report["sod"]["verified_data_groups"]

    clone = VirtualEmrtd(SPECIMEN_MRZ, _photo(), active_authentication=scheme,
                         faults=CardFaults(cloned_chip=True))  # fmt: skip
    with pytest.raises(ChipAuthenticationFailed):
        reader.read_connection(DirectConnection(clone))
    assert "DG1" not in reader.last_read_report["sizes"]


def test_chip_authentication_makes_active_authentication_unneeded():
    card = VirtualEmrtd(SPECIMEN_MRZ, _photo(), chip_authentication="aes",
                        active_authentication="rsa")  # fmt: skip
    reader = EmrtdReader(mrz_key=KEY)
    reader.read_connection(DirectConnection(card))
    assert reader.last_read_report["active_authentication"] == (
        "not needed (Chip Authentication passed)"
    )
    assert (0x88, 0x9000) not in card.transcript


def test_a_clone_hiding_dg15_is_caught_by_the_sod():
    card = VirtualEmrtd(SPECIMEN_MRZ, _photo(), active_authentication="rsa",
                        faults=CardFaults(hide_dg15=True))  # fmt: skip
    with pytest.raises(ChipAuthenticationFailed, match="DG15 the chip did not offer"):
        EmrtdReader(mrz_key=KEY).read_connection(DirectConnection(card))
