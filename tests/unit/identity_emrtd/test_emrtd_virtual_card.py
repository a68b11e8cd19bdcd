"""The virtual eMRTD answers as an ICAO chip does; the reader reads it without PC/SC."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from demo_support.samples import sample_bytes
from devices.identity.emrtd import bac, lds
from devices.identity.emrtd.errors import AccessDenied, SecureMessagingError
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey
from devices.identity.emrtd.reader import EmrtdReader, extended_length_supported
from devices.identity.emrtd.sm import ReaderChannel
from devices.identity.emrtd.virtual_card import ATR, DirectConnection, VirtualEmrtd

MRZ = SPECIMEN_MRZ
KEY = MrzKey.from_mrz(MRZ)


def _photo(size: tuple[int, int], quality: int) -> bytes:
    with Image.open(io.BytesIO(sample_bytes("obama"))) as source:
        image = source.convert("RGB")
    image.thumbnail(size)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _transmit(card: VirtualEmrtd):
    def send(apdu: bytes) -> tuple[bytes, int]:
        response = card.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")

    return send


def _selected(card: VirtualEmrtd) -> None:
    assert card.process(bytes.fromhex("00A4040C07A0000002471001")) == b"\x90\x00"


def test_the_atr_announces_extended_lengths_and_a_plain_atr_does_not():
    assert extended_length_supported(ATR)
    assert not extended_length_supported(bytes.fromhex("3B8F8001804F0CA000000306030001000000006A"))
    assert not extended_length_supported(b"\x3b")


@pytest.mark.parametrize("chunk", [None, 0xDF])
def test_a_photo_past_32_kib_is_read_with_odd_ins_read_binary(chunk):
    photo = _photo((480, 600), 90)
    assert len(photo) > 0x8000
    card = VirtualEmrtd(MRZ, photo)
    reader = EmrtdReader(mrz_key=KEY, chunk_size=chunk)

    document = reader.read_connection(DirectConnection(card))

    assert document.photo == photo
    assert document.authenticity == "chip_verified"
    assert (0xB1, 0x9000) in card.transcript
    assert not card.authenticated  # powered off at the end of the read


def test_the_dg2_header_carries_the_image_geometry():
    photo = _photo((300, 375), 80)
    face = lds.parse_dg2(VirtualEmrtd(MRZ, photo).files[lds.DG2.fid])
    assert (face.format, face.data) == ("jpeg", photo)
    assert (face.width, face.height) == Image.open(io.BytesIO(photo)).size


def test_files_need_bac_and_a_plain_command_ends_secure_messaging():
    card = VirtualEmrtd(MRZ, _photo((120, 150), 70))
    _selected(card)
    assert card.process(bytes.fromhex("00A4020C02011E")) == b"\x69\x82"
    channel = bac.mutual_authenticate(_transmit(card), KEY)
    assert card.authenticated
    assert card.process(bytes.fromhex("00B0000004")) == b"\x69\x82"
    assert not card.authenticated
    assert channel.open  # the reader's side learns it on its next protected command


def test_a_protected_command_with_a_bad_mac_is_refused_and_ends_the_session():
    card = VirtualEmrtd(MRZ, _photo((120, 150), 70))
    _selected(card)
    channel = bac.mutual_authenticate(_transmit(card), KEY)
    apdu = bytearray(channel.protect(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e"))
    apdu[-2] ^= 0x01  # last MAC byte
    assert card.process(bytes(apdu)) == b"\x69\x88"
    assert not card.authenticated


def test_a_challenge_serves_one_authentication_attempt_only():
    card = VirtualEmrtd(MRZ, _photo((120, 150), 70))
    _selected(card)
    sent: list[bytes] = []

    def recording(apdu: bytes) -> tuple[bytes, int]:
        sent.append(apdu)
        return _transmit(card)(apdu)

    bac.mutual_authenticate(recording, KEY)
    card.power_off()
    _selected(card)
    assert card.process(sent[1]) == b"\x69\x85"  # replayed EXTERNAL AUTHENTICATE, no challenge


def test_wrong_key_in_process_is_access_denied_and_leaves_no_session():
    card = VirtualEmrtd(MRZ, _photo((120, 150), 70))
    reader = EmrtdReader()
    with pytest.raises(AccessDenied):
        reader.read_connection(DirectConnection(card), MrzKey("L898902C", "740812", "320416"))
    assert not card.authenticated
    assert reader.last_read_report["result"] == "AccessDenied"


def test_reader_channel_refuses_use_after_close():
    channel = ReaderChannel(b"k" * 16, b"m" * 16, 0)
    channel.close()
    with pytest.raises(SecureMessagingError, match="closed"):
        channel.protect(0, 0xB0, 0, 0, le=4)
