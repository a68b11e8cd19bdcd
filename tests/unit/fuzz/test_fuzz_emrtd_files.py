"""The chip's files, hostile: EF.COM, DG1, DG2, EF.SOD, EF.CardAccess and DG14 with a byte
changed, bytes cut off, bytes put in or a length rewritten; the reader's parsers give a value
or an IdentityReadError the kiosk can word (corrupt data, unsupported document), never another
exception. A chip answers whatever it likes, and a cloned or broken document is a citizen at
the kiosk, not a crash.

The files are made the way the virtual card makes them (card_files, the PACE and Chip
Authentication emulators), so most of each mutation is still well formed and the checks past
the outer tag are reached.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.identity.emrtd import card_files, lds, sm, sod, tlv
from devices.identity.emrtd.errors import IdentityReadError
from devices.identity.emrtd.security_infos import parse_security_infos
from devices.identity.emrtd.virtual_chip_auth import VirtualChipAuthentication
from devices.identity.emrtd.virtual_pace import card_access

MRZ = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]
DG1 = card_files.dg1(MRZ)
DG2 = card_files.dg2(b"\xff\xd8\xff\xe0" + bytes(200), "jpeg", 10, 10)
SOD = card_files.sod({1: DG1, 2: DG2}, card_files.DocumentSigner.generate())
FILES = {
    "EF.COM": (card_files.ef_com(), lds.parse_ef_com),
    "DG1": (DG1, lds.parse_dg1),
    "DG2": (DG2, lds.parse_dg2),
    "EF.SOD": (SOD, lambda data: _check_sod(sod.parse_sod(data))),
    "EF.CardAccess": (card_access(13), parse_security_infos),
    "DG14": (
        VirtualChipAuthentication("aes-explicit").dg14(),
        lambda data: parse_security_infos(data, lds.DG14.tag),
    ),
}


def _check_sod(security: sod.SecurityObject) -> None:
    sod.verify_hashes(security, {1: DG1, 2: DG2})
    sod.verify_signature(security)


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """`original` with a byte changed, a cut, an insertion or a length byte rewritten."""
    data = bytearray(original)
    at = draw(st.integers(0, len(data) - 1))
    action = draw(st.sampled_from(["change", "cut", "insert", "length"]))
    if action == "change":
        data[at] = draw(st.integers(0, 255))
    elif action == "cut":
        del data[at:]
    elif action == "insert":
        data[at:at] = draw(st.binary(min_size=1, max_size=8))
    else:  # a BER length: short form, or long form with 1..4 bytes following
        data[at : at + 1] = draw(
            st.sampled_from([b"\x00", b"\x7f", b"\x80", b"\x81\xff", b"\x82\xff\xff", b"\x84"])
            | st.binary(min_size=1, max_size=5)
        )
    return bytes(data)


files = st.sampled_from(sorted(FILES)).flatmap(
    lambda name: st.tuples(st.just(name), mutated(FILES[name][0]) | st.binary(max_size=64))
)


def test_the_unmutated_files_parse():
    for original, parse in FILES.values():
        parse(original)


@given(files)
def test_any_file_from_a_chip_parses_or_is_an_identity_error(item):
    name, data = item
    parse = FILES[name][1]
    try:
        parse(data)
    except IdentityReadError as exc:
        assert str(exc)


@given(
    st.sampled_from([sm.TDES, sm.AES]),
    st.integers(0, 2**64 - 1),
    st.lists(
        st.tuples(st.sampled_from([0x85, 0x87, 0x99, 0x8E, 0x01]), st.binary(max_size=40)),
        max_size=4,
    ),
)
def test_any_response_the_chip_macs_unwraps_or_is_a_secure_messaging_error(cipher, ssc, objects):
    # The chip holds the session keys, so it can MAC anything: what it MACs is still checked.
    keys = (bytes(range(16)), bytes(range(16, 32)))
    reader = sm.ReaderChannel(*keys, ssc, cipher)
    suite = sm._suite(cipher)
    body = b"".join(tlv.encode(tag, value) for tag, value in objects)
    mac = suite.mac(keys[1], suite.next_ssc(ssc), body)
    try:
        reader.unprotect(body + tlv.encode(0x8E, mac), 0x9000)
    except IdentityReadError as exc:
        assert str(exc)
