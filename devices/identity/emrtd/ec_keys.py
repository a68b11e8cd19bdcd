"""Public keys from DG14/DG15, including EC keys given with explicit domain parameters.

Many passports (German ones among them) publish their Chip Authentication key with the
curve spelled out as ECParameters (field prime, a, b, base point, order) rather than named
by OID, and the cryptography package loads only named curves. Explicit parameters are
accepted here when they are exactly those of a curve we know (`ec_points`), and the key is
then loaded on that named curve. Other explicit curves are refused.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from . import tlv
from .cms import encode_oid, expect, oid_of
from .ec_points import BRAINPOOL_P256R1, P256, Curve
from .errors import CorruptData

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_PRIME_FIELD = "1.2.840.10045.1.1"
NAMED = {P256.name: ec.SECP256R1(), BRAINPOOL_P256R1.name: ec.BrainpoolP256R1()}
KNOWN = (P256, BRAINPOOL_P256R1)


class UnusableKey(Exception):
    """The key is of a kind or curve this reader cannot use; the message says which."""


def load_public_key(spki: bytes) -> object:
    """A cryptography public key from SubjectPublicKeyInfo DER; UnusableKey otherwise."""
    try:
        return load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        return _explicit_ec_key(spki)
    except (CorruptData, ValueError, IndexError) as exc:
        raise UnusableKey(f"the key does not load ({exc})") from exc


def _integer(item: tlv.Tlv, what: str) -> int:
    return int.from_bytes(expect(item, 0x02, what).value, "big")


def _explicit_ec_key(spki: bytes) -> ec.EllipticCurvePublicKey:
    algorithm, bits = tlv.parse_single(spki, 0x30).children()
    oid, params = expect(algorithm, 0x30, "AlgorithmIdentifier").children()
    if oid_of(oid, "algorithm") != OID_EC_PUBLIC_KEY or params.tag != 0x30:
        raise UnusableKey("not an EC key with explicit parameters")
    _version, field, shape, base, order, *_ = params.children()
    field_type, prime = expect(field, 0x30, "fieldID").children()
    if oid_of(field_type, "fieldType") != OID_PRIME_FIELD:
        raise UnusableKey("EC key over a field other than a prime field")
    a, b, *_ = expect(shape, 0x30, "curve").children()
    found = (
        _integer(prime, "p"),
        int.from_bytes(expect(a, 0x04, "a").value, "big"),
        int.from_bytes(expect(b, 0x04, "b").value, "big"),
        expect(base, 0x04, "base").value,
        _integer(order, "order"),
    )
    for curve in KNOWN:
        if found == (curve.p, curve.a, curve.b, curve.encode(curve.generator), curve.n):
            point = expect(bits, 0x03, "subjectPublicKey").value[1:]  # no unused bits
            return ec.EllipticCurvePublicKey.from_encoded_point(NAMED[curve.name], point)
    raise UnusableKey("EC key on explicit parameters of a curve this reader does not know")


def explicit_spki(curve: Curve, point: bytes) -> bytes:
    """SubjectPublicKeyInfo of `point` with `curve` spelled out as ECParameters."""
    size = curve.size
    params = tlv.encode(
        0x30,
        tlv.encode(0x02, b"\x01")
        + tlv.encode(0x30, encode_oid(OID_PRIME_FIELD) + _der_int(curve.p))
        + tlv.encode(
            0x30,
            tlv.encode(0x04, curve.a.to_bytes(size, "big"))
            + tlv.encode(0x04, curve.b.to_bytes(size, "big")),
        )
        + tlv.encode(0x04, curve.encode(curve.generator))
        + _der_int(curve.n)
        + _der_int(1),
    )
    algorithm = tlv.encode(0x30, encode_oid(OID_EC_PUBLIC_KEY) + params)
    return tlv.encode(0x30, algorithm + tlv.encode(0x03, b"\x00" + point))


def _der_int(value: int) -> bytes:
    return tlv.encode(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))
