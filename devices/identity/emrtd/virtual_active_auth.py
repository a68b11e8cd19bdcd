"""The virtual chip's side of Active Authentication: DG15, and INTERNAL AUTHENTICATE signed.

`"ecdsa"`: a P-256 key, plain r||s signatures over the challenge with SHA-256, announced by
an ActiveAuthenticationInfo in DG14. `"rsa"`: a 2048-bit key and ISO/IEC 9796-2 scheme 1
with SHA-1 (6A || M1 || SHA-1(M1 || challenge) || BC), answered as min(s, n - s). A cloned
chip (`cloned=True`) keeps DG15 and signs with another key.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import tlv
from .cms import encode_oid
from .security_infos import OID_ACTIVE_AUTHENTICATION

OID_ECDSA_PLAIN_SHA256 = "0.4.0.127.0.7.1.1.4.1.3"
SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700


class VirtualActiveAuthentication:
    """Active Authentication as the chip performs it."""

    def __init__(self, scheme: str = "ecdsa", *, cloned: bool = False):
        if scheme not in ("ecdsa", "rsa"):
            raise ValueError("active_authentication must be 'ecdsa' or 'rsa'")
        self.scheme = scheme
        self._key = self._new_key()
        self._public = self._key.public_key()
        if cloned:
            self._key = self._new_key()  # DG15 still names the original

    def _new_key(self) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        if self.scheme == "ecdsa":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def dg15(self) -> bytes:
        """DG15: the public key as SubjectPublicKeyInfo."""
        spki = self._public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return tlv.encode(0x6F, spki)

    def security_info(self) -> bytes | None:
        """The ActiveAuthenticationInfo DG14 must carry for ECDSA, or None for RSA."""
        if self.scheme != "ecdsa":
            return None
        return tlv.encode(
            0x30,
            encode_oid(OID_ACTIVE_AUTHENTICATION)
            + tlv.encode(0x02, b"\x01")
            + encode_oid(OID_ECDSA_PLAIN_SHA256),
        )

    def internal_authenticate(self, challenge: bytes) -> tuple[bytes, int]:
        """The signature over an 8-byte challenge."""
        if len(challenge) != 8:
            return b"", SW_WRONG_LENGTH
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self._key.sign(challenge, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big"), SW_OK
        numbers = self._key.private_numbers()
        n, d = numbers.public_numbers.n, numbers.d
        size = (n.bit_length() + 7) // 8
        m1 = os.urandom(size - 2 - 20)
        block = b"\x6a" + m1 + hashlib.sha1(m1 + challenge).digest() + b"\xbc"
        signature = pow(int.from_bytes(block, "big"), d, n)
        return min(signature, n - signature).to_bytes(size, "big"), SW_OK
