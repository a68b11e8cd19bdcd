"""Active Authentication (ICAO Doc 9303-11 §6.1): the chip signs our challenge with its DG15 key.

DG15 holds the chip's public key (SubjectPublicKeyInfo), and EF.SOD signs DG15's hash. The
terminal sends 8 random bytes in `INTERNAL AUTHENTICATE` (`00 88 00 00`, under secure
messaging), and the chip answers a signature only its private key can make:
- ECDSA, with the algorithm named in DG14's ActiveAuthenticationInfo (`2.23.136.1.1.5`),
  plain r||s (BSI TR-03111) or DER;
- RSA with ISO/IEC 9796-2 digital signature scheme 1 (partial message recovery): the
  recovered block is 6A || M1 || H(M1 || challenge) || BC (SHA-1), or … || hash-id CC.
A chip that cannot sign (a copy without the key) fails with `ChipAuthenticationFailed`.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import signatures, tlv
from .card_session import SW_OK, CardSession
from .cms import AlgorithmId
from .ec_keys import UnusableKey, load_public_key
from .errors import ChipAuthenticationFailed
from .security_infos import ActiveAuthenticationInfo, SecurityInfo

# ISO/IEC 10118-3 hash identifiers in the two-byte trailer (xx CC).
TRAILER_HASHES = {0x33: "sha1", 0x34: "sha256", 0x35: "sha512", 0x36: "sha384", 0x38: "sha224"}


def dg15_public_key(dg15: bytes) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey | str:
    """The key in DG15, or the reason it cannot be used."""
    spki = tlv.parse_single(dg15, 0x6F).value
    try:
        key = load_public_key(spki)
    except UnusableKey as exc:
        return f"DG15 key: {exc}"
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return f"DG15 holds a {type(key).__name__}, not an RSA or EC key"
    return key


def active_authenticate(
    session: CardSession, dg15: bytes, infos: list[SecurityInfo], challenge: bytes | None = None
) -> str:
    """Challenge the chip; the scheme checked, 'not run: …', or ChipAuthenticationFailed."""
    key = dg15_public_key(dg15)
    if isinstance(key, str):
        return f"not run: {key}"
    aa_info = next((i for i in infos if isinstance(i, ActiveAuthenticationInfo)), None)
    if isinstance(key, ec.EllipticCurvePublicKey) and aa_info is None:
        return "not run: an ECDSA DG15 key without ActiveAuthenticationInfo in DG14"
    challenge = challenge or os.urandom(8)
    answer, sw = session.secure(0x88, 0x00, 0x00, challenge, le=256)
    if sw != SW_OK or not answer:
        raise ChipAuthenticationFailed(f"INTERNAL AUTHENTICATE answered {sw:04X}")
    if isinstance(key, rsa.RSAPublicKey):
        return verify_iso9796_2(key, answer, challenge)
    algorithm = AlgorithmId(aa_info.signature_algorithm)
    try:
        return signatures.verify(key, algorithm, answer, challenge)
    except signatures.InvalidSignature as exc:
        raise ChipAuthenticationFailed(
            "the chip's Active Authentication signature does not verify with its DG15 key"
        ) from exc
    except signatures.UnsupportedSignature as exc:
        return f"not run: {exc}"


def verify_iso9796_2(key: rsa.RSAPublicKey, signature: bytes, challenge: bytes) -> str:
    """Check an ISO/IEC 9796-2 scheme 1 signature over M1 || challenge; the scheme's name."""
    numbers = key.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    value = int.from_bytes(signature, "big")
    if value >= numbers.n:
        raise ChipAuthenticationFailed("Active Authentication signature is not below the modulus")
    recovered = pow(value, numbers.e, numbers.n)
    if recovered & 0xF != 0xC:  # the signer may have sent n - J instead of J
        recovered = numbers.n - recovered
    block = recovered.to_bytes(size, "big").lstrip(b"\x00")
    if block[-1:] == b"\xbc":
        hash_name, trailer = "sha1", 1
    elif block[-1:] == b"\xcc" and len(block) > 1 and block[-2] in TRAILER_HASHES:
        hash_name, trailer = TRAILER_HASHES[block[-2]], 2
    else:
        raise ChipAuthenticationFailed("Active Authentication block has no ISO 9796-2 trailer")
    digest_size = hashlib.new(hash_name).digest_size
    if block[0] >> 4 != 0x6 or len(block) < 1 + digest_size + trailer:
        raise ChipAuthenticationFailed("Active Authentication block has no ISO 9796-2 header")
    m1 = block[1 : len(block) - digest_size - trailer]
    digest = block[len(block) - digest_size - trailer : len(block) - trailer]
    if not hmac.compare_digest(hashlib.new(hash_name, m1 + challenge).digest(), digest):
        raise ChipAuthenticationFailed("the chip's Active Authentication signature is wrong")
    return f"RSA ISO/IEC 9796-2 scheme 1 with {hash_name}"
